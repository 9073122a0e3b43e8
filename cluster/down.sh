#!/usr/bin/env bash
# sctp-e2e cluster down: removes everything `up` made, also after a
# half-finished `up`: processes (by recorded PID, then anything left in the
# node's namespaces and cgroups), the node's mount and network namespaces
# (which takes its veth, bridge, iptables rules, ipsets and conntrack with
# it), the host's routes to it, the cgroups and the state directory.
# Built binaries and images stay in the cache.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $EUID -eq 0 ]] || die "cluster down needs root"
STARTED=$SECONDS

# Gracefully first, in reverse start order, so kubelet does not restart what
# we just stopped.
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  name=${COMPONENTS[i]}
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
  fi
done
deadline=$((SECONDS + 5))
for name in "${COMPONENTS[@]}"; do
  while pid=$(pid_of "$name") && ((SECONDS < deadline)); do sleep 0.1; done
  if pid=$(pid_of "$name"); then kill -KILL "$pid" 2>/dev/null || true; fi
done

cgroup_tasks() {
  local c
  for c in /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"; do
    [[ -d $c ]] && find "$c" -name tasks -exec cat {} + 2>/dev/null
  done
  return 0 # no cgroup left is not a failure (pipefail would end `down` here)
}
# Whatever is left: container shims and processes in the node's network
# namespace, and containers in the cluster's cgroups.
for _ in 1 2 3 4 5; do
  pids=$( { ip netns pids "$NETNS" 2>/dev/null; cgroup_tasks; } | sort -u)
  [[ -z $pids ]] && break
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
done

# Cgroups, deepest first.
for c in /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"; do
  [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# The node's mount namespace: unmounting its handle drops every mount in it.
if findmnt -n "$MNTNS_FILE" >/dev/null 2>&1; then umount "$MNTNS_FILE"; fi
if findmnt -n "$(dirname "$MNTNS_FILE")" >/dev/null 2>&1; then umount "$(dirname "$MNTNS_FILE")"; fi
rm -rf "$(dirname "$MNTNS_FILE")"

# The mount point of kube-network-policies' token, made on the host's /run
# (only empty directories go; anything else there is not ours).
rmdir /run/secrets/kubernetes.io/serviceaccount /run/secrets/kubernetes.io /run/secrets 2>/dev/null || true
rmdir /etc/cni/net.d /etc/cni 2>/dev/null || true # mount points in the node (up.sh), if empty

for cidr in "$CLUSTER_CIDR" "$SERVICE_CIDR" "$EXTERNAL_CIDR"; do
  ip route del "$cidr" 2>/dev/null || true
done
ip link del "$HOST_VETH" 2>/dev/null || true
ip netns del "$NETNS" 2>/dev/null || true

# Mounts of ours the host may still see (a crashed run before the node had
# its own mount namespace).
grep -F " $STATE_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
rm -rf "$STATE_DIR"
rmdir --ignore-fail-on-non-empty "$(dirname "$STATE_DIR")" 2>/dev/null || true
log "cluster down in $((SECONDS - STARTED)) s"
