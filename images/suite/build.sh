#!/usr/bin/env bash
# Builds the suite image (SUITE_IMAGE, cluster/lib.sh) into
# $SCTP_E2E_CACHE/images/suite-<hash>.tar, the way images/build.sh builds the
# agent: a rootfs packed as a one-layer docker-archive by images/pack.sh, no
# Docker, no registry. `cluster up` imports it into the node's containerd;
# `sctp-e2e job` and the Sonobuoy plugin run it.
#
# The rootfs: this machine's node binary and the shared libraries ldd names,
# busybox (sh for bin/sctp-e2e, tar for `job` to copy the reports out), the
# project's run-time files under /app and its production node_modules (tsx is
# a dependency: the TypeScript runs as is, as it does from a clone).
#
# The tarball's name holds a hash of every input's content (not of where the
# clone is: a clone elsewhere builds the same image), so an unchanged tree is
# never rebuilt; node_modules is cached apart, by the lock file's hash, so a
# changed test does not rerun npm.
source "$(dirname "${BASH_SOURCE[0]}")/../../cluster/lib.sh"
ROOT=$(cd "$CLUSTER_DIR/.." && pwd)
# What the image needs at run time; tests, cluster scripts and images stay out.
APP_FILES=(bin helpers suites fixtures package.json package-lock.json tsconfig.json)
mkdir -p "$IMAGE_DIR"

NODE=$(readlink -f "$(command -v node)") || die "node is needed to build the suite image"
hash=$(
  {
    (cd "$ROOT" && find "${APP_FILES[@]}" -type f -print0 | sort -z | xargs -0 sha256sum)
    cat "$NODE" "${BASH_SOURCE[0]}" "$ROOT/images/pack.sh" | sha256sum
  } | sha256sum | cut -c1-12
)
out=$IMAGE_DIR/suite-$hash.tar
if [[ ! -f $out ]]; then
  log "building image $SUITE_IMAGE"
  start=$SECONDS
  # Production node_modules, once per lock file.
  lock=$(sha256sum "$ROOT/package-lock.json" | cut -c1-12)
  modules=$CACHE_DIR/build/suite-modules-$lock
  if [[ ! -d $modules/node_modules ]]; then
    rm -rf "$modules.tmp" && mkdir -p "$modules.tmp"
    cp "$ROOT/package.json" "$ROOT/package-lock.json" "$modules.tmp/"
    (cd "$modules.tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
      || die "npm ci --omit=dev for the suite image failed"
    rm -rf "$modules" && mv "$modules.tmp" "$modules"
  fi

  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/app" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  cp "$NODE" "$root/bin/node"
  # The loader and the libraries node links against, at the paths it asks for.
  for lib in $(ldd "$NODE" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cp /bin/busybox "$root/bin/busybox"
  "$root/bin/busybox" --list | while read -r applet; do
    [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/tmp:/bin/sh' >"$root/etc/passwd"
  (cd "$ROOT" && cp -r "${APP_FILES[@]}" "$root/app/")
  cp -r "$modules/node_modules" "$root/app/node_modules"
  # bin/ensure-deps compares node_modules/.package-lock.json with the lock
  # file; pack.sh gives every file one mtime, so it never runs npm in the image.
  rm -f "$IMAGE_DIR"/suite-*.tar # earlier trees' images: each is a few hundred MB
  # Working directory /app, the project's root, as for a run from a checkout.
  WORKDIR=/app "$ROOT/images/pack.sh" "$SUITE_IMAGE" "$root" "$out" /app/bin/sctp-e2e
  log "built $SUITE_IMAGE in $((SECONDS - start)) s ($(du -m "$out" | cut -f1) MB)"
fi
ln -sf "$out" "$IMAGE_DIR/suite.tar"
echo "$out"
