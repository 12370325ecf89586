//! A schema-4+ `fileUrls` template (`https://…/?os=%OS_BOUNCER%&lang=%LOCALE%`), split at its
//! placeholders once, when the release is parsed.
//!
//! Balrog substitutes with one `str.replace` per placeholder, in the order `%LOCALE%`,
//! `%locale%`, `%OS_FTP%`, `%os_ftp%`, `%OS_BOUNCER%`, `%os_bouncer%`; an earlier substitution can
//! in principle make or break a later placeholder. Filling the split template in one pass gives
//! the same bytes when (checked here once) every `%` of the template belongs to one of those
//! placeholders and the text between two placeholders holds a character no placeholder name has
//! (anything but a letter or `_`), and when (checked per request) no substituted value holds a
//! `%`: then every `%NAME%` any of Balrog's steps can find is one of the template's own. A
//! template that does not qualify is not split, and [`UrlTemplate::fill`] leaves it to the caller's
//! step-by-step substitution.

use serde::{Deserialize, Deserializer};

/// A placeholder of a schema-4+ URL template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    /// `%LOCALE%`, `%locale%`: the query's locale.
    Locale,
    /// `%OS_FTP%`, `%os_ftp%`: the platform's `OS_FTP`.
    OsFtp,
    /// `%OS_BOUNCER%`, `%os_bouncer%`: the platform's `OS_BOUNCER`.
    OsBouncer,
}

/// Every placeholder as it is written, with what it stands for.
const PLACEHOLDERS: [(&str, Placeholder); 6] = [
    ("%LOCALE%", Placeholder::Locale),
    ("%locale%", Placeholder::Locale),
    ("%OS_FTP%", Placeholder::OsFtp),
    ("%os_ftp%", Placeholder::OsFtp),
    ("%OS_BOUNCER%", Placeholder::OsBouncer),
    ("%os_bouncer%", Placeholder::OsBouncer),
];

/// One piece of a split template: text copied as is (a byte range of the template), or a
/// placeholder (with its range, written back when its value is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(usize, usize),
    Value(Placeholder, usize, usize),
}

/// A URL template as stored, and its pieces when it could be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    text: String,
    pieces: Option<Vec<Piece>>,
}

impl UrlTemplate {
    /// Splits `text` at its placeholders, when one pass gives Balrog's bytes (module docs).
    pub fn new(text: String) -> Self {
        let pieces = split(&text);
        UrlTemplate { text, pieces }
    }

    /// The template as stored.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL with the placeholders filled in one pass (a missing OS value leaves its
    /// placeholder as written), or `None` when the template was not split or a value holds a
    /// `%`: then the caller substitutes step by step, as Balrog does.
    pub fn fill(
        &self,
        locale: &str,
        os_ftp: Option<&str>,
        os_bouncer: Option<&str>,
    ) -> Option<String> {
        let pieces = self.pieces.as_ref()?;
        let values = [Some(locale), os_ftp, os_bouncer];
        if values.iter().flatten().any(|v| v.contains('%')) {
            return None;
        }
        let mut url = String::with_capacity(self.text.len() + 16);
        for piece in pieces {
            match *piece {
                Piece::Text(from, to) => url.push_str(&self.text[from..to]),
                Piece::Value(placeholder, from, to) => {
                    let value = match placeholder {
                        Placeholder::Locale => Some(locale),
                        Placeholder::OsFtp => os_ftp,
                        Placeholder::OsBouncer => os_bouncer,
                    };
                    url.push_str(value.unwrap_or(&self.text[from..to]));
                }
            }
        }
        Some(url)
    }
}

impl<'de> Deserialize<'de> for UrlTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(UrlTemplate::new)
    }
}

/// The pieces of `text`, or `None` when a `%` is not part of a placeholder or two placeholders
/// are separated only by letters and `_` (which could spell a placeholder's name).
fn split(text: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut after_placeholder = false;
    while let Some(found) = text[at..].find('%') {
        let start = at + found;
        let between = &text[at..start];
        if after_placeholder
            && !between
                .bytes()
                .any(|b| !b.is_ascii_alphabetic() && b != b'_')
        {
            return None;
        }
        let (name, placeholder) = PLACEHOLDERS
            .iter()
            .find(|(name, _)| text[start..].starts_with(name))?;
        if start > at {
            pieces.push(Piece::Text(at, start));
        }
        at = start + name.len();
        pieces.push(Piece::Value(*placeholder, start, at));
        after_placeholder = true;
    }
    if at < text.len() {
        pieces.push(Piece::Text(at, text.len()));
    }
    Some(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Balrog's step-by-step substitution (`str::replace` per placeholder, in its order).
    fn balrog(text: &str, locale: &str, ftp: Option<&str>, bouncer: Option<&str>) -> String {
        let mut url = text.replace("%LOCALE%", locale).replace("%locale%", locale);
        if let Some(ftp) = ftp {
            url = url.replace("%OS_FTP%", ftp).replace("%os_ftp%", ftp);
        }
        if let Some(bouncer) = bouncer {
            url = url
                .replace("%OS_BOUNCER%", bouncer)
                .replace("%os_bouncer%", bouncer);
        }
        url
    }

    #[test]
    fn one_pass_gives_balrogs_bytes_whenever_it_answers() {
        let parts = [
            "%LOCALE%",
            "%locale%",
            "%OS_FTP%",
            "%os_ftp%",
            "%OS_BOUNCER%",
            "%os_bouncer%",
            "/",
            "&lang=",
            "locale",
            "OS_FTP",
            "%",
            "x",
            "",
        ];
        let values = [
            ("de", Some("win64"), Some("win64")),
            ("", Some(""), None),
            ("locale", None, Some("os_ftp")),
            ("OS_", Some("FTP"), Some("%LOCALE%")),
            ("%OS_FTP%", Some("linux"), Some("linux")),
        ];
        let mut split_some = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in ["", "/", "locale"] {
                        let text = format!("https://h/{a}{b}{c}{d}{a}");
                        let template = UrlTemplate::new(text.clone());
                        for (locale, ftp, bouncer) in values {
                            if let Some(url) = template.fill(locale, ftp, bouncer) {
                                split_some += 1;
                                assert_eq!(
                                    url,
                                    balrog(&text, locale, ftp, bouncer),
                                    "{text:?} {locale:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(split_some > 1000, "{split_some}");
    }

    #[test]
    fn ambiguous_templates_are_not_split() {
        // The `%` between the placeholders could pair with theirs.
        assert_eq!(split("%OS_FTP%locale%OS_FTP%"), None);
        assert_eq!(split("%LOCALE%%OS_FTP%"), None);
        assert_eq!(split("a%b"), None);
        assert_eq!(split("100%"), None);
        let t = UrlTemplate::new("https://h/?os=%OS_BOUNCER%&lang=%LOCALE%".to_owned());
        assert_eq!(
            t.fill("de", Some("win"), Some("win64")).as_deref(),
            Some("https://h/?os=win64&lang=de")
        );
        assert_eq!(
            t.fill("de", None, None).as_deref(),
            Some("https://h/?os=%OS_BOUNCER%&lang=de")
        );
        assert_eq!(
            UrlTemplate::new("plain".to_owned())
                .fill("de", None, None)
                .as_deref(),
            Some("plain")
        );
    }
}
