# Two commands on a fresh machine with Python 3.11 and pip:
#   make serve   install into .venv and start the mock on http://127.0.0.1:4010
#   make test    install the test dependencies (Redocly, openapi-typescript and TypeScript when npm exists, Debian's
#                chromium when missing and root), check formatting, lint and types, and run all tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REDOCLY_VERSION := 2.77.0
# TypeScript 5.x: openapi-typescript 7 does not work with TypeScript 7 yet.
OPENAPI_TS_VERSION := 7.13.0
TYPESCRIPT_VERSION := 5.9.3

.PHONY: serve test check clean

HOST ?= 127.0.0.1
PORT ?= 4010

serve: $(VENV)/.installed
	$(BIN)/xentree-mock serve --host $(HOST) --port $(PORT)

# The set-up (`make test-ready`) runs three jobs at a time, the longest first: Debian's Chromium (on a fresh machine
# ~30 s of apt, mostly download and unpacking) beside the Python install and the npm tools, then the gate beside the
# warm-up below (each needs one core). Then the tests, one worker more than there are cores: about a tenth of a
# worker's time goes waiting on a browser, a server or a timer (on 2 cores, 36 of 340 core-seconds idle with 2
# workers, 10 with 3).
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test:
	@$(MAKE) --no-print-directory --jobs=3 test-ready
	$(BIN)/python -m pytest -n $(WORKERS) --durations=15

OPENAPI_TS := .tools/.openapi-typescript-$(OPENAPI_TS_VERSION)-typescript-$(TYPESCRIPT_VERSION)
.PHONY: test-ready warm-up chromium
test-ready: chromium $(VENV)/.installed-test .tools/.redocly $(OPENAPI_TS) check warm-up

# The suite starts ~100 Python processes from the checkout (servers, CLIs, proxies). The sources are compiled once
# first, as pip does for an installed wheel: where PYTHONDONTWRITEBYTECODE is set (as on CI), each process would
# otherwise compile them again. For the same reason pytest would rewrite the asserts of every test module in each
# xdist worker (~5 s of CPU each): one collection that may write bytecode leaves the rewritten modules in __pycache__.
warm-up: $(VENV)/.installed-test
	$(BIN)/python -m compileall -q mock_server contract_tests tests bench
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest --collect-only -q -p no:cacheprovider >/dev/null

# The gate, in `make test` before the tests: formatting, lint and strict types (configured in pyproject.toml).
check: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# uv installs the project and its dependencies, bytecode compiled as pip compiles it, in ~8 s where pip takes ~20 s on
# a fresh clone (most of `make test`'s set-up). The venv has no pip of its own (`venv` takes ~4 s to bootstrap one,
# uv needs none): the system's pip puts uv into it (`--python`, pip 22.3 and later). Wherever uv cannot, the venv gets
# pip after all, upgraded (Python 3.11's bundled pip takes 32 s), and pip does the whole install.
UV_VERSION := 0.13.9
install = $(PYTHON) -m pip --python $(BIN)/python install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
	&& $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode $(1) \
	|| { echo "uv failed: installing with pip"; $(BIN)/python -m ensurepip --upgrade --default-pip >/dev/null \
	&& $(BIN)/python -m pip install --quiet --upgrade pip && $(BIN)/python -m pip install --quiet $(1); }

# The venv is made once, by this rule alone (order-only below: a new venv's time does not make the installs stale).
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(call install,-e .)
	touch $@

# One install of the project with its test extras (one resolution, not two); it stamps the plain install too.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(call install,-e '.[test]')
	touch $(VENV)/.installed $@

# The independent spec linter (Redocly CLI, pinned). Skipped, with a note, where npm is missing.
.tools/.redocly:
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix .tools @redocly/cli@$(REDOCLY_VERSION) && touch $@; \
	else echo "npm not found: the Redocly lint test will be skipped"; fi

# The generated TypeScript types are compiled by the tests (openapi-typescript and tsc, pinned; the stamp names the
# versions so a bump reinstalls). Skipped, with a note, where npm is missing. After Redocly: two npm installs into
# one prefix must not run at once.
$(OPENAPI_TS): .tools/.redocly
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --save-exact --prefix .tools \
			openapi-typescript@$(OPENAPI_TS_VERSION) typescript@$(TYPESCRIPT_VERSION) && touch $@; \
	else echo "npm not found: the generated TypeScript types test will be skipped"; fi

# Debian's Chromium and its matching chromedriver for the real-browser tests (browser downloads are not reachable):
# installed with apt when either is missing and we are root (as on CI); otherwise a note. Checked on every run.
chromium:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else echo "chromium or chromedriver missing (not root): install Debian's chromium and chromium-driver"; fi

clean:
	rm -rf $(VENV) .tools build dist
