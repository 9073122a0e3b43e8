#!/usr/bin/env bash
# pack.sh NAME:TAG ROOTFS_DIR OUT.tar ENTRYPOINT...   (WORKDIR=/dir: the working directory, default /)
# Packs a directory into a one-layer image tarball in docker-archive format,
# which `ctr images import` accepts. There is no Docker engine or registry
# here, and a one-layer image needs nothing more than tar and sha256sum.
set -euo pipefail
ref=$1 rootfs=$2 out=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Reproducible layer: fixed owner and time, sorted names.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01' \
  -C "$rootfs" -cf "$work/layer.tar" .
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)

entrypoint=$(printf '"%s",' "$@")
cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2000-01-01T00:00:00Z",
 "config":{"Entrypoint":[${entrypoint%,}],"Env":["PATH=/bin:/usr/bin:/sbin"],"WorkingDir":"${WORKDIR:-/}"},
 "rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created_by":"sctp-e2e images/pack.sh"}]}
JSON
cat > "$work/manifest.json" <<JSON
[{"Config":"config.json","RepoTags":["$ref"],"Layers":["layer.tar"]}]
JSON
tar -C "$work" -cf "$out.tmp" manifest.json config.json layer.tar
mv "$out.tmp" "$out"
