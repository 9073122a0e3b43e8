#!/usr/bin/env bash
# Builds the local cluster's upstream components from the Go module proxy and
# its images, into $SCTP_E2E_CACHE (default ~/.cache/sctp-e2e). Each output is
# named by its version: when it exists it is not rebuilt, so only the first
# `cluster up` on a machine pays for the build. Go's own module and build
# caches stay in their default places, so even a rebuild after a version bump
# is incremental.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "Go (1.26.8 or newer: the etcd and CNI plugin modules ask for it) is needed to build the cluster's components from the module proxy"
export GOTOOLCHAIN=local GOFLAGS=-trimpath
mkdir -p "$BIN_DIR" "$IMAGE_DIR"

build_go() { # name version module-dir [ldflags [package]]
  local name=$1 version=$2 dir=$3 ldflags=${4:-} pkg=${5:-.}
  # The wrapper's sources and the link flags are the key: a changed plugin
  # list, dependency or version stamp rebuilds, an unchanged one never does.
  # (A wrapper that builds an upstream main package as a `tool` has no .go
  # file of its own.)
  local key
  key=$({ cat "$CLUSTER_DIR/build/$dir"/go.* $(compgen -G "$CLUSTER_DIR/build/$dir/*.go"); echo "$ldflags"; } \
    | sha256sum | cut -c1-10)
  local out=$BIN_DIR/$name-$version-$key
  if [[ ! -x $out ]]; then
    log "building $name $version (once per machine and version; all components take about 12 min cold on 2 cores)"
    local start=$SECONDS
    (cd "$CLUSTER_DIR/build/$dir" && go build -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") \
      || die "building $name failed (see the go output above)"
    mv "$out.tmp" "$out"
    log "built $name in $((SECONDS - start)) s"
  fi
  ln -sf "$(basename "$out")" "$BIN_DIR/$name"
}

build_go kube "$KUBE_VERSION" kubernetes \
  "-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean"
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  ln -sf kube "$BIN_DIR/$c"
done
build_go etcd "$ETCD_VERSION" etcd
build_go coredns "$COREDNS_VERSION" coredns
# The proxy serves kube-router v2.1.0 but the checksum database does not know
# it; the wrapper's committed go.sum pins its hash instead.
GONOSUMDB=github.com/cloudnativelabs/kube-router build_go kube-router "$KUBE_ROUTER_VERSION" kube-router \
  "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"

# The CNI portmap plugin, for both shapes: Debian's 1.1.1 has no nftables
# backend. A pod's CNI DEL uses the backend the configuration names at that
# moment, not the one that wrote its rules: up.sh's switch_portmap_backend
# lets deletions finish before a switch and removes the old backend's rules.
build_go portmap "$CNI_PLUGINS_VERSION" cni-plugins \
  "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
  github.com/containernetworking/plugins/plugins/meta/portmap

# flanneld is upstream's main package at its module root: the wrapper names
# it as a tool. The proxy refuses one tencentcloud module its main links (a
# backend never used here): the wrapper's go.mod replaces it with a served one.
build_go flannel "$FLANNEL_VERSION" flannel \
  "-X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" github.com/flannel-io/flannel

# The second NetworkPolicy engine only when a shape asks for it (`build.sh
# kube-network-policies`): the default cluster does not pay for its build.
if [[ ${1:-} == kube-network-policies ]]; then
  build_go kube-network-policies "$KNP_VERSION" kube-network-policies "" sigs.k8s.io/kube-network-policies/cmd
fi

"$CLUSTER_DIR/../images/build.sh"
