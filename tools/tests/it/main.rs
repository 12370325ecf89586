//! Integration tests of the `kiln` binary and its signing library (one integration binary,
//! grouped by topic).

/// `kiln fixtures/keys/repack/checksums/verify` end to end, ed25519 signatures, SUMS format.
mod cli;
/// OpenPGP: stock gpg verification, tampering, signing-subkey rotation.
mod openpgp;
/// Running the binary and the shared signed build directory.
mod util;
