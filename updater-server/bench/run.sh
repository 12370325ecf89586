#!/usr/bin/env bash
# Update-server benchmark (issues 5, 22): Kiln, with and without its answer memo, vs nginx serving
# a static file of the same size, all on loopback, same wrk settings, same run (alternating
# rounds, medians). Prints the figures recorded in BENCHMARKS.md.
#
# Needs (Debian): apt-get install -y wrk nginx-light
# Usage: updater-server/bench/run.sh [duration_seconds]
set -euo pipefail
duration="${1:-20}"
# shellcheck source=updater-server/bench/build.sh
source "$(dirname "$0")/build.sh" bench
kiln_port=18000
nginx_port=18001

echo "==> data set: 300 releases x 3 platforms x 20 locales, 1,000 rules ($out)"
"$bin/examples/bench" setup --out "$out"

cat > "$out/kiln.toml" <<TOML
database = "$out/bench.db"
[client]
allowlisted_domains = { "download.example.org" = ["Firefox"] }
TOML
RUST_LOG=warn "$bin/updater-server" serve --config "$out/kiln.toml" --listen "127.0.0.1:$kiln_port" &
kiln_pid=$!

mkdir -p "$out/www"
cp "$out/static.xml" "$out/www/static.xml"
chmod 755 "$out" "$out/www" && chmod 644 "$out/www/static.xml"   # nginx workers run unprivileged
cat > "$out/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $out/nginx.pid;
error_log $out/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$nginx_port;
    root $out/www;
    location / { default_type text/xml; }
  }
}
NGINX
nginx -c "$out/nginx.conf" -p "$out" &
nginx_pid=$!
# The same server with the answer memo disabled: every request parsed, evaluated and rendered.
sed 's/^\[client\]$/[client]\nresponse_memo_entries = 0/' "$out/kiln.toml" > "$out/kiln-nomemo.toml"
nomemo_port=$((kiln_port + 2))
RUST_LOG=warn "$bin/updater-server" serve --config "$out/kiln-nomemo.toml" --listen "127.0.0.1:$nomemo_port" &
nomemo_pid=$!
trap 'kill $kiln_pid $nginx_pid $nomemo_pid 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$kiln_port/__lbheartbeat__" >/dev/null && curl -sf "http://127.0.0.1:$nomemo_port/__lbheartbeat__" >/dev/null && curl -sf "http://127.0.0.1:$nginx_port/static.xml" >/dev/null && break
  sleep 0.1
done
first_path="$(head -1 "$out/paths.txt")"
echo "==> sample answer ($first_path):"
curl -s "http://127.0.0.1:$kiln_port$first_path" | head -c 400; echo

run_wrk() { wrk -t2 -c64 -d"${duration}s" --latency "$@"; }
curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/static.xml" || { echo "nginx cannot serve static.xml" >&2; exit 1; }
echo "==> warm-up"
wrk -t2 -c64 -d3s -s updater-server/bench/paths.lua "http://127.0.0.1:$kiln_port" -- "$out/paths.txt" >/dev/null
# The machine is shared, so Kiln (memo on, memo off) and nginx alternate for $rounds rounds and
# medians of the per-round ratios are reported.
rounds=3
for r in $(seq "$rounds"); do
  echo "==> round $r: Kiln /update/6/... (varied paths)"
  run_wrk -s updater-server/bench/paths.lua "http://127.0.0.1:$kiln_port" -- "$out/paths.txt" | tee "$out/kiln.$r.wrk"
  echo "==> round $r: nginx static file of the same size"
  run_wrk "http://127.0.0.1:$nginx_port/static.xml" | tee "$out/nginx.$r.wrk"
  echo "==> round $r: Kiln with the answer memo disabled (every request parsed, evaluated and rendered)"
  run_wrk -s updater-server/bench/paths.lua "http://127.0.0.1:$nomemo_port" -- "$out/paths.txt" | tee "$out/nomemo.$r.wrk"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rps() { for r in $(seq "$rounds"); do awk '/Requests\/sec/ {print int($2)}' "$out/$1.$r.wrk"; done | median; }
p99() { for r in $(seq "$rounds"); do awk '$1=="99%" {print $2}' "$out/$1.$r.wrk"; done | tr '\n' ' '; }
ratio() { for r in $(seq "$rounds"); do
  awk -v a="$(awk '/Requests\/sec/ {print $2}' "$out/$1.$r.wrk")" -v b="$(awk '/Requests\/sec/ {print $2}' "$out/nginx.$r.wrk")" 'BEGIN {printf "%.0f\n", 100*a/b}'
done | median; }

kiln_rps="$(rps kiln)"
nginx_rps="$(rps nginx)"
# Latency below peak: wrk with few connections (closed loop); the row whose rate is nearest half
# of the peak is the "p99 at half of peak" figure.
for c in 2 4 8 16; do
  echo "==> Kiln with $c connections (peak median $kiln_rps req/s)"
  wrk -t1 -c"$c" -d"${duration}s" --latency -s updater-server/bench/paths.lua "http://127.0.0.1:$kiln_port" -- "$out/paths.txt" \
    | awk -v c="$c" '/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {printf "c=%s: %s req/s, p50 %s, p99 %s\n", c, rps, p50, p99}'
done
echo "==> nginx with 2 connections (the floor of this machine at the same load)"
wrk -t1 -c2 -d"${duration}s" --latency "http://127.0.0.1:$nginx_port/static.xml" \
  | awk '/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {printf "nginx c=2: %s req/s, p50 %s, p99 %s\n", rps, p50, p99}'
echo "==> Kiln RSS after the runs: $(ps -o rss= -p "$kiln_pid") KiB"
echo "==> nginx RSS (all processes): $(ps -o rss= --ppid "$nginx_pid" | awk '{s+=$1} END {print s}') KiB workers + $(ps -o rss= -p "$nginx_pid") KiB master"
echo "==> median req/s: Kiln $kiln_rps, Kiln memo off $(rps nomemo), nginx $nginx_rps"
echo "==> median per-round ratio to nginx: Kiln $(ratio kiln)%, Kiln memo off $(ratio nomemo)%"
echo "==> p99 per round: Kiln $(p99 kiln)| memo off $(p99 nomemo)| nginx $(p99 nginx)"
echo "==> load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
