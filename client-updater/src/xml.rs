//! Strict parsing of the update XML (`<updates><update …><patch …/></update></updates>`) with
//! quick-xml: no DTD (so no entity expansion), only the five predefined entities and character
//! references in attribute values, no text, CDATA or processing instructions, a fixed element
//! structure, bounded element and attribute counts. The body's size is capped before parsing.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Most `<update>` elements in one document.
pub const MAX_UPDATES: usize = 16;
/// Most `<patch>` elements in one `<update>`.
pub const MAX_PATCHES: usize = 8;
/// Most attributes on one element.
pub const MAX_ATTRIBUTES: usize = 64;

/// Why an update document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("update XML: {0}")]
pub struct XmlError(pub String);

/// Attributes of one element, by name.
pub type Attributes = BTreeMap<String, String>;

/// One `<update>` element and its `<patch>` children, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateElement {
    /// The `<update>`'s attributes.
    pub attributes: Attributes,
    /// Each `<patch>`'s attributes, in document order.
    pub patches: Vec<Attributes>,
}

fn err<T>(msg: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError(msg.into()))
}

fn attributes(e: &BytesStart<'_>) -> Result<Attributes, XmlError> {
    let mut out = Attributes::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| XmlError(format!("bad attribute: {e}")))?;
        let name: &str = attr.key.as_ref();
        let name = name.to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| XmlError(format!("attribute {name}: {e}")))?
            .into_owned();
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return err(format!("attribute {name} has a control character"));
        }
        if out.insert(name.clone(), value).is_some() {
            return err(format!("attribute {name} is repeated"));
        }
        if out.len() > MAX_ATTRIBUTES {
            return err("too many attributes");
        }
    }
    Ok(out)
}

/// Parses an update document into its `<update>` elements (empty for `<updates></updates>`).
pub fn parse(body: &[u8]) -> Result<Vec<UpdateElement>, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_unmatched_ends = false;
    reader.config_mut().check_comments = true;
    // Depth: 0 outside, 1 in <updates>, 2 in <update>, 3 in <patch>.
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut updates: Vec<UpdateElement> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Decl(_) if depth == 0 && !seen_root => {}
            Event::Comment(_) => {}
            Event::Text(t) => {
                if !t.chars().all(|c| c.is_ascii_whitespace()) {
                    return err("unexpected text");
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.name();
                match (depth, name.as_ref()) {
                    (0, "updates") if !seen_root => {
                        seen_root = true;
                        if !attributes(e)?.is_empty() {
                            return err("<updates> has attributes");
                        }
                    }
                    (1, "update") => {
                        if updates.len() == MAX_UPDATES {
                            return err("too many <update> elements");
                        }
                        updates.push(UpdateElement {
                            attributes: attributes(e)?,
                            patches: Vec::new(),
                        });
                    }
                    (2, "patch") => {
                        let update = updates.last_mut().expect("inside an <update>");
                        if update.patches.len() == MAX_PATCHES {
                            return err("too many <patch> elements");
                        }
                        update.patches.push(attributes(e)?);
                    }
                    (_, other) => return err(format!("unexpected element <{}>", other)),
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => {
                if !seen_root || depth != 0 {
                    return err("document is incomplete");
                }
                return Ok(updates);
            }
            Event::DocType(_) => return err("a DOCTYPE is not allowed"),
            Event::GeneralRef(_) => return err("entity references in text are not allowed"),
            Event::CData(_) => return err("CDATA is not allowed"),
            Event::PI(_) => return err("processing instructions are not allowed"),
            Event::Decl(_) => return err("misplaced XML declaration"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_balrogs_document() {
        let doc = "<?xml version=\"1.0\"?>\n<updates>\n    <update type=\"minor\" appVersion=\"56.0\" buildID=\"2017\">\n        <patch type=\"complete\" URL=\"http://d/?a=1&amp;b=2\" hashFunction=\"sha512\" hashValue=\"ab\" size=\"3\"/>\n    </update>\n</updates>";
        let updates = parse(doc.as_bytes()).unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].attributes["appVersion"], "56.0");
        assert_eq!(updates[0].patches[0]["URL"], "http://d/?a=1&b=2");
        assert!(parse(b"<?xml version=\"1.0\"?>\n<updates>\n</updates>")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn refuses_what_is_not_strictly_an_update_document() {
        for bad in [
            "<!DOCTYPE updates [<!ENTITY x \"y\">]><updates/>",
            "<updates><update a=\"&x;\"/></updates>",
            "<updates>text</updates>",
            "<updates><update><other/></update></updates>",
            "<updates><update></updates>",
            "<updates/><updates/>",
            "<updates><update a=\"1\" a=\"2\"/></updates>",
            "<updates><![CDATA[x]]></updates>",
            "<updates><?pi x?></updates>",
            "<updates>&amp;</updates>",
            "",
            "<other/>",
            "<updates>",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let many = format!("<updates>{}</updates>", "<update/>".repeat(MAX_UPDATES + 1));
        assert!(parse(many.as_bytes()).is_err());
    }
}
