#!/usr/bin/env bash
# hebra-serve and nginx side by side, in one run: the performance bar of the file
# server. For each file size, each server in turn is started, warmed up, loaded with
# wrk (pinned to one CPU) and stopped; its CPU time comes from /proc/PID/stat (utime +
# stime of every process of the server: nginx's master and workers too).
#
#   bash benches/scripts/serve-vs-nginx.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#   bash benches/scripts/serve-vs-nginx.sh --quick   # CI: proves it runs, measures nothing
#
# Installs wrk and nginx with apt-get when they are missing and it can; skips nginx
# with a message otherwise. The system's nginx configuration is never touched.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --quick ]; then
    set -- 1 1 10
fi
rounds=${1:-3}
seconds=${2:-5}
connections=${3:-100}
workers=$(nproc)
wrk_cpu=$((workers - 1))

need() {
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing $2 ..." >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null 2>&1 || true
    fi
    command -v "$1" >/dev/null
}

need wrk wrk || { echo "skipped: wrk is missing and cannot be installed here (apt-get install wrk)" >&2; exit 0; }
have_nginx=1
need nginx nginx-light || need nginx nginx || { have_nginx=0; echo "skipping nginx: not installed" >&2; }

cargo build --release -q -p hebra-server --bin hebra-serve
work=$(mktemp -d /tmp/serve-vs-nginx.XXXXXX)
trap 'stop_all; rm -rf "$work"' EXIT
mkdir -p "$work/root"
chmod 755 "$work"  # nginx workers run as an unprivileged user
head -c 4096 /dev/urandom >"$work/root/4k.bin"
head -c 1048576 /dev/urandom >"$work/root/1m.bin"

pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

# CPU ticks (utime + stime) of a process and all its children, by pid list.
ticks() {
    local total=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    echo "$total"
}

# Every process of a server: the main pid and its children (nginx workers).
server_pids() {
    echo "$1"
    pgrep -P "$1" || true
}

start_hebra() {
    local port=$1
    ./target/release/hebra-serve "$work/root" --addr "127.0.0.1:$port" --workers "$workers" >"$work/hebra.out" 2>"$work/hebra.err" &
    pids+=($!)
    server_pid=$!
}

start_nginx() {
    local port=$1
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { application/octet-stream bin; }
    server {
        listen 127.0.0.1:$port reuseport;
        root $work/root;
    }
}
CONF
    nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" &
    pids+=($!)
    server_pid=$!
}

wait_port() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/4k.bin" && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# One measurement: prints "req/s MB/s cpu-us-per-request p99".
measure() {
    local port=$1 file=$2
    wrk -t1 -c"$connections" -d1s "http://127.0.0.1:$port/$file" >/dev/null 2>&1 # warm-up
    local before after out
    before=$(ticks $(server_pids "$server_pid"))
    out=$(taskset -c "$wrk_cpu" wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/$file")
    after=$(ticks $(server_pids "$server_pid"))
    local requests rps mbs p99
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    mbs=$(awk '/Transfer\/sec/ { v = $2; if (v ~ /GB/) v *= 1024; else if (v ~ /KB/) v /= 1024; printf "%.0f", v }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    local errors
    errors=$(awk '/Socket errors|Non-2xx/ { print }' <<<"$out" | tr '\n' ' ')
    local tck
    tck=$(getconf CLK_TCK)
    awk -v r="$requests" -v t=$((after - before)) -v hz="$tck" -v rps="$rps" -v mbs="$mbs" -v p99="$p99" -v e="$errors" \
        'BEGIN { printf "%10.0f %8s %10.2f %8s %s\n", rps, mbs, (t / hz) * 1e6 / r, p99, e }'
}

printf '%-8s %-6s %-6s %10s %8s %10s %8s\n' server file round req/s MiB/s cpu-us/req p99
for file in 4k.bin 1m.bin; do
    for round in $(seq "$rounds"); do
        start_hebra 18080
        wait_port 18080
        printf '%-8s %-6s %-6s ' hebra "$file" "$round"; measure 18080 "$file"
        stop_all
        if [ "$have_nginx" = 1 ]; then
            start_nginx 18081
            wait_port 18081
            printf '%-8s %-6s %-6s ' nginx "$file" "$round"; measure 18081 "$file"
            stop_all
        fi
    done
done
