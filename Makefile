# Centrale — the two commands: `make run` and `make test` (see README.md).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install run test test-fast bench lint lock browser node office proxy audit clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -C editable_mode=compat -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Installs, migrates the embedded SQLite database, loads the demo, starts everything.
run: install
	@mkdir -p var
	$(BIN)/centrale db upgrade
	$(BIN)/centrale demo load
	$(BIN)/centrale serve

## Installs (with Debian's Chromium for the browser tests) and runs every test, on two
## workers (pytest-xdist; a test file stays on one worker, so its module fixtures are built once).
## Bytecode is cached under .venv/pycache even where PYTHONDONTWRITEBYTECODE is set (as on the build machine):
## without it every worker and every `centrale` subprocess of the tests compiles each module it imports (~2.7 s each).
PYTEST := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache \
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

test: install browser node office proxy
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not browser"

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "chromium could not be installed"; exit 1; }; }

## Debian's headless LibreOffice: tests open the files the product writes with it.
office:
	@command -v soffice >/dev/null 2>&1 || { \
	  echo "installing Debian's headless LibreOffice (Calc) for the export tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    libreoffice-calc-nogui >/dev/null) || { echo "LibreOffice could not be installed"; exit 1; }; }

## Debian's nginx: tests/csms/test_security_profile3.py runs the stations' TLS proxy (docker/nginx/) with it.
proxy:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  echo "installing Debian's nginx-light for the TLS proxy tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    nginx-light >/dev/null) || { echo "nginx could not be installed"; exit 1; }; }

## Known vulnerabilities in requirements.lock and tests/node's lock (scripts/audit.py):
## exit 1 on a finding not waived in audit-allowlist.toml, 3 when no advisory database answers.
audit: install node
	$(BIN)/python scripts/audit.py $(AUDIT_FLAGS)

node:
	@if [ -f tests/node/package.json ]; then cd tests/node && npm ci --silent --no-audit --no-fund; fi

## bench_embedded.py drives the embedded server with the npm ocpp-rpc client (tests/node, or OCPP_RPC_DIR).
bench: install
	@test -n "$$OCPP_RPC_DIR" || test -f tests/node/node_modules/ocpp-rpc/package.json || $(MAKE) --no-print-directory node
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## ruff (with its private-import rule) and import-linter's layer contracts (pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

## Re-resolves the lock file from pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache
