#!/usr/bin/env bash
# Builds the local cluster's images into $SCTP_E2E_CACHE/images as tarballs
# that `cluster up` imports into containerd:
#   pause: the pod sandbox image (a static binary in one layer);
#   agent: the test agent (static usrsctp/TCP/UDP agent plus busybox-static
#          for a shell and nslookup);
#   metallb: MetalLB's controller and speaker.
# A tarball is rebuilt only when its sources changed (their hash is in the
# file name).
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
IMAGES_DIR=$CLUSTER_DIR/../images
mkdir -p "$IMAGE_DIR"

src_hash() { cat "$@" | sha256sum | cut -c1-12; }

build_image() { # name ref hash builder-function
  local name=$1 ref=$2 hash=$3 builder=$4 out=$IMAGE_DIR/$1-$3.tar
  if [[ ! -f $out ]]; then
    log "building image $ref"
    local root
    root=$(mktemp -d)
    "$builder" "$root"
    "$IMAGES_DIR/pack.sh" "$ref" "$root" "$out" "${ENTRYPOINT[@]}"
    rm -rf "$root"
  fi
  ln -sf "$out" "$IMAGE_DIR/$name.tar"
}

pause_root() {
  mkdir -p "$1/bin"
  gcc -Os -static -Wall -Wextra -o "$1/bin/pause" "$IMAGES_DIR/pause/pause.c"
  ENTRYPOINT=(/bin/pause)
}
ENTRYPOINT=(/bin/pause)
build_image pause "$PAUSE_IMAGE" "$(src_hash "$IMAGES_DIR/pause/pause.c" "$IMAGES_DIR/pack.sh")" pause_root

# The agent binary is also used on this machine itself, as the client
# "outside the cluster" (SCTP_E2E_EXTERNAL_AGENT), so it is built on its own.
AGENT_BINARY=$("$IMAGES_DIR/agent/build.sh" "$CACHE_DIR/build/agent")

agent_root() {
  mkdir -p "$1/bin" "$1/tmp" "$1/run" "$1/etc"
  cp "$AGENT_BINARY" "$1/bin/agent"
  cp /bin/busybox "$1/bin/busybox"
  # Every applet: a shell and nslookup for tests, nsenter for host-exec pods.
  "$1/bin/busybox" --list | while read -r applet; do
    [[ -e $1/bin/$applet ]] || ln -s busybox "$1/bin/$applet"
  done
}
ENTRYPOINT=(/bin/agent serve)
build_image agent "$AGENT_IMAGE" "$(src_hash "$IMAGES_DIR"/agent/*.c "$IMAGES_DIR"/agent/build.sh "$IMAGES_DIR/pack.sh" "$0")" agent_root

# MetalLB's controller and speaker (built by cluster/build.sh), in one image:
# each pod names its binary. The hash is of the binaries' names, which carry
# their version and build key.
metallb_root() {
  mkdir -p "$1/bin" "$1/tmp"
  cp "$BIN_DIR/metallb-controller" "$1/bin/controller"
  cp "$BIN_DIR/metallb-speaker" "$1/bin/speaker"
}
ENTRYPOINT=(/bin/speaker)
build_image metallb "$METALLB_IMAGE" \
  "$(readlink "$BIN_DIR/metallb-controller" "$BIN_DIR/metallb-speaker" | src_hash - "$IMAGES_DIR/pack.sh")" metallb_root

# The suite itself, for `sctp-e2e job` (images/suite/build.sh says how).
"$IMAGES_DIR/suite/build.sh" >/dev/null
