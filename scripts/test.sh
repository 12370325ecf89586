#!/usr/bin/env bash
# Kiln's test command (README): installs what the tests need on a fresh Debian machine, idempotently,
# then runs the format check, clippy and the whole test suite.
#
# Installs:
#   - Debian: gnupg (stock `gpg` verifies our OpenPGP signatures), xz-utils, zstd, openssl (verifies
#     the update server's Content-Signature independently), osslsigncode (verifies Authenticode
#     signatures and the PE fixtures), binutils (`objdump -p`) and file (read the PE fixtures);
#   - a Python venv under target/test-venv with Mozilla's build-mar (PyPI `mar==3.2.1`),
#     Mozilla's version-number library (PyPI `mozilla-version==5.1.0`) and moto's S3 server (PyPI
#     `moto[server]==5.2.6`), the S3-compatible endpoint the pipeline's object-store tests start.
#   - Debian: postgresql, unless KILN_TEST_POSTGRES_URL names a server already; a throwaway cluster
#     then runs under target/test-postgres for the length of the run (scripts/test-postgres.sh).
# Exports KILN_PYTHON_MAR (Mozilla's `mar` CLI) for the interop tests, KILN_TEST_S3_SERVER (moto's
# `moto_server`) for the object-store tests, KILN_TEST_POSTGRES_URL for
# the update server's PostgreSQL tests and KILN_TEST_POSTGRES_CTL (stops/starts that server for
# the stop/start fault test). If PostgreSQL cannot start, the run fails here and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

need_apt=()
command -v gpg >/dev/null 2>&1 || need_apt+=(gnupg)
command -v xz >/dev/null 2>&1 || need_apt+=(xz-utils)
command -v zstd >/dev/null 2>&1 || need_apt+=(zstd)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v osslsigncode >/dev/null 2>&1 || need_apt+=(osslsigncode)
command -v objdump >/dev/null 2>&1 || need_apt+=(binutils)
command -v file >/dev/null 2>&1 || need_apt+=(file)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv="$root/target/test-venv"
if ! "$venv/bin/mar" --version 2>/dev/null | grep -q '3\.2\.1'; then
  echo "==> Python venv with mar==3.2.1 in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'mar==3.2.1'
fi
if ! "$venv/bin/pip" show mozilla-version 2>/dev/null | grep -q '^Version: 5\.1\.0$'; then
  echo "==> mozilla-version==5.1.0 (the reference for version ordering) in $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'mozilla-version==5.1.0'
fi
if ! "$venv/bin/pip" show moto 2>/dev/null | grep -q '^Version: 5.2.6$'; then
  echo "==> moto[server]==5.2.6 (an S3-compatible server for the object-store tests) in $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.6'
fi
export KILN_PYTHON_MAR="$venv/bin/mar"
export KILN_TEST_S3_SERVER="$venv/bin/moto_server"

if [ -z "${KILN_TEST_POSTGRES_URL:-}" ]; then
  echo "==> throwaway PostgreSQL cluster in target/test-postgres"
  KILN_TEST_POSTGRES_URL="$(scripts/test-postgres.sh start)"
  trap 'scripts/test-postgres.sh stop' EXIT
  export KILN_TEST_POSTGRES_CTL="$root/scripts/test-postgres.sh"
fi
export KILN_TEST_POSTGRES_URL

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo check of the fuzz targets (their own workspaces; cargo fuzz runs them)"
for fuzz in mar/fuzz updater-server/fuzz client-updater/fuzz tools/fuzz; do
  cargo check --quiet --manifest-path "$fuzz/Cargo.toml" --target-dir target/fuzz-check --bins
done
echo "==> cargo test"
cargo test --workspace --locked
