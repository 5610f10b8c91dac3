"""mkdocs hook: publish the benchmark plots that benchmarks/results/*.md (included in
benchmarks.md) refer to, so the tables and the pictures come from one place."""

from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def on_files(files, config):
    for image in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, image.name, abs_src_path=str(image)))
    return files
