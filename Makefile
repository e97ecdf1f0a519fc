# The README's two commands. Each creates .venv on first use.
.PHONY: run test lint
run:
	@scripts/dev.sh run $(ARGS)
test:
	@scripts/dev.sh test $(ARGS)
lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
