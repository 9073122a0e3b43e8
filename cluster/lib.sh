# Shared settings and helpers of the local cluster scripts (sourced, not run).
# Everything the cluster creates is named here once, so that `down` removes
# exactly what `up` made and nothing else.
set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Versions the cluster is built from (see shared/docs/PLATFORM.md for why).
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.12.4
KUBE_ROUTER_VERSION=v2.1.0 # the only v2 release the module proxy here serves
KNP_VERSION=v0.8.0        # kube-network-policies, the second NetworkPolicy engine
CNI_PLUGINS_VERSION=v1.10.0 # portmap only (nftables backend); bridge, host-local, loopback are Debian's

# Built binaries and images live outside the work tree, keyed by version, so
# a fresh clone reuses them and nothing built is ever committed.
CACHE_DIR=${SCTP_E2E_CACHE:-$HOME/.cache/sctp-e2e}
BIN_DIR=$CACHE_DIR/bin
IMAGE_DIR=$CACHE_DIR/images

# Run-time state: certificates, configs, data, logs, pid files, sockets.
STATE_DIR=${SCTP_E2E_STATE:-/var/lib/sctp-e2e/cluster}
LOG_DIR=$STATE_DIR/logs
PID_DIR=$STATE_DIR/pids
PKI_DIR=$STATE_DIR/pki
CNI_BIN_DIR=$STATE_DIR/cni/bin

# Network: the node lives in its own network namespace, joined to the host by
# a veth pair. Every address is in 198.18.0.0/15 (RFC 2544 benchmarking), so
# nothing collides with a real network, and the host routes only these ranges
# into the node: no cluster packet ever leaves through the machine's uplink.
NODE_NAME=sctp-e2e-node1
NETNS=sctpe2e-node1
MNTNS_FILE=/run/sctpe2e/node1.mnt
HOST_VETH=sctpe2e-h1
NODE_VETH=sctpe2e-n1
HOST_IP=198.18.0.1
NODE_IP=198.18.0.2
LINK_PREFIX=24
POD_CIDR=198.19.0.0/24
CLUSTER_CIDR=198.19.0.0/17
SERVICE_CIDR=198.19.128.0/20
KUBERNETES_SVC_IP=198.19.128.1
DNS_SVC_IP=198.19.128.10
EXTERNAL_CIDR=198.18.100.0/24 # externalIPs for tests, routed to the node
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
SSH_PORT=22

PAUSE_IMAGE=localhost/sctp-e2e/pause:1.0
AGENT_IMAGE=localhost/sctp-e2e/agent:0.3.0
SUITE_IMAGE=localhost/sctp-e2e/suite:0.1.0 # the suite itself, for `sctp-e2e job` (images/suite)

# kube-network-policies: its netfilter queue and the iptables chain that
# feeds it (see install_queue_hook in up.sh).
NETPOL_QUEUE=100
NETPOL_QUEUE_CHAIN=SCTPE2E-NETPOL-QUEUE

CGROUP_ROOT=/sctp-e2e
CONTAINERD_SOCK=$STATE_DIR/containerd/containerd.sock

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf 'sctp-e2e cluster: %s\n' "$*" >&2; exit 2; }

# Run a command inside the node: its network namespace and its mount
# namespace (kubelet's and containerd's mounts stay out of the host's).
in_node() { nsenter --mount="$MNTNS_FILE" --net="/run/netns/$NETNS" -- "$@"; }

pid_of() { # name -> pid if the recorded process is alive
  local f=$PID_DIR/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid && -r /proc/$pid/stat ]] || return 1
  # A killed component may linger as a zombie when nothing reaps it.
  [[ $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  echo "$pid"
}

# The components in start order; `down` stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy netpol coredns sshd)
