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
#[non_exhaustive]
pub enum XmlError {
    /// The body is not UTF-8.
    #[error("update XML: not UTF-8")]
    NotUtf8,
    /// Not well-formed XML.
    #[error("update XML: at byte {offset}: {message}")]
    Malformed {
        /// Where the parser stopped.
        offset: u64,
        /// The parser's description.
        message: String,
    },
    /// An attribute that cannot be read.
    #[error("update XML: bad attribute: {message}")]
    BadAttribute {
        /// The parser's description.
        message: String,
    },
    /// An attribute value that cannot be unescaped.
    #[error("update XML: attribute {name}: {message}")]
    BadAttributeValue {
        /// The attribute.
        name: String,
        /// The parser's description.
        message: String,
    },
    /// An attribute value with a control character other than tab.
    #[error("update XML: attribute {name} has a control character")]
    ControlCharacter {
        /// The attribute.
        name: String,
    },
    /// An attribute given twice on one element.
    #[error("update XML: attribute {name} is repeated")]
    RepeatedAttribute {
        /// The attribute.
        name: String,
    },
    /// More than [`MAX_ATTRIBUTES`] attributes on one element.
    #[error("update XML: too many attributes")]
    TooManyAttributes,
    /// Text outside the attributes (the document holds elements only).
    #[error("update XML: unexpected text")]
    UnexpectedText,
    /// `<updates>` carries attributes.
    #[error("update XML: <updates> has attributes")]
    RootAttributes,
    /// More `<update>` elements than the limit.
    #[error("update XML: too many <update> elements")]
    TooManyUpdates,
    /// More `<patch>` elements in one `<update>` than the limit.
    #[error("update XML: too many <patch> elements")]
    TooManyPatches,
    /// An element other than `<updates>`, `<update>` and `<patch>`, or one out of place.
    #[error("update XML: unexpected element <{name}>")]
    UnexpectedElement {
        /// The element's name.
        name: String,
    },
    /// The document ends before `</updates>`.
    #[error("update XML: document is incomplete")]
    Incomplete,
    /// A DOCTYPE (and with it any DTD) is refused.
    #[error("update XML: a DOCTYPE is not allowed")]
    DocType,
    /// Entity references in text are refused.
    #[error("update XML: entity references in text are not allowed")]
    EntityReference,
    /// CDATA sections are refused.
    #[error("update XML: CDATA is not allowed")]
    CData,
    /// Processing instructions are refused.
    #[error("update XML: processing instructions are not allowed")]
    ProcessingInstruction,
    /// An XML declaration anywhere but first.
    #[error("update XML: misplaced XML declaration")]
    MisplacedDeclaration,
}

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

fn attributes(e: &BytesStart<'_>) -> Result<Attributes, XmlError> {
    let mut out = Attributes::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| XmlError::BadAttribute {
            message: e.to_string(),
        })?;
        let name: &str = attr.key.as_ref();
        let name = name.to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::BadAttributeValue {
                name: name.clone(),
                message: e.to_string(),
            })?
            .into_owned();
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(XmlError::ControlCharacter { name });
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(XmlError::RepeatedAttribute { name });
        }
        if out.len() > MAX_ATTRIBUTES {
            return Err(XmlError::TooManyAttributes);
        }
    }
    Ok(out)
}

/// Parses an update document into its `<update>` elements (empty for `<updates></updates>`).
pub fn parse(body: &[u8]) -> Result<Vec<UpdateElement>, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_unmatched_ends = false;
    reader.config_mut().check_comments = true;
    // Depth: 0 outside, 1 in <updates>, 2 in <update>, 3 in <patch>.
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut updates: Vec<UpdateElement> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            offset: reader.buffer_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Decl(_) if depth == 0 && !seen_root => {}
            Event::Comment(_) => {}
            Event::Text(t) => {
                if !t.chars().all(|c| c.is_ascii_whitespace()) {
                    return Err(XmlError::UnexpectedText);
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.name();
                match (depth, name.as_ref()) {
                    (0, "updates") if !seen_root => {
                        seen_root = true;
                        if !attributes(e)?.is_empty() {
                            return Err(XmlError::RootAttributes);
                        }
                    }
                    (1, "update") => {
                        if updates.len() == MAX_UPDATES {
                            return Err(XmlError::TooManyUpdates);
                        }
                        updates.push(UpdateElement {
                            attributes: attributes(e)?,
                            patches: Vec::new(),
                        });
                    }
                    (2, "patch") => {
                        let update = updates.last_mut().expect("inside an <update>");
                        if update.patches.len() == MAX_PATCHES {
                            return Err(XmlError::TooManyPatches);
                        }
                        update.patches.push(attributes(e)?);
                    }
                    (_, other) => {
                        return Err(XmlError::UnexpectedElement {
                            name: other.to_owned(),
                        })
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => {
                if !seen_root || depth != 0 {
                    return Err(XmlError::Incomplete);
                }
                return Ok(updates);
            }
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::GeneralRef(_) => return Err(XmlError::EntityReference),
            Event::CData(_) => return Err(XmlError::CData),
            Event::PI(_) => return Err(XmlError::ProcessingInstruction),
            Event::Decl(_) => return Err(XmlError::MisplacedDeclaration),
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
