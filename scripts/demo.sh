#!/usr/bin/env bash
# Kiln's main job on embedded defaults (local directories only): builds the tools, then runs a
# real MAR round trip on a sample install tree: keygen -> create (zstd, PIB, Ed25519 + RSA
# signatures) -> verify -> list -> extract -> compare with the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$root/target/demo"
src="$root/../shared/fixtures/mar/update/install-120.0"

echo "==> cargo build --release -p mar"
cargo build --release --locked -p mar
mar="$root/target/release/mar"

rm -rf "$work" && mkdir -p "$work"
echo "==> mar keygen"
"$mar" keygen -o "$work/release"
echo "==> mar create (zstd, channel kiln-release, version 120.0, Ed25519 + RSA-4096 signatures)"
"$mar" create -o "$work/complete.mar" -C "$src" -H kiln-release -V 120.0 \
  --sign-key "$work/release.key" \
  --sign-key "$root/../shared/fixtures/mar/keys/rsa4096-private.pem" .
echo "==> mar verify (both keys required)"
"$mar" verify "$work/complete.mar" --threshold 2 \
  --key "$work/release.pub" --key "$root/../shared/fixtures/mar/keys/rsa4096-public.pem"
echo "==> mar list"
"$mar" list "$work/complete.mar"
echo "==> mar extract"
"$mar" extract "$work/complete.mar" -C "$work/extracted"
diff -r "$src" "$work/extracted"
echo "==> round trip OK: $work/extracted equals $src"
