use serde_json::{json, Value};

use crate::util::*;

fn loaded() -> Server {
    let srv = Server::start();
    for blob in [
        firefox_54(),
        firefox_56(),
        firefox_60(),
        firefox_70(),
        desupport(),
    ] {
        srv.put_release(blob);
    }
    srv
}

const FROM_54: &str = "/update/6/Firefox/54.0.1/20170628075643/WINNT_x86-msvc/en-US/release/";

both_backends! {
#[test]
fn every_url_version_and_esrpre_give_the_same_document() {
    let srv = loaded();
    let id = srv.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"channel": "release"}),
    ));
    let common = "Firefox/54.0.1/20170628075643/WINNT_x86-msvc/en-US/release";
    for path in [
        format!("/update/1/{common}/update.xml"),
        format!("/update/2/{common}/Windows_NT%206.1/update.xml"),
        format!("/update/3/{common}/Windows_NT%206.1/default/default/update.xml"),
        "/update/3/Firefox/54.0.1esrpre/20170628075643/WINNT_x86-msvc/en-US/release/Windows/default/default/update.xml".to_owned(),
        format!("/update/4/{common}/Windows_NT%206.1/default/default/56.0/update.xml"),
        format!("/update/5/{common}/Windows_NT%206.1/default/default/IMEI/update.xml"),
        format!("/update/6/{common}/{Q6}"),
    ] {
        let resp = srv.get(&path);
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.body, FX56_EN, "{path}");
        assert_eq!(resp.header("Rule-ID"), Some(id.to_string().as_str()));
        assert_eq!(resp.header("Rule-Data-Version"), Some("1"));
    }
}
}

both_backends! {
#[test]
fn response_headers() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    let resp = srv.get(&format!("{FROM_54}{Q6}"));
    assert_eq!(resp.header("Content-Type"), Some("text/xml; charset=utf-8"));
    assert_eq!(resp.header("Cache-Control"), Some("public, max-age=90"));
    assert_eq!(
        resp.header("Strict-Transport-Security"),
        Some("max-age=31536000;")
    );
    assert_eq!(resp.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(
        resp.header("Content-Security-Policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(resp.header("Content-Signature"), None);
    let none = srv
        .get("/update/6/Thunderbird/54.0.1/1/WINNT_x86-msvc/en-US/release/x/SSE3/d/1/update.xml");
    assert_eq!(none.body, EMPTY);
    assert_eq!(none.header("Rule-ID"), Some("unknown"));
    assert_eq!(none.header("Rule-Data-Version"), Some("unknown"));
}
}

both_backends! {
#[test]
fn avast_quirks_and_percent_decoding() {
    let srv = loaded();
    srv.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"instructionSet": "SSE3", "memory": ">4000"}),
    ));
    let path = "/update/6/Firefox/54.0.1/20170628075643/WINNT_x86-msvc/x86%20en-US/release/Windows_NT%206.1/ISET%3aSSE3%2cMEM%3a8000/default/default/update.xml";
    assert_eq!(srv.get(path).body, FX56_EN);
    let forced = srv.get(&format!("{path}?force=1?avast=1&avast=1"));
    assert_eq!(forced.status, 200);
    assert_eq!(forced.body, FX56_EN);
}
}

both_backends! {
#[test]
fn bad_requests() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    let bad_version = srv.get(&v6("abc", "1", "WINNT_x86-msvc", "en-US", "release"));
    assert_eq!(bad_version.status, 400);
    assert!(bad_version
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(bad_version.body, "Version number abc is invalid.");
    assert_eq!(
        bad_version.header("Cache-Control"),
        None,
        "errors are not cacheable"
    );
    let beta = srv.get(&v6("60.0b3", "1", "WINNT_x86-msvc", "en-US", "release"));
    assert_eq!(beta.status, 400);

    let extra = srv.get(&format!("{FROM_54}{Q6}?foo=1"));
    assert_eq!(extra.status, 400);
    assert_eq!(
        extra.header("Content-Type"),
        Some("application/problem+json")
    );
    assert_eq!(
        extra.json()["detail"],
        "Extra query parameter(s) foo not in spec"
    );
    let v2_pin = srv
        .get("/update/2/Firefox/54.0.1/1/WINNT_x86-msvc/en-US/release/Windows/update.xml?pin=56.");
    assert_eq!(v2_pin.status, 400);
    assert_eq!(srv.get(&format!("{FROM_54}{Q6}?pin=")).status, 400);
    let bad_pin = srv.get(&format!("{FROM_54}{Q6}?pin=2"));
    assert_eq!(
        (bad_pin.status, bad_pin.body.as_str()),
        (400, "Version Pin String '2' is invalid.")
    );
    let locale = srv.get(&v6("54.0.1", "1", "WINNT_x86-msvc", "xx", "release"));
    assert_eq!(locale.status, 400);
    assert_eq!(
        locale.body,
        "No such locale 'xx' in platform 'WINNT_x86-msvc'"
    );
}
}

both_backends! {
#[test]
fn unmatched_paths() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    for path in [
        "/update/7/Firefox/54.0.1/20170628075643/WINNT_x86-msvc/en-US/release/a/b/c/d/update.xml",
        "/update/whizzybang",
        "/update/6/Firefox/54.0.1/update.xml",
        "/update/1/Firefox/54.0.1/20170628075643/WINNT_x86-msvc/en-US/release/extra/update.xml",
        "/update/6/Firefox/54.0.1/20170628075643/WINNT_x86-msvc/en-US/release/a/b/c/d/notupdate.xml",
        "/update",
        "/updates/foo",
    ] {
        let resp = srv.get(path);
        assert_eq!((resp.status, resp.body.as_str()), (200, EMPTY), "{path}");
        assert_eq!(resp.header("Content-Type"), Some("text/xml; charset=utf-8"));
    }
    let other = srv.get("/nothing/here");
    assert_eq!(other.status, 404);
    assert!(other
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(other
        .body
        .starts_with("The requested URL was not found on the server."));
    // Balrog's 404 handler sends the empty document without Cache-Control or rule headers.
    let unmatched = srv.get("/update/whizzybang");
    assert_eq!(
        (
            unmatched.header("Cache-Control"),
            unmatched.header("Rule-ID")
        ),
        (None, None)
    );
    assert_eq!(unmatched.header("X-Content-Type-Options"), Some("nosniff"));
}
}

both_backends! {
#[test]
fn partial_only_for_the_exact_from_build_including_aliases() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    let complete_only = FX56_EN
        .lines()
        .filter(|l| !l.contains("partial"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        srv.get(&v6(
            "54.0.1",
            "20170628075600",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body,
        complete_only
    );
    assert_eq!(
        srv.get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc-x86",
            "en-US",
            "release"
        ))
        .body,
        FX56_EN
    );
    // 54.0.1's de build has its own buildID.
    let de_wrong = srv
        .get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "de",
            "release",
        ))
        .body;
    assert!(
        !de_wrong.contains("partial") && de_wrong.contains("lang=de"),
        "{de_wrong}"
    );
    let de_right = srv
        .get(&v6(
            "54.0.1",
            "20170628075699",
            "WINNT_x86-msvc",
            "de",
            "release",
        ))
        .body;
    assert!(
        de_right.contains("type=\"partial\"") && de_right.contains("size=\"26673536\""),
        "{de_right}"
    );
}
}

both_backends! {
#[test]
fn file_urls_resolve_without_fall_through_and_special_force_hosts() {
    let srv = loaded();
    srv.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"channel": "release*"}),
    ));
    let expected = "<?xml version=\"1.0\"?>
<updates>
    <update type=\"minor\" displayVersion=\"56.0\" appVersion=\"56.0\" platformVersion=\"56.0\" buildID=\"20170918210324\" detailsURL=\"https://www.mozilla.org/en-US/firefox/56.0/releasenotes/\">
        <patch type=\"complete\" URL=\"http://download.example.org/localtest/firefox-56.0-complete?os=win32\" hashFunction=\"sha512\" hashValue=\"ab12\" size=\"38171451\"/>
    </update>
</updates>";
    // The release-localtest block has no partials: no fall-through to "*".
    assert_eq!(
        srv.get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            "release-localtest"
        ))
        .body,
        expected
    );
    // The fallback channel of release-localtest-cck-x is release-localtest.
    assert_eq!(
        srv.get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            "release-localtest-cck-x"
        ))
        .body,
        expected
    );
    let forced = srv.get(&format!(
        "{}?force=1",
        v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            "release-localtest"
        )
    ));
    assert_eq!(
        forced.body,
        expected.replace("?os=win32", "?os=win32&amp;force=1")
    );
    // download.mozilla.org is not a special-force host.
    let other = srv.get(&format!("{FROM_54}{Q6}?force=-1"));
    assert_eq!(other.body, FX56_EN);
}
}

both_backends! {
#[test]
fn exact_xml_schema_6_9_and_desupport() {
    let srv = loaded();
    srv.add_rule(rule(
        100,
        "Firefox-60.0-build1",
        json!({"channel": "release"}),
    ));
    srv.add_rule(rule(100, "Firefox-70.0-build1", json!({"channel": "beta"})));
    srv.add_rule(rule(
        100,
        "Firefox-desupport",
        json!({"channel": "esr", "update_type": "major"}),
    ));
    let v6doc = srv
        .get(&v6(
            "56.0",
            "20170918210324",
            "WINNT_x86-msvc",
            "en-US",
            "release",
        ))
        .body;
    assert_eq!(v6doc, "<?xml version=\"1.0\"?>
<updates>
    <update type=\"minor\" displayVersion=\"60.0\" appVersion=\"60.0\" platformVersion=\"None\" buildID=\"20180501000000\" detailsURL=\"https://www.mozilla.org/en-US/firefox/60.0/releasenotes/\" showPrompt=\"true\" actions=\"showURL\" openURL=\"https://www.example.org/en-US/whatsnew\" promptWaitTime=\"3600\">
        <patch type=\"complete\" URL=\"http://download.example.org/firefox-60.0-complete.mar\" hashFunction=\"sha512\" hashValue=\"h60\" size=\"42\"/>
    </update>
</updates>");
    let v9_en = srv
        .get(&v6(
            "56.0",
            "20170918210324",
            "WINNT_x86-msvc",
            "en-US",
            "beta",
        ))
        .body;
    assert_eq!(v9_en, "<?xml version=\"1.0\"?>
<updates>
    <update actions=\"showURL\" appVersion=\"70.0\" buildID=\"20191001000000\" detailsURL=\"https://www.mozilla.org/en-US/firefox/70.0/releasenotes/\" displayVersion=\"70.0\" openURL=\"https://www.example.org/en-US/beta\" type=\"minor\">
        <patch type=\"complete\" URL=\"http://download.example.org/firefox-70.0-complete.mar?lang=en-US\" hashFunction=\"sha512\" hashValue=\"h70\" size=\"70\"/>
    </update>
</updates>");
    let v9_de = srv
        .get(&v6(
            "56.0",
            "20170918210324",
            "WINNT_x86-msvc",
            "de",
            "beta",
        ))
        .body;
    assert!(v9_de.contains("<update actions=\"showURL\" appVersion=\"70.0\" buildID=\"20191001000000\" detailsURL=\"https://www.mozilla.org/de/firefox/70.0/releasenotes/\" disableBITS=\"true\" displayVersion=\"70.0\" openURL=\"https://www.example.org/de/beta\" promptWaitTime=\"60\" type=\"minor\">"), "{v9_de}");
    let v9_de_new = srv
        .get(&v6(
            "60.0",
            "20180501000000",
            "WINNT_x86-msvc",
            "de",
            "beta",
        ))
        .body;
    assert!(!v9_de_new.contains("disableBITS"), "{v9_de_new}");
    let desupport = srv
        .get(&v6(
            "43.0",
            "20160101000000",
            "WINNT_x86-msvc",
            "en-US",
            "esr",
        ))
        .body;
    assert_eq!(desupport, "<?xml version=\"1.0\"?>
<updates>

    <update type=\"major\" unsupported=\"true\" detailsURL=\"https://support.example.org/en-US/WINNT/43.0/desupport\" displayVersion=\"Unsupported\">
</update>
</updates>");
}
}

both_backends! {
#[test]
fn downgrade_protection_and_null_mapping() {
    let srv = loaded();
    let id = srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    assert_eq!(
        srv.get(&v6(
            "57.0",
            "20171001000000",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body,
        EMPTY
    );
    assert_eq!(
        srv.get(&v6(
            "56.0",
            "20170918210324",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body,
        EMPTY
    );
    assert!(srv
        .get(&v6(
            "56.0",
            "20170918210000",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body
        .contains("buildID=\"20170918210324\""));
    assert_eq!(
        srv.get(&v6("54.0.1", "1", "Linux_x86_64-gcc3", "en-US", "release"))
            .body,
        EMPTY
    );
    let block = srv.add_rule(json!({"priority": 200, "backgroundRate": 100, "update_type": "minor", "product": "Firefox", "osVersion": "Windows_NT 6.1"}));
    let blocked = srv.get(&format!("{FROM_54}{Q6}"));
    assert_eq!(blocked.body, EMPTY);
    assert_eq!(blocked.header("Rule-ID"), Some(block.to_string().as_str()));
    assert_ne!(block, id);
}
}

both_backends! {
#[test]
fn throttling_with_the_test_dice() {
    let srv = loaded();
    let id = srv.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"backgroundRate": 25, "fallbackMapping": "Firefox-54.0.1-build1"}),
    ));
    let path = v6(
        "50.0",
        "20161101000000",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    let with = |dice: &str, qs: &str| {
        srv.get_with(&format!("{path}{qs}"), &[("X-Test-Dice", dice)])
            .body
    };
    let main = "appVersion=\"56.0\"";
    let fallback = "appVersion=\"54.0.1\"";
    assert!(with("24", "").contains(main));
    assert!(with("0", "").contains(main));
    assert!(with("25", "").contains(fallback));
    assert!(with("99", "").contains(fallback));
    assert!(with("99", "?force=1").contains(main));
    assert!(with("0", "?force=-1").contains(fallback));
    assert_eq!(srv.get_with(&path, &[("X-Test-Dice", "100")]).status, 400);

    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"backgroundRate": 0, "data_version": 1})),
    );
    assert!(with("0", "").contains(fallback));
    assert!(with("0", "?force=1").contains(main));
    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"backgroundRate": 100, "data_version": 2})),
    );
    assert!(with("99", "").contains(main));
    assert!(
        with("99", "?force=-1").contains(main),
        "force=-1 has no effect at rate 100"
    );
    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"backgroundRate": 25, "fallbackMapping": null, "data_version": 3})),
    );
    let throttled = srv.get_with(&path, &[("X-Test-Dice", "30")]);
    assert_eq!(throttled.body, EMPTY);
    assert_eq!(throttled.header("Rule-ID"), Some(id.to_string().as_str()));
}
}

both_backends! {
#[test]
fn dice_header_is_ignored_unless_enabled() {
    let srv = Server::start_with(|c| c.testing.dice_header = false);
    srv.put_release(firefox_54());
    srv.put_release(firefox_56());
    srv.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"backgroundRate": 50, "fallbackMapping": "Firefox-54.0.1-build1"}),
    ));
    let path = v6(
        "50.0",
        "20161101000000",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    assert_eq!(
        srv.get_with(&path, &[("X-Test-Dice", "not a number")])
            .status,
        200
    );
    let fallbacks = (0..30)
        .filter(|_| {
            srv.get_with(&path, &[("X-Test-Dice", "0")])
                .body
                .contains("54.0.1")
        })
        .count();
    assert!(
        fallbacks > 0,
        "with the header disabled the real dice must roll"
    );
}
}

both_backends! {
#[test]
fn emergency_shutoff_covers_channel_and_cck_fallback() {
    let srv = loaded();
    srv.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"channel": "release*"}),
    ));
    srv.admin(
        "POST",
        "/emergency_shutoffs",
        Some(json!({"product": "Firefox", "channel": "release"})),
    );
    for channel in ["release", "release-cck-foo"] {
        let resp = srv.get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            channel,
        ));
        assert_eq!(
            (resp.body.as_str(), resp.header("Rule-ID")),
            (EMPTY, Some("unknown")),
            "{channel}"
        );
    }
    assert_ne!(
        srv.get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            "releasetest"
        ))
        .body,
        EMPTY
    );
    srv.admin(
        "DELETE",
        "/emergency_shutoffs",
        Some(json!({"product": "Firefox", "channel": "release"})),
    );
    assert_eq!(srv.get(&format!("{FROM_54}{Q6}")).body, FX56_EN);
}
}

both_backends! {
#[test]
fn pinning() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-60.0-build1", json!({})));
    srv.admin(
        "PUT",
        "/pinnable_releases/Firefox/release/56.",
        Some(json!({"mapping": "Firefox-56.0-build1"})),
    );
    let with_pin = |channel: &str, version: &str, build: &str, pin: &str| {
        srv.get(&format!(
            "{}?pin={pin}",
            v6(version, build, "WINNT_x86-msvc", "en-US", channel)
        ))
        .body
    };
    // Older pin: the pinned release is served (through the -cck- fallback channel too).
    assert_eq!(
        with_pin("release", "54.0.1", "20170628075643", "56."),
        FX56_EN
    );
    assert_eq!(
        with_pin("release-cck-x", "54.0.1", "20170628075643", "56."),
        FX56_EN
    );
    // Pin not older than the release: served unchanged.
    assert!(with_pin("release", "54.0.1", "20170628075643", "60.").contains("appVersion=\"60.0\""));
    assert!(
        with_pin("release", "54.0.1", "20170628075643", "61.0.").contains("appVersion=\"60.0\"")
    );
    // Unknown pin: the newer release is served.
    assert!(with_pin("release", "54.0.1", "20170628075643", "55.").contains("appVersion=\"60.0\""));
    // Pinned release not servable (client already on it): empty.
    assert_eq!(with_pin("release", "56.0", "20170918210324", "56."), EMPTY);
}
}

both_backends! {
#[test]
fn watershed_and_desupport_rules_by_priority() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    srv.add_rule(rule(
        150,
        "Firefox-54.0.1-build1",
        json!({"version": "<54.0"}),
    ));
    srv.add_rule(rule(200, "Firefox-desupport", json!({"version": "<45.0"})));
    assert!(srv
        .get(&v6(
            "43.0",
            "20150101000000",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body
        .contains("unsupported=\"true\""));
    assert!(srv
        .get(&v6(
            "50.0",
            "20161101000000",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body
        .contains("appVersion=\"54.0.1\""));
    assert_eq!(srv.get(&format!("{FROM_54}{Q6}")).body, FX56_EN);
}
}

both_backends! {
#[test]
fn health_and_metrics() {
    let srv = loaded();
    srv.add_rule(rule(100, "Firefox-56.0-build1", json!({})));
    let heartbeat = srv.get("/__heartbeat__");
    assert_eq!(heartbeat.status, 200);
    let health = heartbeat.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");
    let backend = match backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(health["backend"], backend);
    assert!(health["snapshot_version"].as_i64().unwrap() > 0, "{health}");
    assert!(health["snapshot_age_ms"].as_i64().unwrap() < 5000, "{health}");
    assert_eq!(srv.get("/__lbheartbeat__").status, 200);
    srv.get(&format!("{FROM_54}{Q6}"));
    let metrics = srv.get("/metrics").body;
    assert!(
        metrics.contains("kiln_http_requests_total{route=\"update\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("kiln_rules 1"));
    assert!(
        metrics.contains("kiln_response_memo_entries 1"),
        "{metrics}"
    );
    assert!(metrics.contains("kiln_releases 5"));
    assert!(metrics
        .contains("kiln_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"update\"} 1"));
    assert!(metrics.ends_with("# EOF\n"), "OpenMetrics ends with # EOF: {metrics}");
}
}

both_backends! {
#[test]
fn internal_errors_do_not_leak() {
    let srv = loaded();
    let mut blob = firefox_60();
    blob["name"] = json!("Firefox-60.0-nourl");
    blob.as_object_mut().unwrap().remove("fileUrls");
    srv.put_release(blob);
    srv.add_rule(rule(100, "Firefox-60.0-nourl", json!({})));
    let resp = srv.get(&v6(
        "56.0",
        "20170918210324",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    ));
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/problem+json")
    );
    assert!(
        !resp.body.contains("Firefox-60.0-nourl") && !resp.body.contains("complete"),
        "{}",
        resp.body
    );
}
}

both_backends! {
#[test]
fn nightly_latest_quirk_of_bug_1517743() {
    let srv = Server::start();
    let mut blob = firefox_60();
    blob["name"] = json!("Firefox-mozilla-central-nightly-latest");
    srv.put_release(blob);
    srv.add_rule(rule(
        100,
        "Firefox-mozilla-central-nightly-latest",
        json!({}),
    ));
    let quirk = srv
        .get(&v6(
            "59.0",
            "20190103220533",
            "WINNT_x86-msvc",
            "en-US",
            "nightly",
        ))
        .body;
    assert!(
        quirk.starts_with("<?xml version=\"1.0\"?><updates><update type=\"minor\""),
        "{quirk}"
    );
    assert!(!quirk.contains('\n') && !quirk.contains("    "));
    let normal = srv
        .get(&v6(
            "59.0",
            "20170101000000",
            "WINNT_x86-msvc",
            "en-US",
            "nightly",
        ))
        .body;
    assert!(normal.contains("\n    <update"));
}
}

both_backends! {
#[test]
fn memoized_answers_equal_fresh_ones_and_die_with_the_snapshot() {
    let memo = loaded();
    let fresh = Server::start_with(|c| c.client.response_memo_entries = 0);
    for blob in [
        firefox_54(),
        firefox_56(),
        firefox_60(),
        firefox_70(),
        desupport(),
    ] {
        fresh.put_release(blob);
    }
    for srv in [&memo, &fresh] {
        srv.add_rule(rule(
            100,
            "Firefox-56.0-build1",
            json!({"channel": "release*"}),
        ));
    }
    let paths = [
        format!("{FROM_54}{Q6}"),
        format!("{FROM_54}{Q6}?force=1"),
        v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "de",
            "release-localtest",
        ),
        v6(
            "56.0",
            "20170918210324",
            "WINNT_x86-msvc",
            "en-US",
            "release",
        ),
    ];
    let hits = |srv: &Server| -> u64 {
        let metrics = srv.get("/metrics").body;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("kiln_response_memo_hits_total "))
            .unwrap_or_else(|| panic!("no memo hit counter in {metrics}"))
            .parse()
            .unwrap()
    };
    for pass in 0..2 {
        for path in &paths {
            let (a, b) = (memo.get(path), fresh.get(path));
            assert_eq!(
                (a.status, &a.body, a.header("Rule-ID")),
                (b.status, &b.body, b.header("Rule-ID")),
                "{path}"
            );
        }
        // Nothing rolls the dice here (rate 100): the first pass fills the memo, the second is
        // answered from it, every path once; the server without a memo never hits.
        let expected = if pass == 0 { 0 } else { paths.len() as u64 };
        assert_eq!(hits(&memo), expected, "pass {pass}");
        assert_eq!(hits(&fresh), 0);
    }
    assert_eq!(
        memo.get(&format!("{FROM_54}{Q6}?foo=1")).status,
        400,
        "errors are never memoized away"
    );
    memo.admin(
        "PUT",
        "/rules/1",
        Some(json!({"mapping": "Firefox-60.0-build1", "data_version": 1})),
    );
    assert!(
        memo.get(&paths[0]).body.contains("appVersion=\"60.0\""),
        "a new snapshot starts with an empty memo"
    );
}
}

both_backends! {
#[test]
fn balrog_edge_cases_of_urls_build_ids_and_interpolation() {
    let srv = Server::start();
    let blob = json!({
        "name": "Edge", "schema_version": 4, "hashFunction": "sha512", "product": "Firefox",
        "appVersion": "60.0", "displayVersion": "60.0", "platformVersion": "60.0",
        "detailsUrl": "https://www.example.org/%locale%/notes", "licenseUrl": "",
        "fileUrls": {"beta": {}, "*": {"completes": {"*": "http://download.example.org/%locale%/%OS_FTP%.mar"}}},
        "platforms": {
            "WINNT_x86-msvc": {"buildID": "20180501000000", "OS_FTP": "win32", "OS_BOUNCER": "win",
                "locales": {"en-US": {"completes": [{"from": "*", "filesize": 1, "hashValue": "h"}]}}},
            "NoBuildID": {"locales": {"en-US": {"completes": []}}}
        }
    });
    srv.put_release(blob);
    srv.add_rule(rule(100, "Edge", json!({})));
    // An empty fileUrls block does not stop the fall-through to "*"; %locale% works lower-case too;
    // a present but empty licenseUrl is still written.
    let body = srv
        .get(&v6("59.0", "1", "WINNT_x86-msvc", "en-US", "beta"))
        .body;
    assert_eq!(body, "<?xml version=\"1.0\"?>
<updates>
    <update type=\"minor\" displayVersion=\"60.0\" appVersion=\"60.0\" platformVersion=\"60.0\" buildID=\"20180501000000\" detailsURL=\"https://www.example.org/en-US/notes\" licenseURL=\"\">
        <patch type=\"complete\" URL=\"http://download.example.org/en-US/win32.mar\" hashFunction=\"sha512\" hashValue=\"h\" size=\"1\"/>
    </update>
</updates>");
    // Same version: the buildID lookup names what is missing (Balrog's getBuildID).
    let no_platform = srv.get(&v6("60.0", "1", "Linux_x86_64-gcc3", "en-US", "release"));
    assert_eq!(
        (no_platform.status, no_platform.body.as_str()),
        (
            400,
            "No such locale 'en-US' in platform 'Linux_x86_64-gcc3'"
        )
    );
    let no_build = srv.get(&v6("60.0", "1", "NoBuildID", "en-US", "release"));
    assert_eq!(
        (no_build.status, no_build.body.as_str()),
        (400, "No buildID for platform 'NoBuildID'")
    );
    // Older client, platform absent from the release: no update.
    assert_eq!(
        srv.get(&v6("59.0", "1", "Linux_x86_64-gcc3", "en-US", "release"))
            .body,
        EMPTY
    );
}
}

both_backends! {
/// Balrog (Python) never finds a numeric buildID equal to the query's string and cannot order the
/// two: a partial from a release whose buildID is a number is never offered, and a same-version
/// request against a numeric buildID is a 500. No captured case covers this; it follows from
/// Balrog's `matchesUpdateQuery` and `shouldServeUpdate`.
#[test]
fn numeric_build_ids_behave_as_in_python() {
    let srv = Server::start_with(|c| {
        c.client
            .allowlisted_domains
            .0
            .insert("a.example".to_owned(), vec!["h".to_owned()]);
    });
    let blob = |name: &str, version: &str, build: Value, partial_from: &str| {
        json!({"name": name, "schema_version": 4, "hashFunction": "sha512", "product": "h",
            "appVersion": version, "displayVersion": version,
            "fileUrls": {"*": {"completes": {"*": "http://a.example/c"},
                               "partials": {partial_from: "http://a.example/p"}}},
            "platforms": {"p": {"buildID": build, "locales": {"l": {
                "completes": [{"from": "*", "filesize": 1, "hashValue": "c"}],
                "partials": [{"from": partial_from, "filesize": 2, "hashValue": "p"}]}}}}})
    };
    for b in [
        blob("h1", "30.0", json!(10), "h0"),
        blob("h1s", "30.0", json!("10"), "h0"),
        blob("h2", "31.0", json!(50), "h1"),
        blob("h3", "32.0", json!("60"), "h1s"),
    ] {
        let name = b["name"].as_str().unwrap().to_owned();
        srv.admin(
            "PUT",
            &format!("/releases/{name}"),
            Some(json!({"blob": b, "product": "h"})),
        );
    }
    srv.add_rule(json!({"priority": 1, "mapping": "h2", "backgroundRate": 100, "update_type": "minor", "product": "h", "channel": "c2"}));
    srv.add_rule(json!({"priority": 1, "mapping": "h3", "backgroundRate": 100, "update_type": "minor", "product": "h", "channel": "c3"}));
    let path = |version: &str, build: &str, channel: &str| {
        format!("/update/3/h/{version}/{build}/p/l/{channel}/a/a/a/update.xml")
    };
    // From h1 (numeric buildID 10): only the complete; from h1s (string "10"): the partial too.
    let from_numeric = srv.get(&path("30.0", "10", "c2")).body;
    assert!(
        from_numeric.contains("type=\"complete\"") && !from_numeric.contains("type=\"partial\""),
        "{from_numeric}"
    );
    let from_string = srv.get(&path("30.0", "10", "c3")).body;
    assert!(from_string.contains("type=\"partial\""), "{from_string}");
    // The numeric buildID is printed as is.
    assert!(from_numeric.contains("buildID=\"50\""), "{from_numeric}");
    // Same version as h2: Python compares "40" >= 50 and raises.
    assert_eq!(srv.get(&path("31.0", "40", "c2")).status, 500);
}
}

both_backends! {
#[test]
fn robots_txt_keeps_crawlers_out() {
    let srv = Server::start();
    let resp = srv.get("/robots.txt");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(resp.body.starts_with("User-agent: *"), "{}", resp.body);
}
}
