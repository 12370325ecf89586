//! The product's git repository, through the git CLI: build and release tags and the changelog
//! range of a notice.

use std::path::Path;
use std::process::Command;

/// A git failure.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be run.
    #[error("cannot run git (is it installed?): {0}")]
    Spawn(std::io::Error),
    /// git failed.
    #[error("git {args}: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What git said.
        stderr: String,
    },
}

/// Runs git in `repo`; returns trimmed stdout.
pub fn git(repo: &Path, args: &[&str]) -> Result<String, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(GitError::Spawn)?;
    if !output.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The full commit id of `revision`.
pub fn resolve(repo: &Path, revision: &str) -> Result<String, GitError> {
    git(
        repo,
        &["rev-parse", "--verify", &format!("{revision}^{{commit}}")],
    )
}

/// Whether `tag` exists.
pub fn has_tag(repo: &Path, tag: &str) -> bool {
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/tags/{tag}"),
        ],
    )
    .is_ok()
}

/// Creates annotated tag `tag` at `revision`; an existing tag at the same commit is kept, one at
/// another commit is an error (tags are never moved).
pub fn tag(repo: &Path, tag: &str, revision: &str, message: &str) -> Result<(), GitError> {
    let commit = resolve(repo, revision)?;
    if has_tag(repo, tag) {
        let existing = resolve(repo, tag)?;
        if existing == commit {
            return Ok(());
        }
        return Err(GitError::Failed {
            args: format!("tag {tag}"),
            stderr: format!("{tag} already points at {existing}, not {commit}"),
        });
    }
    git(
        repo,
        &[
            "-c",
            "user.name=Kiln",
            "-c",
            "user.email=kiln@kiln.invalid",
            "tag",
            "-a",
            tag,
            &commit,
            "-m",
            message,
        ],
    )?;
    Ok(())
}

/// One-line summaries of the commits in `from..to`.
pub fn log(repo: &Path, from: &str, to: &str) -> Result<Vec<String>, GitError> {
    let text = git(repo, &["log", "--format=%h %s", &format!("{from}..{to}")])?;
    Ok(text.lines().map(str::to_owned).collect())
}
