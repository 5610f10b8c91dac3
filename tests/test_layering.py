"""Imports run one way: the liquid core (wirings, activations, kernels, nn) never reaches up into
the parts built on it (baselines, forecasting, control, plotting, the CLI), not even lazily inside
a function, and the kernels do not reach into the layers. Read from the source, not by importing."""

import ast
from pathlib import Path

import pytest

import liquidts

PACKAGE = Path(liquidts.__file__).parent

# What each part of the core may import from liquidts.
ALLOWED = {
    "wirings": set(),
    "activations": set(),
    "kernels": {"activations", "kernels"},
    "nn": {"activations", "kernels", "nn", "wirings"},
}


def _liquidts_imports(path: Path) -> set:
    """The liquidts parts (first name after ``liquidts.``) a file imports, anywhere in it."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from liquidts import nn` names the part in the alias, `from liquidts.nn import CfC` in the module.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "liquidts" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_the_core_imports_only_downwards(part):
    files = [PACKAGE / f"{part}.py"] if (PACKAGE / f"{part}.py").exists() else sorted((PACKAGE / part).rglob("*.py"))
    assert files
    for path in files:
        wrong = _liquidts_imports(path) - ALLOWED[part] - {part}
        assert not wrong, f"{path.relative_to(PACKAGE)} imports liquidts.{', liquidts.'.join(sorted(wrong))}"


def test_the_check_sees_lazy_imports(tmp_path):
    """A test that could not fail would guard nothing: an import inside a function counts."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from liquidts.plotting import draw_wiring\n    return draw_wiring\n")
    assert _liquidts_imports(source) == {"plotting"}
