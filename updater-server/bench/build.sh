# Sourced by run.sh and profile.sh: from the workspace root, builds the release server and the
# bench example, and sets `bin` (their folder) and `out` (a new folder for this run's files).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p updater-server --bins --examples
bin="$target/release"
out="$(mktemp -d "/tmp/kiln-$1.XXXXXX")"
