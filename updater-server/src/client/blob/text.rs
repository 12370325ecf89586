//! What the text of a release blob may hold, checked on every admin write: a blob whose values
//! reach `update.xml` as attribute values must not be able to change that document's structure.
//!
//! * No string and no key anywhere in a blob holds a control character (XML cannot carry one;
//!   in an `appVersion` it would also make every request for the rule unanswerable).
//! * In a blob served as XML (every kind but Guardian, whose answer is JSON), no string holds
//!   `"`, `<` or `>`, except `updateLine[].for` conditions, which are never rendered and
//!   legitimately read `<31.0`.
//!
//! (`updateLine[].fields` keys become attribute names; the schema allows only Balrog's.) The
//! update XML writer escapes these characters too and checks attribute names ([`is_xml_name`]);
//! refusing them on write keeps bad data out of the database and names the field, with its
//! path, to the writer.

use serde_json::Value;

/// Checks the text of `blob`; `xml` when it is served as update XML. The error names the
/// field's path (`platforms.WINNT_x86_64-msvc.locales.de.buildID`) and what it holds.
pub fn check(blob: &Value, xml: bool) -> Result<(), String> {
    walk(blob, &mut Vec::new(), xml)
}

/// Is every string and key in `blob`, outside its URLs (`fileUrls`, `fileUrl`: the XML writer
/// checks every URL it writes, after substitution), printable ASCII without `&`, `"`, `<` and `>`?
/// Then each of the blob's other values is written into an attribute as it is: the writer's
/// escaping and checks would leave it unchanged.
pub fn is_plain(blob: &Value) -> bool {
    let plain = |s: &str| {
        s.bytes()
            .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'&' | b'"' | b'<' | b'>'))
    };
    match blob {
        Value::String(s) => plain(s),
        Value::Array(items) => items.iter().all(is_plain),
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| matches!(k.as_str(), "fileUrls" | "fileUrl") || plain(k) && is_plain(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Which characters a value at `path` may not hold.
fn forbidden(path: &[String], xml: bool) -> impl Fn(char) -> bool {
    let condition = path
        .windows(3)
        .any(|w| w[0] == "updateLine" && w[2] == "for");
    let metacharacters = xml && !condition;
    move |c: char| c.is_control() || (metacharacters && matches!(c, '"' | '<' | '>'))
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("the control character U+{:04X}", c as u32)
    } else {
        format!("{c:?}, which an XML attribute cannot hold")
    }
}

fn walk(value: &Value, path: &mut Vec<String>, xml: bool) -> Result<(), String> {
    match value {
        Value::String(s) => {
            if let Some(c) = s.chars().find(|&c| forbidden(path, xml)(c)) {
                return Err(format!("{} holds {}", path.join("."), describe(c)));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                walk(item, path, xml)?;
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if let Some(c) = key.chars().find(|c| c.is_control()) {
                    return Err(format!("a key of {} holds {}", display(path), describe(c)));
                }
                path.push(key.clone());
                walk(item, path, xml)?;
                path.pop();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn display(path: &[String]) -> String {
    if path.is_empty() {
        "the blob".to_owned()
    } else {
        path.join(".")
    }
}

/// Whether `name` can be written as an XML attribute name: ASCII letters, digits, `_`, `-` and
/// `.`, starting with a letter or `_` (Balrog's `updateLine` fields: `detailsURL`, `actions`).
pub fn is_xml_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_blobs_hold_nothing_an_attribute_would_escape() {
        assert!(is_plain(
            &json!({"a": ["x y", 1, true, null], "hashValue": "ab01", "n": 5.5})
        ));
        assert!(is_plain(&json!({
            "fileUrls": {"*": {"completes": {"*": "https://h/?a=1&b=%LOCALE%"}}},
            "p": [{"fileUrl": "https://h/?a&b", "hashValue": "00"}]
        })));
        for bad in ["a&b", "q\"", "<", ">", "tab\t", "é", "\u{7f}"] {
            assert!(!is_plain(&json!({"k": [bad]})), "{bad:?}");
            assert!(!is_plain(&json!({ bad: 1 })), "{bad:?}");
        }
    }

    #[test]
    fn refuses_what_could_change_the_document_and_names_the_field() {
        let blob = json!({"platforms": {"p": {"locales": {"de": {"buildID": "2024\u{0}"}}}}});
        let e = check(&blob, true).unwrap_err();
        assert_eq!(
            e,
            "platforms.p.locales.de.buildID holds the control character U+0000"
        );
        let blob = json!({"updateLine": [{"for": {}, "fields": {"detailsURL": "x\"/><patch"}}]});
        let e = check(&blob, true).unwrap_err();
        assert!(
            e.starts_with("updateLine.0.fields.detailsURL holds '\"'"),
            "{e}"
        );
        let blob = json!({"updateLine": [{"for": {}, "fields": {"a\u{7}": "1"}}]});
        assert!(check(&blob, true)
            .unwrap_err()
            .starts_with("a key of updateLine.0.fields holds the control character U+0007"));
        let blob = json!({"displayVersion": "1\u{1b}[31m"});
        assert!(check(&blob, true).unwrap_err().contains("U+001B"));
    }

    #[test]
    fn accepts_conditions_and_json_only_blobs() {
        let blob = json!({"updateLine": [{"for": {"versions": ["<31.0"], "buildIDs": ["<20"]},
                                          "fields": {"detailsURL": "https://e.example/?a=1&b=2"}}]});
        check(&blob, true).unwrap();
        // A Guardian blob is served as JSON: metacharacters are data there.
        check(&json!({"note": "a<b"}), false).unwrap();
        assert!(check(&json!({"note": "a\u{7}"}), false).is_err());
    }
}
