#!/usr/bin/env bash
# sctp-e2e cluster up [--nodes N] [--proxy-mode iptables|nftables]
#                     [--netpol kube-router|kube-network-policies]:
# starts (or completes) the local cluster: N nodes (1-3) on one L2 fabric,
# pods across them over flannel's VXLAN overlay.
# Idempotent: every step checks whether its result already exists, so running
# it twice is harmless and running it after a half-finished `up` finishes it.
# The shape flags name what the cluster runs, not what it ran: `up` without
# them is the default shape, and a running cluster of another shape is
# switched (only the components the flags concern restart).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STARTED=$SECONDS

PROXY_MODE=iptables
NETPOL=kube-router
NODES=
usage="options: --nodes 1-$MAX_NODES, --proxy-mode iptables|nftables, --netpol kube-router|kube-network-policies"
while (($# > 0)); do
  case $1 in
    --proxy-mode | --netpol | --nodes)
      (($# >= 2)) || die "$1 needs a value ($usage)"
      case $1 in --proxy-mode) PROXY_MODE=$2 ;; --netpol) NETPOL=$2 ;; --nodes) NODES=$2 ;; esac
      shift 2
      ;;
    --proxy-mode=*) PROXY_MODE=${1#*=}; shift ;;
    --netpol=*) NETPOL=${1#*=}; shift ;;
    --nodes=*) NODES=${1#*=}; shift ;;
    *) die "unknown option '$1' for cluster up ($usage)" ;;
  esac
done
case $PROXY_MODE in
  iptables | nftables) ;;
  *) die "--proxy-mode must be iptables or nftables, not '$PROXY_MODE' (this kernel has no IPVS)" ;;
esac
case $NETPOL in
  kube-router | kube-network-policies) ;;
  *) die "--netpol must be kube-router or kube-network-policies, not '$NETPOL'" ;;
esac
[[ -z $NODES ]] || { [[ $NODES =~ ^[0-9]+$ ]] && ((NODES >= 1 && NODES <= MAX_NODES)); } \
  || die "--nodes must be between 1 and $MAX_NODES, not '$NODES'"

preflight() {
  [[ $(uname -s) == Linux ]] || die "the local cluster needs Linux (this is $(uname -s))"
  [[ $EUID -eq 0 ]] || die "the local cluster needs root (network namespaces, iptables, cgroups): run it with sudo"
  [[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/cpu ]] \
    || die "missing kernel feature: cgroup v1 memory and cpu controllers under /sys/fs/cgroup (this cluster runs Kubernetes $KUBE_VERSION with the cgroupfs driver on cgroup v1)"
  [[ -e /dev/kmsg ]] || die "missing kernel feature: /dev/kmsg (kubelet's OOM watcher needs it)"
}

# The node count: --nodes when given, else the running cluster's, else the
# default. A running cluster is not reshaped underneath its pods: another
# count needs a `down` first.
choose_node_count() {
  if [[ -d $STATE_DIR/pids ]]; then
    log "the running cluster was started by an older sctp-e2e (one node, no fabric): taking it down first"
    "$CLUSTER_DIR/down.sh"
  fi
  local running=
  [[ -d $STATE_DIR/node1 ]] && running=$(node_count)
  NODES=${NODES:-${running:-$DEFAULT_NODES}}
  if [[ -n $running && $running != "$NODES" ]]; then
    die "the cluster is up with $running node(s); run 'sctp-e2e cluster down' before 'cluster up --nodes $NODES'"
  fi
}

setup_fabric() {
  local f="ip netns exec $FABRIC_NETNS"
  ip netns list | grep -qw "$FABRIC_NETNS" || ip netns add "$FABRIC_NETNS"
  # Frames between nodes are switched, never filtered: this namespace's own
  # bridge netfilter setting, not the host's.
  $f sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
  $f ip link show "$FABRIC_BRIDGE" >/dev/null 2>&1 || $f ip link add "$FABRIC_BRIDGE" type bridge
  $f ip link set lo up
  $f ip link set "$FABRIC_BRIDGE" up
  if ! $f ip link show host >/dev/null 2>&1; then
    log "creating the fabric: $HOST_IP/$LINK_PREFIX on the host's $HOST_VETH, bridge $FABRIC_BRIDGE in $FABRIC_NETNS"
    ip link del "$HOST_VETH" 2>/dev/null || true # its fabric end is gone
    ip link add "$HOST_VETH" type veth peer name host netns "$FABRIC_NETNS"
  fi
  ip addr replace "$HOST_IP/$LINK_PREFIX" dev "$HOST_VETH"
  ip link set "$HOST_VETH" up
  $f ip link set host master "$FABRIC_BRIDGE" up
  # The host is "outside the cluster": it reaches Services and external IPs
  # through node1, and each node's pods through that node (host_pod_route).
  for cidr in "$SERVICE_CIDR" "$EXTERNAL_CIDR"; do
    ip route replace "$cidr" via "$API_NODE_IP" dev "$HOST_VETH"
  done
}

setup_node_network() {
  if ! ip netns list | grep -qw "$NETNS"; then
    log "creating network namespace $NETNS ($NODE_IP on the fabric)"
    ip netns add "$NETNS"
  fi
  local n="ip netns exec $NETNS"
  if ! ip -n "$FABRIC_NETNS" link show "$FABRIC_PORT" >/dev/null 2>&1; then
    $n ip link del "$NODE_IFACE" 2>/dev/null || true # its fabric end is gone
    ip link add "$FABRIC_PORT" netns "$FABRIC_NETNS" type veth peer name "$NODE_IFACE" netns "$NETNS"
  fi
  ip -n "$FABRIC_NETNS" link set "$FABRIC_PORT" master "$FABRIC_BRIDGE" up
  $n ip link set lo up
  $n ip addr replace "$NODE_IP/$LINK_PREFIX" dev "$NODE_IFACE"
  $n ip link set "$NODE_IFACE" up
  # The node's own traffic to a ClusterIP needs a route before kube-proxy's
  # OUTPUT DNAT rewrites it; the host does not forward (ip_forward=0 there is
  # untouched), so an unmatched packet dies on the host instead of leaking.
  $n ip route replace "$SERVICE_CIDR" via "$HOST_IP" dev "$NODE_IFACE"
  $n sysctl -qw net.ipv4.ip_forward=1
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || $n ip link add sctpe2e-probe type bridge 2>/dev/null || true
  $n ip link del sctpe2e-probe 2>/dev/null || true
  $n sysctl -qw net.bridge.bridge-nf-call-iptables=1 \
    || die "missing kernel feature: br_netfilter (net.bridge.bridge-nf-call-iptables), needed for NetworkPolicy and Services between pods on one bridge"
}

# Each node's pod range, once the controller-manager has allocated it, is
# routed from the host to that node, not through node1: a reply would come
# back from another node and miss node1's conntrack entry.
host_pod_route() {
  ip route replace "$(pod_cidr)" via "$NODE_IP" dev "$HOST_VETH"
}

setup_mount_namespace() {
  # kubelet and containerd need a shared-propagation root; giving the node a
  # mount namespace of its own keeps the host's mounts and their propagation
  # exactly as they were, and `down` drops every node mount at once.
  mkdir -p "$(dirname "$MNTNS_FILE")"
  if ! findmnt -n "$(dirname "$MNTNS_FILE")" >/dev/null; then
    mount --bind "$(dirname "$MNTNS_FILE")" "$(dirname "$MNTNS_FILE")"
    mount --make-private "$(dirname "$MNTNS_FILE")"
  fi
  if ! findmnt -n "$MNTNS_FILE" >/dev/null; then
    touch "$MNTNS_FILE"
    unshare --mount="$MNTNS_FILE" --propagation private true
    nsenter --mount="$MNTNS_FILE" -- mount --make-rshared /
    # Paths of the node's own, where a node keeps them: pod logs (a kubelet
    # removes the log directories of pods it does not know: the other
    # nodes'), the runc state of containerd's shims, CNI's result cache, the
    # sockets a kubelet makes in /var/lib/kubelet whatever its --root-dir
    # (device plugins, pod resources: two kubelets racing for one socket
    # left one of them dead), and the CNI configuration, where whatever
    # reads a node's CNI configuration (the suite's preflight) looks.
    local path src
    for path in /var/log/pods /var/log/containers /run/containerd /var/lib/cni /var/lib/kubelet /etc/cni/net.d; do
      src=$NODE_DIR/mounts$path
      [[ $path == /etc/cni/net.d ]] && src=$NODE_DIR/cni/net.d
      mkdir -p "$path" "$src"
      nsenter --mount="$MNTNS_FILE" -- mount --bind "$src" "$path"
    done
  fi
}

setup_cgroups() {
  # kubelet's cgroupRoot: every pod and container cgroup lives below it, so
  # `down` knows exactly which cgroups are the cluster's.
  local c
  for c in /sys/fs/cgroup/*/; do
    [[ -f $c/tasks ]] || continue
    mkdir -p "$c${CGROUP_ROOT#/}"
  done
  # A cpuset cgroup runs nothing until its cpus and mems are set, level by level.
  local cs=/sys/fs/cgroup/cpuset dir
  for dir in "$CGROUP_BASE" "$CGROUP_ROOT"; do
    if [[ -f $cs$dir/cpuset.cpus && -z $(<"$cs$dir/cpuset.cpus") ]]; then
      cat "$cs/cpuset.cpus" >"$cs$dir/cpuset.cpus"
      cat "$cs/cpuset.mems" >"$cs$dir/cpuset.mems"
    fi
  done
}

# --- certificates and kubeconfigs -------------------------------------------

# Every key is ECDSA P-256: `down` removes the PKI, so every `up` makes 13
# keys, and RSA-2048 ones took 3.7 s of a two-node `up` on 2 cores (P-256:
# a few milliseconds each). Every component here, and the suite's client,
# accepts them; the service-account signing key too (ES256 tokens).
KEY_OPTS=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)

cert() { # name subject [sans]: a key and a certificate signed by the cluster CA
  local name=$1 subj=$2 sans=${3:-}
  [[ -f $PKI_DIR/$name.crt ]] && return
  openssl req -new "${KEY_OPTS[@]}" -nodes -keyout "$PKI_DIR/$name.key" -subj "$subj" \
    -out "$PKI_DIR/$name.csr" 2>/dev/null
  local ext=$PKI_DIR/$name.ext
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
  [[ -n $sans ]] && printf 'subjectAltName=%s\n' "$sans" >>"$ext"
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
    -CAcreateserial -days 365 -extfile "$ext" -out "$PKI_DIR/$name.crt" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$ext"
}

kubeconfig() { # name user-cert
  local out=$STATE_DIR/kubeconfig/$1.kubeconfig
  [[ -f $out ]] && return
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sctp-e2e
  cluster:
    server: https://$API_NODE_IP:$API_PORT
    certificate-authority: $PKI_DIR/ca.crt
users:
- name: $1
  user:
    client-certificate: $PKI_DIR/$2.crt
    client-key: $PKI_DIR/$2.key
contexts:
- name: sctp-e2e
  context: {cluster: sctp-e2e, user: $1}
current-context: sctp-e2e
EOF
}

setup_pki() {
  mkdir -p "$PKI_DIR" "$STATE_DIR/kubeconfig"
  chmod 700 "$PKI_DIR"
  if [[ ! -f $PKI_DIR/ca.crt ]]; then
    log "generating the cluster's certificates"
    openssl req -x509 -new "${KEY_OPTS[@]}" -nodes -days 365 -subj "/CN=sctp-e2e-ca" \
      -keyout "$PKI_DIR/ca.key" -out "$PKI_DIR/ca.crt" 2>/dev/null
  fi
  [[ -f $PKI_DIR/sa.key ]] || {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI_DIR/sa.key" 2>/dev/null
    openssl pkey -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" \
    "IP:$API_NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert admin "/O=system:masters/CN=sctp-e2e-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  cert kube-router "/CN=system:kube-router"
  cert flannel "/CN=system:flannel"
  cert coredns "/CN=system:coredns"
  kubeconfig admin admin
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kube-proxy kube-proxy
  kubeconfig kube-router kube-router
  kubeconfig flannel flannel
  kubeconfig coredns coredns
}

node_pki() {
  # The Node authorizer knows a kubelet by its certificate's name.
  cert "kubelet-$NODE_NAME" "/O=system:nodes/CN=system:node:$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
  kubeconfig "kubelet-$NODE_NAME" "kubelet-$NODE_NAME"
}

setup_ssh() { # the client key is the cluster's; each node has its own host key
  local d=$STATE_DIR/ssh nd=$NODE_DIR/ssh
  mkdir -p "$d" "$nd" /run/sshd
  chmod 700 "$d" "$nd"
  [[ -f $d/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C "sctp-e2e client" -f "$d/id_ed25519"
  cp "$d/id_ed25519.pub" "$d/authorized_keys"
  [[ -f $nd/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C "$NODE_NAME host key" -f "$nd/host_ed25519"
  cat >"$nd/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress $NODE_IP
HostKey $nd/host_ed25519
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
# sshd runs every command through root's login shell; bash, started by sshd
# at shell level < 2, reads ~/.bashrc first. The nodes share this machine's
# /root, whose .bashrc is the machine's (on the project's machine it runs
# pyenv's init: 0.7 s per command, paid by every node shell the suite
# opens). At level 1 bash skips it; the suite's commands need nothing from it.
SetEnv SHLVL=1
EOF
}

# --- components ---------------------------------------------------------------

start() { # name command...: start a component in the node unless it runs
  local name=$1
  shift
  if pid_of "$name" >/dev/null; then return; fi
  mkdir -p "$LOG_DIR" "$PID_DIR"
  log "starting $name on $NODE_NAME"
  # nsenter and setsid exec (no fork), so $! is the component itself.
  nsenter --mount="$MNTNS_FILE" --net="/run/netns/$NETNS" -- setsid "$@" \
    >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$PID_DIR/$name.pid"
}

wait_for() { # name seconds description command...: poll until the command succeeds
  local name=$1 timeout=$2 what=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      fail_component "$name" "exited while waiting for $what"
    fi
    ((SECONDS < deadline)) || fail_component "$name" "did not get $what within ${timeout}s"
    sleep 0.5
  done
}

fail_component() {
  local log
  log=$(component_dir "$1")/logs/$1.log
  log "$1 on $NODE_NAME $2; last lines of its log ($log):"
  tail -n 15 "$log" >&2 || true
  die "$1 failed to start on $NODE_NAME; fix the cause above, then run 'sctp-e2e cluster up' again (it resumes)"
}

port_free() { # port name: our component must own the port or nobody may
  local port=$1 name=$2
  pid_of "$name" >/dev/null && return
  if in_node ss -Hltnu "sport = :$port" | grep -q .; then
    die "port $port in $NODE_NAME is in use by another process; $name needs it (see: ip netns exec $NETNS ss -ltnp)"
  fi
}

# The waits poll every 0.5 s with `api` and jq, not kubectl: a kubectl call
# costs about 0.25 CPU-seconds here (curl 0.04), and `up` is CPU-bound on 2
# cores, so polling with kubectl slowed what it waited for.
api() { curl -fsS --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" "https://$API_NODE_IP:$API_PORT$1"; }
kubectl() { "$BIN_DIR/kubectl" --kubeconfig "$STATE_DIR/kubeconfig/admin.kubeconfig" "$@"; }

start_control_plane() {
  port_free 2379 etcd
  start etcd "$BIN_DIR/etcd" --name "$NODE_NAME" --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls "" \
    --quota-backend-bytes 2147483648 --log-level warn
  wait_for etcd 30 "a healthy answer on 127.0.0.1:2379" in_node curl -fsS http://127.0.0.1:2379/health

  port_free "$API_PORT" kube-apiserver
  start kube-apiserver "$BIN_DIR/kube-apiserver" \
    --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$API_PORT" \
    --etcd-servers=http://127.0.0.1:2379 \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$PKI_DIR/ca.crt" \
    --tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
    --kubelet-client-certificate="$PKI_DIR/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI_DIR/apiserver-kubelet-client.key" \
    --service-account-key-file="$PKI_DIR/sa.pub" \
    --service-account-signing-key-file="$PKI_DIR/sa.key" \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true --profiling=false --v=1
  wait_for kube-apiserver 90 "/readyz" api /readyz

  start kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$STATE_DIR/kubeconfig/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE_DIR/kubeconfig/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE_DIR/kubeconfig/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file="$PKI_DIR/sa.key" --root-ca-file="$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file="$PKI_DIR/ca.crt" --cluster-signing-key-file="$PKI_DIR/ca.key" \
    --allocate-node-cidrs --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$SERVICE_CIDR" --v=1
  start kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig="$STATE_DIR/kubeconfig/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE_DIR/kubeconfig/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE_DIR/kubeconfig/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --v=1
}

# RBAC and the DNS Service for the node-level components, and MetalLB's CRDs
# (its pool is one of their objects), in one kubectl call; `apply` keeps this
# step idempotent. The kubelets need none of it, so they start before it.
apply_cluster_objects() {
  use_node 1 # the DNS Service's endpoint is CoreDNS, on node1's address
  render manifests/bootstrap.yaml "$STATE_DIR/bootstrap.yaml"
  kubectl apply --server-side --force-conflicts -f "$STATE_DIR/bootstrap.yaml" \
    -f "$CACHE_DIR/metallb-$METALLB_VERSION/crds.yaml" >/dev/null
}

# Writes a config only when its content changes: kube-proxy exits when its
# config file is rewritten, and a second `up` must not disturb a running node.
install_if_changed() { # tmp-file dest
  if cmp -s "$1" "$2"; then rm -f "$1"; else mv "$1" "$2"; fi
}

render() { # template dest [sed args]: fills in @NAME@ placeholders from lib.sh (selected node)
  local template=$1 dest=$2
  shift 2
  sed -e "s#@STATE_DIR@#$STATE_DIR#g" -e "s#@NODE_DIR@#$NODE_DIR#g" -e "s#@PKI_DIR@#$PKI_DIR#g" \
    -e "s#@PAUSE_IMAGE@#$PAUSE_IMAGE#g" -e "s#@CLUSTER_CIDR@#$CLUSTER_CIDR#g" -e "s#@DNS_SVC_IP@#$DNS_SVC_IP#g" \
    -e "s#@CLUSTER_DOMAIN@#$CLUSTER_DOMAIN#g" -e "s#@CGROUP_ROOT@#$CGROUP_ROOT#g" -e "s#@NODE_IP@#$NODE_IP#g" \
    -e "s#@NODE_NAME@#$NODE_NAME#g" -e "s#@CONTAINERD_SOCK@#$CONTAINERD_SOCK#g" \
    -e "s#@VXLAN_PORT@#$VXLAN_PORT#g" -e "s#@VXLAN_VNI@#$VXLAN_VNI#g" \
    -e "s#@PROXY_MODE@#$PROXY_MODE#g" -e "s#@PORTMAP_BACKEND@#$PORTMAP_BACKEND#g" "$@" \
    "$CLUSTER_DIR/$template" >"$dest.new"
  install_if_changed "$dest.new" "$dest"
}

stop_component() { # name: TERM, then KILL after 10 s
  local pid deadline=$((SECONDS + 10))
  pid=$(pid_of "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while pid_of "$1" >/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if pid=$(pid_of "$1"); then kill -KILL "$pid" 2>/dev/null || true; fi
}

# A running cluster of another shape: stop what the new shape changes and
# remove its rules; the steps below start it again in the new shape.
# kube-proxy removes the other mode's rules itself when it starts
# (platformCleanup); a NetworkPolicy engine's rules are removed here, so no
# rule of the old engine keeps deciding.
switch_shape() {
  local was_proxy= was_netpol=
  if [[ -f $SHAPE_FILE ]]; then
    was_proxy=$(sed -n 's/^PROXY_MODE=//p' "$SHAPE_FILE")
    was_netpol=$(sed -n 's/^NETPOL=//p' "$SHAPE_FILE")
  fi
  if [[ -n $was_proxy && $was_proxy != "$PROXY_MODE" ]]; then
    log "switching kube-proxy from $was_proxy to $PROXY_MODE mode"
    on_existing_nodes stop_component kube-proxy
    wait_for_deletions "$was_proxy"
    on_existing_nodes remove_portmap_rules "$was_proxy"
  fi
  if [[ -n $was_netpol && $was_netpol != "$NETPOL" ]]; then
    log "switching the NetworkPolicy engine from $was_netpol to $NETPOL"
    on_existing_nodes stop_component netpol
    case $was_netpol in
      kube-router) on_existing_nodes remove_kube_router_rules ;;
      kube-network-policies) on_existing_nodes remove_queue_hook ;;
    esac
  fi
  mkdir -p "$STATE_DIR"
  printf 'NODES=%s\nPROXY_MODE=%s\nNETPOL=%s\n' "$NODES" "$PROXY_MODE" "$NETPOL" >"$SHAPE_FILE"
}

# portmap removes a pod's hostPort rules at its CNI DEL with the backend the
# conflist names at that moment, finding them by container ID. A pod still
# being deleted when the backend switches is torn down by the other backend,
# and its rules stay: the next pod on the same hostPort is then sent to the
# dead pod's address first (seen: outside→hostPort failing after a switch
# back, in both shapes). So pods being deleted finish under the backend that
# wrote their rules, and the old backend's hostPort rules are then removed
# whole, unless a running pod still declares a hostPort (its rules work
# whatever the conflist says).
wait_for_deletions() { # the backend being left
  local old=$1 deadline=$((SECONDS + 60)) left
  use_node 1
  pid_of kube-apiserver >/dev/null || return 0
  until left=$(deletions_in_progress) && [[ -z $left ]]; do
    ((SECONDS < deadline)) ||
      die "still being deleted after 60 s:${left:- (the API did not answer)}; the hostPort rules of their pods belong to the $old backend: let them finish (or delete the pods with --force), then run 'sctp-e2e cluster up' again"
    sleep 0.5
  done
}
remove_portmap_rules() { # the backend being left; on the selected node
  local old=$1 keep
  if keep=$(pods_with_host_ports) && [[ -n $keep ]]; then
    log "pods with hostPorts on $NODE_NAME keep their $old rules:$keep"
    return
  fi
  log "removing the hostPort rules of portmap's $old backend on $NODE_NAME"
  case $old in
    nftables) in_node sh -c 'nft delete table ip cni_hostport 2>/dev/null; nft delete table ip6 cni_hostport 2>/dev/null; true' ;;
    iptables) in_node sh -c '
      for ipt in iptables ip6tables; do
        $ipt -w -t nat -F CNI-HOSTPORT-DNAT 2>/dev/null
        for c in $($ipt -w -t nat -S 2>/dev/null | sed -n "s/^-N \(CNI-DN-[0-9a-f]*\)$/\1/p"); do
          $ipt -w -t nat -F "$c" && $ipt -w -t nat -X "$c"
        done
      done
      true' ;;
  esac
}
# Namespaces too: a namespace being deleted has pods not yet marked deleted.
deletions_in_progress() {
  kubectl get namespaces,pods -A -o jsonpath='{range .items[?(@.metadata.deletionTimestamp)]} {.kind} {.metadata.namespace}/{.metadata.name}{end}'
}
pods_with_host_ports() { # on the selected node; nothing when the API is down
  (use_node 1 && pid_of kube-apiserver >/dev/null) || return 0
  kubectl get pods -A --field-selector="spec.nodeName=$NODE_NAME,status.phase!=Succeeded,status.phase!=Failed" \
    -o jsonpath='{range .items[?(@.spec.containers[*].ports[*].hostPort)]} {.metadata.namespace}/{.metadata.name}{end}'
}

# What kube-proxy writes once it has synced: the kubernetes Service's rule.
kube_proxy_synced() {
  case $PROXY_MODE in
    iptables) in_node sh -c "iptables-save -t nat | grep -q 'default/kubernetes:https'" ;;
    nftables) in_node sh -c "nft list table ip kube-proxy | grep -q 'default/kubernetes/tcp/https'" ;;
  esac
}

# The CNI plugins containerd runs: Debian's, except portmap, which is the one
# build.sh made (it has both backends). A directory of the cluster's own, so
# no other CNI user of the machine sees it.
link_cni_plugins() {
  local p
  mkdir -p "$CNI_BIN_DIR"
  for p in /usr/lib/cni/*; do
    [[ $(basename "$p") == portmap ]] || ln -sfn "$p" "$CNI_BIN_DIR/"
  done
  ln -sfn "$BIN_DIR/portmap" "$CNI_BIN_DIR/portmap"
}

write_node_configs() {
  mkdir -p "$NODE_DIR/containerd" "$NODE_DIR/cni/net.d" "$NODE_DIR/kubelet" "$NODE_DIR/flannel"
  render config/containerd.toml "$NODE_DIR/containerd/config.toml"
  render config/kubelet.yaml "$NODE_DIR/kubelet/config.yaml"
  render config/kube-proxy.yaml "$NODE_DIR/kube-proxy.yaml"
  [[ $NODE_INDEX -ne 1 ]] || render config/Corefile "$NODE_DIR/Corefile"
  # Pods with dnsPolicy Default get this; a loopback nameserver would point
  # them at themselves.
  echo "nameserver $DNS_SVC_IP" >"$NODE_DIR/resolv.conf.new"
  install_if_changed "$NODE_DIR/resolv.conf.new" "$NODE_DIR/resolv.conf"
}

# The node's CNI config: bridge + host-local + portmap on the node's own pod
# range, with flannel's MTU (the fabric's less the VXLAN header). Written
# once flannel has its lease; until then kubelet reports the node NotReady.
write_cni_config() {
  local cidr mtu
  cidr=$(pod_cidr)
  mtu=$(sed -n 's/^FLANNEL_MTU=//p' "$NODE_DIR/flannel/subnet.env")
  render config/cni.conflist "$NODE_DIR/cni/net.d/10-sctp-e2e.conflist" \
    -e "s#@POD_CIDR@#$cidr#g" -e "s#@MTU@#$mtu#g"
}

# --- the NetworkPolicy engine ---------------------------------------------------

start_netpol() {
  case $NETPOL in
    kube-router)
      # Firewall only: no routing, no service proxy (kube-proxy is the proxy).
      start netpol "$BIN_DIR/kube-router" --run-firewall=true --run-router=false \
        --run-service-proxy=false --kubeconfig="$STATE_DIR/kubeconfig/kube-router.kubeconfig" \
        --hostname-override="$NODE_NAME" --service-cluster-ip-range="$SERVICE_CIDR" \
        --enable-ipv6=false --metrics-port=0 --health-port=20244 -v=1
      ;;
    kube-network-policies)
      wait_for kube-controller-manager 30 "the kube-network-policies token" netpol_service_account
      # Its main reads the in-cluster config only: the API server's address
      # from the environment, the token where a pod has it (mounted in the
      # node's mount namespace by netpol_service_account). NRI needs
      # containerd >= 1.7; the DNS race workaround is for kernels < 6.12.
      start netpol env KUBERNETES_SERVICE_HOST="$API_NODE_IP" KUBERNETES_SERVICE_PORT="$API_PORT" \
        "$BIN_DIR/kube-network-policies" --hostname-override="$NODE_NAME" \
        --nfqueue-id="$NETPOL_QUEUE" --netfilter-bug-1766-fix=false --disable-nri \
        --metrics-bind-address=127.0.0.1:9080 --v=1
      ;;
  esac
}

netpol_ready() {
  case $NETPOL in
    kube-router)
      wait_for netpol 60 "its health endpoint" in_node curl -fsS http://127.0.0.1:20244/healthz
      ;;
    kube-network-policies)
      wait_for netpol 60 "a listener on netfilter queue $NETPOL_QUEUE" netpol_queue_bound
      install_queue_hook
      ;;
  esac
}

# The token of the kube-network-policies service account (bootstrap.yaml),
# where rest.InClusterConfig reads it, in the node's mount namespace only.
netpol_service_account() {
  local d=$STATE_DIR/netpol-sa token sa=/run/secrets/kubernetes.io/serviceaccount
  token=$(kubectl -n kube-system get secret kube-network-policies-token -o jsonpath='{.data.token}') || return 1
  [[ -n $token ]] || return 1
  mkdir -p "$d"
  base64 -d <<<"$token" >"$d/token"
  cp "$PKI_DIR/ca.crt" "$d/ca.crt"
  echo kube-system >"$d/namespace"
  in_node sh -c "mkdir -p $sa && { mountpoint -q $sa || mount --bind '$d' $sa; }"
}

netpol_queue_bound() { # the engine listens on its queue (per network namespace)
  in_node awk -v q="$NETPOL_QUEUE" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue
}

# kube-network-policies installs its hook as an nftables `queue` rule, which
# this kernel cannot load (no CONFIG_NFT_QUEUE); the engine logs the error
# and goes on deciding nothing: it fails open. The same hook with iptables'
# NFQUEUE target, as its nftables chain has it (postrouting, before SNAT):
# the node's root-owned traffic and established flows pass, the first
# packet of every other pod flow goes to the engine. Without --queue-bypass:
# while no engine listens, the kernel drops those packets (fail closed, as
# the engine's own default).
# The chain is written in one iptables-restore (--noflush replaces just this
# chain, atomically): a second `up` leaves no moment without the hook.
install_queue_hook() {
  local c=$NETPOL_QUEUE_CHAIN
  printf '%s\n' '*mangle' ":$c - [0:0]" \
    "-A $c -m owner --uid-owner 0 -j RETURN" \
    "-A $c -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN" \
    "-A $c -s $CLUSTER_CIDR -j NFQUEUE --queue-num $NETPOL_QUEUE" \
    "-A $c -d $CLUSTER_CIDR -j NFQUEUE --queue-num $NETPOL_QUEUE" COMMIT \
    | in_node iptables-restore -w --noflush \
    && in_node sh -c "iptables -t mangle -C POSTROUTING -j $c 2>/dev/null || iptables -t mangle -A POSTROUTING -j $c" \
    || die "could not install kube-network-policies' NFQUEUE hook (iptables mangle $c)"
}

# kube-router v2.1.0's --cleanup-config removes nothing of its firewall (it
# cleans up a policy controller it never initialised), so its rules go here:
# every chain it made (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*), the
# jumps to them, then its ipsets (nothing else in the node uses ipset).
remove_kube_router_rules() {
  in_node sh -c "
    iptables-save -t filter | grep -v -E 'KUBE-(ROUTER|POD-FW|NWPLCY)-' | iptables-restore -w
    ipset list -n | grep -E '^(inet6:)?KUBE-' | while read -r set; do ipset destroy \"\$set\"; done
    true
  "
}

remove_queue_hook() {
  local c=$NETPOL_QUEUE_CHAIN
  in_node sh -c "iptables -t mangle -D POSTROUTING -j $c 2>/dev/null; iptables -t mangle -F $c 2>/dev/null; iptables -t mangle -X $c 2>/dev/null; true"
}

on_nodes() { # command...: run it for every node in turn, each one selected
  local i
  for ((i = 1; i <= NODES; i++)); do
    use_node "$i"
    "$@"
  done
}

# The same for the nodes that exist so far (a half-finished `up` may have
# made fewer than it was asked for).
on_existing_nodes() { on_nodes if_node_exists "$@"; }
if_node_exists() {
  findmnt -n "$MNTNS_FILE" >/dev/null && ip netns list | grep -qw "$NETNS" || return 0
  "$@"
}

pod_cidr() { api "/api/v1/nodes/$NODE_NAME" | jq -er '.spec.podCIDR // empty'; }

start_containerd() {
  start containerd containerd --config "$NODE_DIR/containerd/config.toml"
}

# Every `up` imports the images the cluster runs (`down` removes containerd's
# store with the rest): pause, the agent and MetalLB. The suite's own image
# is left to cluster/load-suite.sh, which `sctp-e2e job` runs. Each node
# imports in the background while the control plane, its kubelet and flannel
# start, and unpacks there too: unpacked on first use instead, MetalLB's
# image held its pods' start, which `up` waits for, by 2 to 3 s. Nothing
# needs an image before the first pod, MetalLB's, and `up` waits for every
# node's import just before it creates them.
declare -A IMPORT_PID
start_image_import() {
  wait_for containerd 30 "its socket" ctr_ version
  log "importing images into $NODE_NAME's containerd (in the background)"
  import_images >"$LOG_DIR/image-import.log" 2>&1 &
  IMPORT_PID[$NODE_NAME]=$!
}
import_images() {
  local image
  for image in pause agent metallb; do # the suite's: cluster/load-suite.sh
    ctr_ images import "$IMAGE_DIR/$image.tar" >/dev/null || {
      echo "importing $IMAGE_DIR/$image.tar failed"
      return 1
    }
  done
}
images_imported() {
  wait "${IMPORT_PID[$NODE_NAME]}" && return
  log "importing images into $NODE_NAME's containerd failed; its output ($LOG_DIR/image-import.log):"
  cat "$LOG_DIR/image-import.log" >&2 || true
  die "images missing on $NODE_NAME; fix the cause above, then run 'sctp-e2e cluster up' again (it resumes)"
}

# The Node object outlives the kubelet (etcd keeps it across down/up), so
# its Ready=True may be the previous kubelet's; a fresh kubelet first posts
# NotReady. Only a heartbeat from after this start counts.
declare -A KUBELET_STARTED
start_kubelet() {
  pid_of kubelet >/dev/null || KUBELET_STARTED[$NODE_NAME]=$(date +%s)
  start kubelet "$BIN_DIR/kubelet" --config="$NODE_DIR/kubelet/config.yaml" \
    --kubeconfig="$STATE_DIR/kubeconfig/kubelet-$NODE_NAME.kubeconfig" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --root-dir="$NODE_DIR/kubelet/root" \
    --v=1
}

node_ready() { # Ready=True, posted by the kubelet running now
  local ready
  ready=$(api "/api/v1/nodes/$NODE_NAME" |
    jq -er '.status.conditions[]? | select(.type == "Ready") | "\(.status) \(.lastHeartbeatTime)"') || return 1
  [[ ${ready%% *} == True ]] || return 1
  (($(date -d "${ready#* }" +%s) >= ${KUBELET_STARTED[$NODE_NAME]:-0}))
}

# flannel takes its lease from the Node's podCIDR (--kube-subnet-mgr), so
# it starts once the kubelet has registered the node and the
# controller-manager has given it a range.
start_flannel() {
  wait_for kubelet 60 "a pod range for $NODE_NAME" pod_cidr
  start flannel env NODE_NAME="$NODE_NAME" "$BIN_DIR/flannel" --kube-subnet-mgr \
    --kubeconfig-file="$STATE_DIR/kubeconfig/flannel.kubeconfig" \
    --net-config-path="$STATE_DIR/flannel-net-conf.json" \
    --subnet-file="$NODE_DIR/flannel/subnet.env" \
    --iface="$NODE_IFACE" --healthz-ip=127.0.0.1 --healthz-port=20245
}

flannel_ready() {
  wait_for flannel 30 "its lease ($NODE_DIR/flannel/subnet.env)" test -s "$NODE_DIR/flannel/subnet.env"
  write_cni_config
  host_pod_route
}
kubelet_ready() {
  wait_for kubelet 90 "node $NODE_NAME Ready" node_ready
}

start_kube_proxy() {
  start kube-proxy "$BIN_DIR/kube-proxy" --config="$NODE_DIR/kube-proxy.yaml" --v=1
}
kube_proxy_ready() {
  wait_for kube-proxy 30 "$PROXY_MODE rules for the kubernetes Service" kube_proxy_synced
}

start_sshd() {
  setup_ssh
  port_free "$SSH_PORT" sshd
  start sshd /usr/sbin/sshd -D -e -f "$NODE_DIR/ssh/sshd_config"
}
sshd_ready() {
  wait_for sshd 15 "its port" in_node sh -c "ss -Hltn 'sport = :$SSH_PORT' | grep -q ."
}

start_coredns() {
  port_free 53 coredns
  start coredns "$BIN_DIR/coredns" -conf "$NODE_DIR/Corefile"
}
coredns_ready() {
  wait_for coredns 30 "ready" in_node curl -fsS http://127.0.0.1:8181/ready
}

# MetalLB: its CRDs (applied with the cluster's objects) established, then
# upstream's RBAC and the cluster's own controller, speakers and pool. `apply`
# leaves running pods alone when nothing changed.
start_metallb() {
  local dir=$CACHE_DIR/metallb-$METALLB_VERSION
  kubectl wait --for condition=established --timeout=30s -f "$dir/crds.yaml" >/dev/null
  render manifests/metallb.yaml "$STATE_DIR/metallb.yaml" -e "s#@METALLB_IMAGE@#$METALLB_IMAGE#g" \
    -e "s#@API_NODE_IP@#$API_NODE_IP#g" -e "s#@API_PORT@#$API_PORT#g" -e "s#@LB_POOL@#$LB_POOL#g" \
    -e "s#@NODE_IFACE@#$NODE_IFACE#g"
  kubectl apply --server-side --force-conflicts -f "$dir/rbac.yaml" -f "$STATE_DIR/metallb.yaml" >/dev/null
}
metallb_ready() { # a ready speaker on every node, and the controller
  kubectl -n metallb-system rollout status daemonset/speaker --timeout=90s >/dev/null &&
    kubectl -n metallb-system rollout status deployment/controller --timeout=90s >/dev/null ||
    die "MetalLB did not become ready (90 s for the speakers, then 90 s for the controller); see: kubectl -n metallb-system get pods,events"
}

default_service_account() { api /api/v1/namespaces/default/serviceaccounts/default; }

write_env() {
  cp "$STATE_DIR/kubeconfig/admin.kubeconfig" "$STATE_DIR/kubeconfig.yaml"
  cat >"$STATE_DIR/env" <<EOF
# Written by 'sctp-e2e cluster up': how the suite reaches the local cluster.
SCTP_E2E_KUBECONFIG=$STATE_DIR/kubeconfig.yaml
SCTP_E2E_SSH_USER=root
SCTP_E2E_SSH_KEY=$STATE_DIR/ssh/id_ed25519
SCTP_E2E_SSH_PORT=$SSH_PORT
SCTP_E2E_NODE_ADDRESS_TYPE=InternalIP
SCTP_E2E_AGENT=usrsctp
SCTP_E2E_AGENT_IMAGE=$AGENT_IMAGE
SCTP_E2E_LOCAL_CLUSTER=sctp-e2e-node1
SCTP_E2E_LOCAL_EXTERNAL_CIDR=$EXTERNAL_CIDR
SCTP_E2E_EXTERNAL_AGENT=$CACHE_DIR/build/agent/agent
SCTP_E2E_EXTERNAL_IP_RANGE=$EXTERNAL_CIDR
EOF
}

# hostPorts go through the same netfilter front end as Services: portmap's
# nftables backend in the nftables shape, its iptables backend otherwise.
PORTMAP_BACKEND=$PROXY_MODE

prepare_node() {
  setup_node_network
  setup_mount_namespace
  setup_cgroups
  node_pki
  write_node_configs
}

preflight
choose_node_count
"$CLUSTER_DIR/install-deps.sh"
"$CLUSTER_DIR/build.sh" "$NETPOL"
setup_fabric
setup_pki
link_cni_plugins
# The old shape's components stop before the nodes' configs change under them.
switch_shape
on_nodes prepare_node
render config/flannel-net-conf.json "$STATE_DIR/flannel-net-conf.json"
# `up` is CPU-bound on 2 cores, and its critical path is the API server, then
# each kubelet's registration, then flannel's lease. What needs neither starts
# first and overlaps it: containerd, the image imports and sshd before the
# control plane; the cluster's objects and CoreDNS beside the kubelets' start;
# kube-proxy and MetalLB's objects once the Nodes exist (flannel's start
# waits for that), so MetalLB's pods are scheduled as soon as the nodes are
# Ready. The NetworkPolicy engine starts after kube-proxy has synced, as
# before: kube-router restores the whole filter table it saved, so rules
# kube-proxy writes in between could be lost. Every step starts on every
# node, then waits on every node (node by node would add the waits up).
on_nodes start_containerd
on_nodes start_image_import
on_nodes start_sshd
use_node 1
start_control_plane
on_nodes start_kubelet
apply_cluster_objects
start_coredns
on_nodes start_flannel
on_nodes start_kube_proxy
on_nodes images_imported
use_node 1
start_metallb
on_nodes flannel_ready
on_nodes kubelet_ready
on_nodes kube_proxy_ready
on_nodes start_netpol
on_nodes netpol_ready
use_node 1
coredns_ready
on_nodes sshd_ready
# Pods are refused until the namespace's service account exists.
use_node 1
wait_for kube-controller-manager 30 "the default service account" default_service_account
metallb_ready
write_env
log "cluster up in $((SECONDS - STARTED)) s ($NODES node(s), kube-proxy: $PROXY_MODE mode, NetworkPolicy: $NETPOL)"
node_address() { printf ' %s' "root@$NODE_IP"; }
cat <<EOF
kubeconfig: $STATE_DIR/kubeconfig.yaml
ssh:        ssh -i $STATE_DIR/ssh/id_ed25519 <node>:$(on_nodes node_address)
env:        $STATE_DIR/env
logs:       $STATE_DIR/node<N>/logs/
EOF
