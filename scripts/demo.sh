#!/usr/bin/env bash
# Kiln's main job, end to end, on embedded defaults (local directories, SQLite, loopback):
#   build kiln (release), then `kiln quickstart`, which in target/quickstart/
#   1. generates synthetic builds 119.0, 120.0, 121.0 and 121.0.1 with a git repository,
#   2. makes release keys and starts the update server and a static file server (the CDN),
#   3. for each version: go-to-build → promote → push → ship → two signoffs,
#   4. ships the 121.0.1 chemspill unthrottled,
#   5. after each ship, updates a 119.0 client install with the client updater library (partials,
#      and once the fallback to the complete), and prints where everything is.
# Extra arguments go to `kiln quickstart` (e.g. --serve to keep the servers running).
set -euo pipefail
cd "$(dirname "$0")/.."
printf '==> cargo build --release -p kiln-tools\n'
cargo build --release --locked -p kiln-tools
exec "${CARGO_TARGET_DIR:-target}/release/kiln" quickstart --dir target/quickstart "$@"
