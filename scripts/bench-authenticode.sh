#!/usr/bin/env bash
# Authenticode signing cost: Kiln's signer (`kiln sign --authenticode`, release build) against
# `osslsigncode sign` on the same win64 PE files with the same key (ECDSA P-256, SHA-256,
# the chain embedded), in the same run, timed by hyperfine. Each timed command starts from the
# unsigned files, which both read from the same fresh copy (hyperfine --prepare).
#   per file:    one process signing one file: firefox.exe (small) and xul.dll (the library)
#   per release: every .exe and .dll of the en-US win64 build, what configure signs once per
#                release — Kiln in one process (rayon, all cores, and RAYON_NUM_THREADS=1),
#                osslsigncode once per file (one at a time, and two at a time with xargs -P 2)
# Usage: scripts/bench-authenticode.sh [small|large] [WORK]   (default: small, target/bench-authenticode)
# Needs hyperfine and osslsigncode (Debian packages) and unzip.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-small}
work=$(realpath -m "${2:-target/bench-authenticode}")
cargo build --release -p kiln-tools
kiln=$PWD/target/release/kiln
rm -rf "$work"
mkdir -p "$work/unsigned"
"$kiln" fixtures --out "$work/fx" --size "$size" --versions 121.0 --locales fr >/dev/null
"$kiln" keys generate --out "$work/keys" >/dev/null
unzip -q -j "$work/fx/builds/121.0/win64/en-US/firefox-121.0.zip" '*.exe' '*.dll' -d "$work/unsigned"
cert=$work/keys/authenticode.pem
key=$work/keys/authenticode.key
echo "win64 en-US PE files ($size):"
ls -l "$work/unsigned" | awk 'NR > 1 { printf "  %-24s %10d bytes\n", $9, $5 }'
fresh="rm -rf $work/k $work/o && cp -r $work/unsigned $work/k && mkdir $work/o"
ossl="osslsigncode sign -certs $cert -key $key -h sha256"
run() { hyperfine --style basic --warmup 2 --min-runs 20 --prepare "$fresh" "$@"; }

for file in firefox.exe xul.dll; do
  run --export-markdown "$work/per-file-$file.md" \
    -n "kiln $file" "$kiln sign --authenticode $work/k/$file --cert $cert --key $key" \
    -n "osslsigncode $file" "$ossl -in $work/k/$file -out $work/o/$file"
done

files=$(cd "$work/unsigned" && ls | tr "\n" " ")
run --export-markdown "$work/per-release.md" \
  -n "kiln, all cores" "$kiln sign --authenticode $work/k/* --cert $cert --key $key" \
  -n "kiln, 1 thread" "RAYON_NUM_THREADS=1 $kiln sign --authenticode $work/k/* --cert $cert --key $key" \
  -n "osslsigncode, one at a time" \
  "for f in $files; do $ossl -in $work/k/\$f -out $work/o/\$f >/dev/null; done" \
  -n "osslsigncode, xargs -P 2" \
  "cd $work/k && ls | xargs -P 2 -I{} $ossl -in {} -out $work/o/{} >/dev/null"

# The signatures are good: osslsigncode verifies every file Kiln signs.
eval "$fresh"
"$kiln" sign --authenticode "$work"/k/* --cert "$cert" --key "$key" >/dev/null
for f in $files; do
  osslsigncode verify -CAfile "$work/keys/authenticode-ca.pem" -in "$work/k/$f" >/dev/null
done
echo "all $(echo "$files" | wc -w) Kiln-signed files verify with osslsigncode"
cat "$work"/per-file-*.md "$work/per-release.md"
