//! A Balrog-format dump with a release of every blob schema, loaded with the real
//! `updater-server import` and served by the real binary.
//!
//! Schemas 1, 4, 9 and desupport are checked byte for byte against Balrog's own captured answers
//! in `conformance.rs`; the documents for schemas 2, 3, 5 and 8 below are written from Balrog's
//! `blobs/apprelease.py` (attribute order per class, `SeparatedFileUrlsMixin`'s `%FILENAME%` and
//! `%PRODUCT%`, `ProofXMLMixin`), as no captured case covers them.

use std::process::Command;

use serde_json::{json, Value};

use crate::util::*;

fn dump() -> Vec<(&'static str, Value)> {
    let from36 = json!({"name": "Firefox-3.6", "schema_version": 1, "hashFunction": "sha512",
        "appv": "3.6", "extv": "3.6",
        "platforms": {"WINNT_x86-msvc": {"buildID": "20100101", "locales": {"en-US": {}}}}});
    let v2 = json!({"name": "Firefox-4.0", "schema_version": 2, "hashFunction": "sha512",
        "appVersion": "4.0", "displayVersion": "4.0 Final", "platformVersion": "2.0",
        "detailsUrl": "http://download.mozilla.org/%LOCALE%/details",
        "billboardURL": "http://download.mozilla.org/%locale%/billboard",
        "showPrompt": false, "actions": "silent",
        "fileUrls": {"release": "http://download.mozilla.org/?product=%PRODUCT%&os=%OS_BOUNCER%&lang=%LOCALE%&file=%FILENAME%"},
        "ftpFilenames": {"complete": "firefox-4.0.complete.mar", "partial": "firefox-3.6-4.0.partial.mar"},
        "bouncerProducts": {"complete": "firefox-4.0-complete", "partial": "firefox-4.0-partial"},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20110318052756", "OS_BOUNCER": "win", "OS_FTP": "win32",
            "locales": {"en-US": {
                "complete": {"from": "*", "filesize": "100", "hashValue": "c4"},
                "partial": {"from": "Firefox-3.6", "filesize": 50, "hashValue": "p4"}}}}}});
    let v3 = json!({"name": "Firefox-5.0", "schema_version": 3, "hashFunction": "sha512",
        "appVersion": "5.0", "displayVersion": "5.0", "platformVersion": "5.0",
        "fileUrls": {"release": "http://download.mozilla.org/%OS_FTP%/%FILENAME%?p=%product%"},
        "ftpFilenames": {"completes": {"*": "firefox-5.0.complete.mar"},
                         "partials": {"Firefox-4.0": "firefox-4.0-5.0.partial.mar"}},
        "bouncerProducts": {"completes": {"*": "fx-5.0-complete"}, "partials": {"Firefox-4.0": "fx-5.0-partial-4.0"}},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20110615151330", "OS_BOUNCER": "win", "OS_FTP": "win32",
            "locales": {"en-US": {
                "completes": [{"from": "*", "filesize": 200, "hashValue": "c5"}],
                "partials": [{"from": "Firefox-3.6", "filesize": 1, "hashValue": "x"},
                             {"from": "Firefox-4.0", "filesize": 60, "hashValue": "p5"}]}}}}});
    let v5 = json!({"name": "Firefox-19.0", "schema_version": 5, "hashFunction": "sha512",
        "appVersion": "19.0", "displayVersion": "19.0", "platformVersion": "19.0",
        "promptWaitTime": 43200, "showNeverForVersion": true,
        "fileUrls": {"*": {"completes": {"*": "http://download.mozilla.org/19.0/%LOCALE%.mar"}}},
        "platforms": {"WINNT_x86-msvc": {"buildID": 20130215130331u64,
            "locales": {"en-US": {"completes": [{"from": "*", "filesize": 300, "hashValue": "c19"}]}}}}});
    let v8 = json!({"name": "Firefox-57.0", "schema_version": 8, "hashFunction": "sha384",
        "appVersion": "57.0", "displayVersion": "Quantum",
        "binTransMerkleRoot": "root", "binTransCertificate": "cert", "binTransSCTList": "scts",
        "fileUrls": {"*": {"completes": {"*": "http://download.mozilla.org/57.0.mar"}}},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20171112125346",
            "locales": {"en-US": {"completes": [{"from": "*", "filesize": 400, "hashValue": "c57",
                                                 "binTransInclusionProof": "proof"}]}}}}});
    let v6 = json!({"name": "Firefox-60.0", "schema_version": 6, "hashFunction": "sha512",
        "appVersion": "60.0", "displayVersion": "60.0",
        "fileUrls": {"*": {"completes": {"*": "http://download.mozilla.org/60.0.mar"}}},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20180501000000",
            "locales": {"en-US": {"completes": [{"from": "*", "filesize": 5, "hashValue": "c60"}]}}}}});
    let v9 = json!({"name": "Firefox-70.0", "schema_version": 9, "hashFunction": "sha512",
        "appVersion": "70.0", "displayVersion": "70.0",
        "updateLine": [{"for": {}, "fields": {"type": "minor"}}],
        "fileUrls": {"*": {"completes": {"*": "http://download.mozilla.org/70.0.mar"}}},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20191001000000",
            "locales": {"en-US": {"completes": [{"from": "*", "filesize": 7, "hashValue": "c70"}]}}}}});
    let desupport = json!({"name": "XP-desupport", "schema_version": 50,
        "detailsUrl": "http://example.org/%os%/%version%", "displayVersion": "XP"});
    let gmp = json!({"name": "GMP-1", "schema_version": 1000, "hashFunction": "sha512",
        "vendors": {"gmp-x": {"version": "1", "platforms": {"default": {"filesize": 1,
            "hashValue": "h", "fileUrl": "http://download.mozilla.org/gmp"}}}}});
    let superblob = json!({"name": "GMP-Super", "schema_version": 4000, "products": ["GMP"]});
    let sysaddons = json!({"name": "SA-1", "schema_version": 5000, "uninstall": true});
    let guardian = json!({"name": "VPN-2.0", "schema_version": 10000, "product": "Guardian",
        "version": "2.0", "required": false, "hashFunction": "sha512",
        "platforms": {"WINNT_x86-msvc": {"fileUrl": "http://download.mozilla.org/vpn", "hashValue": "h"}}});
    vec![
        ("Firefox", from36),
        ("Firefox", v2),
        ("Firefox", v3),
        ("Firefox", v5),
        ("Firefox", v6),
        ("Firefox", v8),
        ("Firefox", v9),
        ("Firefox", desupport),
        ("GMP", gmp),
        ("GMPSuper", superblob),
        ("SystemAddons", sysaddons),
        ("Guardian", guardian),
    ]
}

fn rules() -> Value {
    let r = |id: i64, mapping: &str, extra: Value| {
        let mut rule = json!({"rule_id": id, "priority": 100, "mapping": mapping,
            "backgroundRate": 100, "update_type": "minor", "data_version": 3});
        for (k, v) in extra.as_object().unwrap() {
            rule[k] = v.clone();
        }
        rule
    };
    json!([
        r(
            2,
            "Firefox-4.0",
            json!({"product": "Firefox", "version": "<4.0", "channel": "release"})
        ),
        r(
            3,
            "Firefox-5.0",
            json!({"product": "Firefox", "version": "4.0", "channel": "release"})
        ),
        r(
            5,
            "Firefox-19.0",
            json!({"product": "Firefox", "channel": "v5"})
        ),
        r(
            6,
            "Firefox-60.0",
            json!({"product": "Firefox", "channel": "v6"})
        ),
        r(
            8,
            "Firefox-57.0",
            json!({"product": "Firefox", "channel": "v8"})
        ),
        r(
            9,
            "Firefox-70.0",
            json!({"product": "Firefox", "channel": "v9"})
        ),
        r(
            50,
            "XP-desupport",
            json!({"product": "Firefox", "osVersion": "Windows_NT 5.1", "priority": 200})
        ),
        r(1000, "GMP-1", json!({"product": "GMP"})),
        r(4000, "GMP-Super", json!({"product": "GMPSuper"})),
        r(5000, "SA-1", json!({"product": "SystemAddons"})),
        r(10000, "VPN-2.0", json!({"product": "Guardian"})),
    ])
}

#[test]
fn a_dump_with_every_schema_imports_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let releases = dir.path().join("releases");
    std::fs::create_dir(&releases).unwrap();
    for (product, blob) in dump() {
        let name = blob["name"].as_str().unwrap().to_owned();
        let file = releases.join(format!("{name}.json"));
        std::fs::write(file, json!({"product": product, "blob": blob}).to_string()).unwrap();
    }
    let rules_file = dir.path().join("rules.json");
    std::fs::write(&rules_file, rules().to_string()).unwrap();
    let shutoffs = dir.path().join("shutoffs.json");
    let shut = json!([{"product": "Firefox", "channel": "v6"}]);
    std::fs::write(&shutoffs, shut.to_string()).unwrap();
    let pins = dir.path().join("pins.json");
    let pin = json!([{"product": "Firefox", "channel": "v9", "version": "60.", "mapping": "Firefox-60.0"}]);
    std::fs::write(&pins, pin.to_string()).unwrap();
    let db = dir.path().join("kiln.db");
    let out = Command::new(env!("CARGO_BIN_EXE_updater-server"))
        .args(["import", "--releases"])
        .arg(&releases)
        .arg("--rules")
        .arg(&rules_file)
        .arg("--shutoffs")
        .arg(&shutoffs)
        .arg("--pins")
        .arg(&pins)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("imported 12 releases and 11 rules") && !stdout.contains("skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("imported 1 emergency shutoffs and 1 pinnable releases"),
        "{stdout}"
    );

    let mut server = Binary::spawn(dir.path());
    let agent = agent();
    let get = |path: &str| {
        let mut resp = agent.get(format!("{}{path}", server.base)).call().unwrap();
        let status = resp.status().as_u16();
        let rule = resp
            .headers()
            .get("Rule-ID")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, rule, resp.body_mut().read_to_string().unwrap())
    };
    let fx = |version: &str, build: &str, channel: &str| {
        format!("/update/3/Firefox/{version}/{build}/WINNT_x86-msvc/en-US/{channel}/Windows_NT%2010.0/default/default/update.xml")
    };
    let doc = |lines: &[&str]| {
        format!(
            "<?xml version=\"1.0\"?>\n<updates>\n{}\n</updates>",
            lines.join("\n")
        )
    };

    // Schema 2: single complete and partial, channel fileUrls with %PRODUCT%/%FILENAME%.
    assert_eq!(
        get(&fx("3.6", "20100101", "release")),
        (200, Some("2".to_owned()), doc(&[
            "    <update type=\"minor\" displayVersion=\"4.0 Final\" appVersion=\"4.0\" platformVersion=\"2.0\" buildID=\"20110318052756\" detailsURL=\"http://download.mozilla.org/en-US/details\" billboardURL=\"http://download.mozilla.org/en-US/billboard\" showPrompt=\"false\" actions=\"silent\">",
            "        <patch type=\"complete\" URL=\"http://download.mozilla.org/?product=firefox-4.0-complete&amp;os=win&amp;lang=en-US&amp;file=firefox-4.0.complete.mar\" hashFunction=\"sha512\" hashValue=\"c4\" size=\"100\"/>",
            "        <patch type=\"partial\" URL=\"http://download.mozilla.org/?product=firefox-4.0-partial&amp;os=win&amp;lang=en-US&amp;file=firefox-3.6-4.0.partial.mar\" hashFunction=\"sha512\" hashValue=\"p4\" size=\"50\"/>",
            "    </update>",
        ]))
    );
    // Schema 3: lists, names per from-release; the first partial whose from-build matches.
    assert_eq!(
        get(&fx("4.0", "20110318052756", "release")).2,
        doc(&[
            "    <update type=\"minor\" displayVersion=\"5.0\" appVersion=\"5.0\" platformVersion=\"5.0\" buildID=\"20110615151330\">",
            "        <patch type=\"complete\" URL=\"http://download.mozilla.org/win32/firefox-5.0.complete.mar?p=fx-5.0-complete\" hashFunction=\"sha512\" hashValue=\"c5\" size=\"200\"/>",
            "        <patch type=\"partial\" URL=\"http://download.mozilla.org/win32/firefox-4.0-5.0.partial.mar?p=fx-5.0-partial-4.0\" hashFunction=\"sha512\" hashValue=\"p5\" size=\"60\"/>",
            "    </update>",
        ])
    );
    // Schema 5: billboardURL still allowed, promptWaitTime last; a numeric buildID prints as is.
    assert_eq!(
        get(&fx("18.0", "1", "v5")).2,
        doc(&[
            "    <update type=\"minor\" displayVersion=\"19.0\" appVersion=\"19.0\" platformVersion=\"19.0\" buildID=\"20130215130331\" showNeverForVersion=\"true\" promptWaitTime=\"43200\">",
            "        <patch type=\"complete\" URL=\"http://download.mozilla.org/19.0/en-US.mar\" hashFunction=\"sha512\" hashValue=\"c19\" size=\"300\"/>",
            "    </update>",
        ])
    );
    // Schema 8: platformVersion="None", the binary-transparency attributes and proof.
    assert_eq!(
        get(&fx("56.0", "1", "v8")).2,
        doc(&[
            "    <update type=\"minor\" displayVersion=\"Quantum\" appVersion=\"57.0\" platformVersion=\"None\" buildID=\"20171112125346\" binTransMerkleRoot=\"root\" binTransCertificate=\"cert\" binTransSCTList=\"scts\">",
            "        <patch type=\"complete\" URL=\"http://download.mozilla.org/57.0.mar\" hashFunction=\"sha384\" hashValue=\"c57\" size=\"400\" binTransInclusionProof=\"proof\"/>",
            "    </update>",
        ])
    );
    // Schemas 6 and 9 and desupport (lower-case placeholders) are served too; the imported
    // shutoff stops v6, the imported pin sends a 59.0 client on v9 to 60.0 instead of 70.0.
    let shut = (200, Some("unknown".to_owned()), EMPTY.to_owned());
    assert_eq!(get(&fx("59.0", "1", "v6")), shut);
    assert!(get(&fx("69.0", "1", "v9"))
        .2
        .contains("<update appVersion=\"70.0\""));
    let pinned = get(&format!("{}?pin=60.", fx("59.0", "1", "v9"))).2;
    assert!(
        pinned.contains("appVersion=\"60.0\" platformVersion=\"None\""),
        "{pinned}"
    );
    let xp = "/update/3/Firefox/40.0/1/WINNT_x86-msvc/en-US/v9/Windows_NT%205.1/default/default/update.xml";
    assert!(get(xp)
        .2
        .contains("detailsURL=\"http://example.org/WINNT/40.0\""));
    // GMP, a SuperBlob, system add-ons and Guardian.
    let addons = |product: &str| {
        get(&format!(
            "/update/3/{product}/1.0/1/WINNT_x86-msvc/en-US/release/x/d/1/update.xml"
        ))
        .2
    };
    let gmp = addons("GMP");
    assert!(gmp.contains("<addon id=\"gmp-x\""), "{gmp}");
    assert_eq!(addons("GMPSuper"), gmp);
    assert_eq!(
        addons("SystemAddons"),
        doc(&["    <addons>", "    </addons>"])
    );
    let vpn = get("/json/1/Guardian/1.0/WINNT_x86-msvc/release/update.json");
    assert_eq!(vpn.0, 200);
    assert!(vpn.2.starts_with("{\"version\": \"2.0\""), "{}", vpn.2);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
