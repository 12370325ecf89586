//! The per-release log file `<root>/logs/<release>.log`: a `tracing` writer that the `kiln`
//! binary installs once and a release command points at its release's file.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Appends from now on to `<root>/logs/<release>.log` (created if missing).
pub fn open(root: &Path, release: &str) -> std::io::Result<()> {
    let path = path(root, release);
    std::fs::create_dir_all(root.join("logs"))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// The release's log file: `<root>/logs/<release>.log`.
pub fn path(root: &Path, release: &str) -> std::path::PathBuf {
    root.join("logs").join(format!("{release}.log"))
}

/// A `tracing_subscriber` writer into the current release's log (a sink before [`open`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReleaseLog;

impl Write for ReleaseLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.write_all(buf).map(|()| buf.len()),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ReleaseLog {
    type Writer = ReleaseLog;

    fn make_writer(&'a self) -> ReleaseLog {
        ReleaseLog
    }
}
