# pneumoviewer: the whole set-up is `make run` or `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: run test lint bench demo-model clean

# The venv is made when missing; the install is redone when pyproject.toml changes.
# `run` needs the product only; `test` adds the test and dev extras.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test,dev]'
	@touch $@

run: $(VENV)/.installed
	$(VENV)/bin/pneumoviewer $(ARGS)

# Tests marked `isolated` (the ONNX Runtime / OpenVINO runtimes, torchrun DDP) run in a second
# pytest process: with those runtimes loaded in the same process as the training tests, the
# parent died with SIGSEGV. Exit code 5 ("no tests collected", e.g. PYTEST_ARGS picks other
# tests) is fine.
test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not isolated" $(PYTEST_ARGS)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m isolated $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check pneumoviewer model_training tests benchmarks

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py

demo-model: $(VENV)/.installed
	$(VENV)/bin/pneumoviewer-train demo --samples resources/samples --out resources/models/demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
