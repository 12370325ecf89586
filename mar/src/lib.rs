//! Mozilla ARchive (MAR) support for Kiln: read, write, sign, verify and extract.
//!
//! Kiln reads and writes Mozilla's **current MAR layout byte for byte** (and reads the legacy,
//! pre-signing layout), so Mozilla's tools list and verify Kiln archives and Kiln reads theirs.
//! On top of the container, Kiln's profile (`docs/mar-format.md` Part A) adds zstd entries and an
//! Ed25519ph signature (algorithm id `0x45443235`, `ED25`, context `kiln-mar-v1`); Mozilla's RSA
//! PKCS#1 v1.5 signatures are verified (ids 1 and 2) and written (id 2) so Firefox's own updater
//! can accept a Kiln MAR. ECDSA ids 3/4 are reported as unknown.
//!
//! The principal types:
//! - [`Mar`]: a parsed, **unverified** archive over any `Read + Seek`. Opening enforces every
//!   structural rule under explicit [`Limits`]; entry bytes are streamed on demand, never loaded
//!   whole.
//! - [`Verifier`] → [`VerifiedMar`]: the only way to get a verified archive; code that installs
//!   or ships contents takes `VerifiedMar`.
//! - [`MarBuilder`]: deterministic writer (current layout, PIB first), signing at the end.
//! - [`extract_all`]: safe extraction (no escapes, no symlink following, modes masked,
//!   nothing left behind on error).
//!
//! One design decision: signing reserves fixed-length signature slots in the header, writes the
//! archive, hashes it once and fills the slots, because every signature covers the header
//! including all signature lengths (`docs/mar-format.md` B1.3). Adding a signature to a signed archive would
//! invalidate the others, so it is refused ([`Error::AlreadySigned`]).
//!
//! ```
//! use mar::{EntryPath, Mar, MarBuilder, ProductInfo, Verifier, keys::SigningKey};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir().unwrap();
//! let key = SigningKey::generate_ed25519();
//! let mut builder = MarBuilder::new();
//! builder
//!     .product_info(ProductInfo::new("kiln-release", "120.0")?)
//!     .sign_with(key.clone());
//! builder.add_bytes(EntryPath::new("hello.txt")?, 0o644, b"hello".to_vec())?;
//! builder.write(&dir.path().join("a.mar"))?;
//!
//! let mar = Mar::open(std::fs::File::open(dir.path().join("a.mar"))?)?;
//! let mut verified = Verifier::new(vec![key.public_key()]).verify(mar)?;
//! assert_eq!(verified.archive_mut().read_entry_to_vec("hello.txt")?, b"hello");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod compression;
mod entry_path;
mod error;
mod extract;
pub mod keys;
mod limits;
mod product_info;
mod reader;
mod signature;
pub mod update;
mod verify;
mod writer;

pub use compression::{Compression, StoredFormat};
pub use entry_path::{EntryPath, EntryPathError};
pub use error::{Error, Result};
pub use extract::{extract_all, ExtractMode, ExtractSummary};
pub use limits::Limits;
pub use product_info::{ProductInfo, ProductInfoError, MAX_CHANNEL_LEN, MAX_VERSION_LEN};
pub use reader::{AdditionalBlock, Entry, Layout, Mar, MAGIC};
pub use signature::{Signature, SignatureAlgorithm, ED25519_CONTEXT};
pub use verify::{SignatureOutcome, VerificationReport, VerifiedMar, Verifier};
pub use writer::{sign_archive, MarBuilder, ProgressFn, WriteSummary};
