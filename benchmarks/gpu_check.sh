#!/usr/bin/env bash
# The GPU check of issue 12 (item 5): eval frames/s end to end vs forward-only, train step time cached vs
# online teacher, and an estimate of the paper's recipe on one GPU -> benchmarks/results/gpu.json.
#
#   benchmarks/gpu_check.sh [--dry-run] [--out PATH]
#
# Runs benchmarks/gpu_check.py (its docstring says what is measured) with the repo's .venv python when
# .venv/ exists at the repo root, else python3 (FITCLIP_PYTHON=/path/to/python overrides both), offline
# (HF_HUB_OFFLINE=1: random weights, nothing is downloaded). --dry-run: CPU, tiny model, a few clips
# (default output benchmarks/results/gpu-dry-run.json). Without --dry-run and without a CUDA GPU: exit 2.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${FITCLIP_PYTHON:-}" ]]; then
    py="$FITCLIP_PYTHON"
elif [[ -x "$repo/.venv/bin/python" ]]; then
    py="$repo/.venv/bin/python"
else
    py="python3"
fi
export HF_HUB_OFFLINE=1
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
cd "$repo"
exec "$py" benchmarks/gpu_check.py "$@"
