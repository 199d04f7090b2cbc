#!/usr/bin/env bash
# Makes sure the engine has `debian:bookworm-slim`, the base of the project's images.
# With a registry in reach this is a plain `docker pull`. Where none is (the machines this project
# is built on reach only package archives), the image is made from Debian's archive with
# debootstrap and `docker import`ed under the public name, so the Dockerfiles stay standard.
set -euo pipefail
source "$(dirname "$0")/env.sh"
IMAGE="debian:bookworm-slim"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { printf '[base-image] %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
if timeout 60 docker pull -q "$IMAGE" >/dev/null 2>&1; then log "pulled $IMAGE"; exit 0; fi

log "no registry reachable: building $IMAGE with debootstrap from $MIRROR (about 1.5 minutes)"
if ! command -v debootstrap >/dev/null 2>&1; then
  apt_install debootstrap
fi
root="$(mktemp -d /var/tmp/bookworm-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# Progress: one line per debootstrap phase instead of one per package.
debootstrap --variant=minbase bookworm "$root" "$MIRROR" 2>&1 | while IFS= read -r line; do
  case "$line" in
    "I: Retrieving packages"*|"I: Installing core"*|"I: Unpacking the base"*|"I: Configuring the base"*|"I: Base system installed"*|E:*|W:*)
      printf '  %s\n' "$line" >&2 ;;
  esac
done
[ -x "$root/bin/bash" ] || { log "debootstrap failed"; exit 1; }
# The slim image keeps no apt lists or caches; match it so layers built on top stay small.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$IMAGE" >/dev/null
log "imported $IMAGE"
