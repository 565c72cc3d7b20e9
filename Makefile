# Two commands do all the set-up on a fresh machine (see README):
#   make run    install into .venv and run the default experiment (RLQP vs OSQP, CPU, ~3 min, no network)
#   make test   install into .venv (with dev extras) and run the test suite
# GPU users pick another torch build, e.g.
#   make run TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url <the CUDA wheel index of your torch build>"
PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS      ?= dev
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed-$(EXTRAS)

.PHONY: install run test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) run.py experiment=default

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup --durations=15 tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: EXTRAS = dev,bench
bench: $(STAMP)
	$(PY) benchmarks/baselines_speed.py

clean:
	rm -rf $(VENV) outputs multirun
