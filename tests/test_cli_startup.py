"""The command line starts fast, shows its defaults, and answers mistakes in one line with exit code 2."""

import subprocess
import sys

import pytest

from liquidts.cli import build_parser, main


def _loaded_after(statement: str, modules: tuple) -> list:
    """Which of ``modules`` a fresh interpreter has imported after running ``statement``."""
    code = f"import sys\n{statement}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return [m for m in out.split(",") if m]


def test_help_imports_neither_torch_nor_pandas():
    heavy = ("torch", "pandas", "numpy", "gymnasium", "matplotlib", "sklearn")
    assert _loaded_after("from liquidts.cli import build_parser; build_parser()", heavy) == []


def test_import_liquidforecaster_skips_sklearn_matplotlib_gymnasium():
    heavy = ("sklearn", "matplotlib", "gymnasium", "triton", "torchdiffeq", "scipy")
    assert _loaded_after("from liquidts import LiquidForecaster", heavy) == []


def test_making_a_forecaster_does_not_import_torch():
    """torch (about 1.3 s) is imported by fit, load and predict, not by the import or the parameters."""
    statement = ("from liquidts import LiquidForecaster\n"
                 "from liquidts.forecast._params import clone\n"
                 "f = LiquidForecaster(horizon=3)\n"
                 "f.get_params()\n"
                 "repr(clone(f.set_params(units=8)))")
    assert _loaded_after(statement, ("torch", "safetensors")) == []


@pytest.mark.parametrize("argv", [["forecast", "--help"], ["control", "train", "--help"],
                                  ["control", "eval", "--help"]])
def test_help_shows_defaults(argv, capsys):
    pytest.importorskip("gymnasium")
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "default" in capsys.readouterr().out


def test_control_names_match_the_implementation():
    pytest.importorskip("gymnasium")
    from liquidts import _control_cli as cli
    from liquidts.control import policy
    from liquidts.control import train as train_module
    import importlib

    train = importlib.import_module("liquidts.control.train")

    assert tuple(cli.CORES) == tuple(policy.CORES)
    assert tuple(cli.ALGOS) == tuple(train.ALGOS)


@pytest.mark.parametrize("argv, flag", [
    (["control", "eval", "missing.safetensors", "CartPole-v1"], "policy"),
    (["control", "train", "NoSuchEnv-v0", "--out", "runs/x"], "env_id"),
    (["control", "train", "CartPole-v1", "--out", "runs/x", "--set", "gamma"], "--set"),
    (["control", "train", "CartPole-v1", "--out", "runs/x", "--algo", "bc"], "--expert"),
    (["control", "train", "CartPole-v1", "--out", "runs/x", "--steps", "0"], "--steps"),
])
def test_control_errors_are_one_line_with_exit_2(argv, flag, capsys, tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert flag in err[-1]
    assert "Traceback" not in "\n".join(err)
