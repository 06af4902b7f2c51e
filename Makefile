# SPDX-License-Identifier: MPL-2.0
# Pianola: one-command setup, build, test, demo and benchmarks on Debian 12.
#
#   make test    install what is missing (apt, libtorch, SoundFonts, Dask), then fmt, clippy, tests
#   make demo    render the built-in piece to demo-out/
#   make bench   print speed figures
#   make install the plugin, the model and the CLI for this user (~/.local), found by
#                gst-launch-1.0, OBS and any GStreamer application without GST_PLUGIN_PATH

CARGO ?= cargo
SHELL := /bin/bash

# The shared data (the real Bach clip, the MIDI corpus): ../shared beside the project, or
# beside the repository this clone came from. Tests, benches and `make model` read it.
PIANOLA_SHARED ?= $(abspath $(patsubst %/data,%,$(firstword $(wildcard ../shared/data $(shell git remote get-url origin 2>/dev/null)/../shared/data))))
export PIANOLA_SHARED
# The workbench (demo, model, benches) uses the source tree's models unless told otherwise;
# an installed plugin never looks there.
PIANOLA_MODEL_DIR ?= $(CURDIR)/models
export PIANOLA_MODEL_DIR

.PHONY: all setup label-setup cluster-setup build release plugin test lint demo bench inspect install model clean

all: build

setup:
	@bash scripts/setup.sh

# The workbench's audio transcriber (transkun) for `pianola label`, in .venv-label; the
# plugin never needs it.
label-setup:
	@bash scripts/setup-label.sh

# Dask for the cluster batch (cluster/redub_dask.py, tests/cluster.rs) in .venv-cluster.
cluster-setup: setup
	@bash scripts/setup-cluster.sh

build: setup
	$(CARGO) build --all-targets

release: setup
	$(CARGO) build --release

# The plugin alone, as installed: no workbench (clap, indicatif, training) in it. Its own
# target dir, so that building the CLI does not overwrite it.
PLUGIN_DIR := target/plugin
plugin: setup
	$(CARGO) build --release --lib --no-default-features --target-dir $(PLUGIN_DIR)

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --lib --no-default-features -- -D warnings

test: lint cluster-setup
	$(CARGO) test

demo: release
	./target/release/pianola demo --out-dir demo-out

bench: setup
	$(CARGO) bench --bench symbolic --bench pianosim --bench keyfind --bench video2roll --bench roll2midi --bench live --bench redub

inspect: plugin
	GST_PLUGIN_PATH=$(CURDIR)/$(PLUGIN_DIR)/release gst-inspect-1.0 pianola

# Re-make the shipped video2roll model from scratch, resumable, and print its held-out figures
# (about 75 minutes on 2 cores; see models/README.md).
model: setup
	bash scripts/train-model.sh

DATA_HOME ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
BIN_DIR ?= $(HOME)/.local/bin

install: release plugin
	install -D -m 644 $(PLUGIN_DIR)/release/libgstpianola.so $(DATA_HOME)/gstreamer-1.0/plugins/libgstpianola.so
	install -D -m 644 models/video2roll.safetensors $(DATA_HOME)/pianola/models/video2roll.safetensors
	install -D -m 644 models/video2roll.json $(DATA_HOME)/pianola/models/video2roll.json
	install -D -m 644 models/video2roll-half.safetensors $(DATA_HOME)/pianola/models/video2roll-half.safetensors
	install -D -m 644 models/video2roll-half.json $(DATA_HOME)/pianola/models/video2roll-half.json
	install -D -m 644 models/roll2midi.safetensors $(DATA_HOME)/pianola/models/roll2midi.safetensors
	install -D -m 644 models/roll2midi.json $(DATA_HOME)/pianola/models/roll2midi.json
	install -D -m 755 target/release/pianola $(BIN_DIR)/pianola
	@echo "installed; check with: gst-inspect-1.0 pianola"

clean:
	$(CARGO) clean
	rm -rf demo-out
