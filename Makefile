# weft — the two commands that matter: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STAMP := .cache/stamps
APT_PACKAGES := golang-go golang-github-weaveworks-mesh-dev iproute2 nftables iputils-ping iperf3 tshark wireguard-go wireguard-tools qemu-system-x86 busybox-static kmod podman containernetworking-plugins runc conmon catatonit iptables util-linux containerd python3-grpcio python3-protobuf golang-github-appc-cni-dev prometheus mmdebstrap python3-kubernetes python3-yaml
PREFIX ?= /usr/local

.PHONY: help deps build test lint bench demo install clean fuzz image

help:
	@echo "make demo    — build weft and show it working across network-namespace hosts"
	@echo "make test    — install what is needed and run every test"
	@echo "make lint    — type-check and lint"
	@echo "make bench   — benchmarks (prints ratios against references measured in the same run)"
	@echo "make image   — build the container image localhost/weft:latest with podman (docs/kubernetes.md)"
	@echo "make install — put the weft command on PATH ($(PREFIX)/bin/weft)"

# Debian packages: the Go toolchain and weaveworks/mesh for the interop peer, iproute2/iptables
# for the namespace tests. Installed only when missing (needs root, as the tests do).
$(STAMP)/apt: Makefile
	@mkdir -p $(STAMP)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install $$missing (or install them yourself)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(STAMP)/apt node_modules/.package-lock.json

# The native addon: syscalls only (netlink and packet sockets, setns), plain C against Node's
# own N-API headers; no node-gyp. See docs/dataplane.md.
NODE_INCLUDE ?= $(shell for d in /usr/include/node "$$(dirname "$$(dirname "$$(command -v node)")")/include/node"; do [ -f "$$d/node_api.h" ] && echo "$$d" && break; done)
native/build/weft_native.node: native/weft_native.c
	@mkdir -p native/build
	@if [ -z "$(NODE_INCLUDE)" ]; then echo "Node's headers (node_api.h) were not found; install the nodejs headers (Debian: libnode-dev) or set NODE_INCLUDE"; exit 1; fi
	cc -O2 -Wall -Wextra -shared -fPIC -I$(NODE_INCLUDE) -o $@ $<

# The CNI plugin's native forwarder (docs/cni.md): a standalone program on libc alone, installed by
# `weft setup-cni` as the plugin so a container start pays no Node start. Without a C compiler the
# build goes on and setup-cni installs the Node plugin alone, as it says.
native/build/weft-cni: native/weft-cni.c
	@mkdir -p native/build
	@if command -v cc >/dev/null; then cc -O2 -Wall -Wextra -o $@ $<; else echo "no C compiler (cc): the CNI plugin's native forwarder is not built; weft setup-cni installs the Node plugin alone"; fi

# The CNI plugin: one self-contained CommonJS file (it starts faster than ESM, and an installed copy
# without a .js extension is loaded as CommonJS anyway); the package.json beside it says so to Node.
CNI_SOURCES := $(filter-out %.test.ts,$(wildcard src/cni/*.ts)) src/api/protocol.ts
dist/cni/weft-cni.js: $(CNI_SOURCES) node_modules/.package-lock.json
	@mkdir -p dist/cni
	npx esbuild src/cni/main.ts --bundle --platform=node --target=node20 --format=cjs --log-level=warning '--banner:js=#!/usr/bin/env node' --outfile=$@
	@echo '{"type":"commonjs"}' > dist/cni/package.json
	@chmod 755 $@

# The CLI and router as one minified CommonJS file (dist/weft-bundle.cjs): a router starts in about
# half the CPU of the tsc build's ~200 ES modules (0.25–0.3 s against 0.55–0.65 s here, bench
# mesh-processes). sodium-native stays a package: it loads its own native binding. `weft` is
# dist/weft.cjs, which runs the bundle with V8's code cache for it, made here by running it once
# (src/bin/load-bundle.ts; ~135 → ~100 ms of CPU to start a router).
WEFT_SOURCES := $(shell find lib mesh router ipam crypto src -name '*.ts' ! -name '*.test.ts' 2>/dev/null)
dist/weft.cjs: $(WEFT_SOURCES) node_modules/.package-lock.json
	@mkdir -p dist
	npx esbuild src/bin/weft.ts --bundle --minify --keep-names --platform=node --target=node20 --format=cjs --external:sodium-native --define:import.meta.url=__weftModuleUrl '--banner:js=var __weftModuleUrl = require("node:url").pathToFileURL(__filename).href;' --log-level=warning --outfile=dist/weft-bundle.cjs
	npx esbuild src/bin/load-bundle.ts --bundle --minify --platform=node --target=node20 --format=cjs '--banner:js=#!/usr/bin/env node' --log-level=warning --outfile=$@
	@chmod 755 $@
	WEFT_WRITE_CODE_CACHE=1 node $@ --version > /dev/null
	npx esbuild src/bin/warm-code-cache.ts --bundle --platform=node --target=node20 --format=cjs --log-level=warning --outfile=dist/warm-code-cache.cjs
	-node dist/warm-code-cache.cjs $@

build: node_modules/.package-lock.json native/build/weft_native.node native/build/weft-cni dist/cni/weft-cni.js dist/weft.cjs
	npx tsc -p tsconfig.build.json

test: deps build
	npx vitest run

# Fuzzing of every decoder of untrusted bytes (test/fuzz.test.ts): `make test` runs each target on
# fixed inputs for a moment; this runs each for FUZZ_SECONDS and prints executions, distinct outcomes
# and block coverage per target. A failing input is saved under .cache/fuzz/crashes/.
FUZZ_SECONDS ?= 60
fuzz: node_modules/.package-lock.json
	WEFT_FUZZ_SECONDS=$(FUZZ_SECONDS) npx vitest run test/fuzz.test.ts

lint: node_modules/.package-lock.json
	npx tsc --noEmit
	npx eslint .

# The container image (docker/Dockerfile) with podman; the Debian base is made with mmdebstrap when
# it is not in podman's storage (no registry needed). WEFT_IMAGE sets the tag.
image: $(STAMP)/apt
	docker/build-image.sh

bench: deps build
	node dist/bench/run.js

demo: deps build
	node dist/test/demo.js

install: build
	install -d $(PREFIX)/bin
	printf '#!/bin/sh\nexec "%s" "%s/dist/weft.cjs" "$$@"\n' "$$(command -v node)" "$(CURDIR)" > $(PREFIX)/bin/weft
	chmod 755 $(PREFIX)/bin/weft
	@echo "installed $(PREFIX)/bin/weft"

clean:
	rm -rf dist .cache native/build
