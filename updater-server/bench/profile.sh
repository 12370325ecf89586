#!/usr/bin/env bash
# Instructions per request on the update server's hot path, with the answer memo off (issue 22):
# callgrind counts instructions, which stay repeatable on a shared machine where wall-clock
# figures do not. Builds the release binary and the bench data set (examples/bench.rs), serves
# it with one worker under valgrind, and counts only while N requests (default 2,000) of
# bench/paths.lua's mix are answered over one keep-alive connection.
#
# Needs (Debian): apt-get install -y valgrind python3
# Usage: updater-server/bench/profile.sh [requests] [memo|nomemo]
# Then: callgrind_annotate --inclusive=yes "$out/callgrind.out" | head -60
set -euo pipefail
requests="${1:-2000}"
memo="${2:-nomemo}"
# shellcheck source=updater-server/bench/build.sh
source "$(dirname "$0")/build.sh" profile
port=18100
"$bin/examples/bench" setup --out "$out" >/dev/null
{
  echo "database = \"$out/bench.db\""
  echo "workers = 1"
  echo "[client]"
  [ "$memo" = memo ] || echo "response_memo_entries = 0"
  echo 'allowlisted_domains = { "download.example.org" = ["Firefox"] }'
} > "$out/kiln.toml"
RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out" \
  "$bin/updater-server" serve --config "$out/kiln.toml" --listen "127.0.0.1:$port" 2>"$out/valgrind.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/__lbheartbeat__" >/dev/null && break; sleep 0.2; done
drive() {
  python3 - "$port" "$1" "$out/paths.txt" <<'PY'
import http.client, sys
port, n, paths = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3]).read().split()
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    conn.request("GET", paths[i % len(paths)])
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"{paths[i % len(paths)]}: {response.status}")
PY
}
# With the memo on, the same requests once first, so that the counted ones are memo hits.
[ "$memo" = memo ] && drive "$requests"
callgrind_control -i on "$pid" >/dev/null 2>&1
drive "$requests"
callgrind_control -i off "$pid" >/dev/null 2>&1
kill -TERM "$pid"
wait "$pid" || true
total="$(callgrind_annotate "$out/callgrind.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "==> $memo: $total instructions for $requests requests = $((total / requests)) per request ($out/callgrind.out)"
