#!/usr/bin/env bash
# Update server on PostgreSQL vs SQLite (issue 13), same data set as run.sh (issue 5): one replica
# on SQLite, one and two replicas on PostgreSQL, all on loopback. Measures the hot path with wrk
# (alternating rounds, medians), change-to-visible latency across replicas (idle and under wrk
# load) and admin write throughput. Prints the figures recorded in BENCHMARKS.md.
#
# Needs (Debian): apt-get install -y wrk postgresql
# Usage: updater-server/bench/replicas.sh [duration_seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p updater-server --bins --examples
bin="$target/release"
out="$(mktemp -d /tmp/kiln-replicas.XXXXXX)"
chmod 755 "$out"
sqlite_port=18010
p1_port=18011
p2_port=18012
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  KILN_TEST_POSTGRES_DIR="$out/pg" scripts/test-postgres.sh stop || true
}
trap cleanup EXIT

echo "==> load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "==> data set: 300 releases x 3 platforms x 20 locales, 1,000 rules ($out)"
"$bin/examples/bench" setup --out "$out"

echo "==> PostgreSQL (fsync on) in $out/pg, data set copied from SQLite"
pg="$(KILN_TEST_POSTGRES_DIR="$out/pg" KILN_TEST_POSTGRES_FSYNC=on scripts/test-postgres.sh start)"
psql "$pg" -qc "CREATE DATABASE kiln_bench"
pgdb="${pg%/postgres}/kiln_bench"
time "$bin/updater-server" copy --from "$out/bench.db" --to "$pgdb" | tail -1
for db in "$out/bench.db" "$pgdb"; do RUST_LOG=warn "$bin/updater-server" user add bench --admin --db "$db" >/dev/null; done
token_sqlite="$("$bin/updater-server" token create --user bench --db "$out/bench.db")"
token_pg="$("$bin/updater-server" token create --user bench --db "$pgdb")"

serve() {  # serve DATABASE PORT
  printf 'database = "%s"\n[client]\nallowlisted_domains = { "download.example.org" = ["Firefox"] }\n' "$1" >"$out/kiln-$2.toml"
  RUST_LOG=warn "$bin/updater-server" serve --config "$out/kiln-$2.toml" --listen "127.0.0.1:$2" &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/__lbheartbeat__" >/dev/null && return; sleep 0.1; done
  echo "server on $2 did not start" >&2; exit 1
}
serve "$out/bench.db" $sqlite_port
serve "$pgdb" $p1_port
serve "$pgdb" $p2_port
sqlite="http://127.0.0.1:$sqlite_port"; p1="http://127.0.0.1:$p1_port"; p2="http://127.0.0.1:$p2_port"
first="$(head -1 "$out/paths.txt")"
cmp <(curl -s "$sqlite$first") <(curl -s "$p1$first") && echo "==> SQLite and PostgreSQL replicas answer the same"

wrk_paths() {  # wrk_paths URL WRK_OPTIONS...: varied paths for the configured duration
  local url="$1"; shift
  wrk "$@" -d"${duration}s" --latency -s updater-server/bench/paths.lua "$url" -- "$out/paths.txt"
}
for url in "$sqlite" "$p1" "$p2"; do
  wrk -t2 -c64 -d3s -s updater-server/bench/paths.lua "$url" -- "$out/paths.txt" | grep -q "Non-2xx" \
    && { echo "$url answers errors" >&2; exit 1; }
done
rounds=5
one_sqlite() {
  echo "==> round $1: one replica on SQLite"
  wrk_paths "$sqlite" -t2 -c64 | tee "$out/sqlite.$1.wrk"
}
one_pg() {
  echo "==> round $1: one replica on PostgreSQL"
  wrk_paths "$p1" -t2 -c64 | tee "$out/pg1.$1.wrk"
}
# The machine is shared: the order alternates between rounds so that a load change in the middle
# of the run does not favour one backend, and medians are reported.
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then one_sqlite "$r"; one_pg "$r"; else one_pg "$r"; one_sqlite "$r"; fi
  echo "==> round $r: two replicas on PostgreSQL, 32 connections each, at the same time"
  wrk_paths "$p1" -t1 -c32 >"$out/pg2a.$r.wrk" &
  other=$!
  wrk_paths "$p2" -t1 -c32 >"$out/pg2b.$r.wrk"
  wait "$other"
  cat "$out/pg2a.$r.wrk" "$out/pg2b.$r.wrk" | grep -E "Requests/sec|  99%"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rps() { for r in $(seq "$rounds"); do awk '/Requests\/sec/ {s+=$2} END {print int(s)}' "$out"/$1.$r.wrk; done | median; }
rps2() { for r in $(seq "$rounds"); do cat "$out/pg2a.$r.wrk" "$out/pg2b.$r.wrk" | awk '/Requests\/sec/ {s+=$2} END {print int(s)}'; done | median; }
p99() { for r in $(seq "$rounds"); do awk '$1=="99%" {print $2}' "$out/$1.$r.wrk"; done | tr '\n' ' '; }
p99_2() { for r in $(seq "$rounds"); do cat "$out/pg2a.$r.wrk" "$out/pg2b.$r.wrk" | awk '$1=="99%" {printf "%s/", $2}'; echo -n " "; done; }

echo "==> change-to-visible, idle: write through replica 1, read replica 2"
"$bin/examples/bench" visibility --write "$p1" --read "$p2" --token "$token_pg" --rounds 200
echo "==> change-to-visible under load: wrk -t1 -c32 on each replica meanwhile"
wrk -t1 -c32 -d"$((duration * 3))s" -s updater-server/bench/paths.lua "$p1" -- "$out/paths.txt" >/dev/null &
load1=$!
wrk -t1 -c32 -d"$((duration * 3))s" -s updater-server/bench/paths.lua "$p2" -- "$out/paths.txt" >/dev/null &
load2=$!
sleep 1
"$bin/examples/bench" visibility --write "$p1" --read "$p2" --token "$token_pg" --rounds 200
wait "$load1" "$load2"
echo "==> admin write throughput (4 writers, each on its own rule)"
"$bin/examples/bench" admin-writes --url "$sqlite" --token "$token_sqlite" --writers 4 --seconds "$duration"
"$bin/examples/bench" admin-writes --url "$p1" --token "$token_pg" --writers 4 --seconds "$duration"
"$bin/examples/bench" admin-writes --url "$p1" --url "$p2" --token "$token_pg" --writers 4 --seconds "$duration"

ratio() { for r in $(seq "$rounds"); do
  awk -v a="$(awk '/Requests\/sec/ {print $2}' "$out/pg1.$r.wrk")" -v b="$(awk '/Requests\/sec/ {print $2}' "$out/sqlite.$r.wrk")" 'BEGIN {printf "%.1f\n", 100*a/b}'
done | median; }
echo "==> median req/s: SQLite $(rps sqlite), PostgreSQL one replica $(rps pg1), two replicas (sum) $(rps2)"
echo "==> PostgreSQL / SQLite, one replica (median of per-round ratios): $(ratio)%"
echo "==> p99 per round: SQLite $(p99 sqlite)| PostgreSQL one $(p99 pg1)| two (each replica) $(p99_2)"
echo "==> RSS: SQLite replica $(ps -o rss= -p "${pids[0]}") KiB, PostgreSQL replicas $(ps -o rss= -p "${pids[1]}") / $(ps -o rss= -p "${pids[2]}") KiB"
echo "==> load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
