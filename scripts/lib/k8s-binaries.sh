#!/usr/bin/env bash
# Builds a Kubernetes cluster from the Go module proxy (no release downloads, no images):
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the real node's kubelet and
# kube-proxy from k8s.io/kubernetes; kwok (nodes and pods simulated by a controller); etcd;
# kube-router (NetworkPolicy enforcement only); crictl (to stop the node's pods on `down`); and the
# pod sandboxes' pause program, compiled from the C source in the k8s.io/kubernetes module.
# Cached under $CACHE keyed by version; prints the directory holding the binaries.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
ETCD_VERSION="${ETCD_VERSION:-3.6.8}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-2.1.0}"
CRI_TOOLS_VERSION="${CRI_TOOLS_VERSION:-1.34.0}"
CACHE="${K8S_CACHE:-$HOME/.cache/pulumi-compute-instance/kubernetes}"
# Bump STAGES_REVISION when the stage file below changes, so cached builds pick it up.
STAGES_REVISION=2
OUT="$CACHE/v$K8S_VERSION-kwok-v$KWOK_VERSION-etcd-v$ETCD_VERSION-kube-router-v$KUBE_ROUTER_VERSION-crictl-v$CRI_TOOLS_VERSION"
K8S_CMDS="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy"
STAGING_VERSION="v0.${K8S_VERSION#1.}"

log() { printf '[k8s-binaries] %s\n' "$*" >&2; }

# --dir: only say where the binaries are (or would be), building nothing.
if [ "${1:-}" = "--dir" ]; then echo "$OUT"; exit 0; fi

complete() { # dir
  local b
  for b in $K8S_CMDS kwok etcd kube-router crictl pause; do [ -x "$1/$b" ] || return 1; done
  [ "$(cat "$1/stages-revision" 2>/dev/null)" = "$STAGES_REVISION" ]
}
if complete "$OUT"; then echo "$OUT"; exit 0; fi

rm -rf "$OUT.tmp"; mkdir -p "$OUT.tmp"
# Binaries already built for these versions are kept; only what is missing is built.
[ -d "$OUT" ] && cp -a "$OUT/." "$OUT.tmp/"
for old in "$CACHE"/v"$K8S_VERSION"-kwok-v"$KWOK_VERSION"*; do
  [ -d "$old" ] && [ "$old" != "$OUT" ] && [ "$old" != "$OUT.tmp" ] && cp -an "$old/." "$OUT.tmp/" 2>/dev/null || true
done
rm -f "$OUT.tmp/kwok-stages.yaml" "$OUT.tmp/stages-revision"

# etcd: the API server of this version streams lists from the watch cache, which needs an etcd
# that supports progress requests (3.4.31+/3.5.13+); Debian bookworm's 3.4.23 does not.
if ! [ -x "$OUT.tmp/etcd" ]; then
  work="$CACHE/src-etcd-$ETCD_VERSION"
  mkdir -p "$work"
  printf 'module local/etcd-build\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$work/go.mod"
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$work/main.go"
  log "building etcd v$ETCD_VERSION"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$OUT.tmp/etcd" .)
fi

# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local paths; a module that
# builds it must pin each of them to the matching published version instead.
work="$CACHE/src-kubernetes-$K8S_VERSION"
mkdir -p "$work"
{
  printf 'module local/kubernetes-build\n\ngo 1.26\n\nrequire k8s.io/kubernetes v%s\n\n' "$K8S_VERSION"
  curl -fsS "https://proxy.golang.org/k8s.io/kubernetes/@v/v$K8S_VERSION.mod" \
    | sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' \
    | grep -v '^k8s.io/sample-' \
    | while read -r m; do printf 'replace %s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
} >"$work/go.mod"
missing=""
for cmd in $K8S_CMDS; do [ -x "$OUT.tmp/$cmd" ] || missing="$missing $cmd"; done
if [ -n "$missing" ]; then
log "building$missing v$K8S_VERSION (first run on this machine: about 10 minutes; kubelet alone with warm caches: about 20 s)"
(cd "$work" \
  && GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kubelet@v$K8S_VERSION" \
  && for cmd in $missing; do
       [ -x "$OUT.tmp/$cmd" ] && continue
       log "  go build $cmd"
       GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION" \
         -o "$OUT.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
     done)
fi

# The pod sandboxes' pause program (no image is pulled: scripts/cluster builds the pause image
# from it), from the C source shipped in the k8s.io/kubernetes module; static, so the image needs
# nothing else.
if ! [ -x "$OUT.tmp/pause" ]; then
  src="$(cd "$work" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  log "compiling pause from $src"
  gcc -Os -Wall -Werror -static -DVERSION="v$K8S_VERSION-local" -o "$OUT.tmp/pause" "$src"
fi

# A command of a Go module at a version, in a wrapper module of its own, unless built already.
build_cmd() { # binary module version package
  [ -x "$OUT.tmp/$1" ] && return 0
  local dir="$CACHE/src-$1-$3"
  mkdir -p "$dir"
  printf 'module local/%s-build\n\ngo 1.26\n\nrequire %s v%s\n' "$1" "$2" "$3" >"$dir/go.mod"
  log "building $1 v$3"
  (cd "$dir" && GOFLAGS=-mod=mod go get "$4@v$3" \
     && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$OUT.tmp/$1" "$4")
}
# kube-router, for NetworkPolicy enforcement only (its firewall; no routing, no service proxy).
build_cmd kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
# crictl: `scripts/cluster down` stops the node's pods through the CRI, so that their networks
# and mounts are torn down as the kubelet would.
build_cmd crictl sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION" sigs.k8s.io/cri-tools/cmd/crictl

work="$CACHE/src-kwok-$KWOK_VERSION"
mkdir -p "$work"
printf 'module local/kwok-build\n\ngo 1.26\n\nrequire sigs.k8s.io/kwok v%s\n' "$KWOK_VERSION" >"$work/go.mod"
(cd "$work" && GOFLAGS=-mod=mod go get "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION")
if ! [ -x "$OUT.tmp/kwok" ]; then
  log "building kwok v$KWOK_VERSION"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$OUT.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
fi
# kwok's stages (what it makes nodes and pods go through), from the same module: nodes initialise
# and keep a lease; pods become Ready, complete, and are deleted, as a kubelet would report.
stages="$(cd "$work" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  printf -- '---\n'; cat "$stages/$f"
done | awk '
  # A kubelet that resizes pods in place reports each running container'"'"'s resources; the API
  # server accepts a resize only for pods that show them. Make kwok report them too.
  /name: pod-ready/ { in_ready = 1 }
  { print }
  in_ready && !done && /^        restartCount: 0$/ {
    print "        resources:"
    print "          limits:"
    print "          {{ range $k, $v := .resources.limits }}"
    print "            {{ $k | Quote }}: {{ $v | Quote }}"
    print "          {{ end }}"
    print "          requests:"
    print "          {{ range $k, $v := .resources.requests }}"
    print "            {{ $k | Quote }}: {{ $v | Quote }}"
    print "          {{ end }}"
    done = 1
  }' >"$OUT.tmp/kwok-stages.yaml"

echo "$STAGES_REVISION" >"$OUT.tmp/stages-revision"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
log "cached in $OUT"
echo "$OUT"
