//! Integration tests of the `kiln` binary and its library (one integration binary,
//! grouped by topic).

/// Authenticode on the win64 PE files, against osslsigncode; the PE reader on malformed images.
mod authenticode;
/// `kiln fixtures/keys/repack/checksums/verify` end to end, ed25519 signatures, SUMS format.
mod cli;
/// OpenPGP: stock gpg verification, tampering, signing-subkey rotation.
mod openpgp;
/// The release coordinator: Part C scenarios and resumability, against real servers.
mod release;
/// RFC 3161 timestamps on Authenticode signatures, against a local OpenSSL TSA.
mod timestamp;
/// Running the binary and the shared signed build directory.
mod util;
