#!/bin/sh
# make-base.sh OUT.tar [SUITE]: the Debian base image's root file system, made from Debian's packages
# with mmdebstrap (no registry needed), as a tarball for `podman import` under the name the
# Dockerfile's FROM uses (debian:trixie-slim). Slim as Docker Hub's: minbase, no docs, man pages or
# locales, no apt lists. ~50 s, 81 MB.
set -eu
out=$1
suite=${2:-trixie}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --aptopt='Acquire::Languages "none"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  "$suite" "$tmp" "$mirror"
mv "$tmp" "$out"
