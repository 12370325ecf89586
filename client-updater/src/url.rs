//! [`UrlTemplate`]: an update URL with Firefox's `%VARIABLES%`, each value percent-encoded.
//!
//! A template is read as Firefox's `UpdateUtils.formatUpdateURL` reads it: every `%NAME%` with
//! `NAME` of letters, digits and `_` (its `/%(\w+)%/g`) is a variable, replaced by its value
//! through `encodeURIComponent`; the rest is the template's own text, which Firefox's URL parser
//! then percent-encodes where a URL may not hold it (a space becomes `%20`, a non-ASCII character
//! its UTF-8 bytes), leaving `%XX` escapes as written.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};

use crate::error::Error;
use crate::identity::Identity;

/// What `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// What a URL parser percent-encodes in a template's own text wherever it stands, path or query
/// (WHATWG's fragment set: space, `"`, `<`, `>`, `` ` ``; non-ASCII bytes always). Controls never
/// get here: [`UrlTemplate::new`] refuses them.
const TEXT: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');

/// The variables a template may use.
pub const VARIABLES: [&str; 10] = [
    "%PRODUCT%",
    "%VERSION%",
    "%BUILD_ID%",
    "%BUILD_TARGET%",
    "%LOCALE%",
    "%CHANNEL%",
    "%OS_VERSION%",
    "%SYSTEM_CAPABILITIES%",
    "%DISTRIBUTION%",
    "%DISTRIBUTION_VERSION%",
];

/// A piece of a template: its own text, or a variable (an index into [`VARIABLES`]).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(usize),
}

/// A validated update URL template: `http://` or `https://` with a host and no credentials, no
/// control character or fragment, every `%NAME%` one of [`VARIABLES`] and every other `%` the
/// start of a `%XX` escape. Spaces and non-ASCII text are allowed and percent-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate {
    template: String,
    parts: Vec<Part>,
}

impl UrlTemplate {
    /// Validates a template.
    pub fn new(template: &str) -> Result<UrlTemplate, Error> {
        let bad = |why: &str| Error::Config(format!("update URL {template:?}: {why}"));
        let Some(host) = authority(template) else {
            return Err(bad("must start with https:// or http://"));
        };
        if template.chars().any(char::is_control) || template.contains('#') {
            return Err(bad("has a control character or a fragment"));
        }
        if has_credentials(template) {
            return Err(bad(
                "has credentials (user@ or user:password@); they would be sent with every check",
            ));
        }
        if host.is_empty() || host.contains(' ') {
            return Err(bad("has no host, or a space in it"));
        }
        let parts = parse(template).map_err(|why| bad(&why))?;
        Ok(UrlTemplate {
            template: template.to_owned(),
            parts,
        })
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// The URL for `identity`, with `force=1` appended for a manual check.
    pub fn expand(&self, identity: &Identity, force: bool) -> String {
        let values = [
            &identity.product,
            &identity.version,
            &identity.build_id,
            &identity.build_target,
            &identity.locale,
            &identity.channel,
            &identity.os_version,
            &identity.system_capabilities,
            &identity.distribution,
            &identity.distribution_version,
        ];
        let mut url = String::with_capacity(self.template.len() + 64);
        for part in &self.parts {
            match part {
                Part::Text(text) => url.extend(utf8_percent_encode(text, TEXT)),
                Part::Variable(i) => url.extend(utf8_percent_encode(values[*i], COMPONENT)),
            }
        }
        if force {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("force=1");
        }
        url
    }
}

/// The authority (`user:password@host:port`) of an `http://` or `https://` URL: what follows the
/// scheme up to the first `/`, `?`, `#` or `\` (where a URL parser ends it); `None` for
/// another scheme.
pub(crate) fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    rest.split(['/', '?', '#', '\\']).next()
}

/// Whether an `http(s)` URL carries credentials (`user@` or `user:password@`), which an HTTP
/// client sends as `Authorization: Basic` to whoever serves the URL. The one rule for check URL
/// templates, patch URLs and redirect targets.
pub(crate) fn has_credentials(url: &str) -> bool {
    authority(url).is_some_and(|a| a.contains('@'))
}

/// `url` with any credentials replaced by `***`, for errors and logs.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), authority(url)) {
        (Some(i), Some(a)) if a.contains('@') => {
            let host = &a[a.rfind('@').map_or(0, |at| at + 1)..];
            let rest = &url[i + 3 + a.len()..];
            format!("{}***@{host}{rest}", &url[..i + 3])
        }
        _ => url.to_owned(),
    }
}

/// Splits a template into text and variables, as Firefox's `/%(\w+)%/g` finds them; any other
/// `%` must start a `%XX` escape. The error says why not.
fn parse(template: &str) -> Result<Vec<Part>, String> {
    let bytes = template.as_bytes();
    let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let mut parts = Vec::new();
    let (mut text_start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        let word = bytes[i + 1..].iter().take_while(|b| is_word(b)).count();
        if word > 0 && bytes.get(i + 1 + word) == Some(&b'%') {
            let name = &template[i..i + word + 2];
            let Some(index) = VARIABLES.iter().position(|v| *v == name) else {
                let escape = bytes[i + 1..i + 3].iter().all(u8::is_ascii_hexdigit);
                return Err(if escape {
                    format!(
                        "{name} reads as a variable to Firefox, which would send it as \
                         %25{}%25; write the character itself (a space, é) instead of \
                         %XX escapes followed by another %",
                        &name[1..name.len() - 1]
                    )
                } else {
                    format!("unknown variable {name}")
                });
            };
            if text_start < i {
                parts.push(Part::Text(template[text_start..i].to_owned()));
            }
            parts.push(Part::Variable(index));
            i += word + 2;
            text_start = i;
        } else if bytes
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            i += 3;
        } else {
            return Err(format!(
                "has a % at byte {i} that starts neither a %VARIABLE% nor a %XX escape"
            ));
        }
    }
    if text_start < bytes.len() {
        parts.push(Part::Text(template[text_start..].to_owned()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            product: "Firefox".into(),
            version: "119.0".into(),
            build_id: "20231016000000".into(),
            build_target: "Linux_x86_64-gcc3".into(),
            locale: "de".into(),
            channel: "release".into(),
            os_version: "Linux 6.1.0-13 amd64".into(),
            system_capabilities: "ISET:SSE4_2,MEM:16000".into(),
            distribution: "default".into(),
            distribution_version: "default".into(),
        }
    }

    #[test]
    fn expands_and_encodes_every_variable() {
        let t = UrlTemplate::new("https://u.example/update/6/%PRODUCT%/%VERSION%/%BUILD_ID%/%BUILD_TARGET%/%LOCALE%/%CHANNEL%/%OS_VERSION%/%SYSTEM_CAPABILITIES%/%DISTRIBUTION%/%DISTRIBUTION_VERSION%/update.xml").unwrap();
        assert_eq!(
            t.expand(&identity(), false),
            "https://u.example/update/6/Firefox/119.0/20231016000000/Linux_x86_64-gcc3/de/release/Linux%206.1.0-13%20amd64/ISET%3ASSE4_2%2CMEM%3A16000/default/default/update.xml"
        );
        assert!(t.expand(&identity(), true).ends_with("update.xml?force=1"));
        let mut evil = identity();
        evil.locale = "../../x?y=z&".into();
        assert!(t.expand(&evil, false).contains("/..%2F..%2Fx%3Fy%3Dz%26/"));
    }

    #[test]
    fn escapes_and_spaces_in_the_template_are_sent_as_firefox_sends_them() {
        let mut windows = identity();
        windows.os_version = "Windows_NT 6.1.1.0".into();
        let expected = "https://u.example/update/6/Firefox/Windows_NT%206.1.1.0/ISET%3ASSE4_2%2CMEM%3A16000/update.xml?x=a%20b";
        for template in [
            "https://u.example/update/6/%PRODUCT%/Windows_NT%206.1.1.0/%SYSTEM_CAPABILITIES%/update.xml?x=a%20b",
            "https://u.example/update/6/%PRODUCT%/Windows_NT 6.1.1.0/%SYSTEM_CAPABILITIES%/update.xml?x=a b",
            "https://u.example/update/6/%PRODUCT%/%OS_VERSION%/%SYSTEM_CAPABILITIES%/update.xml?x=a b",
        ] {
            let t = UrlTemplate::new(template).unwrap();
            assert_eq!(t.as_str(), template);
            assert_eq!(t.expand(&windows, false), expected, "{template}");
        }
        let t = UrlTemplate::new("https://u.example/%C3/é/\"q\"/%LOCALE%").unwrap();
        assert_eq!(
            t.expand(&identity(), true),
            "https://u.example/%C3/%C3%A9/%22q%22/de?force=1"
        );
        // Firefox reads `%C3%` of `%C3%A9` as a variable and mangles it: refused, with the way out.
        let err = UrlTemplate::new("https://u.example/%C3%A9/").unwrap_err();
        assert!(
            err.to_string().contains("write the character itself"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in [
            "ftp://x/%PRODUCT%",
            "https://x/%NOPE%",
            "https://x/%PRODUCT",
            "https://x/100%",
            "https://x/%2010%/update.xml",
            "https://x/%zz",
            "https://x/a\tb",
            "https://x/a\nb",
            "https://x/#f",
            "https://user:secret@x/%PRODUCT%",
            "https://token@x/",
            "https:///update.xml",
            "https://ex ample.org/",
        ] {
            assert!(UrlTemplate::new(bad).is_err(), "{bad}");
        }
        let err = UrlTemplate::new("https://u:p@x/").unwrap_err().to_string();
        assert!(err.contains("credentials"), "{err}");
    }
}
