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
FLANNEL_VERSION=v0.28.10  # pods across nodes over VXLAN
METALLB_VERSION=v0.15.2   # LoadBalancer IPs in L2 mode (controller and speakers as pods)

# Built binaries and images live outside the work tree, keyed by version, so
# a fresh clone reuses them and nothing built is ever committed.
CACHE_DIR=${SCTP_E2E_CACHE:-$HOME/.cache/sctp-e2e}
BIN_DIR=$CACHE_DIR/bin
IMAGE_DIR=$CACHE_DIR/images

# Run-time state: certificates, configs, data, logs, pid files, sockets.
# Cluster-wide things (PKI, kubeconfigs, etcd, the SSH client key) sit at the
# top; each node has a directory of its own below it (see use_node).
STATE_DIR=${SCTP_E2E_STATE:-/var/lib/sctp-e2e/cluster}
PKI_DIR=$STATE_DIR/pki
CNI_BIN_DIR=$STATE_DIR/cni/bin # the plugins every node runs (link_cni_plugins)
SHAPE_FILE=$STATE_DIR/shape # what `up` was asked for; read by status and the next `up`

# How many nodes: node1 is the control plane and a worker, node2 and node3
# are workers. `up --nodes N` chooses. Two by default: users run multi-node
# clusters, and paths across nodes (the overlay, conntrack on two hosts, a
# NodePort on the node without the endpoint) are where SCTP breaks most.
DEFAULT_NODES=2
MAX_NODES=3

# Network. Every address is in 198.18.0.0/15 (RFC 2544 benchmarking), so
# nothing collides with a real network. The nodes and the host share one L2
# segment, the fabric (198.18.0.0/24): a bridge in a network namespace of its
# own, so the host's bridge netfilter (br_netfilter is per namespace and on
# here) never sees frames between nodes; a Docker-style FORWARD DROP on the
# host would otherwise cut the nodes apart. The host joins the fabric by one
# veth and routes only the cluster's ranges into it: no cluster packet ever
# leaves through the machine's uplink, and the nodes have no default route.
FABRIC_NETNS=sctpe2e-fabric
FABRIC_BRIDGE=br0
HOST_VETH=sctpe2e-h0 # the host's end; its peer in the fabric is "host"
HOST_IP=198.18.0.1
LINK_PREFIX=24
NODE_IFACE=eth0 # every node's interface on the fabric
CLUSTER_CIDR=198.19.0.0/17 # the controller-manager gives each node a /24 of it
NODE_CIDR_MASK=24
SERVICE_CIDR=198.19.128.0/20
KUBERNETES_SVC_IP=198.19.128.1
DNS_SVC_IP=198.19.128.10
EXTERNAL_CIDR=198.18.100.0/24 # externalIPs for tests, routed to node1
# MetalLB's pool, on the fabric itself: the host reaches a LoadBalancer IP as
# any client on the nodes' segment would, by ARP, which a speaker answers.
LB_POOL=198.18.0.240/28
VXLAN_PORT=8472 # flannel's, as upstream's default (Linux's own is 4789)
VXLAN_VNI=1
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
SSH_PORT=22
API_NODE_IP=198.18.0.2 # node1: the control plane

PAUSE_IMAGE=localhost/sctp-e2e/pause:1.0
AGENT_IMAGE=localhost/sctp-e2e/agent:0.4.1
SUITE_IMAGE=localhost/sctp-e2e/suite:0.1.0 # the suite itself, for `sctp-e2e job` (images/suite)
METALLB_IMAGE=localhost/sctp-e2e/metallb:$METALLB_VERSION # controller and speaker (images/build.sh)

# kube-network-policies: its netfilter queue and the iptables chain that
# feeds it (see install_queue_hook in up.sh).
NETPOL_QUEUE=100
NETPOL_QUEUE_CHAIN=SCTPE2E-NETPOL-QUEUE

CGROUP_BASE=/sctp-e2e # every node's cgroupRoot is below it

# Selects node i: every per-node name below refers to it afterwards.
use_node() {
  NODE_INDEX=$1
  NODE_NAME=sctp-e2e-node$1
  NETNS=sctpe2e-node$1
  MNTNS_FILE=/run/sctpe2e/node$1.mnt
  FABRIC_PORT=n$1 # the node's veth end in the fabric
  NODE_IP=198.18.0.$((1 + $1))
  NODE_DIR=$STATE_DIR/node$1
  LOG_DIR=$NODE_DIR/logs
  PID_DIR=$NODE_DIR/pids
  CONTAINERD_SOCK=$NODE_DIR/containerd/containerd.sock
  # One per node: a kubelet removes the pod cgroups it does not know.
  CGROUP_ROOT=$CGROUP_BASE/node$1
}

# The number of nodes the running cluster was started with (the default when
# none runs).
node_count() {
  local n=
  [[ -f $SHAPE_FILE ]] && n=$(sed -n 's/^NODES=//p' "$SHAPE_FILE")
  echo "${n:-$DEFAULT_NODES}"
}

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf 'sctp-e2e cluster: %s\n' "$*" >&2; exit 2; }

# Run a command inside the selected node: its network namespace and its
# mount namespace (kubelet's and containerd's mounts stay out of the host's).
in_node() { nsenter --mount="$MNTNS_FILE" --net="/run/netns/$NETNS" -- "$@"; }

# ctr against the selected node's containerd, in the namespace the kubelet uses.
ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# Where a component of the selected node keeps its pid file and log: the
# control plane and CoreDNS always on node1.
component_dir() {
  if [[ " ${NODE1_ONLY[*]} " == *" $1 "* ]]; then echo "$STATE_DIR/node1"; else echo "$NODE_DIR"; fi
}

pid_of() { # name -> pid if the recorded process is alive
  live_pid "$(component_dir "$1")/pids/$1.pid"
}

live_pid() { # pid-file -> the pid it names, if that process is alive
  local f=$1 pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid && -r /proc/$pid/stat ]] || return 1
  # A killed component may linger as a zombie when nothing reaps it.
  [[ $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  echo "$pid"
}

# The components in start order. The control plane and CoreDNS run on node1
# only; every node runs the node components.
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler)
NODE1_ONLY=("${CONTROL_PLANE[@]}" coredns)
NODE_COMPONENTS=(containerd kubelet flannel kube-proxy netpol sshd)
node_components() { # index -> the components that run on that node
  if [[ $1 -eq 1 ]]; then
    echo "${CONTROL_PLANE[*]} ${NODE_COMPONENTS[*]} coredns"
  else
    echo "${NODE_COMPONENTS[*]}"
  fi
}
