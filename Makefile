# The README's two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall only when pyproject.toml changes (editable install: code changes need none).
STAMP  := $(VENV)/.installed

.PHONY: venv up down status test demo lint bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

up: venv
	$(BIN)/piecework up

down: venv
	$(BIN)/piecework down

status: venv
	$(BIN)/piecework status

# The whole suite (unit, integration, e2e) against the real stack `up` started or found.
test: up
	$(BIN)/python -m pytest -q

demo: venv  # `piecework demo` starts the stack itself (its output in var/logs/demo.log)
	$(BIN)/piecework demo

# What CI runs before the tests: ruff, then the import contracts of docs/DESIGN.md#layout
# ([tool.importlinter] in pyproject.toml). Needs no stack.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Broker ceiling with Kafka's own perf tools (JVM client, acks=all).
bench: up
	$(BIN)/python -m deploy.kafka_perf
