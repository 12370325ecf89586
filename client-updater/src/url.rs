//! [`UrlTemplate`]: an update URL with Firefox's `%VARIABLES%`, each value percent-encoded.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

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

/// A validated update URL template: `http://` or `https://`, no whitespace or fragment, and
/// every `%NAME%` one of [`VARIABLES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    /// Validates a template.
    pub fn new(template: &str) -> Result<UrlTemplate, Error> {
        let bad = |why: &str| Err(Error::Config(format!("update URL {template:?}: {why}")));
        if !(template.starts_with("https://") || template.starts_with("http://")) {
            return bad("must start with https:// or http://");
        }
        if template
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
            || template.contains('#')
        {
            return bad("has whitespace, a control character or a fragment");
        }
        let mut rest = template;
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('%') else {
                return bad("has an unterminated %VARIABLE%");
            };
            let name = &rest[start..start + end + 2];
            if !VARIABLES.contains(&name) {
                return bad(&format!("unknown variable {name}"));
            }
            rest = &after[end + 1..];
        }
        Ok(UrlTemplate(template.to_owned()))
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
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
        let mut url = self.0.clone();
        for (name, value) in VARIABLES.iter().zip(values) {
            url = url.replace(name, &utf8_percent_encode(value, COMPONENT).to_string());
        }
        if force {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("force=1");
        }
        url
    }
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
    fn rejects_bad_templates() {
        for bad in [
            "ftp://x/%PRODUCT%",
            "https://x/%NOPE%",
            "https://x/%PRODUCT",
            "https://x/ a",
            "https://x/#f",
        ] {
            assert!(UrlTemplate::new(bad).is_err(), "{bad}");
        }
    }
}
