# Switchboard: two commands for newcomers (see README.md), a few more for developers.
#
#   make run  [ARGS='--port 4000 --bind 0.0.0.0 --tls self-signed']   build and start
#   make test                                                         every Rust and browser test
#   make cluster                                                      two nodes, Redis, HAProxy
#   make help                                                         the other targets

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ARGS ?=
# Tools installed by scripts/tools.sh: cargo's bin dir and npm's (wasm-opt comes from npm).
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# Trunk must not look for (or download) newer versions of itself or its tools.
export TRUNK_SKIP_VERSION_CHECK := true

# The wasm build's environment: empty with rustup's target, Debian's rustc-web otherwise.
WASM_ENV = eval "$$(scripts/wasm-target.sh env)"

.PHONY: help run test cluster tools frontend server test-rust test-e2e bench fmt clippy

help:
	@echo "make run    build everything (release) and start the server; ARGS='...' passes flags"
	@echo "make test   run every Rust test and every Playwright test"
	@echo "make cluster  two nodes on one Redis behind HAProxy (see README.md); ARGS go to both"
	@echo "make frontend | server | test-rust | test-e2e | bench | fmt | clippy"

## Installs what is missing (registries only; nothing else is downloaded).
tools:
	@scripts/tools.sh build

## The browser half: frontend/ → wasm, JS glue and CSS in dist/.
frontend: tools
	$(WASM_ENV); trunk build --release

server: tools
	cargo build --release -p server

run: frontend server
	./target/release/switchboard $(ARGS)

## Cluster mode on one machine: Redis, two nodes and HAProxy (deploy/haproxy.cfg).
cluster: frontend server
	@scripts/tools.sh cluster
	scripts/cluster.sh $(ARGS)

## Every Rust test. The wasm entry (frontend/) has none, and built for the host beside the
## server it only turned on Leptos's browser half for everything.
RUST_TESTS = --workspace --exclude frontend

test-rust: tools
	@scripts/tools.sh test
	cargo test $(RUST_TESTS)

## Playwright drives Debian's Chromium against a debug server, inside a network namespace
## that has only loopback (see scripts/e2e.sh). The server is built as `cargo test` builds it
## (its integration tests need it): after test-rust nothing is left to build, where a
## `cargo build -p server` unified features afresh and rebuilt half the tree (2 minutes).
test-e2e: frontend
	@scripts/tools.sh browser
	cargo test $(RUST_TESTS) --no-run
	scripts/e2e.sh

## The web app first: the server embeds dist/ (server/build.rs), so built after the Rust
## tests it made the server and every test binary build again (over a minute).
test: frontend test-rust test-e2e

## Benchmarks (print figures; assert nothing): every scenario on the course's Node server and
## on Switchboard, each pinned to CPU 0 (see docs/PERFORMANCE.md); the capacity of one core
## on both; the cursor scaling table; relayed calls per core on our TURN relay and on coturn;
## and, in Chromium on loopback, each route's first load and the call and meeting set-up times.
REFERENCE_DIR ?= ../shared/reference/seed-node
bench: frontend
	@scripts/tools.sh bench
	cargo build --release -p server -p bench
	if scripts/reference.sh "$(REFERENCE_DIR)"; then \
	  ./target/release/bench compare; ./target/release/bench capacity --server reference; fi
	./target/release/bench capacity
	./target/release/bench cursors --compact
	scripts/loopback-only.sh ./target/release/bench turn
	scripts/loopback-only.sh node bench/browser/first-load.mjs
	scripts/loopback-only.sh node bench/browser/call-latency.mjs
	scripts/loopback-only.sh node bench/browser/meet-setup.mjs

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings
