#!/usr/bin/env bash
# Regenerates the MAR fixtures in fixtures/data/mar/ with Mozilla's own tool (PyPI `mar==3.2.1`,
# "build-mar") and `openssl`, so that the archives Kiln is tested against come from the real peer.
#
# Usage (from anywhere): scripts/make-mar-fixtures.sh [OUT] [--new-keys]
#   OUT        where to write (default: fixtures/data/mar, the committed set)
#   --new-keys generate fresh RSA test keys with openssl instead of reusing the committed ones
#
# Inputs (committed): fixtures/data/mar/src/ (the small source files), update/install-119.0 and
# update/install-120.0 (the "from" and "to" application trees), update/*.updatev3.manifest.txt
# (the update manifests), keys/ (RSA test keys, NOT secret). Git keeps only the executable bit, so
# every mode is set here explicitly.
#
# With the committed keys every output is byte-identical to the committed file (PKCS#1 v1.5, bzip2
# and xz are deterministic); `mar/tests/it/fixtures.rs` checks that, and that each archive still
# matches the sizes, hashes and `mar -T` listings this script records in OUT/listings.txt.
# The hostile archives in malformed/ are not made here: each is committed with the rule it breaks
# in malformed/NOTES.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
committed="$root/fixtures/data/mar"

out="$committed"
new_keys=0
for arg in "$@"; do
  case "$arg" in
    --new-keys) new_keys=1 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) out="$(realpath -m "$arg")" ;;
  esac
done

venv="$root/target/test-venv"
if ! "$venv/bin/mar" --version 2>/dev/null | grep -q '3\.2\.1'; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'mar==3.2.1'
fi
mar="$venv/bin/mar"
python="$venv/bin/python"
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/update" "$out/keys"

# --- keys -------------------------------------------------------------------------------------
keys="$out/keys"
if [ "$new_keys" = 1 ] || [ ! -f "$committed/keys/rsa4096-private.pem" ]; then
  for bits in 2048 4096; do
    k="$keys/rsa$bits"
    openssl genrsa -traditional -out "$k-private.pem" "$bits" 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$k-private.pem" -outform DER -out "$k-private.pk8.der"
    openssl rsa -in "$k-private.pem" -pubout -out "$k-public.pem" 2>/dev/null
    openssl rsa -in "$k-private.pem" -pubout -outform DER -out "$k-public.der" 2>/dev/null
    openssl req -x509 -new -key "$k-private.pem" -subj "/CN=MAR test key rsa$bits (fixture, NOT SECRET)" \
      -days 36500 -outform DER -out "$k-cert.der"
  done
elif [ "$keys" != "$committed/keys" ]; then
  cp "$committed"/keys/rsa* "$keys/"
fi

# --- sources, with their modes ------------------------------------------------------------------
src="$work/src"
cp -r "$committed/src" "$src"
find "$src" -type d -exec chmod 0755 {} +
find "$src" -type f -exec chmod 0644 {} +
chmod 0755 "$src/firefox"
chmod 0600 "$src/distribution/extensions/test@example.com/sub/inner.js"
hello=(hello.txt defaults/pref/channel-prefs.js)
pib=(-V 120.0 -H firefox-mozilla-release)

m() { "$mar" "$@" >/dev/null; }
m -C "$src" -c "$out/legacy-uncompressed.mar" "${hello[@]}"
m -C "$src" -j -c "$out/legacy-bz2.mar" "${hello[@]}"
m -C "$src" -J -c "$out/legacy-xz.mar" "${hello[@]}"
m -C "$src" -j "${pib[@]}" -c "$out/pib-bz2.mar" "${hello[@]}"
m -C "$src" -J "${pib[@]}" -c "$out/pib-xz.mar" "${hello[@]}"
m -C "$src" -J "${pib[@]}" -k "$keys/rsa4096-private.pem" -c "$out/signed-sha384-xz.mar" "${hello[@]}"
m -C "$src" -j "${pib[@]}" -k "$keys/rsa2048-private.pem" -c "$out/signed-sha1-bz2.mar" "${hello[@]}"
m -C "$src" -J "${pib[@]}" -c "$out/nested-perms-xz.mar" browser/features/blob.bin \
  defaults/pref/channel-prefs.js distribution/extensions/test@example.com/sub/inner.js empty.txt \
  firefox hello.txt update-settings.ini

# Signed externally, as Autograph does: hash with a dummy signature, sign the digest with openssl,
# insert the signature.
m -C "$src" -J "${pib[@]}" -c "$work/tosign.mar" "${hello[@]}"
"$mar" --hash sha384 "$work/tosign.mar" | base64 -d > "$work/digest.bin"
openssl pkeyutl -sign -inkey "$keys/rsa4096-private.pem" -pkeyopt digest:sha384 \
  -in "$work/digest.bin" -out "$work/ext.sig"
m --add-signature "$work/tosign.mar" "$out/signed-external-sha384-xz.mar" "$work/ext.sig"

# Archives with no entries: the CLI refuses them, so the Python API (mardor) writes them.
"$python" - "$out" <<'PY'
import sys
from mardor.writer import MarWriter
out = sys.argv[1]
with open(f"{out}/empty-legacy.mar", "wb") as f:
    with MarWriter(f):
        pass
with open(f"{out}/empty-pib.mar", "wb") as f:
    with MarWriter(f, productversion="120.0", channel="firefox-mozilla-release"):
        pass
PY

# --- the update pair ---------------------------------------------------------------------------
# Trees as make_full_update.sh / make_incremental_update.sh would stage them: modes normalised to
# 0755 (executables) / 0644, the manifest text as `updatev3.manifest`, every entry xz-compressed.
stage() { # stage FROM_TREE DEST
  cp -r "$1" "$2"
  find "$2" -type d -exec chmod 0755 {} +
  find "$2" -type f -exec chmod 0644 {} +
  chmod 0755 "$2/firefox"
  [ ! -f "$2/libxul.so" ] || chmod 0755 "$2/libxul.so"
}
if [ "$out" != "$committed" ]; then
  cp -r "$committed/update/install-119.0" "$committed/update/install-120.0" "$out/update/"
  cp "$committed"/update/*.updatev3.manifest.txt "$out/update/"
fi
signed_update=(-J "${pib[@]}" -k "$keys/rsa4096-private.pem")

stage "$committed/update/install-120.0" "$work/complete"
cp "$committed/update/complete.updatev3.manifest.txt" "$work/complete/updatev3.manifest"
m "${signed_update[@]}" -C "$work/complete" -c "$out/update/firefox-120.0.complete.mar" \
  updatev3.manifest update-settings.ini unchanged.txt removed-files precomplete libxul.so firefox \
  defaults/pref/channel-prefs.js browser/omni.ja browser/features/new-addon.xpi application.ini

stage "$committed/update/install-120.0" "$work/partial"
cp "$committed/update/partial.updatev3.manifest.txt" "$work/partial/updatev3.manifest"
rm "$work/partial/unchanged.txt"
# A minimal MBDIFF10 writer (not Mozilla's mbsdiff): one control tuple covering the whole file,
# the byte-wise difference as diff data and the target's tail as extra data.
"$python" - "$committed/update/install-119.0/libxul.so" "$work/partial/libxul.so" \
  "$work/partial/libxul.so.patch" <<'PY'
import struct, sys
old = open(sys.argv[1], "rb").read()
new = open(sys.argv[2], "rb").read()

def crc32_bzip2(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc ^ 0xFFFFFFFF

common = min(len(old), len(new))
control = struct.pack(">3I", common, len(new) - common, 0)
diff = bytes((new[i] - old[i]) & 0xFF for i in range(common))
extra = new[common:]
header = b"MBDIFF10" + struct.pack(">6I", len(old), crc32_bzip2(old), len(new), len(control),
                                   len(diff), len(extra))
open(sys.argv[3], "wb").write(header + control + diff + extra)
PY
rm "$work/partial/libxul.so"
chmod 0755 "$work/partial/libxul.so.patch"
m "${signed_update[@]}" -C "$work/partial" -c "$out/update/firefox-119.0-120.0.partial.mar" \
  updatev3.manifest update-settings.ini precomplete libxul.so.patch firefox \
  defaults/pref/channel-prefs.js browser/omni.ja application.ini removed-files \
  browser/features/new-addon.xpi

# --- what the script describes: name, size, SHA-256 and Mozilla's own listing ---------------------
(
  cd "$out"
  echo "# Written by scripts/make-mar-fixtures.sh: for each archive, its size, SHA-256 and \`mar -T\`."
  for f in *.mar update/*.mar; do
    echo
    echo "## $f $(stat -c %s "$f") $(sha256sum "$f" | cut -d' ' -f1)"
    "$mar" -T "$f" | sed 's/[[:space:]]*$//'
  done
) > "$out/listings.txt"
echo "==> MAR fixtures written to $out"
