#!/usr/bin/env bash
# Installs liquidts for the given extras on a fresh machine, torch first as a CPU build
# (an unpinned torch would pull several GB of CUDA packages). Usage: scripts/setup.sh [extras]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
