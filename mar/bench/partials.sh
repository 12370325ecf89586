#!/usr/bin/env bash
# Partial-update benchmark (BENCHMARKS.md, issue 11): Kiln's partial MAR against bsdiff,
# HDiffPatch (PyPI hdiffpatch, lzma2 level 9, 8 MiB window) and zstd --patch-from --long on the
# pairs of scripts/fetch-corpus.sh, in one run: bytes, generation seconds and peak RSS, apply
# seconds and peak RSS (GNU time '%e %M').
#
# Usage (from the repository root):
#   scripts/fetch-corpus.sh target/bench-corpus
#   apt-get install -y bsdiff zstd time
#   python3 -m venv target/bench-venv && target/bench-venv/bin/pip install hdiffpatch==2.6.0
#   cargo build --release -p mar-cli
#   mar/bench/partials.sh [CORPUS] [PAIRS...]     (default: target/bench-corpus, a b c d e f)
# Single files (a, b, c, e) are compared as they are; trees (d, f) go to Kiln as unpacked
# trees and to the peers as the deterministic tars of the corpus. Kiln's bytes are the whole MAR.
# Prints one markdown row per pair; the work directory is target/bench-partials.
set -euo pipefail
CORPUS="$(realpath "${1:-target/bench-corpus}")/pairs"
shift || true
PAIRS=("$@")
[ ${#PAIRS[@]} -gt 0 ] || PAIRS=(a b c d e f)
MAR="$(realpath target/release/mar)"
PY="$PWD/target/bench-venv/bin/python"  # not resolved: the venv is the symlink
W="$(realpath -m target/bench-partials)"
rm -rf "$W"; mkdir -p "$W"
"$MAR" keygen -o "$W/bench" >/dev/null

# `timed OUT CMD...`: runs CMD, appends "seconds peak-KiB" to OUT.
timed() { local out=$1; shift; /usr/bin/time -f '%e %M' -o "$out" -a "$@"; }
# The last "seconds KiB" line of a timing file, as "s MiB".
fmt() { tail -1 "$1" | awk '{ printf "%.2f / %.0f", $1, $2 / 1024 }'; }
size() { stat -L -c %s "$1"; }

cat > "$W/hdiff.py" <<'EOF'
import sys, hdiffpatch
mode, a, b, c = sys.argv[1:5]
old = open(a, 'rb').read()
if mode == 'diff':
    new = open(b, 'rb').read()
    open(c, 'wb').write(hdiffpatch.diff(old, new, hdiffpatch.Lzma2Config(level=9, window=23), validate=False))
else:
    open(c, 'wb').write(hdiffpatch.apply(old, open(b, 'rb').read()))
EOF

echo "| pair | old → new (bytes) | Kiln MAR | gen s / MiB | apply s / MiB | bsdiff | gen s / MiB | apply s / MiB | HDiffPatch lzma2 | gen s / MiB | apply s / MiB | zstd -19 --long | gen s / MiB | apply s / MiB | Kiln ÷ HDiffPatch | Kiln ÷ bsdiff |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for P in "${PAIRS[@]}"; do
  D="$W/$P"; mkdir -p "$D/old" "$D/new"
  if [ -d "$CORPUS/$P.olddir" ]; then
    cp -r "$CORPUS/$P.olddir/." "$D/old/"; cp -r "$CORPUS/$P.newdir/." "$D/new/"
  else
    cp -L "$CORPUS/$P.old" "$D/old/app.bin"; cp -L "$CORPUS/$P.new" "$D/new/app.bin"
  fi
  for t in old new; do
    (cd "$D/$t" && find . -type f | sed 's|^\./||' | sort -r | sed 's/.*/remove "&"/' > "$D/pre" && { echo 'remove "precomplete"'; cat "$D/pre"; } > precomplete)
  done
  OLD="$CORPUS/$P.old"; NEW="$CORPUS/$P.new"
  # Kiln: generate, then apply to a copy of the old tree.
  timed "$D/kiln.gen" "$MAR" update partial --from "$D/old" --to "$D/new" -o "$D/p.mar" -H bench -V 2 --sign-key "$W/bench.key" --json > "$D/kiln.json"
  cp -r "$D/old" "$D/install"
  timed "$D/kiln.apply" "$MAR" update apply "$D/install" "$D/p.mar" --key "$W/bench.pub" --current-version 1 > "$D/kiln.apply.out"
  diff -r "$D/install" "$D/new" > /dev/null || { echo "Kiln apply of $P differs" >&2; exit 1; }
  # bsdiff / bspatch.
  timed "$D/bsdiff.gen" bsdiff "$OLD" "$NEW" "$D/p.bsdiff"
  timed "$D/bsdiff.apply" bspatch "$OLD" "$D/out.bsdiff" "$D/p.bsdiff"
  cmp -s "$D/out.bsdiff" "$NEW" || { echo "bspatch of $P differs" >&2; exit 1; }
  # HDiffPatch.
  timed "$D/hdiff.gen" "$PY" "$W/hdiff.py" diff "$OLD" "$NEW" "$D/p.hdiff"
  timed "$D/hdiff.apply" "$PY" "$W/hdiff.py" apply "$OLD" "$D/p.hdiff" "$D/out.hdiff"
  cmp -s "$D/out.hdiff" "$NEW" || { echo "HDiffPatch apply of $P differs" >&2; exit 1; }
  # zstd --patch-from.
  timed "$D/zstd.gen" zstd -q -f -19 --long=27 --patch-from="$OLD" "$NEW" -o "$D/p.zst"
  timed "$D/zstd.apply" zstd -q -f -d --long=27 --patch-from="$OLD" "$D/p.zst" -o "$D/out.zst"
  cmp -s "$D/out.zst" "$NEW" || { echo "zstd apply of $P differs" >&2; exit 1; }
  K=$(size "$D/p.mar"); B=$(size "$D/p.bsdiff"); H=$(size "$D/p.hdiff"); Z=$(size "$D/p.zst")
  echo "| $P | $(size "$OLD") → $(size "$NEW") | $K | $(fmt "$D/kiln.gen") | $(fmt "$D/kiln.apply") | $B | $(fmt "$D/bsdiff.gen") | $(fmt "$D/bsdiff.apply") | $H | $(fmt "$D/hdiff.gen") | $(fmt "$D/hdiff.apply") | $Z | $(fmt "$D/zstd.gen") | $(fmt "$D/zstd.apply") | $(echo "scale=3; $K / $H" | bc) | $(echo "scale=3; $K / $B" | bc) |"
  rm -rf "$D/install" "$D/out."* "$D/old" "$D/new"
done
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
