use serde_json::{json, Value};
use updater_server::client::query::{self, UpdateQuery};
use updater_server::client::rule::{CompiledRule, RuleRow};

fn q_from(path: &str) -> UpdateQuery {
    query::parse(path, "", "Mozilla/5.0")
        .unwrap()
        .expect("route")
}

/// A v6 query with the given overrides.
fn q(
    version: &str,
    build_id: &str,
    channel: &str,
    os: &str,
    caps: &str,
    dist: &str,
) -> UpdateQuery {
    q_from(&format!("/update/6/Firefox/{version}/{build_id}/WINNT_x86-msvc/en-US/{channel}/{os}/{caps}/{dist}/1.0/update.xml"))
}

fn base() -> UpdateQuery {
    q(
        "56.0",
        "20170918210324",
        "release",
        "Windows_NT 10.0",
        "ISET:SSE3,MEM:8000,JAWS:0",
        "default",
    )
}

fn rule(column: &str, value: Value) -> CompiledRule {
    let mut r = json!({"priority": 1, "backgroundRate": 100, "update_type": "minor"});
    r[column] = value;
    let row: RuleRow = serde_json::from_value(r).unwrap();
    CompiledRule::compile(1, 1, row).unwrap()
}

fn check(column: &str, value: Value, cases: &[(UpdateQuery, bool)]) {
    let r = rule(column, value.clone());
    for (query, want) in cases {
        assert_eq!(
            r.matches(query).unwrap(),
            *want,
            "{column}={value} vs {query:?}"
        );
    }
}

#[test]
fn channel_globs_and_fallback() {
    let with = |c: &str| q("56.0", "1", c, "x", "SSE3", "d");
    check(
        "channel",
        json!("release*"),
        &[
            (with("release"), true),
            (with("releasetest"), true),
            (with("release-cck-x"), true),
            (with("beta"), false),
        ],
    );
    check(
        "channel",
        json!("release"),
        &[
            (with("release"), true),
            (with("release-cck-foo"), true),
            (with("releasetest"), false),
        ],
    );
    check(
        "channel",
        json!("a*"),
        &[(with("a"), false), (with("abc"), false)],
    );
    check("channel", json!("*"), &[(with("release"), false)]);
    check(
        "channel",
        json!("rel*ase"),
        &[(with("rel*ase"), true), (with("release"), false)],
    );
}

#[test]
fn version_globs_lists_and_operators() {
    let v = |ver: &str| q(ver, "1", "release", "x", "SSE3", "d");
    check(
        "version",
        json!("78.8.*"),
        &[
            (v("78.8.0"), true),
            (v("78.8.1"), true),
            (v("78.9.0"), false),
        ],
    );
    check(
        "version",
        json!("80.*"),
        &[(v("80.0a1"), true), (v("80.0"), true), (v("81.0"), false)],
    );
    // Balrog's two-way GlobVersion equality: X.Y.* skips the pre-releases of X.Y.0 only.
    check(
        "version",
        json!("80.0.*"),
        &[
            (v("80.0"), true),
            (v("80.0.1"), true),
            (v("80.0a1"), false),
            (v("80.0.1a1"), true),
            (v("80.1"), false),
        ],
    );
    check(
        "version",
        json!("2.0.1,2.0.2"),
        &[(v("2.0"), false), (v("2.0.1"), true), (v("2.0.2"), true)],
    );
    check(
        "version",
        json!("<56.0"),
        &[(v("55.0.1"), true), (v("56.0"), false), (v("56.0a1"), true)],
    );
    check(
        "version",
        json!(">=56.0"),
        &[(v("56.0"), true), (v("56.0.1"), true), (v("55.0"), false)],
    );
    check("version", json!("0.4"), &[(v("0.4.0"), true)]);
    check(
        "version",
        json!("<=60.0,70.*"),
        &[(v("60.0"), true), (v("70.0.1"), true), (v("65.0"), false)],
    );
}

#[test]
fn invalid_query_version_errors_only_when_a_version_rule_is_evaluated() {
    let bad = q("60.0b3", "1", "release", "x", "SSE3", "d");
    assert!(rule("version", json!("<61.0")).matches(&bad).is_err());
    assert!(
        rule("version", json!("60.*")).matches(&bad).is_err(),
        "globs compare versions too"
    );
    assert!(rule("product", json!("Firefox")).matches(&bad).unwrap());
}

#[test]
fn build_id_string_operators() {
    let b = |id: &str| q("56.0", id, "release", "x", "SSE3", "d");
    check(
        "buildID",
        json!("20170918210324"),
        &[(b("20170918210324"), true), (b("20170918210325"), false)],
    );
    check(
        "buildID",
        json!("<20170918210324"),
        &[(b("20170918210323"), true), (b("20170918210324"), false)],
    );
    check(
        "buildID",
        json!(">=2017"),
        &[(b("2018"), true), (b("20160101000000"), false)],
    );
    // Compared as strings: "9" > "10".
    check("buildID", json!(">10"), &[(b("9"), true)]);
}

#[test]
fn memory_with_operators_and_missing_query() {
    let m = |caps: &str| q("56.0", "1", "release", "x", caps, "d");
    check(
        "memory",
        json!("<2048"),
        &[
            (m("ISET:SSE3,MEM:1024"), true),
            (m("ISET:SSE3,MEM:4096"), false),
            (m("ISET:SSE3"), true),
            (m("ISET:SSE3,MEM:lots"), true),
        ],
    );
    check(
        "memory",
        json!("8000"),
        &[(m("SSE3,8000"), true), (m("SSE3,8001"), false)],
    );
}

#[test]
fn os_version_simple_expressions() {
    let o = |os: &str| q("56.0", "1", "release", os, "SSE3", "d");
    check(
        "osVersion",
        json!("foo 1"),
        &[(o("foo 1.2.3"), true), (o("foo 2"), false)],
    );
    check(
        "osVersion",
        json!("bar && baz"),
        &[(o("bar 1.3 baz 2.3"), true), (o("bar 1.3"), false)],
    );
    check(
        "osVersion",
        json!("Windows_NT 5.1,Windows_NT 5.2"),
        &[(o("Windows_NT 5.2.1"), true), (o("Windows_NT 6.1"), false)],
    );
}

#[test]
fn csv_columns_need_exact_entries() {
    let i = |caps: &str| q("56.0", "1", "release", "x", caps, "d");
    check(
        "instructionSet",
        json!("SSE,SSE2"),
        &[
            (i("ISET:SSE"), true),
            (i("ISET:SA"), false),
            (i("ISET:SSE3"), false),
            (i("SSE2"), true),
        ],
    );
    let d = |dist: &str| q("56.0", "1", "release", "x", "SSE3", dist);
    check(
        "distribution",
        json!("mozilla1,zilla"),
        &[
            (d("mozilla1"), true),
            (d("zilla"), true),
            (d("mozilla2"), false),
        ],
    );
    let l = q_from("/update/6/Firefox/56.0/1/WINNT_x86-msvc/bar-baz/release/x/SSE3/d/1/update.xml");
    check("locale", json!("bar,de"), &[(l.clone(), false)]);
    check("locale", json!("bar-baz"), &[(l, true)]);
    // Missing in the query: never matches a non-NULL rule.
    let v1 = q_from("/update/1/Firefox/56.0/1/WINNT_x86-msvc/en-US/release/update.xml");
    check("instructionSet", json!("SSE3"), &[(v1.clone(), false)]);
    check("distribution", json!("default"), &[(v1, false)]);
}

#[test]
fn dist_version_needs_the_field_in_the_url() {
    let v2 = q_from("/update/2/Firefox/56.0/1/WINNT_x86-msvc/en-US/release/Windows/update.xml");
    let v3 = q_from(
        "/update/3/Firefox/56.0/1/WINNT_x86-msvc/en-US/release/Windows/default/1.0/update.xml",
    );
    check(
        "distVersion",
        json!("1.0"),
        &[(v2, false), (v3.clone(), true)],
    );
    check("distVersion", json!("2.0"), &[(v3, false)]);
}

#[test]
fn tristate_mig64_and_jaws() {
    let with_mig = |v: Option<&str>| {
        let qs = v.map(|v| format!("mig64={v}")).unwrap_or_default();
        query::parse(
            &format!(
                "/update/6/Firefox/56.0/1/WINNT_x86-msvc/en-US/release/x/{}/d/1/update.xml",
                "ISET:SSE3"
            ),
            &qs,
            "",
        )
        .unwrap()
        .unwrap()
    };
    check(
        "mig64",
        json!(true),
        &[
            (with_mig(Some("1")), true),
            (with_mig(Some("0")), false),
            (with_mig(None), false),
        ],
    );
    check(
        "mig64",
        json!(false),
        &[
            (with_mig(Some("1")), false),
            (with_mig(Some("yes")), true),
            (with_mig(None), false),
        ],
    );
    let j = |caps: &str| q("56.0", "1", "release", "x", caps, "d");
    check(
        "jaws",
        json!(true),
        &[
            (j("ISET:SSE3,JAWS:1"), true),
            (j("ISET:SSE3,JAWS:0"), false),
            (j("ISET:SSE3"), false),
        ],
    );
    check(
        "jaws",
        json!(false),
        &[(j("ISET:SSE3,JAWS:0"), true), (j("ISET:SSE3"), false)],
    );
}

#[test]
fn exact_columns_and_header_architecture() {
    let ppc = query::parse(
        "/update/3/Firefox/3.6/1/Darwin_ppc-gcc3/en-US/release/OS/d/1/update.xml",
        "",
        "Mozilla/5.0 (Macintosh; PPC Mac OS X)",
    )
    .unwrap()
    .unwrap();
    let intel = query::parse(
        "/update/3/Firefox/3.6/1/Darwin_ppc-gcc3/en-US/release/OS/d/1/update.xml",
        "",
        "Intel Mac",
    )
    .unwrap()
    .unwrap();
    check(
        "headerArchitecture",
        json!("PPC"),
        &[(ppc, true), (intel.clone(), false)],
    );
    check("headerArchitecture", json!("Intel"), &[(intel, true)]);
    check("product", json!("Thunderbird"), &[(base(), false)]);
    check("buildTarget", json!("WINNT_x86-msvc"), &[(base(), true)]);
    check("buildTarget", json!("WINNT"), &[(base(), false)]);
}

#[test]
fn invalid_rule_values_are_rejected() {
    for (column, value) in [
        ("version", "=56.0"),
        ("version", "abc"),
        ("buildID", "!1"),
        ("memory", "<lots"),
        ("alias", "1bad"),
        ("version", "3.*"),
        ("version", "7*"),
        ("version", ">=78.*"),
    ] {
        let mut r = json!({"priority": 1, "backgroundRate": 100, "update_type": "minor"});
        r[column] = json!(value);
        let row: RuleRow = serde_json::from_value(r).unwrap();
        assert!(
            CompiledRule::compile(1, 1, row).is_err(),
            "{column}={value}"
        );
    }
    let mut r = json!({"priority": 1, "backgroundRate": 101, "update_type": "minor"});
    assert!(CompiledRule::compile(1, 1, serde_json::from_value(r.clone()).unwrap()).is_err());
    r["backgroundRate"] = json!(50);
    r["update_type"] = json!("sideways");
    assert!(serde_json::from_value::<RuleRow>(r).is_err());
}

#[test]
fn priority_order_ties_and_cck_fallback() {
    use std::sync::Arc;
    use updater_server::client::blob::Release;
    use updater_server::client::evaluate::evaluate;
    use updater_server::client::snapshot::{Snapshot, SnapshotData};
    use updater_server::config::ClientConfig;

    let release = |name: &str| {
        let blob =
            json!({"name": name, "schema_version": 50, "detailsUrl": "u", "displayVersion": name});
        Arc::new(Release::parse(name, 1, &blob, None).unwrap())
    };
    let row = |priority: i64, mapping: &str, extra: Value| {
        let mut r = json!({"priority": priority, "backgroundRate": 100, "update_type": "minor", "mapping": mapping});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        serde_json::from_value::<RuleRow>(r).unwrap()
    };
    let snapshot = Snapshot::build(SnapshotData {
        rules: vec![
            (1, 1, row(10, "low", json!({}))),
            (5, 1, row(20, "tie-later-id", json!({"channel": "release"}))),
            (
                3,
                1,
                row(20, "tie-first-id", json!({"channel": "release*"})),
            ),
            (
                4,
                1,
                row(30, "other-product", json!({"product": "Thunderbird"})),
            ),
            (6, 1, row(40, "beta-only", json!({"channel": "beta"}))),
        ],
        releases: [
            "low",
            "tie-later-id",
            "tie-first-id",
            "other-product",
            "beta-only",
        ]
        .into_iter()
        .map(release)
        .collect(),
        ..SnapshotData::default()
    });
    let answer = |channel: &str| {
        let query = q("56.0", "1", channel, "x", "SSE3", "d");
        let outcome = evaluate(&snapshot, &query, &ClientConfig::default(), &mut || 0).unwrap();
        (
            outcome.rule.map(|(id, _)| id),
            outcome.body.contains("displayVersion=\"tie-first-id\""),
        )
    };
    assert_eq!(
        answer("release"),
        (Some(3), true),
        "highest priority wins, ties go to the lower rule_id"
    );
    assert_eq!(
        answer("release-cck-partner"),
        (Some(3), true),
        "-cck- channels fall back to release"
    );
    assert_eq!(answer("nightly").0, Some(1));
    assert_eq!(answer("beta").0, Some(6));
}
