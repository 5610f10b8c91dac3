"""What every training algorithm's run shares: its progress log and its checkpoints.

A long fit may be killed at any moment (a pre-empted machine, an out-of-memory kill) and resumed
from its last checkpoint. So a checkpoint is written whole or not at all (a temporary file renamed
over the previous one), and a resumed run's log keeps only the rows up to that checkpoint: the
rows written after it are written again by the resumed run, as the uninterrupted run wrote them.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import torch


class CsvLog:
    """A run's CSV log: a header and one row per progress point, the progress (generation, epoch,
    step) in the first column; nothing at all without a path.

    ``resumed_at``: the progress of the checkpoint a resumed run continues from; the rows up to
    it are kept and new ones appended. None starts a new log. Each row reaches the file when it is
    written, so a killed run loses none.
    """

    def __init__(self, path, header: list[str], resumed_at: float | None):
        self._file = None
        if path is None:
            return
        path = Path(path)
        kept = _rows_up_to(path, header, resumed_at) if resumed_at is not None else []
        _write_atomically(path, lambda f: csv.writer(f).writerows([header, *kept]), text=True)
        self._file = open(path, "a", newline="")
        self._writer = csv.writer(self._file)

    def write(self, row: list) -> None:
        if self._file is not None:
            self._writer.writerow(row)
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _rows_up_to(path: Path, header: list[str], progress: float) -> list[list[str]]:
    """The complete rows of an earlier log whose progress is at most ``progress``."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [row for row in rows[1:] if len(row) == len(header) and float(row[0]) <= progress]


def _write_atomically(path: Path, write, text: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``: a
    process killed meanwhile leaves the previous file whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"newline": ""} if text else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_checkpoint(state: dict, path) -> None:
    """``torch.save(state, path)`` for a training checkpoint (tensors and plain values), atomically."""
    _write_atomically(Path(path), lambda f: torch.save(state, f))


def resumed_checkpoint(path, resume: bool) -> dict | None:
    """The checkpoint a resumed run continues from (tensors and plain values only), or None."""
    if resume and path is not None and Path(path).exists():
        return torch.load(path, weights_only=True)
    return None
