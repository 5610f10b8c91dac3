"""What every training algorithm's run shares: its progress log and the checkpoint it resumes from."""

from __future__ import annotations

import csv
from pathlib import Path

import torch


class CsvLog:
    """A run's CSV log: a header and one row per progress point; appended to when the run resumes,
    and nothing at all without a path."""

    def __init__(self, path, header: list[str], resume: bool):
        self._file = None
        if path is None:
            return
        new = not (resume and Path(path).exists())
        self._file = open(path, "w" if new else "a", newline="")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(header)

    def write(self, row: list) -> None:
        if self._file is not None:
            self._writer.writerow(row)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def resumed_checkpoint(path, resume: bool) -> dict | None:
    """The checkpoint a resumed run continues from (tensors and plain values only), or None."""
    if resume and path is not None and Path(path).exists():
        return torch.load(path, weights_only=True)
    return None
