"""C kernels for the CPU, compiled on first use and called through ctypes.

Small recurrent steps (a 19-neuron NCP, an LTC's six solver unfolds per input step) cost far more
in PyTorch's per-operation dispatch than in arithmetic; a C loop over the whole sequence removes
that cost. The sources sit beside their PyTorch references (``kernels/<cell>/*.c``, sharing the
headers in ``kernels/``); each is built once per machine with the system C compiler into
``~/.cache/liquidts/native`` (or ``$LIQUIDTS_CACHE``) and reused while its source, the headers and
the flags are unchanged.

Without a C compiler, or with ``LIQUIDTS_NATIVE=0``, :func:`load` returns None and the callers keep
their PyTorch paths; :func:`unavailable_reason` says why. A kernel that cannot be built says so once
per process in a warning (the fallback is correct but slower); opting out is silent.

Every tensor handed to a kernel goes through :func:`address`, which refuses what the kernel cannot
read (another dtype, another device, a non-contiguous layout) instead of passing a wrong pointer.

A kernel module reads its source when it is imported (:func:`source`) and builds from that copy,
so the library it calls always matches the argument lists it declares: a package upgraded under a
running process (its ``.c`` files replaced) would otherwise be compiled and called with the old
module's arguments.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

# -ffast-math lets GCC call glibc's vector expf (libmvec) inside vectorised loops; the kernels are
# written to stay finite under it (stable_math.h) and tested against the PyTorch paths. It is given
# to the compile step only: linked with it, GCC adds start-up code that sets flush-to-zero for the
# whole process when the library loads, silently changing every other computation's subnormals.
# On a CPU with AVX-512, GCC still prefers 256-bit vectors unless told otherwise; the 512-bit ones
# halve the time of libmvec's tanhf and expf, most of the kernels' work beside their matrix
# products (elsewhere the preference is ignored).
_COMPILE_FLAGS = ("-O3", "-ffast-math", "-march=native", "-mprefer-vector-width=512", "-fPIC", "-std=c99", "-c")
_LINK_FLAGS = ("-shared",)
_HEADERS = Path(__file__).parent  # the headers every kernel may include
BUILD_TIMEOUT_S = 120  # a compiler that hangs (a broken $CC, a stuck license check) must not hang the caller

_libraries: dict = {}
_failures: dict = {}

int64 = ctypes.c_int64
int32 = ctypes.c_int
pointer = ctypes.c_void_p


class Source(NamedTuple):
    """A kernel's C source and the shared headers, as read by :func:`source`."""

    path: Path
    code: bytes
    headers: tuple  # ((file name, bytes), ...)


def source(path: Path) -> Source:
    """Read the C file ``path`` and the headers it may include, now."""
    return Source(path, path.read_bytes(), tuple((h.name, h.read_bytes()) for h in sorted(_HEADERS.glob("*.h"))))


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


def _run(command: list[str], name: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{command[0]} did not finish {name} within {BUILD_TIMEOUT_S} s") from None
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed on {name}:\n{result.stderr.strip()}")


def _build(src: Source, compiler: str) -> Path:
    code = src.code + b"".join(text for _, text in src.headers)
    flags = " ".join((compiler, *_COMPILE_FLAGS, *_LINK_FLAGS, _cpu_signature()))
    key = hashlib.sha256(code + flags.encode()).hexdigest()[:16]
    target = _cache_dir() / f"{src.path.stem}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build to a temporary name and rename, so that concurrent processes never load a half-written
    # file; from the copies in ``src``, not the files on disk, which may have changed since.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tmp = Path(tmp)
        for name, text in ((src.path.name, src.code), *src.headers):
            (tmp / name).write_bytes(text)
        obj, partial = tmp / "kernel.o", tmp / target.name
        _run([compiler, *_COMPILE_FLAGS, f"-I{tmp}", str(tmp / src.path.name), "-o", str(obj)], src.path.name)
        _run([compiler, *_LINK_FLAGS, str(obj), "-o", str(partial), "-lm"], src.path.name)
        os.replace(partial, target)
    return target


def _opted_out() -> bool:
    return os.environ.get("LIQUIDTS_NATIVE", "1") == "0"


def unavailable_reason(source: Source | Path, signatures: dict) -> str | None:
    """Why the C kernel in ``source`` cannot be used here, or None when it can (built on first use)."""
    if _opted_out():
        return "disabled by LIQUIDTS_NATIVE=0"
    return None if _load(source, signatures) is not None else _failures[_path(source)]


def load(source: Source | Path, signatures: dict):
    """The ctypes library built from ``source`` (what :func:`source` read, or a ``.c`` file's Path,
    read now), or None when it cannot be built.

    ``signatures``: ``{function name: (restype, [argtypes])}`` for every function the caller uses;
    ctypes then converts and checks each argument instead of guessing its C type.
    """
    return None if _opted_out() else _load(source, signatures)


def _path(src: Source | Path) -> Path:
    return src.path if isinstance(src, Source) else src


def _load(src: Source | Path, signatures: dict):
    path = _path(src)
    if path not in _libraries:
        library, compiler = None, _compiler()
        if compiler is None:
            _failures[path] = "no C compiler found (set CC, or install gcc or clang)"
        else:
            try:
                library = ctypes.CDLL(str(_build(src if isinstance(src, Source) else source(src), compiler)))
                for name, (restype, argtypes) in signatures.items():
                    function = getattr(library, name)
                    function.restype, function.argtypes = restype, argtypes
            except (OSError, RuntimeError, AttributeError) as err:
                library, _failures[path] = None, str(err)
        if library is None:
            warnings.warn(f"liquidts: the C kernel {path.name} is not available ({_failures[path]}); "
                          "the same function runs in PyTorch, more slowly (LIQUIDTS_NATIVE=0 silences this)",
                          RuntimeWarning)
        _libraries[path] = library
    return _libraries[path]


def address(tensor: torch.Tensor | None, name: str, dtype: torch.dtype = torch.float32) -> int | None:
    """The data address of ``tensor`` for a C kernel (None stays None), after checking that the
    kernel can read it: ``dtype``, in CPU memory, contiguous. ``name`` says which tensor it is."""
    if tensor is None:
        return None
    if tensor.dtype is not dtype or not tensor.is_cpu or not tensor.is_contiguous():
        error = TypeError if tensor.dtype is not dtype else ValueError
        layout = "contiguous" if tensor.is_contiguous() else "not contiguous"
        raise error(f"a C kernel reads contiguous {dtype} tensors in CPU memory; {name} is {tensor.dtype} "
                    f"on {tensor.device}, {layout}")
    return tensor.data_ptr()
