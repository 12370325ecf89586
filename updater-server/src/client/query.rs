//! Parsing a client request (`/update/{1..6}/…/update.xml` plus query string and User-Agent) into
//! an [`UpdateQuery`], following Balrog's routes and quirks (`docs/update-protocol.md` Part B (a)).

use crate::client::matching::fallback_channel;
use crate::client::version::{InvalidVersion, MozVersion};
use crate::error::Error;

/// The `force` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    /// Absent or any value other than `1`/`-1`.
    None,
    /// `force=1`: always serve the main mapping.
    Main,
    /// `force=-1`: always serve the fallback mapping.
    Fallback,
}

impl Force {
    /// The value appended to special-force hosts' URLs.
    pub fn query_value(self) -> Option<&'static str> {
        match self {
            Force::None => None,
            Force::Main => Some("1"),
            Force::Fallback => Some("-1"),
        }
    }
}

/// Everything the rules engine and the XML writer know about one client request.
#[derive(Debug, Clone)]
pub struct UpdateQuery {
    /// The URL version (1..6).
    pub query_version: u8,
    /// Product name (`Firefox`).
    pub product: String,
    /// The client's version as sent (after the `esrpre` strip).
    pub version: String,
    /// `version` parsed, or why it is not a Mozilla version.
    pub parsed_version: Result<MozVersion, InvalidVersion>,
    /// The client's buildID.
    pub build_id: String,
    /// Build target (`WINNT_x86_64-msvc-x64`).
    pub build_target: String,
    /// Locale, with Avast's `x86 ` prefix removed.
    pub locale: String,
    /// Update channel.
    pub channel: String,
    /// `channel` before its first `-cck-`.
    pub fallback_channel: String,
    /// OS version (`""` for v1 URLs).
    pub os_version: String,
    /// Distribution (v3+).
    pub distribution: Option<String>,
    /// Distribution version (v3+); rules with a distVersion never match v1/v2 URLs.
    pub dist_version: Option<String>,
    /// From `systemCapabilities` (v6).
    pub instruction_set: Option<String>,
    /// From `systemCapabilities` (v6), in MB.
    pub memory: Option<i64>,
    /// From `systemCapabilities` (v6).
    pub jaws: Option<bool>,
    /// `"PPC"` or `"Intel"`.
    pub header_architecture: &'static str,
    /// `?force=`.
    pub force: Force,
    /// `?mig64=`: `Some(true)` only for `1`.
    pub mig64: Option<bool>,
    /// `?pin=` (non-empty when present; validated when it is compared).
    pub pin: Option<String>,
}

/// Percent-decodes `s` as the `percent-encoding` crate and Werkzeug do (`%` is an escape only
/// before two hex digits: `%+1`, `%zz` and a trailing `%4` stay literal), then encodes to ASCII
/// with replacement like Balrog: invalid UTF-8 and every non-ASCII character become `?`. The runs
/// between escapes are copied whole.
pub fn decode_ascii(s: &str) -> String {
    if s.is_ascii() && !s.contains('%') {
        return s.to_owned();
    }
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        bytes.extend_from_slice(&rest[..at]);
        match (
            rest.get(at + 1).and_then(|&b| hex(b)),
            rest.get(at + 2).and_then(|&b| hex(b)),
        ) {
            (Some(high), Some(low)) => {
                bytes.push(high << 4 | low);
                rest = &rest[at + 3..];
            }
            _ => {
                bytes.push(b'%');
                rest = &rest[at + 1..];
            }
        }
    }
    bytes.extend_from_slice(rest);
    if bytes.is_ascii() {
        return String::from_utf8(bytes).unwrap_or_default();
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

/// Decodes one `application/x-www-form-urlencoded` query value (`+` is a space).
fn decode_query_value(s: &str) -> String {
    decode_ascii(&s.replace('+', " "))
}

/// The fields of the path, by URL version, after `/update/{v}/`. Each starts with the same six,
/// which `parse` reads by position.
const FIELDS: [&[&str]; 6] = [
    &[
        "product",
        "version",
        "buildID",
        "buildTarget",
        "locale",
        "channel",
    ],
    &[
        "product",
        "version",
        "buildID",
        "buildTarget",
        "locale",
        "channel",
        "osVersion",
    ],
    &[
        "product",
        "version",
        "buildID",
        "buildTarget",
        "locale",
        "channel",
        "osVersion",
        "distribution",
        "distVersion",
    ],
    &[
        "product",
        "version",
        "buildID",
        "buildTarget",
        "locale",
        "channel",
        "osVersion",
        "distribution",
        "distVersion",
        "platformVersion",
    ],
    &[
        "product",
        "version",
        "buildID",
        "buildTarget",
        "locale",
        "channel",
        "osVersion",
        "distribution",
        "distVersion",
        "IMEI",
    ],
    &[
        "product",
        "version",
        "buildID",
        "buildTarget",
        "locale",
        "channel",
        "osVersion",
        "systemCapabilities",
        "distribution",
        "distVersion",
    ],
];

/// Parses `systemCapabilities` into (instructionSet, memory, jaws).
pub fn parse_system_capabilities(caps: &str) -> (Option<String>, Option<i64>, Option<bool>) {
    if caps.starts_with("ISET:") {
        let (mut iset, mut mem, mut jaws) = (None, None, None);
        for part in caps.split(',') {
            let Some((key, value)) = part.split_once(':') else {
                continue;
            };
            match key {
                "ISET" => iset = Some(value.to_owned()),
                "MEM" => mem = value.parse::<i64>().ok(),
                "JAWS" => jaws = value.parse::<i64>().ok().map(|v| v != 0),
                _ => {}
            }
        }
        (iset, mem, jaws)
    } else {
        let parts: Vec<&str> = caps.split(',').collect();
        match parts.as_slice() {
            [iset] => (Some((*iset).to_owned()), None, None),
            [iset, mem] => (Some((*iset).to_owned()), mem.parse().ok(), None),
            _ => (None, None, None),
        }
    }
}

/// The four accepted query parameters, before interpretation.
#[derive(Debug, Default)]
struct QueryParams {
    force: Option<String>,
    mig64: Option<String>,
    pin: Option<String>,
}

fn parse_query_string(query_version: u8, qs: &str) -> Result<QueryParams, Error> {
    let mut params = QueryParams::default();
    let mut extra = Vec::new();
    for pair in qs.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query_value(key);
        let value = decode_query_value(value);
        match key.as_str() {
            "force" => params.force = Some(value),
            "avast" => {}
            "mig64" => params.mig64 = Some(value),
            "pin" if query_version != 2 => {
                if value.is_empty() {
                    return Err(Error::BadRequestProblem(
                        "'' is too short - 'pin'".to_owned(),
                    ));
                }
                params.pin = Some(value);
            }
            _ => extra.push(key),
        }
    }
    if !extra.is_empty() {
        return Err(Error::BadRequestProblem(format!(
            "Extra query parameter(s) {} not in spec",
            extra.join(", ")
        )));
    }
    Ok(params)
}

fn parse_force(value: Option<&str>) -> Force {
    let Some(mut v) = value else {
        return Force::None;
    };
    if v.contains("avast") {
        v = v.split(['?']).next().unwrap_or(v);
        v = v.split("%3F").next().unwrap_or(v);
    }
    match v {
        "1" => Force::Main,
        "-1" => Force::Fallback,
        _ => Force::None,
    }
}

/// Parses a client request. `Ok(None)` means the path matches no route (the empty document);
/// an error is a 400 (unknown query parameter, empty `pin`).
pub fn parse(
    path: &str,
    query_string: &str,
    user_agent: &str,
) -> Result<Option<UpdateQuery>, Error> {
    let decoded = decode_ascii(path);
    let Some(rest) = decoded.strip_prefix("/update/") else {
        return Ok(None);
    };
    // At most the URL version, ten fields and `update.xml`; a longer path is no route. The
    // segments are short: one pass over the bytes, not a search per segment.
    let mut segments: [&str; 12] = [""; 12];
    let mut count = 0;
    let mut start = 0;
    for end in rest
        .bytes()
        .enumerate()
        .filter_map(|(i, b)| (b == b'/').then_some(i))
        .chain([rest.len()])
    {
        let Some(slot) = segments.get_mut(count) else {
            return Ok(None);
        };
        *slot = &rest[start..end];
        count += 1;
        start = end + 1;
    }
    let Some((&first, tail)) = segments[..count].split_first() else {
        return Ok(None);
    };
    let query_version: u8 = match first {
        "1" => 1,
        "2" => 2,
        "3" => 3,
        "4" => 4,
        "5" => 5,
        "6" => 6,
        _ => return Ok(None),
    };
    let names = FIELDS[usize::from(query_version - 1)];
    let Some((&last, values)) = tail.split_last() else {
        return Ok(None);
    };
    if last != "update.xml" || values.len() != names.len() || values.iter().any(|v| v.is_empty()) {
        return Ok(None);
    }
    let field = |name: &str| -> String {
        names
            .iter()
            .position(|n| *n == name)
            .map(|i| values[i].to_owned())
            .unwrap_or_default()
    };
    let has = |name: &str| names.contains(&name);
    // Every URL version starts with the same six fields (`FIELDS`), read by position.
    let common = |i: usize| values[i].to_owned();
    let params = parse_query_string(query_version, query_string)?;

    let mut version = common(1);
    if query_version == 3 && version.len() > "esrpre".len() && version.ends_with("esrpre") {
        version.truncate(version.len() - "esrpre".len());
    }
    // Avast prepends "x86 " (bug 1125231); Balrog removes it wherever it appears.
    let mut locale = common(4);
    if locale.contains("x86 ") {
        locale = locale.replace("x86 ", "");
    }
    let build_target = common(3);
    let channel = common(5);
    let (instruction_set, memory, jaws) = if has("systemCapabilities") {
        parse_system_capabilities(&field("systemCapabilities"))
    } else {
        (None, None, None)
    };
    let header_architecture = if build_target.starts_with("Darwin") && user_agent.contains("PPC") {
        "PPC"
    } else {
        "Intel"
    };
    Ok(Some(UpdateQuery {
        query_version,
        product: common(0),
        parsed_version: MozVersion::parse(&version),
        version,
        build_id: common(2),
        fallback_channel: fallback_channel(&channel),
        channel,
        build_target,
        locale,
        os_version: field("osVersion"),
        distribution: has("distribution").then(|| field("distribution")),
        dist_version: has("distVersion").then(|| field("distVersion")),
        instruction_set,
        memory,
        jaws,
        header_architecture,
        force: parse_force(params.force.as_deref()),
        mig64: params.mig64.map(|v| v == "1"),
        pin: params.pin,
    }))
}

/// Parses a JSON-endpoint request (`/json/1/{product}/{version}/{buildTarget}/{channel}/update.json`
/// or `/json/2/…/{channel}/{osVersion}/update.json`, Guardian/Mozilla VPN). `Ok(None)` means no
/// route (404). Only `force` may be in the query string. The query carries no buildID, locale,
/// distribution or headerArchitecture, so only rules with those columns NULL can match, as in
/// Balrog.
pub fn parse_json(path: &str, query_string: &str) -> Result<Option<UpdateQuery>, Error> {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let decoded = String::from_utf8_lossy(&bytes);
    let Some(rest) = decoded.strip_prefix("/json/") else {
        return Ok(None);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let (os_version, fields) = match segments.as_slice() {
        ["1", p, v, t, c, "update.json"] => ("", [*p, *v, *t, *c]),
        ["2", p, v, t, c, os, "update.json"] => (*os, [*p, *v, *t, *c]),
        _ => return Ok(None),
    };
    if fields.iter().any(|f| f.is_empty()) || os_version.is_empty() && segments[0] == "2" {
        return Ok(None);
    }
    let [product, version, build_target, channel] = fields.map(str::to_owned);
    let mut force = None;
    let mut extra = Vec::new();
    for pair in query_string.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode_query_value(key).as_str() {
            "force" => force = Some(decode_query_value(value)),
            other => extra.push(other.to_owned()),
        }
    }
    if !extra.is_empty() {
        return Err(Error::BadRequestProblem(format!(
            "Extra query parameter(s) {} not in spec",
            extra.join(", ")
        )));
    }
    Ok(Some(UpdateQuery {
        query_version: 0,
        product,
        parsed_version: MozVersion::parse(&version),
        version,
        build_id: String::new(),
        fallback_channel: fallback_channel(&channel),
        channel,
        build_target,
        locale: String::new(),
        os_version: os_version.to_owned(),
        distribution: None,
        dist_version: None,
        instruction_set: None,
        memory: None,
        jaws: None,
        header_architecture: "",
        force: match force.as_deref() {
            Some("1") => Force::Main,
            Some("-1") => Force::Fallback,
            _ => Force::None,
        },
        mig64: None,
        pin: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(
            decode_ascii("ISET%3aSSE3%2cMEM%3a8000"),
            "ISET:SSE3,MEM:8000"
        );
        assert_eq!(decode_ascii("caf%C3%A9"), "caf?");
        assert_eq!(decode_ascii("100%"), "100%");
        assert_eq!(decode_ascii("%zz%4"), "%zz%4");
        // `u8::from_str_radix("+1", 16)` is 1; Werkzeug and the crate see no escape here.
        assert_eq!(decode_ascii("a%+1b%-1"), "a%+1b%-1");
        assert_eq!(decode_ascii("%41%4a%4A"), "AJJ");
        assert_eq!(decode_ascii("%%41%4%%"), "%A%4%%");
        assert_eq!(decode_ascii("a%20b%2"), "a b%2");
        // The crate this replaced, on every short mix of escapes, digits and non-ASCII.
        let alphabet = ["%", "4", "1", "a", "g", "+", "é", "%C3", "%A9", "%FF"];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let text = format!("{a}{b}{c}");
                    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&text).collect();
                    let want: String = String::from_utf8_lossy(&bytes)
                        .chars()
                        .map(|c| if c.is_ascii() { c } else { '?' })
                        .collect();
                    assert_eq!(decode_ascii(&text), want, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn every_url_version_starts_with_the_common_fields() {
        // Version 1's fields are exactly the six.
        let common = FIELDS[0];
        assert_eq!(common.len(), 6);
        for names in FIELDS {
            assert_eq!(&names[..common.len()], common);
        }
    }

    #[test]
    fn capabilities() {
        assert_eq!(
            parse_system_capabilities("ISET:SSE3,MEM:8000,JAWS:1"),
            (Some("SSE3".into()), Some(8000), Some(true))
        );
        assert_eq!(
            parse_system_capabilities("ISET:SSE3,MEM:x,JAWS:0,FOO"),
            (Some("SSE3".into()), None, Some(false))
        );
        assert_eq!(
            parse_system_capabilities("SSE3"),
            (Some("SSE3".into()), None, None)
        );
        assert_eq!(
            parse_system_capabilities("SSE3,8095"),
            (Some("SSE3".into()), Some(8095), None)
        );
        assert_eq!(parse_system_capabilities("a,b,c"), (None, None, None));
    }

    #[test]
    fn force_values() {
        assert_eq!(parse_force(Some("1")), Force::Main);
        assert_eq!(parse_force(Some("-1")), Force::Fallback);
        assert_eq!(parse_force(Some("1?avast=1")), Force::Main);
        assert_eq!(parse_force(Some("")), Force::None);
        assert_eq!(parse_force(Some("avast")), Force::None);
        assert_eq!(parse_force(None), Force::None);
    }
}
