"""mkdocs hooks: publish the benchmark plots that benchmarks/results/*.md (included in
benchmarks.md) refer to, so the tables and the pictures come from one place; and write the
equations as MathML at build time, which browsers display natively: no script from a CDN, so the
site reads the same offline."""

import logging
import re
from html import unescape
from pathlib import Path

from latex2mathml.converter import convert
from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"

# pymdownx.arithmatex (generic) marks $...$ as <span class="arithmatex">\(...\)</span> and $$...$$
# as <div class="arithmatex">\[...\]</div>, the TeX HTML-escaped; the wrappers stay (mkdocs-material
# lets a wide div.arithmatex scroll on a narrow screen).
MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">\\[(\[](?P<tex>.*?)\\[)\]]</(?P=tag)>', re.S)

log = logging.getLogger(f"mkdocs.plugins.{__name__}")


def on_files(files, config):
    for image in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, image.name, abs_src_path=str(image)))
    return files


def on_page_content(html, page, **kwargs):
    def to_mathml(match):
        tag, tex = match["tag"], unescape(match["tex"])
        try:
            mathml = convert(tex, display="block" if tag == "div" else "inline")
            # TeX it could not convert stays in its output: an unknown command as <mi>\name</mi>,
            # the & of an environment it does not know (aligned) as <mi>&</mi>, not an entity.
            if "\\" in mathml or re.search(r"&(?![#\w]+;)", mathml):
                raise ValueError(f"TeX left in {mathml}")
        except Exception as error:  # a warning fails the --strict build, naming the equation
            log.warning("%s: latex2mathml cannot convert %r (%s)", page.file.src_uri, tex.strip(), error)
            return match[0]
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return MATH.sub(to_mathml, html)
