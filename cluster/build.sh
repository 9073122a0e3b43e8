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

# MetalLB's CRDs (config/crd/bases: without the conversion webhook of the
# rendered manifest, which the cluster does not run) and its Namespace,
# ServiceAccounts and RBAC (from upstream's rendered metallb-native.yaml),
# copied from the module the binaries were built from. The Deployment and
# DaemonSet are the cluster's own (cluster/manifests/metallb.yaml): our image,
# no webhook, no memberlist.
metallb_manifests() {
  local out=$CACHE_DIR/metallb-$METALLB_VERSION src
  [[ -s $out/rbac.yaml && -s $out/crds.yaml ]] && return 0
  src=$(cd "$CLUSTER_DIR/build/metallb" && go list -m -f '{{.Dir}}' go.universe.tf/metallb) \
    || die "cannot find MetalLB's module source"
  mkdir -p "$out"
  for f in "$src"/config/crd/bases/*.yaml; do echo ---; cat "$f"; done >"$out/crds.yaml.tmp"
  # Whole documents of the kinds kept, split at the rendered file's `---` lines.
  awk -v keep='^(Namespace|ServiceAccount|Role|ClusterRole|RoleBinding|ClusterRoleBinding|ConfigMap)$' '
    function flush() { if (doc != "" && kind ~ keep) printf "---\n%s", doc; doc = ""; kind = "" }
    /^---$/ { flush(); next }
    /^kind: / { kind = $2 }
    { doc = doc $0 "\n" }
    END { flush() }' "$src/config/manifests/metallb-native.yaml" >"$out/rbac.yaml.tmp"
  mv "$out/crds.yaml.tmp" "$out/crds.yaml"
  mv "$out/rbac.yaml.tmp" "$out/rbac.yaml"
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

# MetalLB's controller and speaker run as pods (a speaker looks up its own
# pod at start), from a one-layer image (images/build.sh): static, so CGO off.
CGO_ENABLED=0 build_go metallb-controller "$METALLB_VERSION" metallb "" go.universe.tf/metallb/controller
CGO_ENABLED=0 build_go metallb-speaker "$METALLB_VERSION" metallb "" go.universe.tf/metallb/speaker
metallb_manifests

# The second NetworkPolicy engine only when a shape asks for it (`build.sh
# kube-network-policies`): the default cluster does not pay for its build.
if [[ ${1:-} == kube-network-policies ]]; then
  build_go kube-network-policies "$KNP_VERSION" kube-network-policies "" sigs.k8s.io/kube-network-policies/cmd
fi

"$CLUSTER_DIR/../images/build.sh"
