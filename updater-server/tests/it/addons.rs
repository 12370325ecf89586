//! GMP (1000), SuperBlob (4000), SystemAddons (5000) and Guardian (10000) blobs over HTTP.
//!
//! The captured Balrog cases do not cover these types, so the expected documents below are
//! written from Balrog's code (`blobs/{gmp,superblob,systemaddons,guardian}.py`,
//! `web/public/{client,json}.py`): header lines, sorted add-on ids, the blank lines of a system
//! add-ons answer without add-ons, Python's `json.dumps` separators.

use serde_json::{json, Value};

use crate::util::*;

const SHA512: &str = "1111111111111111111111111111111111111111111111111111111111111111\
1111111111111111111111111111111111111111111111111111111111111111";

fn server() -> Server {
    Server::start_with(|c| {
        for product in ["CDM", "OpenH264", "SystemAddons", "Guardian"] {
            c.client
                .allowlisted_domains
                .0
                .entry("addons.example.org".to_owned())
                .or_default()
                .push(product.to_owned());
        }
    })
}

fn put(srv: &Server, blob: Value, product: &str) {
    let name = blob["name"].as_str().unwrap().to_owned();
    srv.admin(
        "PUT",
        &format!("/releases/{name}"),
        Some(json!({"blob": blob, "product": product})),
    );
}

fn gmp(name: &str, vendor: &str, version: &str) -> Value {
    json!({"name": name, "schema_version": 1000, "hashFunction": "sha512",
        "vendors": {vendor: {"version": version, "platforms": {
            "WINNT_x86-msvc": {"filesize": 1234, "hashValue": SHA512,
                               "fileUrl": format!("http://addons.example.org/{vendor}.zip")},
            "WINNT_x86-msvc-x64": {"alias": "WINNT_x86-msvc"},
            "Linux_x86_64-gcc3": {"filesize": 99, "hashValue": SHA512,
                                  "fileUrl": "http://download.example.org/x.zip"}}}}})
}

fn rule_for(product: &str, mapping: &str) -> Value {
    json!({"priority": 100, "mapping": mapping, "backgroundRate": 100,
           "update_type": "minor", "product": product})
}

fn addons_path(product: &str, target: &str) -> String {
    format!("/update/3/{product}/50.0/20160101000000/{target}/en-US/release/Windows_NT%206.1/default/default/update.xml")
}

both_backends! {
#[test]
fn gmp_superblob_evaluates_the_rules_per_product() {
    let srv = server();
    put(&srv, gmp("CDM-17", "gmp-eme-adobe", "17"), "CDM");
    put(
        &srv,
        gmp("OpenH264-1.6", "gmp-gmpopenh264", "1.6"),
        "OpenH264",
    );
    put(
        &srv,
        json!({"name": "GMP-Superblob", "schema_version": 4000, "products": ["CDM", "OpenH264"]}),
        "GMP",
    );
    srv.add_rule(rule_for("GMP", "GMP-Superblob"));
    srv.add_rule(rule_for("CDM", "CDM-17"));
    let h264 = srv.add_rule(rule_for("OpenH264", "OpenH264-1.6"));
    let line = |id: &str, version: &str| {
        format!("        <addon id=\"{id}\" URL=\"http://addons.example.org/{id}.zip\" hashFunction=\"sha512\" hashValue=\"{SHA512}\" size=\"1234\" version=\"{version}\"/>")
    };
    let expected = format!(
        "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n{}\n{}\n    </addons>\n</updates>",
        line("gmp-eme-adobe", "17"),
        line("gmp-gmpopenh264", "1.6")
    );
    // The alias resolves to the real platform.
    for target in ["WINNT_x86-msvc", "WINNT_x86-msvc-x64"] {
        let resp = srv.get(&addons_path("GMP", target));
        assert_eq!(resp.body, expected, "{target}");
        // Balrog's headers name the last per-product evaluation.
        assert_eq!(resp.header("Rule-ID"), Some(h264.to_string().as_str()));
    }
    // A URL not allowed for the product drops the add-on (download.example.org serves only
    // Firefox); a platform nobody serves gives an empty <addons>.
    for target in ["Linux_x86_64-gcc3", "Darwin_x86_64-gcc3"] {
        assert_eq!(
            srv.get(&addons_path("GMP", target)).body,
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n    </addons>\n</updates>"
        );
    }
}
}

both_backends! {
#[test]
fn system_addons_superblob_by_name_and_uninstall() {
    let srv = server();
    let addon = |name: &str, id: &str| {
        json!({"name": name, "schema_version": 5000, "hashFunction": "sha512",
            "addons": {id: {"version": "2.0", "platforms": {"default": {
                "filesize": 10, "hashValue": "abc", "fileUrl": format!("http://addons.example.org/{id}.xpi")}}}}})
    };
    put(&srv, addon("SA-b", "b@mozilla.org"), "SystemAddons");
    put(&srv, addon("SA-a", "a@mozilla.org"), "SystemAddons");
    put(
        &srv,
        json!({"name": "SA-Superblob", "schema_version": 4000, "blobs": ["SA-b", "SA-a", "missing"]}),
        "SystemAddons",
    );
    put(
        &srv,
        json!({"name": "SA-uninstall", "schema_version": 5000, "uninstall": true}),
        "SystemAddons",
    );
    put(
        &srv,
        json!({"name": "SA-none", "schema_version": 5000, "hashFunction": "sha512", "addons": {}}),
        "SystemAddons",
    );
    srv.add_rule(rule_for("SystemAddons", "SA-Superblob"));
    srv.add_rule(
        json!({"priority": 200, "mapping": "SA-uninstall", "backgroundRate": 100,
        "update_type": "minor", "product": "SystemAddons", "channel": "uninstall"}),
    );
    srv.add_rule(
        json!({"priority": 200, "mapping": "SA-none", "backgroundRate": 100,
        "update_type": "minor", "product": "SystemAddons", "channel": "none"}),
    );
    let line = |id: &str| {
        format!("        <addon id=\"{id}\" URL=\"http://addons.example.org/{id}.xpi\" hashFunction=\"sha512\" hashValue=\"abc\" size=\"10\" version=\"2.0\"/>")
    };
    // The blobs' order, not sorted across blobs; a missing name is skipped.
    assert_eq!(
        srv.get(&addons_path("SystemAddons", "WINNT_x86-msvc")).body,
        format!(
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n{}\n{}\n    </addons>\n</updates>",
            line("b@mozilla.org"),
            line("a@mozilla.org")
        )
    );
    let on = |channel: &str| {
        srv.get(
            &addons_path("SystemAddons", "WINNT_x86-msvc")
                .replace("/release/", &format!("/{channel}/")),
        )
        .body
    };
    assert_eq!(
        on("uninstall"),
        "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n    </addons>\n</updates>"
    );
    // Nothing to offer: empty header and footer lines, no <addons>.
    assert_eq!(
        on("none"),
        "<?xml version=\"1.0\"?>\n<updates>\n\n\n</updates>"
    );
}
}

both_backends! {
#[test]
fn guardian_answers_json() {
    let srv = server();
    put(
        &srv,
        json!({"name": "Guardian-2.10.0", "schema_version": 10000, "product": "Guardian",
            "version": "2.10.0", "required": true, "hashFunction": "sha512",
            "platforms": {"WINNT_x86_64": {"fileUrl": "http://addons.example.org/vpn-2.10.0.msi", "hashValue": "f00"}}}),
        "Guardian",
    );
    let id = srv.add_rule(
        json!({"priority": 100, "mapping": "Guardian-2.10.0", "backgroundRate": 100,
        "update_type": "minor", "product": "Guardian", "channel": "release"}),
    );
    let resp = srv.get("/json/1/Guardian/2.9.1/WINNT_x86_64/release/update.json");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.header("Rule-ID"), Some(id.to_string().as_str()));
    assert_eq!(
        resp.body,
        "{\"version\": \"2.10.0\", \"url\": \"http://addons.example.org/vpn-2.10.0.msi\", \"required\": true, \"hashFunction\": \"sha512\", \"hashValue\": \"f00\"}"
    );
    let v2 = srv.get("/json/2/Guardian/2.9.1/WINNT_x86_64/release/Windows%2010/update.json");
    assert_eq!(v2.body, resp.body);
    // Loose version comparison: 2.10.0 is not older than itself, and 2.10.0 > 2.9.
    for up_to_date in ["2.10.0", "2.11"] {
        let path = format!("/json/1/Guardian/{up_to_date}/WINNT_x86_64/release/update.json");
        let resp = srv.get(&path);
        assert_eq!((resp.status, resp.body.as_str()), (404, ""), "{up_to_date}");
    }
    // Unknown platform: no update; unknown parameter: 400; wrong shape: 404.
    assert_eq!(
        srv.get("/json/1/Guardian/2.0/Darwin/release/update.json")
            .status,
        404
    );
    assert_eq!(
        srv.get("/json/1/Guardian/2.0/WINNT_x86_64/release/update.json?x=1")
            .status,
        400
    );
    assert_eq!(
        srv.get("/json/3/Guardian/2.0/WINNT_x86_64/release/update.json")
            .status,
        404
    );
    // A Guardian blob is not an XML answer: Balrog fails there, so does Kiln (without leaking).
    let xml = srv.get("/update/6/Guardian/2.0/1/WINNT_x86_64/en-US/release/x/SSE3/d/1/update.xml");
    assert_eq!(xml.status, 500);
}
}

both_backends! {
#[test]
fn admin_validates_addon_blobs_as_balrog() {
    let srv = server();
    let cases = [
        (
            json!({"name": "G", "schema_version": 1000, "hashFunction": "sha512", "vendors": {"v": {"version": "1",
                "platforms": {"p": {"filesize": 1, "hashValue": "short", "fileUrl": "http://addons.example.org/a"}}}}}),
            "required length of 128 for sha512",
        ),
        (
            json!({"name": "G", "schema_version": 1000, "hashFunction": "md5", "vendors": {}}),
            "hashFunction",
        ),
        (
            json!({"name": "G", "schema_version": 4000, "products": ["a"], "blobs": ["b"]}),
            "exactly one of products or blobs",
        ),
        (
            json!({"name": "G", "schema_version": 5000, "uninstall": true, "addons": {}}),
            "'addons' is not allowed",
        ),
        (
            json!({"name": "G", "schema_version": 5000, "addons": {"a": {"version": "1",
                "platforms": {"p": {"filesize": 1, "hashValue": "h", "fileUrl": "http://evil.example.com/a"}}}}}),
            "allowlisted",
        ),
        (
            json!({"name": "G", "schema_version": 10000, "product": "Guardian", "version": "1", "hashFunction": "sha512",
                "platforms": {"p": {"fileUrl": "http://addons.example.org/a"}}}),
            "hashValue is required",
        ),
    ];
    for (blob, reason) in cases {
        let resp = srv.api(
            "PUT",
            "/releases/G",
            Some(&srv.admin_token),
            Some(json!({"blob": blob, "product": "CDM"})),
        );
        assert_eq!(resp.status, 400, "{blob}: {}", resp.body);
        let error = resp.json()["error"].as_str().unwrap_or("").to_owned();
        assert!(error.contains(reason), "{error} should mention {reason}");
    }
}
}

both_backends! {
/// Balrog's `testGetWithResponseProducts*`: a SuperBlob whose products map App Release blobs
/// contributes their patch lines only (their inner XML), and a product whose release lacks the
/// platform contributes nothing.
#[test]
fn superblob_of_app_releases_takes_their_patches() {
    let srv = Server::start_with(|c| {
        c.client.allowlisted_domains.0.insert(
            "a.example".to_owned(),
            vec!["response-a".to_owned(), "response-b".to_owned()],
        );
    });
    let app = |name: &str, size: u64, platforms: &[&str]| {
        let platforms: serde_json::Map<String, Value> = platforms
            .iter()
            .map(|p| {
                let url = format!("http://a.example/{name}-{p}");
                let locale = json!({"complete": {"filesize": size, "from": "*", "hashValue": "23", "fileUrl": url}});
                ((*p).to_owned(), json!({"buildID": "25", "locales": {"l": locale}}))
            })
            .collect();
        json!({"name": name, "schema_version": 1, "extv": "2.5", "hashFunction": "sha512", "platforms": platforms})
    };
    put(&srv, app("response-a", 22, &["p", "q"]), "response-a");
    put(&srv, app("response-b", 27777777, &["p"]), "response-b");
    put(
        &srv,
        json!({"name": "gmp", "schema_version": 4000, "products": ["response-a", "response-b"]}),
        "gmp",
    );
    srv.add_rule(rule_for("gmp", "gmp"));
    srv.add_rule(rule_for("response-a", "response-a"));
    srv.add_rule(rule_for("response-b", "response-b"));
    let patch = |name: &str, p: &str, size: u64| {
        format!("        <patch type=\"complete\" URL=\"http://a.example/{name}-{p}\" hashFunction=\"sha512\" hashValue=\"23\" size=\"{size}\"/>")
    };
    let doc = |lines: &[String]| {
        format!(
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n{}\n    </addons>\n</updates>",
            lines.join("\n")
        )
    };
    let at = |target: &str| {
        srv.get(&format!(
            "/update/4/gmp/1.0/1/{target}/l/a/a/a/a/1/update.xml"
        ))
        .body
    };
    assert_eq!(
        at("p"),
        doc(&[
            patch("response-a", "p", 22),
            patch("response-b", "p", 27777777)
        ])
    );
    assert_eq!(at("q"), doc(&[patch("response-a", "q", 22)]));
}
}
