#!/usr/bin/env bash
# Runs the same job through hakit's healthcheck and through HAProxy, one after the other
# on this machine, and prints CPU use of each as a percent of one core, plus the ratio.
#
#   bash benches/compare/healthcheck-vs-haproxy.sh [targets] [seconds]
#
# Job: N TCP-connect checks at inter 1 s against 16 loopback listeners that live in a
# separate process (so only the checker's CPU is counted). Needs `haproxy` (Debian
# package) for the second half; without it only hakit runs. When run as root (raw sockets,
# CAP_NET_RAW) hakit also runs the job with half-open checks (one SYN per check).
set -euo pipefail
targets=${1:-10000}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target_dir
(cd "$root" && cargo build --release -q -p healthcheck --example tcp_10k)
bin=$target_dir/release/examples/tcp_10k
work=$(mktemp -d)
haproxy_pid=
cleanup() {
    if [ -n "$haproxy_pid" ]; then kill "$haproxy_pid" 2>/dev/null || true; fi
    exec 3>&- 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== hakit healthcheck: $targets targets, $seconds s"
"$bin" --targets "$targets" --seconds "$seconds" | tee "$work/hakit.txt" | grep -E '^(baseline|total|steady|descriptors)'
hakit_cpu=$(sed -n 's/^total: .* CPU \([0-9.]*\)% of one core/\1/p' "$work/hakit.txt")

if [ "$(id -u)" = 0 ]; then
    echo "== hakit healthcheck, half-open (SYN) checks: $targets targets, $seconds s"
    "$bin" --mode half-open --targets "$targets" --seconds "$seconds" | grep -E '^(total|steady|descriptors)'
fi

if ! command -v haproxy >/dev/null; then
    echo "haproxy not installed: skipping the comparison"
    exit 0
fi

echo "== HAProxy $(haproxy -v | head -1 | awk '{print $3}'): $targets targets, $seconds s"
mkfifo "$work/serve_in"
"$bin" --serve 16 <"$work/serve_in" >"$work/addrs" &
serve_pid=$!
exec 3>"$work/serve_in"
for _ in $(seq 100); do [ -s "$work/addrs" ] && break; sleep 0.1; done
read -r -a addrs <"$work/addrs"
{
    printf 'global\n    nbthread 1\n    maxconn 4000\n    spread-checks 5\n'
    printf 'defaults\n    mode tcp\n    timeout connect 500ms\n    timeout check 500ms\n'
    printf '    timeout client 5s\n    timeout server 5s\n'
    # HAProxy refuses to start without a listener; a unix socket nobody uses will do.
    printf 'frontend unused\n    bind %s\n    default_backend checked\n' "$work/frontend.sock"
    printf 'backend checked\n    default-server check inter 1s\n'
    for ((i = 0; i < targets; i++)); do
        printf '    server s%d %s\n' "$i" "${addrs[$((i % ${#addrs[@]}))]}"
    done
} >"$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db -q >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
hz=$(getconf CLK_TCK)
sleep 1
if ! kill -0 "$haproxy_pid" 2>/dev/null; then
    echo "haproxy did not start:"; cat "$work/haproxy.log"; exit 1
fi
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 1
t0=$(date +%s.%N)
c0=$(cpu_ticks "$haproxy_pid")
# HAProxy's connect-only checks reset the connection before the listener accepts it,
# so the listeners cannot count them; count HAProxy's connect() calls instead.
if command -v perf >/dev/null; then
    perf stat -x, -e syscalls:sys_enter_connect -p "$haproxy_pid" -o "$work/perf.txt" -- sleep "$seconds" \
        >/dev/null 2>&1 || sleep "$seconds"
else
    sleep "$seconds"
fi
c1=$(cpu_ticks "$haproxy_pid")
t1=$(date +%s.%N)
kill "$haproxy_pid"
wait "$haproxy_pid" 2>/dev/null || true
haproxy_pid=
exec 3>&-
wait "$serve_pid" || true
haproxy_cpu=$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
    'BEGIN { printf "%.1f", (c1 - c0) / hz / (t1 - t0) * 100 }')
connects=$(awk -F, '/sys_enter_connect/ { print $1 }' "$work/perf.txt" 2>/dev/null || true)
rate=$(awk -v c="${connects:-0}" -v s="$seconds" 'BEGIN { if (c > 0) printf "%.0f", c / s; else print "unknown" }')
echo "HAProxy: CPU ${haproxy_cpu}% of one core, ${rate} checks/s (connect calls)"
echo "== ratio hakit / HAProxy CPU: $(awk -v a="$hakit_cpu" -v b="$haproxy_cpu" 'BEGIN { printf "%.2f", a / b }')"
