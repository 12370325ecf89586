#!/usr/bin/env bash
# Kiln's main job, end to end, on embedded defaults (local directories, SQLite):
#   1. synthetic product builds 120.0 and 121.0 (kiln fixtures)
#   2. release keys: Ed25519 + OpenPGP (kiln keys generate)
#   3. locale + partner repacks of both versions, every archive signed (kiln repack)
#   4. SHA256SUMS/SHA512SUMS with OpenPGP signatures, checked with stock gpg (kiln checksums/verify)
#   5. complete and partial update MARs for linux-x86_64/de, signed (mar update complete/partial)
#   6. the partial applied to the 120.0 install, which then equals 121.0 (mar update apply)
#   7. the update server on SQLite offers the update to a 120.0 client (updater-server)
# Everything lands in target/demo/. Needs cargo and curl; gpg and sha256sum, when present, check step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$root/target/demo"
port="${KILN_DEMO_PORT:-18080}"
step() { printf '\n==> %s\n' "$*"; }

step "cargo build --release (mar, kiln, updater-server)"
cargo build --release --locked -p mar -p kiln-tools -p updater-server
bin="${CARGO_TARGET_DIR:-$root/target}/release"
mar="$bin/mar" kiln="$bin/kiln" server="$bin/updater-server"

rm -rf "$work" && mkdir -p "$work"
cd "$work"

step "kiln fixtures: synthetic builds 120.0 and 121.0, locales, partners"
"$kiln" fixtures --out fx --versions 120.0,121.0

step "kiln keys generate"
"$kiln" keys generate --out keys

step "kiln repack: every locale and partner of 120.0 and 121.0, signed"
"$kiln" repack --fixtures fx --version 120.0 --out build-120.0 --sign-key keys/ed25519.key
"$kiln" repack --fixtures fx --version 121.0 --out build-121.0 --sign-key keys/ed25519.key

step "kiln checksums + kiln verify (121.0)"
"$kiln" checksums --dir build-121.0 --pgp-key keys/openpgp.key
"$kiln" verify --dir build-121.0 --key keys/ed25519.pub
if command -v gpg >/dev/null; then
  export GNUPGHOME="$work/gnupg" && mkdir -m 700 -p "$GNUPGHOME"
  gpg --quiet --import build-121.0/KEY
  gpg --verify build-121.0/SHA512SUMS.asc build-121.0/SHA512SUMS
  (cd build-121.0 && sha256sum --quiet -c SHA256SUMS) && echo "stock gpg and sha256sum agree"
fi

step "mar update complete + partial (linux-x86_64, de, 120.0 -> 121.0)"
for v in 120.0 121.0; do
  mkdir -p "install-$v" && tar -xJf "build-$v/linux-x86_64/de/firefox-$v.tar.xz" -C "install-$v"
done
channel=firefox-mozilla-release
"$mar" update complete --dir install-121.0/firefox -o firefox-121.0.de.complete.mar \
  -H "$channel" -V 121.0 --sign-key keys/ed25519.key
"$mar" update partial --from install-120.0/firefox --to install-121.0/firefox \
  -o firefox-120.0-121.0.de.partial.mar -H "$channel" -V 121.0 --sign-key keys/ed25519.key \
  --cache diff-cache
ls -l firefox-121.0.de.complete.mar firefox-120.0-121.0.de.partial.mar

step "mar update apply: the partial turns the 120.0 install into 121.0"
cp -a install-120.0 client
"$mar" update apply client/firefox firefox-120.0-121.0.de.partial.mar --key keys/ed25519.pub
diff -r client/firefox install-121.0/firefox && echo "client install equals the 121.0 build"

step "updater-server on SQLite: offer 121.0 to a 120.0 client"
cat > server.toml <<TOML
listen = "127.0.0.1:$port"
database = "$work/kiln-updates.db"
[client]
allowlisted_domains = { "download.kiln.invalid" = ["Firefox"] }
TOML
"$server" user add releng --admin --db kiln-updates.db
token=$("$server" token create --user releng --db kiln-updates.db)
"$server" serve --config server.toml > server.log 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/__lbheartbeat__" >/dev/null 2>&1 && break; sleep 0.1; done
build120=$(sed -n 's/^BuildID=//p' install-120.0/firefox/application.ini)
build121=$(sed -n 's/^BuildID=//p' install-121.0/firefox/application.ini)
complete_sha=$(sha512sum firefox-121.0.de.complete.mar | cut -d' ' -f1)
partial_sha=$(sha512sum firefox-120.0-121.0.de.partial.mar | cut -d' ' -f1)
cat > release.json <<JSON
{"product": "Firefox", "blob": {
  "name": "Firefox-121.0-build1", "schema_version": 9, "hashFunction": "sha512",
  "appVersion": "121.0", "displayVersion": "121.0",
  "updateLine": [{"for": {}, "fields": {"type": "minor", "detailsURL": "https://www.kiln.invalid/%LOCALE%/121.0/releasenotes/"}}],
  "fileUrls": {"*": {
    "completes": {"*": "https://download.kiln.invalid/firefox-121.0.%LOCALE%.complete.mar"},
    "partials": {"Firefox-120.0-build1": "https://download.kiln.invalid/firefox-120.0-121.0.%LOCALE%.partial.mar"}}},
  "platforms": {"Linux_x86_64-gcc3": {"buildID": "$build121", "locales": {"de": {
    "completes": [{"from": "*", "filesize": $(stat -c %s firefox-121.0.de.complete.mar), "hashValue": "$complete_sha"}],
    "partials": [{"from": "Firefox-120.0-build1", "filesize": $(stat -c %s firefox-120.0-121.0.de.partial.mar), "hashValue": "$partial_sha"}]}}}}}}
JSON
cat > release-120.json <<JSON
{"product": "Firefox", "blob": {"name": "Firefox-120.0-build1", "schema_version": 9, "hashFunction": "sha512",
  "appVersion": "120.0", "displayVersion": "120.0",
  "platforms": {"Linux_x86_64-gcc3": {"buildID": "$build120", "locales": {"de": {}}}}}}
JSON
api() { curl -fsS -X "$1" "http://127.0.0.1:$port/api/v1/$2" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "@$3"; echo; }
api PUT releases/Firefox-120.0-build1 release-120.json
api PUT releases/Firefox-121.0-build1 release.json
echo '{"product": "Firefox", "channel": "release", "mapping": "Firefox-121.0-build1", "priority": 100, "backgroundRate": 100, "update_type": "minor"}' > rule.json
api POST rules rule.json
curl -fsS "http://127.0.0.1:$port/update/6/Firefox/120.0/$build120/Linux_x86_64-gcc3/de/release/Linux%206.1/ISET:SSE4_2,MEM:16384/default/default/update.xml" | tee update.xml
grep -q 'type="partial"' update.xml && grep -q 'type="complete"' update.xml
step "done: every step of the main job ran for real; outputs are in $work"
