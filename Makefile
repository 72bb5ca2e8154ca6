# Two commands do everything: `make demo` and `make test` (both create .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench smoke clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "helpdesk-tui needs Python 3.11+; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/helpdesk demo

lint: $(STAMP)
	$(BIN)/ruff check helpdesk_tui widgets db tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy db helpdesk_tui/sla

test: lint
	$(BIN)/pytest -n 2 --dist loadgroup
	bash .ci/smoke

smoke: $(STAMP)
	bash .ci/smoke

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
