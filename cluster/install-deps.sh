#!/usr/bin/env bash
# Installs, from Debian, what the local cluster needs and the machine lacks,
# and says what it installs. Nothing is installed when everything is there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# command-or-file -> Debian package that provides it
declare -A NEED=(
  [containerd]=containerd [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
  [iptables]=iptables [ipset]=ipset [conntrack]=conntrack [sshd]=openssh-server
  [ssh]=openssh-client [/usr/include/usrsctp.h]=libusrsctp-dev [/bin/busybox]=busybox-static
  [gcc]=build-essential [make]=build-essential [ip]=iproute2 [ss]=iproute2 [nsenter]=util-linux
  [openssl]=openssl [curl]=curl [jq]=jq [tcpdump]=tcpdump [file]=file
  [nft]=nftables # kube-proxy's nftables mode (`cluster up --proxy-mode nftables`) runs nft
)
missing=()
for what in "${!NEED[@]}"; do
  if [[ $what == /* ]]; then [[ -e $what ]] && continue
  else command -v "$what" >/dev/null || [[ -x /usr/sbin/$what ]] && continue; fi
  missing+=("${NEED[$what]}")
done
# busybox must be the static build: it is copied into images.
if [[ -e /bin/busybox ]] && ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
  missing+=(busybox-static)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
[[ $EUID -eq 0 ]] || die "missing packages (${missing[*]}); run as root to install them"
log "installing from Debian: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
  || die "apt-get install ${missing[*]} failed"
