# Two commands for a fresh machine:
#   make demo   install, then price the seed 004 RAG stack on AWS, Azure and GCP
#   make test   install what the tests need, lint, type-check and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install demo test lint validators bench clean

$(BIN)/pepperpy-cloud: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/pepperpy-cloud

demo: install
	$(BIN)/pepperpy-cloud estimate examples/stacks/bsc-rag.yaml --provider all
	$(BIN)/pepperpy-cloud compare examples/stacks/kv-store.yaml

# checkov pins its own dependencies, so it lives in a venv of its own.
.venv-checkov/bin/checkov:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --upgrade pip
	.venv-checkov/bin/pip install --quiet 'checkov>=3.2'

validators: .venv-checkov/bin/checkov
	@command -v nginx >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null) || echo "nginx not installed: the nginx -t test will be skipped"; }

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: lint validators
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/catalog_bench.py
	$(BIN)/python benchmarks/cli_startup_bench.py
	$(BIN)/python benchmarks/render_bench.py
	$(BIN)/python benchmarks/lb_bench.py
	$(BIN)/python benchmarks/local_bench.py

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache
