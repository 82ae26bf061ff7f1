#!/bin/sh
# build-image.sh: builds weft's image with podman from docker/Dockerfile (what `make image` runs).
# When the base image (debian:trixie-slim) is not in podman's storage it is made from Debian's
# packages (docker/make-base.sh, kept in $WEFT_BASE_TAR) and imported under that name, so no registry
# is needed. Environment:
#   WEFT_IMAGE          the tag (default localhost/weft:latest)
#   WEFT_IMAGE_CONTEXT  the build context (default: this repository)
#   WEFT_BASE_TAR       where the base's tarball is kept (default .cache/images/debian-trixie-slim.tar)
#   CONTAINERS_CONF, CONTAINERS_STORAGE_CONF   podman's own (the tests give private ones)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
image=${WEFT_IMAGE:-localhost/weft:latest}
context=${WEFT_IMAGE_CONTEXT:-$repo}
base=docker.io/library/debian:trixie-slim
base_tar=${WEFT_BASE_TAR:-$repo/.cache/images/debian-trixie-slim.tar}

if ! podman image exists "$base"; then
  if [ ! -s "$base_tar" ]; then
    echo "making the base image $base with mmdebstrap (Debian's packages, ~1 min)" >&2
    mkdir -p "$(dirname "$base_tar")"
    "$here/make-base.sh" "$base_tar"
  fi
  podman import --quiet "$base_tar" "$base" >/dev/null
fi

# RUN steps fetch Debian's and npm's packages: host network, and the host's CA bundle as a build
# secret for a TLS-inspecting proxy (it is not stored in any layer). podman needs a process limit
# it can set without CAP_SYS_RESOURCE.
set -- --network host --ulimit nproc=4096:4096
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then set -- "$@" --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt; fi
exec podman build "$@" -f "$context/docker/Dockerfile" -t "$image" "$context"
