//! The release coordinator against real processes on loopback: the `kiln` binary, the real
//! update server (in-process, over HTTP), a static file server, real git and real gpg. Each
//! test is named after its scenario in `docs/release-process.md` Part C. Two stories run once per
//! test process (see `story`): the main train (119.0 → 120.0 → 121.0 shipped at 25 %) and the
//! respin + chemspill train; scenario tests assert what those stories observed and left.

/// The shared stories and helpers.
mod story;

/// Scenarios 1–12 and 20–25.
mod scenarios;

/// Resumability: kill -9 during construct and package, failing chunks.
mod resume;

/// The release matrix: every platform, Firefox-format MARs, respin, kill -9, chemspill.
mod matrix;

/// `kiln quickstart` end to end, with the client updater.
mod quickstart;

/// A second product: its builds, configure's refusal of another product's, one shared server.
mod products;

/// `[platforms]` restricts what a release builds, packages, checksums and ships.
mod platforms;

/// Release lines: a beta line with its release candidate on beta, an ESR line.
mod lines;

/// Authenticode in the pipeline: certify fails a Windows build with a PE file the release did
/// not sign, and a rerun after the fix redoes only that build.
mod windows;

/// The workers executor on PostgreSQL: three workers make what one process makes; killed
/// workers, a killed coordinator and a restarted database cost no item twice.
mod workers;

/// Hosts that share only PostgreSQL and an S3-compatible bucket (moto's server): same bytes as
/// one process, push as copies inside the bucket, a faulty bucket survived.
mod s3;

/// A worker cut off from PostgreSQL mid-unit: its lease ends, another worker redoes the unit, its
/// late result is refused.
mod workers_network;
