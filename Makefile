# difftraffic: the README's two set-up commands are `make demo` and `make test`.
# Both build .venv on a fresh machine with a pinned CPU PyTorch (override TORCH_SPEC for CUDA builds).

PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
# CUDA machines: make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= viewer,mp4,gym,physics,sweep,tb,dev
DEMO_OUT   ?= runs/demo

.PHONY: install demo test bench lint clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m difftraffic.cli.demo --out $(DEMO_OUT)

test: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/sim_throughput.py
	$(PY) benchmarks/task_throughput.py
	$(PY) benchmarks/learner_cost.py

lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
