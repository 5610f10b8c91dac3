"""C kernels for the CPU, compiled on first use and called through ctypes.

Small recurrent steps (a 19-neuron NCP, an LTC's six solver unfolds per input step) cost far more
in PyTorch's per-operation dispatch than in arithmetic; a C loop over the whole sequence removes
that cost. The sources sit beside their PyTorch references (``kernels/<cell>/*.c``); each is built
once per machine with the system C compiler into ``~/.cache/liquidts/native`` (or
``$LIQUIDTS_CACHE``) and reused while its source and flags are unchanged.

Without a C compiler, or with ``LIQUIDTS_NATIVE=0``, :func:`load` returns None and the callers keep
their PyTorch paths; :func:`unavailable_reason` says why.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

# -ffast-math lets GCC call glibc's vector expf (libmvec) inside vectorised loops; the kernels are
# tested against the PyTorch paths to float32 tolerance. It is given to the compile step only:
# linked with it, GCC adds start-up code that sets flush-to-zero for the whole process when the
# library loads, silently changing every other computation's subnormal numbers.
_COMPILE_FLAGS = ("-O3", "-ffast-math", "-march=native", "-fPIC", "-std=c99", "-c")
_LINK_FLAGS = ("-shared",)

_libraries: dict = {}
_failures: dict = {}


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _cpu_signature() -> str:
    # -march=native binds the library to this CPU; a home directory shared between machines must
    # not hand it to another one.
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("LIQUIDTS_CACHE") or Path.home() / ".cache" / "liquidts"
    return Path(root) / "native"


def _build(source: Path, compiler: str) -> Path:
    code = source.read_bytes()
    flags = " ".join((compiler, *_COMPILE_FLAGS, *_LINK_FLAGS, _cpu_signature()))
    key = hashlib.sha256(code + flags.encode()).hexdigest()[:16]
    target = _cache_dir() / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build to a temporary name and rename, so that concurrent processes never load a half-written file.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        obj, partial = Path(tmp) / "kernel.o", Path(tmp) / target.name
        for command in ([compiler, *_COMPILE_FLAGS, str(source), "-o", str(obj)],
                        [compiler, *_LINK_FLAGS, str(obj), "-o", str(partial), "-lm"]):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"{compiler} failed on {source.name}:\n{result.stderr.strip()}")
        os.replace(partial, target)
    return target


def unavailable_reason(source: Path) -> str | None:
    """Why the C kernel in ``source`` cannot be used here, or None when it can."""
    if os.environ.get("LIQUIDTS_NATIVE", "1") == "0":
        return "disabled by LIQUIDTS_NATIVE=0"
    if load(source) is None:
        return _failures.get(source, "no C compiler found (set CC, or install gcc or clang)")
    return None


def load(source: Path):
    """The ctypes library built from ``source`` (a ``.c`` file's Path), or None when it cannot be built."""
    if os.environ.get("LIQUIDTS_NATIVE", "1") == "0":
        return None
    if source not in _libraries:
        library, compiler = None, _compiler()
        if compiler is not None:
            try:
                library = ctypes.CDLL(str(_build(source, compiler)))
            except (OSError, RuntimeError) as err:
                _failures[source] = str(err)
        _libraries[source] = library
    return _libraries[source]


def pointer(tensor) -> ctypes.c_void_p:
    """A contiguous tensor's data as a C pointer (the caller keeps the tensor alive)."""
    return ctypes.c_void_p(tensor.data_ptr())


int64 = ctypes.c_int64
