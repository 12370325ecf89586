//! Notices (go-to-build, candidates ready, ship request, shipped, stop) as RFC 5322 messages
//! built with `mail-builder`, written to the outbox directory and summarised on stdout.

use std::path::{Path, PathBuf};

use mail_builder::MessageBuilder;

use crate::release::config::Config;

/// A notice to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Short kind, part of the file name (`go-to-build`, `candidates`, `ship`, `shipped`, `halt`).
    pub kind: &'static str,
    /// Release name.
    pub release: String,
    /// Subject (the `[release] ` prefix is added).
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Writes `notice` as `<outbox>/<unix-time>-<release>-<kind>.eml`, prints its subject, and
/// returns the file.
pub fn send(config: &Config, notice: &Notice) -> anyhow::Result<PathBuf> {
    let now = crate::release::state::now();
    let subject = format!("[release] {}", notice.subject);
    let message = MessageBuilder::new()
        .from(address(&config.notices.from))
        .to(address(&config.notices.to))
        .subject(subject.as_str())
        .date(now)
        .message_id(format!(
            "{now}.{}.{}@kiln.invalid",
            notice.release, notice.kind
        ))
        .header(
            "X-Kiln-Release",
            mail_builder::headers::raw::Raw::new(notice.release.as_str()),
        )
        .text_body(notice.body.as_str())
        .write_to_vec()?;
    std::fs::create_dir_all(&config.outbox)?;
    let path = unique(
        &config.outbox,
        &format!("{now}-{}-{}", notice.release, notice.kind),
    );
    std::fs::write(&path, message)?;
    println!("notice: {subject} → {}", path.display());
    tracing::info!(release = %notice.release, kind = notice.kind, path = %path.display(), "notice");
    Ok(path)
}

/// `Name <user@host>` or `user@host` as a mail-builder address.
fn address(text: &str) -> mail_builder::headers::address::Address<'_> {
    match text
        .trim()
        .strip_suffix('>')
        .and_then(|t| t.split_once('<'))
    {
        Some((name, email)) => (name.trim(), email.trim()).into(),
        None => text.trim().into(),
    }
}

fn unique(dir: &Path, stem: &str) -> PathBuf {
    let mut path = dir.join(format!("{stem}.eml"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{stem}-{n}.eml"));
    }
    path
}
