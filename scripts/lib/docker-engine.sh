#!/usr/bin/env bash
# Makes sure a Docker engine answers on DOCKER_HOST (default: the local socket).
# A machine with a running engine (Docker Desktop, a systemd dockerd) is used as it is; otherwise
# Debian's docker.io is installed and dockerd started in the background, as root.
set -euo pipefail
source "$(dirname "$0")/env.sh"
log() { printf '[docker] %s\n' "$*" >&2; }

engine_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then exit 0; fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  log "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST"; exit 1
fi
if [ "$(id -u)" != 0 ]; then
  log "no Docker engine answers on /var/run/docker.sock and this user cannot start one; start Docker (or run as root)"; exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io"
  apt_install docker.io
fi
log "starting dockerd (log: /var/log/dockerd.log)"
rm -f /var/run/docker.pid
setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if engine_answers; then log "engine up: $(docker version --format '{{.Server.Version}}')"; exit 0; fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of /var/log/dockerd.log:"; tail -20 /var/log/dockerd.log >&2; exit 1
