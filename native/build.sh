#!/bin/sh
# Builds weft's N-API addon (the same command the Makefile runs).
set -eu
cd "$(dirname "$0")/.."
mkdir -p native/build
cc -O2 -Wall -Wextra -shared -fPIC -I/usr/include/node -o native/build/weft_native.node native/weft_native.c
