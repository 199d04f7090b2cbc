# Sourced by scripts/cluster: the real node. A kubelet and kube-proxy (built with the control
# plane), a containerd of its own (never Docker's), pods on a bridge of their own, NetworkPolicy
# enforced by kube-router's firewall, and a pause image built here: no image is ever pulled.
#
# Pod traffic never leaves the machine: pods may reach other pods, the Service range, the API
# server and one port of the node's link-local stand-in (an address of its own), nothing else (a
# DROP in a mangle chain of ours, which no ACCEPT elsewhere can bypass);
# the Service range is routed to the bridge and kwok's simulated ranges are unreachable, so not
# even a packet the host sends to a Service or a simulated pod goes out. Only chains, links and
# routes of our own are added, and `down` removes them; Docker's chains are never touched.
#
# Expects from scripts/cluster: CLUSTER_DIR PKI LOGS PIDS BIN APISERVER_PORT KUBECONFIG_PATH
# and the functions log, start, running, stop_one, make_kubeconfig.

NODE_NAME="${NODE_NAME:-local-node-0}"
# The pods' /24; its .1 is the bridge and the node's address (the API server advertises it: pods
# reach the `kubernetes` Service through it).
POD_NET="${POD_NET:-10.88.0}"
POD_CIDR="$POD_NET.0/24"
NODE_IP="$POD_NET.1"
NODE_BRIDGE="${NODE_BRIDGE:-ci-k8s0}"
# A link-local address of the node (on its bridge), the one link-local address pods have a route
# to: tests put a listener there, standing in for a cloud metadata service, to show that egress
# NetworkPolicies keep pods from link-local addresses. Not 169.254.169.254, which the machine may
# need for its own metadata service. Traffic to it is the node's own: it never leaves the machine.
# Pods reach one TCP port there (the machine's other services that listen on every address stay
# out of their reach).
LINK_LOCAL_IP="${LINK_LOCAL_IP:-169.254.77.1}"
LINK_LOCAL_PORT="${LINK_LOCAL_PORT:-8077}"
KUBELET_PORT="${KUBELET_PORT:-10250}"
KUBELET_HEALTHZ_PORT="${KUBELET_HEALTHZ_PORT:-10248}"
PROXY_HEALTHZ_PORT="${PROXY_HEALTHZ_PORT:-10256}"
PROXY_METRICS_PORT="${PROXY_METRICS_PORT:-10249}"
ROUTER_HEALTH_PORT="${ROUTER_HEALTH_PORT:-20244}"
NODE_DIR="$CLUSTER_DIR/node"
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
# iptables chains of ours (28 characters at most).
CHAIN="CI-NODE-$NODE_BRIDGE"
PAUSE_IMAGE="localhost/compute-instance-pause:v${K8S_VERSION:-1.36.3}"

node_packages() {
  # Debian's containerd (1.6) and CNI plugins run the node; ipset for kube-router; conntrack for
  # kube-proxy's UDP clean-up; gcc and libc6-dev compile the pause program.
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v containerd-shim-runc-v2 >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
  command -v ipset >/dev/null || missing+=(ipset)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v gcc >/dev/null || missing+=(gcc)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

node_pki() {
  cd "$PKI"
  [ -f "node-$NODE_NAME.crt" ] || cert "node-$NODE_NAME" "/O=system:nodes/CN=system:node:$NODE_NAME" client.ext
  if ! [ -f "kubelet-$NODE_NAME.crt" ]; then
    printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$NODE_IP" "$NODE_NAME" >"kubelet-$NODE_NAME.ext"
    cert "kubelet-$NODE_NAME" "/CN=$NODE_NAME" "kubelet-$NODE_NAME.ext"
  fi
  # The API server's client certificate for kubelets (logs, exec, port-forward): bound to
  # system:kubelet-api-admin in cluster-objects.yaml.
  [ -f apiserver-kubelet-client.crt ] || cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" client.ext
  [ -f kube-proxy.crt ] || cert kube-proxy "/CN=system:kube-proxy" client.ext
  [ -f kube-router.crt ] || cert kube-router "/CN=compute-instance:kube-router" client.ext
  cd - >/dev/null
}

# The pause image: the static pause program in a FROM-scratch image running as 65535, written as
# a Docker archive for `ctr images import`.
pause_archive() { # out.tar
  local d; d="$(mktemp -d)"
  mkdir -p "$d/rootfs" "$d/image"
  cp "$BIN/pause" "$d/rootfs/pause"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d/rootfs" -cf "$d/layer.tar" pause
  local diff; diff="$(sha256sum "$d/layer.tar" | cut -d' ' -f1)"
  mkdir -p "$d/image/$diff"; mv "$d/layer.tar" "$d/image/$diff/layer.tar"
  printf '{"architecture":"%s","os":"linux","config":{"User":"65535:65535","Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(go env GOARCH)" "$diff" >"$d/image/config.json"
  local cfg; cfg="$(sha256sum "$d/image/config.json" | cut -d' ' -f1)"
  mv "$d/image/config.json" "$d/image/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$PAUSE_IMAGE" "$diff" >"$d/image/manifest.json"
  tar -C "$d/image" -cf "$1" .
  rm -rf "$d"
}

ctr_() { ctr -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }
crictl_() {
  [ -f "$NODE_DIR/crictl.yaml" ] || printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$CONTAINERD_SOCK" "$CONTAINERD_SOCK" >"$NODE_DIR/crictl.yaml"
  "$BIN/crictl" --config "$NODE_DIR/crictl.yaml" "$@"
}

# Standard input to a file, unless it already holds that: kube-proxy exits when its
# configuration file changes, even to the same content.
write_if_changed() { # path
  local tmp="$1.new"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

node_config() {
  mkdir -p "$NODE_DIR"/{containerd,kubelet,pod-logs,cni/net.d,cni/ipam,volumes}
  write_if_changed "$NODE_DIR/containerd/config.toml" <<EOF
# containerd of the local cluster's real node (scripts/cluster): its own root, state and socket.
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # No AppArmor on this kernel.
  disable_apparmor = true
  # Root here lacks CAP_SYS_RESOURCE: without this, runc cannot lower a container's
  # oom_score_adj and every sandbox fails ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF
  # One bridge, addresses from the node's /24, no masquerading and no default route: a pod's
  # routes are its subnet and the Service range (through the node), nothing else.
  write_if_changed "$NODE_DIR/cni/net.d/10-compute-instance.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "compute-instance-$NODE_NAME",
  "plugins": [{
    "type": "bridge",
    "bridge": "$NODE_BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "$NODE_DIR/cni/ipam",
      "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
      "routes": [{ "dst": "$SERVICE_CIDR" }, { "dst": "$LINK_LOCAL_IP/32" }]
    }
  }]
}
EOF
  write_if_changed "$NODE_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-$NODE_NAME.crt
tlsPrivateKeyFile: $PKI/kubelet-$NODE_NAME.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# This machine has cgroup v1, which kubelets from 1.35 on refuse unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
# kube-proxy and kube-router own the iptables rules; the kubelet adds none.
makeIPTablesUtilChains: false
# The images are imported, never pulled: keep them until the disk is full.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2% }
# Root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE).
oomScoreAdj: 0
podLogsDir: $NODE_DIR/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podCIDR: $POD_CIDR
maxPods: 110
serializeImagePulls: false
EOF
  write_if_changed "$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig }
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
# NodePorts only on the node's bridge address, never on the machine's other interfaces; no
# route_localnet.
nodePortAddresses: ["$NODE_IP/32"]
iptables: { localhostNodePorts: false }
# Leave the machine's conntrack settings alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
oomScoreAdj: 0
EOF
}

# The bridge exists before the kubelet (it serves on the node's address) and before any pod.
node_network() {
  # Made by whichever of two concurrent `up`s gets there first; the other finds it.
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || ip link add name "$NODE_BRIDGE" type bridge 2>/dev/null || ip link show "$NODE_BRIDGE" >/dev/null
  # replace, not add: two `up`s at once (two checkouts) must not fail on "Address already assigned".
  ip addr replace "$NODE_IP/24" dev "$NODE_BRIDGE"
  ip addr replace "$LINK_LOCAL_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # Pods have no IPv6 address; nothing IPv6 is routed for them.
  sysctl -qw "net.ipv6.conf.$NODE_BRIDGE.disable_ipv6=1" 2>/dev/null || true
  # Traffic the host sends to a Service address that kube-proxy did not rewrite goes to the
  # bridge, where nothing answers, rather than out of the default route; kwok's simulated pods and
  # nodes are unreachable (kube-proxy rewrites Services of simulated pods to their addresses).
  ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
  ip route replace unreachable "$KWOK_CIDR"
  ip route replace unreachable "$KWOK_NODE_IP/32"
  node_iptables
}

ensure_chain() { # tool table chain: an empty chain of ours
  "$1" -w -t "$2" -N "$3" 2>/dev/null || "$1" -w -t "$2" -F "$3"
}
ensure_jump() { # tool table from-chain chain [rule prefix...]: appended once
  local tool="$1" table="$2" from="$3" chain="$4"; shift 4
  "$tool" -w -t "$table" -C "$from" "$@" -j "$chain" 2>/dev/null || "$tool" -w -t "$table" -A "$from" "$@" -j "$chain"
}

node_iptables() {
  # Pods may reach pods, Services (before kube-proxy rewrites them) and the API server; replies
  # to connections made to them pass. Everything else from a pod is dropped: the machine's other
  # addresses and the world. In mangle PREROUTING, before any ACCEPT of Docker's, kube-proxy's or
  # kube-router's: a DROP anywhere is final.
  ensure_chain iptables mangle "$CHAIN-PODS"
  iptables -w -t mangle -A "$CHAIN-PODS" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  iptables -w -t mangle -A "$CHAIN-PODS" -d "$POD_CIDR" -j RETURN
  iptables -w -t mangle -A "$CHAIN-PODS" -d "$SERVICE_CIDR" -j RETURN
  iptables -w -t mangle -A "$CHAIN-PODS" -d "$NODE_IP" -p tcp --dport "$APISERVER_PORT" -j RETURN
  # The node's link-local stand-in (an address of this machine: delivered here, never routed on).
  iptables -w -t mangle -A "$CHAIN-PODS" -d "$LINK_LOCAL_IP" -p tcp --dport "$LINK_LOCAL_PORT" -j RETURN
  iptables -w -t mangle -A "$CHAIN-PODS" -j DROP
  ensure_jump iptables mangle PREROUTING "$CHAIN-PODS" -i "$NODE_BRIDGE"
  ensure_chain ip6tables mangle "$CHAIN-PODS"
  ip6tables -w -t mangle -A "$CHAIN-PODS" -j DROP
  ensure_jump ip6tables mangle PREROUTING "$CHAIN-PODS" -i "$NODE_BRIDGE"
  # Docker's FORWARD policy is DROP (and bridged traffic goes through iptables): accept
  # pod-to-pod traffic on our bridge, after kube-router's policy chains (appended, so they come
  # first), and nothing else from it.
  ensure_chain iptables filter "$CHAIN-FWD"
  iptables -w -A "$CHAIN-FWD" -o "$NODE_BRIDGE" -j ACCEPT
  iptables -w -A "$CHAIN-FWD" -j DROP
  ensure_jump iptables filter FORWARD "$CHAIN-FWD" -i "$NODE_BRIDGE"
  # The API server (pods reach it on the node's address) and kube-router's health check listen on
  # every address: only loopback and the bridge may reach their ports.
  local t port
  for t in iptables ip6tables; do
    ensure_chain "$t" filter "$CHAIN-IN"
    "$t" -w -A "$CHAIN-IN" -i lo -j RETURN
    "$t" -w -A "$CHAIN-IN" -i "$NODE_BRIDGE" -j RETURN
    "$t" -w -A "$CHAIN-IN" -j DROP
    for port in "$APISERVER_PORT" "$ROUTER_HEALTH_PORT"; do
      ensure_jump "$t" filter INPUT "$CHAIN-IN" -p tcp --dport "$port"
    done
  done
}

node_up() {
  node_packages
  node_pki
  make_kubeconfig "node-$NODE_NAME" "$CLUSTER_DIR/node-$NODE_NAME.kubeconfig"
  make_kubeconfig kube-proxy "$CLUSTER_DIR/kube-proxy.kubeconfig"
  make_kubeconfig kube-router "$CLUSTER_DIR/kube-router.kubeconfig"
  node_config

  # Proxy variables aimed at a closed loopback port: should a pod name an image that is not
  # imported, containerd's pull fails here instead of reaching out.
  start containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
    containerd --config "$NODE_DIR/containerd/config.toml"
  for _ in $(seq 1 100); do [ -S "$CONTAINERD_SOCK" ] && ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
  ctr_ version >/dev/null || { log "containerd did not start; last lines of $LOGS/containerd.log:"; tail -20 "$LOGS/containerd.log" >&2; exit 1; }
  if ! ctr_ images ls -q "name==$PAUSE_IMAGE" | grep -q .; then
    log "importing the pause image"
    pause_archive "$NODE_DIR/pause.tar"
    ctr_ images import "$NODE_DIR/pause.tar" >/dev/null
    rm -f "$NODE_DIR/pause.tar"
  fi

  start kubelet "$BIN/kubelet" --config "$NODE_DIR/kubelet/config.yaml" \
    --kubeconfig "$CLUSTER_DIR/node-$NODE_NAME.kubeconfig" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --root-dir "$NODE_DIR/kubelet" --cert-dir "$NODE_DIR/kubelet/pki" --node-labels "type=real"
  start kube-proxy "$BIN/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml"
}

# Once the node is registered (kube-router exits when its node is not there yet): NetworkPolicies
# only, no routing, no service proxy, no CNI configuration of its own.
node_ready() {
  # The node's Ready condition may be an hour old (the controller manager's long grace period):
  # the kubelet's own health check says it is running now.
  for _ in $(seq 1 150); do
    curl -fsS -m 1 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS -m 1 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null 2>&1 \
    || { log "the kubelet is not healthy; last lines of $LOGS/kubelet.log:"; tail -20 "$LOGS/kubelet.log" >&2; exit 1; }
  start kube-router "$BIN/kube-router" --kubeconfig "$CLUSTER_DIR/kube-router.kubeconfig" --hostname-override "$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --service-cluster-ip-range "$SERVICE_CIDR" --health-port "$ROUTER_HEALTH_PORT" --metrics-port 0 \
    --enable-ipv6=false
  for _ in $(seq 1 100); do
    curl -fsS -m 1 "http://127.0.0.1:$ROUTER_HEALTH_PORT/healthz" >/dev/null 2>&1 && return 0
    running kube-router || break
    sleep 0.2
  done
  log "kube-router is not healthy; last lines of $LOGS/kube-router.log:"; tail -20 "$LOGS/kube-router.log" >&2; exit 1
}

# `scripts/cluster load-images [IMAGE...]`: Docker's images into the node's containerd, each
# unless the node already has that very image (same ID); with none named, the workstation, its
# VS Code variant and the agent images of this checkout, built first when Docker lacks them.
node_load_images() {
  local images=("$@")
  if [ "${#images[@]}" -eq 0 ]; then
    (cd "$ROOT" && node bin/cli/main.js build-image --vscode >&2)
    mapfile -t images < <(cd "$ROOT" && node -e '
      const c = require("./bin/provider/image/context");
      const base = c.contextHash(c.workstationContextDir());
      console.log(c.workstationImageTag(base));
      console.log(c.variantImageTag("vscode", c.variantContextHash("vscode", base)));
      console.log(c.agentImageTag(c.contextHash(c.agentContextDir())));')
  fi
  local img want have
  for img in "${images[@]}"; do
    want="$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null)" \
      || { log "Docker has no image $img (node bin/cli/main.js build-image makes this checkout's)"; exit 1; }
    have="$(crictl_ inspecti -o go-template --template '{{.status.id}}' "$img" 2>/dev/null || true)"
    if [ "$want" = "$have" ]; then log "$img is on $NODE_NAME"; continue; fi
    log "importing $img into $NODE_NAME's containerd"
    docker save "$img" | ctr_ images import - >/dev/null
  done
  # This checkout's images replace earlier builds' (the kubelet's image GC is off until the disk
  # is full): other tags of the same repositories go unless a container of the node uses them.
  if [ "$#" -eq 0 ]; then
    local used ref
    local id used=""
    for id in $(crictl_ ps -a -q); do used="$used$(crictl_ inspect -o go-template --template '{{.status.image.image}}' "$id")"$'\n'; done
    for ref in $(crictl_ images -o json | node -e '
        const keep = new Set(process.argv.slice(1)), repo = (r) => r.slice(0, r.lastIndexOf(":")).replace(/^docker\.io\/library\//, "");
        const repos = new Set([...keep].map(repo));
        const refs = JSON.parse(require("fs").readFileSync(0, "utf8")).images.flatMap((i) => i.repoTags);
        for (const r of refs) if (repos.has(repo(r)) && !keep.has(r.replace(/^docker\.io\/library\//, ""))) console.log(r);' "${images[@]}"); do
      if grep -qxF -- "$ref" <<<"$used"; then continue; fi
      log "removing $ref from $NODE_NAME (an earlier build)"
      crictl_ rmi "$ref" >/dev/null
    done
  fi
}

# Pods first (through the CRI: their networks and mounts go as the kubelet would take them
# down), then the node's daemons, the shims that outlive containerd, mounts and cgroups.
node_down() {
  stop_one kubelet
  if running containerd && [ -x "${BIN:-}/crictl" ]; then
    local pods; pods="$(crictl_ pods -q 2>/dev/null || true)"
    if [ -n "$pods" ]; then
      log "stopping $(echo "$pods" | wc -l) pod(s)"
      # shellcheck disable=SC2086
      crictl_ stopp $pods >/dev/null 2>&1 || true
      # shellcheck disable=SC2086
      crictl_ rmp -f $pods >/dev/null 2>&1 || true
    fi
  fi
  stop_one kube-router
  stop_one kube-proxy
  stop_one containerd
  # Shims (and their containers) of our containerd: those whose -address is our socket.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK( |$)" || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
  # Containers the shims ran, found by their cgroup (the kubelet's kubepods hierarchy).
  local f
  for f in $(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs 2>/dev/null); do
    for pid in $(cat "$f"); do kill -9 "$pid" 2>/dev/null || true; done
  done
  # Mounts under the node's directories (volumes, rootfs, secrets), deepest first.
  awk -v d="$NODE_DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # The kubelet's pod cgroups, deepest first (only empty ones can go).
  find /sys/fs/cgroup/*/kubepods -depth -type d 2>/dev/null | xargs -r rmdir 2>/dev/null || true
  # The kubelet's links to its containers' logs (in a fixed directory).
  find /var/log/containers -maxdepth 1 -type l -lname "$NODE_DIR/pod-logs/*" -delete 2>/dev/null || true
}

# After the API server has stopped (it listens on every address until then): our chains and
# routes, kube-proxy's and kube-router's chains, the bridge.
node_network_down() {
  node_iptables_down
  ip route del "$SERVICE_CIDR" dev "$NODE_BRIDGE" 2>/dev/null || true
  ip route del unreachable "$KWOK_CIDR" 2>/dev/null || true
  ip route del unreachable "$KWOK_NODE_IP/32" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
}

node_iptables_down() {
  local tool table chain rule chains from target set
  for tool in iptables ip6tables; do
    for table in raw mangle nat filter; do
      # Ours, and those of kube-proxy, the kubelet and kube-router (KUBE-*): none is Docker's.
      chains="$("$tool" -w -t "$table" -S 2>/dev/null | sed -n "s/^-N \(\(KUBE-\|$CHAIN-\)[^ ]*\)$/\1/p")"
      [ -n "$chains" ] || continue
      # Every rule elsewhere that jumps to one of them, then the chains themselves.
      "$tool" -w -t "$table" -S | grep '^-A ' | while read -r rule; do
        from="$(echo "$rule" | cut -d' ' -f2)"; target="$(echo "$rule" | sed -n 's/.* -j \([^ ]*\).*/\1/p')"
        if ! grep -qx -- "$from" <<<"$chains" && grep -qx -- "$target" <<<"$chains"; then
          eval "$tool -w -t $table -D ${rule#-A }" 2>/dev/null || true
        fi
      done
      for chain in $chains; do "$tool" -w -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in $chains; do "$tool" -w -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
  # kube-router's ipsets.
  for set in $(ipset list -n 2>/dev/null | grep -E '^(inet6:)?(KUBE-|kube-router-)' || true); do ipset destroy "$set" 2>/dev/null || true; done
}
