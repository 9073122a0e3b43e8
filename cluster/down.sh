#!/usr/bin/env bash
# sctp-e2e cluster down: removes everything `up` made, on every node, also
# after a half-finished `up` and whatever the older one-node layout left (its
# pid files and host veth): processes (by recorded PID, then anything left in
# the nodes' namespaces and cgroups), the nodes' mount and network namespaces
# (which takes their veths, bridges, VXLAN devices, iptables rules, ipsets
# and conntrack with them), the fabric, the host's routes into it, the
# cgroups and the state directory. Built binaries and images stay in the
# cache. Nodes are found by name, not by the recorded shape, so a lost shape
# file leaves nothing behind either.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $EUID -eq 0 ]] || die "cluster down needs root"
STARTED=$SECONDS

mapfile -t NETNSES < <(ip netns list | awk '{print $1}' | grep -E '^sctpe2e-node[0-9]+$' || true)
shopt -s nullglob
PID_FILES=("$STATE_DIR"/node*/pids/*.pid "$STATE_DIR"/pids/*.pid)
shopt -u nullglob

# Gracefully first: the kubelets before everything else, so none restarts
# what we just stopped; then the rest at once.
for f in "${PID_FILES[@]}"; do
  if [[ $(basename "$f") == kubelet.pid ]] && pid=$(live_pid "$f"); then kill -TERM "$pid" 2>/dev/null || true; fi
done
for f in "${PID_FILES[@]}"; do
  if pid=$(live_pid "$f"); then kill -TERM "$pid" 2>/dev/null || true; fi
done
deadline=$((SECONDS + 5))
for f in "${PID_FILES[@]}"; do
  while live_pid "$f" >/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if pid=$(live_pid "$f"); then kill -KILL "$pid" 2>/dev/null || true; fi
done

cgroup_tasks() {
  local c
  for c in /sys/fs/cgroup/*/"${CGROUP_BASE#/}"; do
    [[ -d $c ]] && find "$c" -name tasks -exec cat {} + 2>/dev/null
  done
  return 0 # no cgroup left is not a failure (pipefail would end `down` here)
}
# Whatever is left: container shims and processes in the nodes' network
# namespaces, and containers in the cluster's cgroups.
for _ in 1 2 3 4 5; do
  pids=$( { for ns in "${NETNSES[@]}"; do ip netns pids "$ns" 2>/dev/null; done; cgroup_tasks; } | sort -u)
  [[ -z $pids ]] && break
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
done

# Cgroups, deepest first.
for c in /sys/fs/cgroup/*/"${CGROUP_BASE#/}"; do
  [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# The nodes' mount namespaces: unmounting a handle drops every mount in it.
use_node 1
handles=$(dirname "$MNTNS_FILE")
for f in "$handles"/*.mnt; do
  if findmnt -n "$f" >/dev/null 2>&1; then umount "$f"; fi
done
if findmnt -n "$handles" >/dev/null 2>&1; then umount "$handles"; fi
rm -rf "$handles"

# Mount points made on the host's tree for the nodes' mounts (only empty
# directories go; anything else there is not ours).
rmdir /run/secrets/kubernetes.io/serviceaccount /run/secrets/kubernetes.io /run/secrets 2>/dev/null || true
rmdir /etc/cni/net.d /etc/cni /var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /run/containerd 2>/dev/null || true

# Network: the host's routes into the fabric go with its veth; the older
# one-node layout had a veth per node on the host (sctpe2e-h1) and routes
# to the cluster's ranges through it.
for link in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^sctpe2e-h[0-9]+$' || true); do
  ip link del "$link" 2>/dev/null || true
done
for ns in "${NETNSES[@]}" "$FABRIC_NETNS"; do
  ip netns del "$ns" 2>/dev/null || true
done

# Mounts of ours the host may still see (a crashed run before the nodes had
# their own mount namespaces).
grep -F " $STATE_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
rm -rf "$STATE_DIR"
rmdir --ignore-fail-on-non-empty "$(dirname "$STATE_DIR")" 2>/dev/null || true
log "cluster down in $((SECONDS - STARTED)) s"
