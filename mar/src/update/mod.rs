//! Update packages: complete and partial update MARs, the diff cache, and the applier.
//!
//! Kiln follows Mozilla's update packaging (`docs/mar-format.md` B2–B3) and documents its own additions
//! in `docs/update-packages.md`:
//! - [`manifest`]: the `updatev3.manifest` parser and writer; [`precomplete`]: `precomplete`
//!   generation and `removed-files`; [`version`]: Mozilla's version ordering.
//! - [`patch`]: Kiln's patch entry (a header with source and target length + SHA-256 in front of
//!   bidiff's controls; [`sections`]: the body Kiln writes, with `x86` displacement prediction
//!   for code); [`mbdiff`]: Mozilla's MBDIFF10 patches, so Mozilla-made partials apply.
//! - [`layout`]: where an install keeps its resources (`Contents/Resources/` in a mac bundle).
//! - [`apply`](mod@apply): the client side. It takes a [`VerifiedMar`](crate::VerifiedMar), checks
//!   channel and version before touching anything, and is transactional and crash-safe through a
//!   journal ([`recover`]).
//! - `generate` and `cache` (feature `generate`, server side only): complete and partial MARs
//!   from trees or complete MARs, and the content-addressed, self-verifying diff cache.
//!
//! Architecture invariant: with default features (without `generate`), this module pulls neither
//! rayon nor bidiff's diff side; applying needs only `bipatch`.

pub mod apply;
#[cfg(feature = "generate")]
pub mod cache;
#[cfg(feature = "generate")]
pub mod generate;
pub mod layout;
pub mod manifest;
pub mod mbdiff;
pub mod patch;
pub mod precomplete;
pub mod sections;
pub mod version;
mod x86;

pub use apply::{apply, recover, verify_update, ApplyError, ApplyOptions, ApplySummary, Recovery};
pub use layout::{check_install_root, resource_entry, resources_dir, InstallRootError};
pub use manifest::{DirPath, Instruction, Manifest, ManifestError, ManifestErrorKind, UpdateKind};
pub use version::compare_versions;
