# One entry point for humans and CI. `make run` and `make test` are the two
# Quick-start commands; `make check` is what CI runs (via .ci/run).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint format bench demo clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# rmdash itself, editable: `python -m rmdash` and `rmdash` work from any directory
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# its bytecode now, as pip compiles the libraries: a machine with PYTHONDONTWRITEBYTECODE set
	# would otherwise compile rmdash in every command (about 70 ms)
	$(BIN)/python -m compileall -q rmdash
	touch $(STAMP)

# Fill data/rmdash.duckdb (or $$RMDASH_DB) with demo data on first start, so the first page is quick.
run: $(STAMP)
	$(BIN)/python -m rmdash demo --if-empty
	$(BIN)/streamlit run app.py

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile

check: test

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

demo: $(STAMP)
	$(BIN)/python -m rmdash demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
