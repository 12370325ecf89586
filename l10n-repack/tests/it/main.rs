//! Integration tests of the repack engine, on small generated fixtures (one integration binary,
//! grouped by topic).

/// Hostile inputs: each one fails with a typed error and leaves no output file.
mod hostile;
/// Locale repack contents: only localized files differ, precomplete, the ja/ja-JP-mac split.
mod locale;
/// Partner repacks: paths and contents as in scenario 20, off-cycle respins (scenario 21).
mod partners;
/// Repacks restricted to some platforms.
mod platforms;
/// Byte-identical outputs across runs, thread counts and chunkings; chunk coverage.
mod reproducible;
/// Atomic outputs and resumable reruns.
mod resume;
/// Shared fixtures, runs and archive readers.
mod util;
