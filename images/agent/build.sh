#!/bin/sh
# Build the static usrsctp agent: images/agent/build.sh [OUTDIR]; prints the binary's path.
# Needs gcc and Debian's libusrsctp-dev (for libusrsctp.a).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${HOME:-/root}/.cache/sctp-e2e/build/agent}
mkdir -p "$out"
out=$(cd "$out" && pwd)

lib=
for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/local/lib; do
	if [ -f "$d/libusrsctp.a" ]; then lib=$d/libusrsctp.a; break; fi
done
if [ -z "$lib" ]; then
	lib=$(gcc -print-file-name=libusrsctp.a)
	[ -f "$lib" ] || { echo "build.sh: libusrsctp.a not found: apt-get install libusrsctp-dev" >&2; exit 1; }
fi

version=${AGENT_VERSION:-$(cat "$here/VERSION" 2>/dev/null || echo dev)}
# Built once per input: the sources, the library, the version and the
# compiler. (A compile is about 1 s of CPU, which every `cluster up` paid.)
key=$( { cat "$here/agent.c" "$0" "$lib"; echo "$version ${CC:-gcc}"; } | sha256sum | cut -c1-16)
if [ -x "$out/agent" ] && [ "$(cat "$out/agent.key" 2>/dev/null)" = "$key" ]; then
	echo "$out/agent"
	exit 0
fi
${CC:-gcc} -std=c11 -O2 -Wall -Wextra -static \
	-DINET -DINET6 -DAGENT_VERSION="\"$version\"" \
	-o "$out/agent.tmp" "$here/agent.c" "$lib" -lpthread 2>"$out/build.log" || { cat "$out/build.log" >&2; exit 1; }
# The one expected linker note is glibc's getaddrinfo-in-static-binary warning; show anything else.
grep -v -e "getaddrinfo" -e "^/usr/bin/ld: .*: in function" "$out/build.log" >&2 || true
mv "$out/agent.tmp" "$out/agent"
echo "$key" >"$out/agent.key"
echo "$out/agent"
