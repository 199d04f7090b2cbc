#!/usr/bin/env bash
# Builds the Pulumi CLI and the Node.js language host from the Go module proxy, for machines
# where the usual installer (which downloads a release archive) cannot reach get.pulumi.com.
# The binaries are cached under $CACHE keyed by version, so only a fresh machine pays the build.
#
# Why two modules: the CLI is built at PULUMI_VERSION. The Node language host has lived in its own
# Go module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) since v3.69, and that module is not tagged,
# so the proxy serves no version of it. v3.68.0 is the last release where the host was a package
# of sdk/v3 itself; it speaks the same gRPC LanguageRuntime protocol (the engine falls back to the
# older calls it still implements) and launches the @pulumi/pulumi SDK installed in the program's
# node_modules, so the SDK version is the one the project pins, not the host's.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
LANGHOST_SDK_VERSION="${LANGHOST_SDK_VERSION:-3.68.0}"
CACHE="${PULUMI_CLI_CACHE:-$HOME/.cache/pulumi-compute-instance/pulumi-cli}"
OUT="$CACHE/v$PULUMI_VERSION-langhost-v$LANGHOST_SDK_VERSION"

log() { printf '[pulumi-cli] %s\n' "$*" >&2; }

build_cli() {
  local work="$CACHE/src-cli-$PULUMI_VERSION"
  mkdir -p "$work"
  cat >"$work/go.mod" <<MOD
module local/pulumi-cli-build

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)
MOD
  # Copy pkg's own replace directives except the local ../sdk one (a module's replaces do not
  # apply to modules that depend on it).
  curl -fsS "https://proxy.golang.org/github.com/pulumi/pulumi/pkg/v3/@v/v$PULUMI_VERSION.mod" \
    | grep -E '^replace ' | grep -v '=> \.\./' >>"$work/go.mod" || true
  (cd "$work" && GOFLAGS=-mod=mod go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION" \
     && GOFLAGS=-mod=mod go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
        -o "$OUT.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

build_langhost() {
  local work="$CACHE/src-langhost-$LANGHOST_SDK_VERSION"
  mkdir -p "$work"
  cat >"$work/go.mod" <<MOD
module local/pulumi-langhost-build

go 1.26

require github.com/pulumi/pulumi/sdk/v3 v$LANGHOST_SDK_VERSION
MOD
  (cd "$work" && GOFLAGS=-mod=mod go get "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs@v$LANGHOST_SDK_VERSION" \
     && GOFLAGS=-mod=mod go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$LANGHOST_SDK_VERSION" \
        -o "$OUT.tmp/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs)
}

if [ -x "$OUT/pulumi" ] && [ -x "$OUT/pulumi-language-nodejs" ]; then
  echo "$OUT"
  exit 0
fi
rm -rf "$OUT.tmp"; mkdir -p "$OUT.tmp"
log "building Pulumi CLI v$PULUMI_VERSION from the Go module proxy (first run on this machine: several minutes)"
build_cli
log "building the Node.js language host (sdk v$LANGHOST_SDK_VERSION)"
build_langhost
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
log "cached in $OUT"
echo "$OUT"
