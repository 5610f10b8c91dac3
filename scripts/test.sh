#!/usr/bin/env bash
# Fresh machine to test results in one command: install (CPU torch, dev extras, test-only
# reference packages) and run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# dev, and the ray extra, so that the architecture search's Ray backend is tested too.
bash scripts/setup.sh dev,ray
# Reference implementations the baselines are compared with in tests, never used at run time.
# xlstm is installed without its dependencies: its plain-PyTorch ("vanilla") path needs none of
# the CUDA kernel packages it declares.
python -m pip install --quiet --disable-pip-version-check --no-deps "mambapy==1.2.0" "xlstm==2.0.6"
python -m pip install --quiet --disable-pip-version-check "packaging>=23"
export MPLBACKEND=Agg TRITON_INTERPRET=1
python -m pytest "$@"
