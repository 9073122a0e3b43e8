#!/usr/bin/env bash
# sctp-e2e cluster load-suite
#
# Puts the suite image (SUITE_IMAGE) into every node's containerd, as `kind
# load` does. `up` leaves it out: only `sctp-e2e job` and the Sonobuoy plugin
# run it, and at 231 MB it cost every `up` 3-4 CPU-seconds a node to import,
# on the 2 cores the control plane was starting on. `sctp-e2e job` against
# the local cluster runs this first. A node that already has this build of
# the image (the tarball's name holds a hash of its inputs) is skipped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f $STATE_DIR/env ]] || die "the local cluster is not up; run 'sctp-e2e cluster up' first"
"$CLUSTER_DIR/../images/suite/build.sh" >/dev/null
tar=$(readlink -f "$IMAGE_DIR/suite.tar")
pids=()
for ((i = 1; i <= $(node_count); i++)); do
  use_node "$i"
  [[ $(cat "$NODE_DIR/suite-image" 2>/dev/null) == "$tar" ]] && continue
  log "importing $SUITE_IMAGE into $NODE_NAME's containerd"
  (ctr_ images import --no-unpack "$tar" >/dev/null && echo "$tar" >"$NODE_DIR/suite-image") &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || die "importing $tar failed; is the cluster up ('sctp-e2e cluster status')?"
done
