//! Where a release's files go (`docs/release-process.md` Part A): `candidates/V-candidates/buildN/` and
//! `releases/V/` under the root, and the work directory's per-release scratch space.

use std::path::{Path, PathBuf};

use crate::release::config::Config;
use crate::release::name::{ReleaseName, Version};

/// The candidates directory of a build.
pub fn candidates(config: &Config, name: &ReleaseName) -> PathBuf {
    config
        .root
        .join("candidates")
        .join(format!("{}-candidates", name.version()))
        .join(format!("build{}", name.build()))
}

/// The releases directory of a version.
pub fn releases(config: &Config, version: &Version) -> PathBuf {
    config.root.join("releases").join(version.as_str())
}

/// A path relative to the root, as a URL path.
pub fn url_path(config: &Config, path: &Path) -> String {
    path.strip_prefix(&config.root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The release's scratch directory (injected en-US builds, unpacked trees).
pub fn work(config: &Config, name: &ReleaseName) -> PathBuf {
    config.work_dir.join(name.to_string())
}

/// The diff cache shared by every partial of every release.
pub fn diff_cache(config: &Config) -> PathBuf {
    config.work_dir.join("diff-cache")
}

/// `update/<platform>/<locale>/<product>-V.complete.mar`.
pub fn complete_mar(config: &Config, platform: &str, locale: &str, version: &Version) -> PathBuf {
    Path::new("update")
        .join(platform)
        .join(locale)
        .join(format!("{}-{version}.complete.mar", config.file_prefix()))
}

/// `update/<platform>/<locale>/<product>-FROM-V.partial.mar`.
pub fn partial_mar(
    config: &Config,
    platform: &str,
    locale: &str,
    from: &Version,
    version: &Version,
) -> PathBuf {
    Path::new("update")
        .join(platform)
        .join(locale)
        .join(format!(
            "{}-{from}-{version}.partial.mar",
            config.file_prefix()
        ))
}
