#!/usr/bin/env bash
# Integration test of the usrsctp agent: two network namespaces joined by a
# veth pair (198.18.250.0/30, no route out), one `agent serve` in each.
#   images/agent/test.sh [BUILD_DIR]     (root; default build dir as build.sh)
# Prints "ok - NAME" / "not ok - NAME" per check, then "N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
build_dir=${1:-${AGENT_BUILD_DIR:-${HOME:-/root}/.cache/sctp-e2e/build/agent}}
NSA=sctpe2e-agt-a-$$
NSB=sctpe2e-agt-b-$$
A_IP=198.18.250.1
B_IP=198.18.250.2
VIP=198.18.250.9   # DNAT'ed to B in namespace A
DEAD=198.18.250.10 # routed to B, which does not forward: silently dropped
tmp=$(mktemp -d /tmp/sctpe2e-agent-test.XXXXXX)
pids=()
made_netns_dir=

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	rm -rf "/etc/netns/$NSA"
	[ -n "$made_netns_dir" ] && rmdir /etc/netns 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}
not_ok() {
	echo "not ok - $1"
	shift
	local line
	for line in "$@"; do
		echo "#   $line"
	done
	failed=$((failed + 1))
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Value of a string or number field of the agent's one-line JSON.
jfield() {
	printf '%s' "$1" | sed -n -e "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" -e "s/.*\"$2\":\([0-9][0-9]*\).*/\1/p" | head -n 1
}

json_valid() {
	if command -v node >/dev/null; then
		printf '%s' "$1" | node -e 'JSON.parse(require("fs").readFileSync(0, "utf8"))' 2>/dev/null
	elif command -v python3 >/dev/null; then
		printf '%s' "$1" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null
	else
		return 0
	fi
}

# probe NS ARGS...: runs one probe; sets OUT, RC, WALL_MS.
probe() {
	local ns=$1 t0
	shift
	t0=$(now_ms)
	OUT=$(ip netns exec "$ns" "$AGENT" probe "$@" 2>"$tmp/probe.err")
	RC=$?
	WALL_MS=$(($(now_ms) - t0))
}

# check_probe NAME NS WANT_RESULT REPLY_PREFIX PROBE_ARGS...
check_probe() {
	local name=$1 ns=$2 want=$3 prefix=$4 want_rc=1 result reply
	shift 4
	[ "$want" = connected ] && want_rc=0
	probe "$ns" "$@"
	result=$(jfield "$OUT" result)
	reply=$(jfield "$OUT" reply)
	if [ "$RC" -eq "$want_rc" ] && [ "$result" = "$want" ] && [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] &&
		json_valid "$OUT" && { [ -z "$prefix" ] || [[ $reply == "$prefix"* ]]; }; then
		ok "$name"
		return 0
	fi
	not_ok "$name" "want result=$want exit=$want_rc reply=${prefix}..." "got exit=$RC: $OUT" "stderr: $(cat "$tmp/probe.err")"
	return 1
}

# start_agent NS LOG ARGS...: starts `agent serve` in NS and waits for "ready".
start_agent() {
	local ns=$1 log=$2 i
	shift 2
	ip netns exec "$ns" "$AGENT" serve "$@" >"$log" 2>&1 &
	pids+=($!)
	for i in $(seq 1 50); do
		grep -q " ready " "$log" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "# agent in $ns did not become ready:" >&2
	sed 's/^/#   /' "$log" >&2
	return 1
}

stop_last_agent() {
	kill "${pids[-1]}" 2>/dev/null
	wait "${pids[-1]}" 2>/dev/null
	unset 'pids[-1]'
}

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: needs root (network namespaces, iptables)" >&2
	exit 2
fi

# ---------------------------------------------------------------- build
if AGENT=$("$here/build.sh" "$build_dir" 2>"$tmp/build.err") && [ -x "$AGENT" ]; then
	ok "build a static agent"
else
	not_ok "build a static agent" "$(cat "$tmp/build.err")"
	finish
fi
if file "$AGENT" 2>/dev/null | grep -q "statically linked" || ! ldd "$AGENT" >/dev/null 2>&1; then
	ok "the agent is statically linked"
else
	not_ok "the agent is statically linked" "$(ldd "$AGENT" 2>&1)"
fi
if v=$("$AGENT" version) && [ -n "$v" ]; then ok "version prints: $v"; else not_ok "version prints a line"; fi
"$AGENT" probe --protocol bogus --host "$B_IP" --port 80 >/dev/null 2>"$tmp/usage.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "^usage:" "$tmp/usage.err"; then
	ok "bad probe usage exits 2 with a usage line"
else
	not_ok "bad probe usage exits 2 with a usage line" "exit=$rc" "$(cat "$tmp/usage.err")"
fi

# ---------------------------------------------------------------- network
set -e
ip netns add "$NSA"
ip netns add "$NSB"
ip -n "$NSA" link add veth0 type veth peer name veth0 netns "$NSB"
ip -n "$NSA" addr add "$A_IP/30" dev veth0
ip -n "$NSB" addr add "$B_IP/30" dev veth0
for ns in "$NSA" "$NSB"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set veth0 up
done
ip -n "$NSA" route add 198.18.250.8/29 via "$B_IP"
[ -d /etc/netns ] || made_netns_dir=1
mkdir -p "/etc/netns/$NSA"
echo "$B_IP peer-b.sctpe2e.test" >"/etc/netns/$NSA/hosts"
set +e

# Addresses must exist before the agents start: usrsctp learns them at init.
if start_agent "$NSB" "$tmp/b.log" --tcp 80,8080 --udp 80 --sctp 80 --name agent-b --control "$tmp/b.sock" &&
	start_agent "$NSA" "$tmp/a.log" --tcp 80 --udp 80 --sctp 80 --name agent-a --control "$tmp/a.sock"; then
	ok "agents serve in both namespaces"
else
	not_ok "agents serve in both namespaces"
	finish
fi
PA=(--control "$tmp/a.sock")
PB=(--control "$tmp/b.sock")

# ---------------------------------------------------------------- round trips
check_probe "tcp round trip a->b" "$NSA" connected "agent-b " --protocol tcp --host "$B_IP" --port 80
check_probe "udp round trip a->b" "$NSA" connected "agent-b " --protocol udp --host "$B_IP" --port 80
check_probe "sctp round trip a->b" "$NSA" connected "agent-b " --protocol sctp --host "$B_IP" --port 80 "${PA[@]}"
sctp_ms=$(jfield "$OUT" ms)
if [ -n "$sctp_ms" ] && [ "$sctp_ms" -lt 100 ] && [ "$WALL_MS" -lt 500 ]; then
	ok "sctp round trip is fast (${sctp_ms} ms in the daemon, ${WALL_MS} ms for the probe command)"
else
	not_ok "sctp round trip is fast" "ms=$sctp_ms wall=${WALL_MS}ms"
fi
check_probe "sctp round trip b->a" "$NSB" connected "agent-a " --protocol sctp --host "$A_IP" --port 80 "${PB[@]}"
check_probe "tcp round trip to a second tcp port" "$NSA" connected "agent-b " --protocol tcp --host "$B_IP" --port 8080
got=$(ip netns exec "$NSA" timeout 5 bash -c "exec 3<>/dev/tcp/$B_IP/80; printf 'one\ntwo\n' >&3; head -n 2 <&3" 2>&1)
if [ "$got" = $'agent-b one\nagent-b two' ]; then
	ok "one tcp connection carries several newline-terminated messages"
else
	not_ok "one tcp connection carries several newline-terminated messages" "got: $got"
fi
for i in 1 2; do
	check_probe "tcp with --source-port 40125, run $i" "$NSA" connected "agent-b " --protocol tcp --host "$B_IP" --port 80 --source-port 40125
done
check_probe "udp with --source-port 40125" "$NSA" connected "agent-b " --protocol udp --host "$B_IP" --port 80 --source-port 40125
check_probe "tcp probe to a name from /etc/hosts" "$NSA" connected "agent-b " --protocol tcp --host peer-b.sctpe2e.test --port 80
check_probe "sctp probe to a name from /etc/hosts" "$NSA" connected "agent-b " --protocol sctp --host peer-b.sctpe2e.test --port 80 "${PA[@]}"

msg='quote" back\slash	tab'
if check_probe "udp message with JSON-special characters" "$NSA" connected "" --protocol udp --host "$B_IP" --port 80 --message "$msg"; then
	if command -v node >/dev/null &&
		! printf '%s' "$OUT" | node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); process.exit(r.reply==="agent-b "+process.argv[1]?0:1)' "$msg"; then
		not_ok "the JSON reply field decodes to the exact reply" "$OUT"
	fi
fi

# ---------------------------------------------------------------- refusals
check_probe "tcp to a closed port is refused" "$NSA" refused "" --protocol tcp --host "$B_IP" --port 81
check_probe "udp to a closed port is refused" "$NSA" refused "" --protocol udp --host "$B_IP" --port 81
# Observed: the peer's usrsctp answers the INIT with an ABORT, so "refused" (not "timeout").
check_probe "sctp to a closed port is refused (ABORT in answer to INIT)" "$NSA" refused "" --protocol sctp --host "$B_IP" --port 81 "${PA[@]}"

for proto in tcp udp sctp; do
	if check_probe "$proto to a dead address times out" "$NSA" timeout "" --protocol "$proto" --host "$DEAD" --port 80 --timeout-ms 1000 "${PA[@]}"; then
		if [ "$WALL_MS" -ge 900 ] && [ "$WALL_MS" -lt 1600 ]; then
			ok "$proto timeout keeps the deadline (${WALL_MS} ms for 1000 ms)"
		else
			not_ok "$proto timeout keeps the deadline" "took ${WALL_MS} ms for --timeout-ms 1000"
		fi
	fi
done

# ---------------------------------------------------------------- sctp features
if check_probe "sctp with --streams 4" "$NSA" connected "agent-b " --protocol sctp --host "$B_IP" --port 80 --streams 4 "${PA[@]}"; then
	if grep -q "stream 3 bytes=" "$tmp/b.log"; then
		ok "the server saw a message on stream 3"
	else
		not_ok "the server saw a message on stream 3" "$(tail -n 8 "$tmp/b.log")"
	fi
fi
check_probe "sctp with --size 65536" "$NSA" connected "agent-b probe-" --protocol sctp --host "$B_IP" --port 80 --size 65536 "${PA[@]}"
check_probe "tcp with --size 65536" "$NSA" connected "agent-b probe-" --protocol tcp --host "$B_IP" --port 80 --size 65536
check_probe "sctp with --size 1048576 (the largest message, read in pieces)" "$NSA" connected "agent-b probe-" --protocol sctp --host "$B_IP" --port 80 --size 1048576 "${PA[@]}"
check_probe "sctp with 4 streams of 65536 bytes" "$NSA" connected "agent-b probe-" --protocol sctp --host "$B_IP" --port 80 --streams 4 --size 65536 "${PA[@]}"
for i in 1 2; do
	if check_probe "sctp with --source-port 40123, run $i" "$NSA" connected "agent-b " --protocol sctp --host "$B_IP" --port 80 --source-port 40123 "${PA[@]}" &&
		! grep -q "from $A_IP:40123 " "$tmp/b.log"; then
		not_ok "the server saw source port 40123" "$(tail -n 3 "$tmp/b.log")"
	fi
done

# Several probes at once against one daemon.
for i in $(seq 1 16); do
	ip netns exec "$NSA" "$AGENT" probe --protocol sctp --host "$B_IP" --port 80 --streams 2 "${PA[@]}" >"$tmp/conc.$i" 2>&1 &
done
wait_failed=0
for job in $(jobs -p); do
	case " ${pids[*]} " in *" $job "*) continue ;; esac
	wait "$job" || wait_failed=$((wait_failed + 1))
done
n_ok=$(cat "$tmp"/conc.* | grep -c '"result":"connected"')
if [ "$n_ok" -eq 16 ] && [ "$wait_failed" -eq 0 ]; then
	ok "16 concurrent sctp probes all connect"
else
	not_ok "16 concurrent sctp probes all connect" "$n_ok of 16 connected" "$(grep -hv '"connected"' "$tmp"/conc.* | head -n 3)"
fi

# probe-each: one process, one child per probe, each line prefixed with the
# probe's index and followed by its own exit status (what the suite parses).
out=$(ip netns exec "$NSA" "$AGENT" probe-each \
	-- --protocol sctp --host "$B_IP" --port 80 "${PA[@]}" \
	-- --protocol sctp --host "$B_IP" --port 81 "${PA[@]}" \
	-- --protocol tcp --host "$B_IP" --port 80 \
	-- --protocol bogus 2>&1)
rc=$?
if [ "$rc" -eq 0 ] &&
	printf '%s\n' "$out" | grep -q '^0 {.*"result":"connected".*"reply":"agent-b ' &&
	printf '%s\n' "$out" | grep -qx '0 exit=0' &&
	printf '%s\n' "$out" | grep -q '^1 {.*"result":"refused"' &&
	printf '%s\n' "$out" | grep -qx '1 exit=1' &&
	printf '%s\n' "$out" | grep -q '^2 {.*"protocol":"tcp".*"result":"connected"' &&
	printf '%s\n' "$out" | grep -q '^3 agent: --protocol must be' &&
	printf '%s\n' "$out" | grep -qx '3 exit=2'; then
	ok "probe-each runs several probes in one process, each answer under its index"
else
	not_ok "probe-each runs several probes in one process, each answer under its index" "exit=$rc" "$out"
fi
n_ok=$(ip netns exec "$NSA" "$AGENT" probe-each $(for i in $(seq 1 18); do echo -- --protocol sctp --host "$B_IP" --port 80 "${PA[@]}"; done) | grep -c '"result":"connected"')
if [ "$n_ok" -eq 18 ]; then
	ok "probe-each with 18 sctp probes (a matrix row) connects all of them"
else
	not_ok "probe-each with 18 sctp probes (a matrix row) connects all of them" "$n_ok of 18 connected"
fi

# ---------------------------------------------------------------- DNAT
if ip netns exec "$NSA" iptables -t nat -A OUTPUT -p sctp -d "$VIP" --dport 9000 -j DNAT --to-destination "$B_IP:80" 2>"$tmp/ipt.err"; then
	check_probe "sctp through an iptables SCTP DNAT" "$NSA" connected "agent-b " --protocol sctp --host "$VIP" --port 9000 "${PA[@]}"
	check_probe "sctp through DNAT with a fixed source port" "$NSA" connected "agent-b " --protocol sctp --host "$VIP" --port 9000 --source-port 40124 "${PA[@]}"
	check_probe "sctp through DNAT with the same source port again" "$NSA" connected "agent-b " --protocol sctp --host "$VIP" --port 9000 --source-port 40124 "${PA[@]}"
	if command -v conntrack >/dev/null; then
		if ip netns exec "$NSA" conntrack -L -p sctp 2>/dev/null | grep -q "dst=$VIP .*dport=9000 .*src=$B_IP"; then
			ok "conntrack recorded the DNAT'ed SCTP association"
		else
			not_ok "conntrack recorded the DNAT'ed SCTP association" "$(ip netns exec "$NSA" conntrack -L -p sctp 2>&1)"
		fi
	fi
else
	not_ok "add an iptables SCTP DNAT rule in namespace a" "$(cat "$tmp/ipt.err")"
fi

# ---------------------------------------------------------------- daemon rules
check_probe "sctp probe without a daemon is an error" "$NSA" error "" --protocol sctp --host "$B_IP" --port 80 --control "$tmp/nobody.sock"
if [[ $(jfield "$OUT" detail) == *"agent serve"* ]]; then
	ok "the error says to start agent serve"
else
	not_ok "the error says to start agent serve" "$OUT"
fi

touch "$tmp/proc-net-sctp"
SCTP_AGENT_PROC_NET_SCTP="$tmp/proc-net-sctp" timeout 10 ip netns exec "$NSA" "$AGENT" serve --sctp 82 --control "$tmp/k.sock" >"$tmp/k.out" 2>"$tmp/k.err"
rc=$?
if [ "$rc" -eq 3 ] && [ "$(wc -l <"$tmp/k.err")" -eq 1 ] && grep -q "two SCTP stacks" "$tmp/k.err" && grep -q agnhost "$tmp/k.err"; then
	ok "serve refuses (exit 3) when kernel SCTP is active"
else
	not_ok "serve refuses (exit 3) when kernel SCTP is active" "exit=$rc" "$(cat "$tmp/k.err")"
fi
if [ ! -e "$tmp/k.sock" ]; then ok "the refused agent made no control socket"; else not_ok "the refused agent made no control socket"; fi

# Without SCTP ports the stack is not started, so a TCP/UDP agent can run next to kernel SCTP.
if SCTP_AGENT_PROC_NET_SCTP="$tmp/proc-net-sctp" start_agent "$NSA" "$tmp/plain.log" --tcp 7000 --name plain-a; then
	check_probe "a tcp-only agent runs where kernel SCTP is active" "$NSB" connected "plain-a " --protocol tcp --host "$A_IP" --port 7000
	stop_last_agent
else
	not_ok "a tcp-only agent runs where kernel SCTP is active"
fi

timeout 10 ip netns exec "$NSB" "$AGENT" serve --sctp 83 --control "$tmp/b2.sock" >/dev/null 2>"$tmp/b2.err"
rc=$?
if [ "$rc" -eq 3 ] && grep -q "another userspace SCTP stack" "$tmp/b2.err"; then
	ok "a second usrsctp agent in one namespace refuses (exit 3)"
else
	not_ok "a second usrsctp agent in one namespace refuses (exit 3)" "exit=$rc" "$(cat "$tmp/b2.err")"
fi
check_probe "the first agent still works after the refused second one" "$NSA" connected "agent-b " --protocol sctp --host "$B_IP" --port 80 "${PA[@]}"

# Name resolution where glibc has no hosts database: getaddrinfo fails, the agent reads a hosts file itself.
mkdir -p "$tmp/root/etc"
cp "$AGENT" "$tmp/root/agent"
printf 'hosts: dns\n' >"$tmp/root/etc/nsswitch.conf"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$tmp/root/etc/resolv.conf"
echo "$B_IP fallback-b" >"$tmp/root/etc/hosts"
t0=$(now_ms)
out=$(ip netns exec "$NSA" chroot "$tmp/root" /agent probe --protocol tcp --host fallback-b --port 80 2>&1)
if [ "$(jfield "$out" result)" = connected ]; then
	ok "names resolve from /etc/hosts when getaddrinfo cannot ($(($(now_ms) - t0)) ms)"
else
	not_ok "names resolve from /etc/hosts when getaddrinfo cannot" "$out"
fi

if grep -q "sctp/80 association .* up" "$tmp/b.log" && grep -q "probe sctp $B_IP:80 " "$tmp/a.log"; then
	ok "both agents log their events"
else
	not_ok "both agents log their events"
fi

# A daemon that died mid-test shows up above only as "no agent daemon" errors;
# name its end here, with the signal, so a crash is read as one.
dead=()
for pid in "${pids[@]}"; do
	kill -0 "$pid" 2>/dev/null && continue
	wait "$pid"
	rc=$?
	dead+=("agent pid $pid exited with status $rc$([ "$rc" -gt 128 ] && echo " (signal $(kill -l $((rc - 128))))")")
done
if [ "${#dead[@]}" -eq 0 ]; then
	ok "both agents are still running at the end"
else
	not_ok "both agents are still running at the end" "${dead[@]}" "a.log ends: $(tail -n 3 "$tmp/a.log" | tr '\n' '|')" \
		"b.log ends: $(tail -n 3 "$tmp/b.log" | tr '\n' '|')"
fi

finish
