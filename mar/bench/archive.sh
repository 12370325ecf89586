#!/usr/bin/env bash
# Benchmark: Kiln `mar` create + extract (zstd 19, xz 6) against Mozilla's Python build-mar
# (`mar -J`) and against the plain zstd/xz CLIs on a tar of the same bytes (the limit), all on
# both cores, in one run. Also peak RSS of extracting a ~1 GiB archive vs a 200 MB one.
#
# Usage (from the repository root): mar/bench/archive.sh [OUTDIR]
# SYNTH_MB (default 200) and BIG_MB (default 1024) size the synthetic trees.
# Needs: target/bench-corpus from scripts/fetch-corpus.sh, and target/test-venv from
# scripts/test.sh. Prints a Markdown table (also written to OUTDIR/results.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
out="$(realpath -m "${1:-target/bench/mar-archive}")"
pymar="$root/target/test-venv/bin/mar"
cargo build --release --locked -p mar-cli >/dev/null 2>&1
kmar="${CARGO_TARGET_DIR:-$root/target}/release/mar"
rm -rf "$out" && mkdir -p "$out"

numpy="$root/target/bench-corpus/pairs/d.newdir"
synth="$out/trees/synthetic-${SYNTH_MB:-200}M"
python3 mar/bench/gen-tree.py "$synth" "${SYNTH_MB:-200}" 1

# measure NAME CMD... -> appends "NAME seconds maxrss_kb" to $out/times
measure() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$out/t.tmp" "$@" >/dev/null 2>"$out/err.tmp" || { cat "$out/err.tmp"; exit 1; }
  echo "$name $(cat "$out/t.tmp")" >> "$out/times"
}

table="$out/results.md"
{
  echo "| tree | tool | create s | extract s | size bytes | extract max RSS MiB |"
  echo "|---|---|---:|---:|---:|---:|"
} > "$table"

for tree in "$numpy" "$synth"; do
  label=$(basename "$tree")
  w="$out/work/$label"; mkdir -p "$w"
  : > "$out/times"
  files=$(cd "$tree" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
  sync

  for level in 3 9 19; do
    measure "kiln-zstd$level-c" "$kmar" create -o "$w/k-zstd$level.mar" -C "$tree" --compression zstd --level "$level" .
    measure "kiln-zstd$level-x" "$kmar" extract "$w/k-zstd$level.mar" -C "$w/x-k-zstd$level"
    measure "zstd$level-c" bash -c "tar -C '$tree' -cf - . | zstd -q -$level -T2 -o '$w/tree$level.tar.zst'"
    mkdir -p "$w/x-zstd$level"
    measure "zstd$level-x" bash -c "zstd -q -d -c '$w/tree$level.tar.zst' | tar -C '$w/x-zstd$level' -xf -"
  done
  measure kiln-xz-c "$kmar" create -o "$w/k-xz.mar" -C "$tree" --compression xz --level 6 .
  measure kiln-xz-x "$kmar" extract "$w/k-xz.mar" -C "$w/x-k-xz"
  # shellcheck disable=SC2086
  measure py-xz-c bash -c "cd '$tree' && '$pymar' -J -c '$w/py-xz.mar' $(echo $files | tr '\n' ' ')"
  mkdir -p "$w/x-py" && measure py-xz-x bash -c "cd '$w/x-py' && '$pymar' -J -x '$w/py-xz.mar'"
  measure xz-c bash -c "tar -C '$tree' -cf - . | xz -q -6 -T2 > '$w/tree.tar.xz'"
  mkdir -p "$w/x-xz"
  measure xz-x bash -c "xz -q -d -c '$w/tree.tar.xz' | tar -C '$w/x-xz' -xf -"
  for x in x-k-zstd3 x-k-zstd9 x-k-zstd19 x-k-xz x-py x-zstd19 x-xz; do
    diff -r "$tree" "$w/$x"
  done

  t() { awk -v n="$1" '$1==n {print $2}' "$out/times"; }
  r() { awk -v n="$1" '$1==n {printf "%.0f", $3/1024}' "$out/times"; }
  row() { echo "| $label | $1 | $(t "$2-c") | $(t "$2-x") | $(stat -c %s "$3") | $(r "$2-x") |" >> "$table"; }
  for level in 3 9 19; do
    row "Kiln mar zstd -$level" "kiln-zstd$level" "$w/k-zstd$level.mar"
    row "tar + zstd -$level -T2" "zstd$level" "$w/tree$level.tar.zst"
  done
  row "Kiln mar xz -6" kiln-xz "$w/k-xz.mar"
  row "tar + xz -6 -T2" xz "$w/tree.tar.xz"
  row "Python build-mar -J (xz 6)" py-xz "$w/py-xz.mar"
  ratio() { awk -v a="$(t "$1")" -v b="$(t "$2")" 'BEGIN { printf "%.2f", a / b }'; }
  {
    echo "$label: Python build-mar / Kiln time: create xz $(ratio py-xz-c kiln-xz-c)x, zstd-3 $(ratio py-xz-c kiln-zstd3-c)x, zstd-9 $(ratio py-xz-c kiln-zstd9-c)x, zstd-19 $(ratio py-xz-c kiln-zstd19-c)x;" \
      "extract xz $(ratio py-xz-x kiln-xz-x)x, zstd-3 $(ratio py-xz-x kiln-zstd3-x)x, zstd-19 $(ratio py-xz-x kiln-zstd19-x)x"
    echo "$label: Kiln / raw compressor time (same level, 2 threads): create xz $(ratio kiln-xz-c xz-c)x, zstd-3 $(ratio kiln-zstd3-c zstd3-c)x, zstd-9 $(ratio kiln-zstd9-c zstd9-c)x, zstd-19 $(ratio kiln-zstd19-c zstd19-c)x;" \
      "extract xz $(ratio kiln-xz-x xz-x)x, zstd-3 $(ratio kiln-zstd3-x zstd3-x)x, zstd-9 $(ratio kiln-zstd9-x zstd9-x)x, zstd-19 $(ratio kiln-zstd19-x zstd19-x)x"
  } >> "$out/ratios.txt"
  rm -rf "$w"
done

# Peak RSS of extraction must not grow with archive size: a ~1 GiB archive (incompressible
# content, so the archive is as large as the tree) vs the smaller ones above.
big="$out/big-${BIG_MB:-1024}M"
mkdir -p "$big"
for i in $(seq 8); do head -c "$(( ${BIG_MB:-1024} * 1024 * 1024 / 8 ))" /dev/urandom > "$big/part$i.bin"; done
"$kmar" create -o "$out/big.mar" -C "$big" --compression zstd --level 3 .
: > "$out/times"
measure big-x "$kmar" extract "$out/big.mar" -C "$out/x-big"
echo "${BIG_MB:-1024} MiB tree, zstd -3 archive of $(stat -c %s "$out/big.mar") bytes: extract $(awk '{print $2}' "$out/times") s, max RSS $(awk '{printf "%.0f", $3/1024}' "$out/times") MiB" >> "$out/ratios.txt"
rm -rf "$big" "$out/x-big" "$out/big.mar" "$out/trees"

cat "$table"
echo
cat "$out/ratios.txt"
