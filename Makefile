# Targets the README names. `make run` and `make test` are the same as scripts/run
# and scripts/test (which need no make on a fresh machine).
.PHONY: run test lint layers typecheck fmt check bench clean

run:
	scripts/run

test:
	scripts/test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

layers:
	.venv/bin/lint-imports --no-cache

typecheck:
	.venv/bin/mypy
	.venv/bin/mypy --follow-imports=silent tests/support/fakes.py tests/unit/test_web_store_fakes.py

fmt:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

check: lint layers typecheck
	.venv/bin/pytest -x -q tests/unit

bench:
	@for b in benchmarks/*_bench.py; do .venv/bin/python -m benchmarks.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
