//! Rewriting `omni.ja` for a locale: the en-US chrome locale entries are replaced by the
//! locale's, its Fluent `localization/<locale>/` entries are added (en-US stays as the runtime
//! fallback, as in Mozilla's `l10n-repack.py`), `chrome.manifest` points its `locale` lines at the
//! new locale, and `META-INF/` signatures are dropped. Every other entry is copied raw (its
//! compressed bytes, unchanged).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use crate::archive::zip_options;
use crate::tree::check_entry_name;
use crate::{Locale, RepackError};

enum Source {
    Raw(usize),
    New(Vec<u8>),
}

/// `chrome.manifest` with its en-US `locale` registrations moved to `locale`.
fn rewrite_manifest(text: &str, locale: &Locale) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() >= 4 && tokens[0] == "locale" && tokens[2] == "en-US" {
            let path = tokens[3].replace("/en-US/", &format!("/{locale}/"));
            let mut new = vec![tokens[0], tokens[1], locale.as_str(), &path];
            new.extend_from_slice(&tokens[4..]);
            out.push_str(&new.join(" "));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The localized `omni.ja` for `locale`, from the en-US one (`base`, read from `what`) and the
/// locale's omni entries.
pub(crate) fn localize(
    base: &[u8],
    locale: &Locale,
    entries: &[(String, Vec<u8>)],
    what: &Path,
) -> Result<Vec<u8>, RepackError> {
    let corrupt = |message: String| RepackError::CorruptArchive {
        path: what.to_owned(),
        message,
    };
    let zip_err = |source| RepackError::Zip {
        what: what.display().to_string(),
        source,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(base)).map_err(|e| corrupt(e.to_string()))?;
    let mut plan: BTreeMap<String, Source> = BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive
            .by_index(index)
            .map_err(|e| corrupt(e.to_string()))?;
        let name = file
            .name()
            .map_err(|e| corrupt(e.to_string()))?
            .into_owned();
        if let Err(reason) = check_entry_name(&name) {
            return Err(RepackError::HostileEntry {
                path: what.to_owned(),
                entry: name,
                reason,
            });
        }
        if name.starts_with("chrome/en-US/") || name.starts_with("META-INF/") {
            continue;
        }
        if name == "chrome.manifest" {
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|e| corrupt(e.to_string()))?;
            plan.insert(
                name,
                Source::New(rewrite_manifest(&text, locale).into_bytes()),
            );
        } else {
            plan.insert(name, Source::Raw(index));
        }
    }
    for (name, data) in entries {
        plan.insert(name.clone(), Source::New(data.clone()));
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(base.len())));
    for (name, source) in plan {
        match source {
            Source::Raw(index) => {
                let file = archive
                    .by_index_raw(index)
                    .map_err(|e| corrupt(e.to_string()))?;
                writer.raw_copy_file(file).map_err(zip_err)?;
            }
            Source::New(data) => {
                writer
                    .start_file(name, zip_options(0o644))
                    .map_err(zip_err)?;
                writer.write_all(&data).map_err(RepackError::io(what))?;
            }
        }
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn manifest() {
        let de = "de".parse().unwrap();
        assert_eq!(
            super::rewrite_manifest(
                "content browser x/\nlocale browser en-US chrome/en-US/locale/browser/\n",
                &de
            ),
            "content browser x/\nlocale browser de chrome/de/locale/browser/\n"
        );
    }
}
