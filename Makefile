# SPDX-License-Identifier: MPL-2.0
# Pianola: one-command setup, build, test, demo and benchmarks on Debian 12.
#
#   make test    install what is missing (apt, libtorch, SoundFonts), then fmt, clippy, tests
#   make demo    render the built-in piece to demo-out/
#   make bench   print speed figures

CARGO ?= cargo
SHELL := /bin/bash

.PHONY: all setup build release test lint demo bench inspect clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --all-targets

release: setup
	$(CARGO) build --release

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test: lint
	$(CARGO) test

demo: release
	./target/release/pianola demo --out-dir demo-out

bench: setup
	$(CARGO) bench --bench symbolic --bench pianosim --bench keyfind --bench video2roll

inspect: release
	GST_PLUGIN_PATH=$(CURDIR)/target/release gst-inspect-1.0 pianola

clean:
	$(CARGO) clean
	rm -rf demo-out
