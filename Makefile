# PartnerWatch: `make run` and `make test` are the whole set-up (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
SANDBOX_PORT ?= 9100

.PHONY: run test lint bench install install-dev clean requirements reset-sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# The app with the embedded TikTok sandbox; Ctrl-C stops both (one process).
run: install
	PW_PORT=$(PORT) PW_SANDBOX_PORT=$(SANDBOX_PORT) exec $(BIN)/streamlit run streamlit_app.py \
		--server.port $(PORT) --server.headless true

# The embedded sandbox starts from its seed at the next `make run` (its tokens and control changes are
# kept in the data directory otherwise); PW_SANDBOX_RESET=1 make run does the same in one step.
reset-sandbox:
	rm -f "$${PW_DATA_DIR:-data}/sandbox-state.json"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite on TEST_WORKERS pytest-xdist workers: one group per test module (its module fixtures built
# once), the browser modules dealt into one group per worker (tests/support/scheduling.py). TEST_WORKERS=0 runs
# it serially.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

bench: install-dev
	$(BIN)/python -m benchmarks

# requirements*.txt from pyproject.toml (the one declaration of dependencies)
requirements:
	$(PYTHON) tools/requirements.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
