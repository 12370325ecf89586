//! Whether a command is working on a release right now, so that `kiln status` can tell a stage
//! that is running from one whose process died (`kill -9`, a crash, a lost machine).
//!
//! Every command that starts stages (promote, push, ship) holds a shared advisory lock on
//! `<work_dir>/<release>/activity.lock` while it runs; the operating system drops it when the
//! process dies, however it dies. Chunked promotes (`--chunk K/N`) share it. `status` asks for
//! the exclusive lock without waiting: if it gets it, nobody is working on the release.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use crate::release::config::Config;
use crate::release::layout;
use crate::release::name::ReleaseName;

/// A held shared lock: the release is being worked on until this is dropped.
#[derive(Debug)]
pub struct Active {
    _file: File,
}

fn lock_path(config: &Config, name: &ReleaseName) -> PathBuf {
    layout::work(config, name).join("activity.lock")
}

fn open(config: &Config, name: &ReleaseName) -> std::io::Result<File> {
    let path = lock_path(config, name);
    std::fs::create_dir_all(path.parent().expect("inside the work directory"))?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Marks `name` as worked on by this process until the returned guard is dropped.
pub fn begin(config: &Config, name: &ReleaseName) -> std::io::Result<Active> {
    let file = open(config, name)?;
    file.lock_shared()?;
    Ok(Active { _file: file })
}

/// Whether no process is working on `name` now.
pub fn is_idle(config: &Config, name: &ReleaseName) -> bool {
    let Ok(file) = open(config, name) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => true,
        Err(TryLockError::WouldBlock) => false,
        Err(TryLockError::Error(e)) => {
            tracing::warn!(release = %name, "cannot tell whether the release is being worked on: {e}");
            false
        }
    }
}
