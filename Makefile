# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Each creates .venv/ at the repo root when missing and installs what it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1

.PHONY: demo test venv clean-venv bench

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing requirements into $(VENV)/ (log: $(VENV)/pip.log)"
	@$(PY) -m pip install -r requirements.txt > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install --no-deps -e . >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	$(PY) -c "import torch, torchvision, open_clip, decord, av, fitclip"
	@touch $(STAMP)

# The whole study on the embedded synthetic world: notebooks 00 → 08 (executed copies in runs/),
# artifacts in data/, figures in figures/, then the results table.
demo: $(STAMP)
	$(PY) -m fitclip.pipeline
	@echo; echo "Teacher vs Student vs FitCLIP vs WiSE-FT, 95% bootstrap CIs (data/05_benchmarks/table.md):"; cat data/05_benchmarks/table.md
	@echo; echo "Paired differences, * = CI excludes 0 (data/05_benchmarks/differences.md):"; cat data/05_benchmarks/differences.md
	@echo; echo "Verdicts (data/05_benchmarks/verdicts.md):"; cat data/05_benchmarks/verdicts.md

test: $(STAMP)
	$(PY) -m pytest -q --durations=10

# Every performance script of the README's Benchmarks table (bench_eval.py alone ~15 min on 2 cores; results in
# benchmarks/results/). benchmarks/gpu_check.sh is separate: it needs a CUDA machine.
bench: $(STAMP)
	$(PY) benchmarks/bench_fusion.py
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_grid.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_train_step.py

clean-venv:
	rm -rf $(VENV)
