//! Balrog's own answers (`fixtures/data/balrog/cases.json`, captured from Balrog v3.121 while its
//! test suite ran) replayed against Kiln.
//!
//! Each fixture is loaded the way Balrog's tests loaded theirs: below the admin API's validation,
//! through `import` (releases, rules, emergency shutoffs, pinnable releases). Then a real
//! server on loopback answers every `http` case, compared on status, content type,
//! `Rule-ID`/`Rule-Data-Version` and, for `exact_body`, the bytes. Whether Kiln rolled the dice is
//! checked against `expected.dice_rolled` by evaluating the same request in process. `rule_match`
//! and `value_table` cases run against the functions they describe.
//!
//! Exclusions are listed in [`EXCLUDED`] with the reason; the pass count is asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};
use updater_server::client::evaluate::evaluate;
use updater_server::client::query::{self, parse_system_capabilities, Force, UpdateQuery};
use updater_server::client::rule::{CompiledRule, RuleRow};
use updater_server::client::version::{MozVersion, PinVersion};
use updater_server::config::Allowlist;
use updater_server::store::Store;
use updater_server::{commands, import, AppState};

use crate::util::{test_config, Resp, Server, ADMIN};

/// Cases not run, with the reason. Empty: every captured case is expected to pass.
const EXCLUDED: &[(&str, &str)] = &[];

/// How many cases the file holds and how many pass; asserted so that a regression or a silently
/// shrinking file shows.
const TOTAL: usize = 36;
const PASSING: usize = 36;

fn cases() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/balrog/cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Spaces and non-ASCII are percent-encoded before sending, as a real client does.
const CLIENT_ENCODE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>');

/// A fixture database plus `setup_add`, served.
struct Fixture {
    server: Server,
    state: Arc<AppState>,
}

fn merged_fixture(all: &Value, case: &Value) -> Value {
    let mut fixture = all["fixtures"][case["fixture"].as_str().unwrap()].clone();
    if let Some(add) = case.get("setup_add").and_then(Value::as_object) {
        for (key, rows) in add {
            let list = fixture[key.as_str()]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut list = list;
            list.extend(rows.as_array().unwrap().iter().cloned());
            fixture[key.as_str()] = Value::Array(list);
        }
    }
    fixture
}

fn load(fixture: &Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let cfg = &fixture["config"];
    config.client.allowlisted_domains = Allowlist(
        cfg["ALLOWLISTED_DOMAINS"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(domain, products)| {
                let products = products.as_array().unwrap();
                let names = products.iter().map(|p| p.as_str().unwrap().to_owned());
                (domain.clone(), names.collect())
            })
            .collect::<BTreeMap<_, _>>(),
    );
    config.client.special_force_hosts = cfg["SPECIAL_FORCE_HOSTS"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();

    // Releases and rules through the import path, unchanged.
    let releases_dir: PathBuf = dir.path().join("releases");
    std::fs::create_dir(&releases_dir).unwrap();
    let releases = fixture["releases"].as_object().cloned().unwrap_or_default();
    for (i, (_, release)) in releases.iter().enumerate() {
        let file = releases_dir.join(format!("{i:03}.json"));
        std::fs::write(file, release.to_string()).unwrap();
    }
    let rules_file = dir.path().join("rules.json");
    let rules = fixture.get("rules").cloned().unwrap_or(json!([]));
    std::fs::write(&rules_file, rules.to_string()).unwrap();
    commands::add_user(&config.database, ADMIN, true, &[]).unwrap();
    let admin_token = commands::create_token(&config.database, ADMIN).unwrap();
    let shutoffs_file = dir.path().join("shutoffs.json");
    let pins_file = dir.path().join("pins.json");
    let list = |key: &str| fixture.get(key).cloned().unwrap_or(json!([])).to_string();
    std::fs::write(&shutoffs_file, list("emergency_shutoffs")).unwrap();
    std::fs::write(&pins_file, list("pins")).unwrap();
    let store = Store::open(&config.database).unwrap();
    let dump = import::Dump {
        releases: &releases_dir,
        rules: &rules_file,
        shutoffs: Some(&shutoffs_file),
        pins: Some(&pins_file),
    };
    let report = import::import_dump(&store, &dump, None).unwrap();
    assert!(report.skipped_releases.is_empty(), "{report:?}");
    drop(store);
    let state = Arc::new(AppState::open(config).unwrap());
    Fixture {
        server: Server::serve(dir, Arc::clone(&state), admin_token),
        state,
    }
}

/// Did Kiln roll the dice for this request? Evaluated in process on the served snapshot.
fn rolled(state: &AppState, path: &str) -> bool {
    let (path, qs) = path.split_once('?').unwrap_or((path, ""));
    let encoded = utf8_percent_encode(path, CLIENT_ENCODE).to_string();
    let Ok(Some(q)) = query::parse(&encoded, qs, "") else {
        return false;
    };
    let mut rolled = false;
    let _ = evaluate(
        &state.snapshot.load(),
        &q,
        &state.config.client,
        &mut || {
            rolled = true;
            0
        },
    );
    rolled
}

/// Compares one answer; returns the mismatches.
fn compare(resp: &Resp, expected: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let status = expected["status"].as_u64().unwrap();
    if u64::from(resp.status) != status {
        wrong.push(format!("status {} != {status}", resp.status));
    }
    let compare = expected["compare"].as_str().unwrap_or("status");
    if compare != "status" {
        let want = expected["content_type"].as_str().unwrap();
        if resp.header("content-type") != Some(want) {
            wrong.push(format!(
                "content type {:?} != {want}",
                resp.header("content-type")
            ));
        }
    }
    for (name, value) in expected["headers"].as_object().into_iter().flatten() {
        if resp.header(name) != value.as_str() {
            wrong.push(format!("{name} {:?} != {value}", resp.header(name)));
        }
    }
    if compare == "exact_body" && resp.body != expected["body"].as_str().unwrap() {
        wrong.push(format!(
            "body differs:\n--- Kiln\n{}\n--- Balrog\n{}",
            resp.body,
            expected["body"].as_str().unwrap()
        ));
    }
    wrong
}

fn run_http(fixture: &Fixture, case: &Value) -> Vec<String> {
    let path = case["request"]["path"].as_str().unwrap();
    let encoded = utf8_percent_encode(path, CLIENT_ENCODE).to_string();
    let expected = &case["expected"];
    let dice: Vec<String> = match &case["dice"] {
        Value::Null => vec![],
        Value::String(s) if s == "any" => vec!["0".into(), "50".into(), "99".into()],
        v => vec![v.to_string()],
    };
    let mut wrong = Vec::new();
    if dice.is_empty() {
        wrong.extend(compare(&fixture.server.get(&encoded), expected));
    }
    for d in &dice {
        let resp = fixture.server.get_with(&encoded, &[("X-Test-Dice", d)]);
        wrong.extend(
            compare(&resp, expected)
                .into_iter()
                .map(|w| format!("dice {d}: {w}")),
        );
    }
    if let Some(want) = expected["dice_rolled"].as_bool() {
        if rolled(&fixture.state, path) != want {
            wrong.push(format!("dice rolled should be {want}"));
        }
    }
    wrong
}

fn query_from(case_query: &Value, fallback: &str) -> UpdateQuery {
    let s = |k: &str| case_query[k].as_str().unwrap_or("").to_owned();
    let version = s("version");
    let header_architecture = match case_query["headerArchitecture"].as_str() {
        Some("PPC") => "PPC",
        Some("Intel") => "Intel",
        _ => "",
    };
    UpdateQuery {
        query_version: u8::try_from(case_query["queryVersion"].as_u64().unwrap_or(3)).unwrap(),
        product: s("product"),
        parsed_version: MozVersion::parse(&version),
        version,
        build_id: s("buildID"),
        build_target: s("buildTarget"),
        locale: s("locale"),
        channel: s("channel"),
        fallback_channel: fallback.to_owned(),
        os_version: s("osVersion"),
        distribution: Some(s("distribution")),
        dist_version: Some(s("distVersion")),
        instruction_set: case_query["instructionSet"].as_str().map(str::to_owned),
        memory: case_query["memory"].as_i64(),
        jaws: case_query["jaws"].as_bool(),
        header_architecture,
        force: Force::None,
        mig64: case_query["mig64"].as_bool(),
        pin: None,
    }
}

fn run_rule_match(case: &Value) -> Vec<String> {
    let rules: Vec<CompiledRule> = case["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut row = r.as_object().unwrap().clone();
            let id = row.remove("rule_id").unwrap().as_i64().unwrap();
            // Balrog's DB tests use update_type "z", which its admin schema (minor|major) refuses;
            // the column takes no part in matching.
            row.insert("update_type".into(), json!("minor"));
            let row: RuleRow = serde_json::from_value(Value::Object(row)).unwrap();
            CompiledRule::compile(id, 1, row).unwrap()
        })
        .collect();
    let mut wrong = Vec::new();
    for q in case["queries"].as_array().unwrap() {
        let query = query_from(&q["query"], q["fallback_channel"].as_str().unwrap_or(""));
        let got: BTreeSet<i64> = rules
            .iter()
            .filter(|r| r.matches(&query).unwrap_or(false))
            .map(|r| r.rule_id)
            .collect();
        let want: BTreeSet<i64> = q["expected_rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        if got != want {
            wrong.push(format!("{}: matched {got:?}, Balrog {want:?}", q["query"]));
        }
    }
    wrong
}

fn run_value_table(case: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    for row in case["rows"].as_array().unwrap() {
        match case["id"].as_str().unwrap() {
            "value-syscaps-parse" => {
                let (iset, mem, jaws) = parse_system_capabilities(row["in"].as_str().unwrap());
                let got = json!({"instructionSet": iset, "memory": mem, "jaws": jaws});
                if got != row["out"] {
                    wrong.push(format!("{}: {got} != {}", row["in"], row["out"]));
                }
            }
            "value-pin-compare" => {
                let pin = PinVersion::parse(row["pin"].as_str().unwrap()).unwrap();
                let version = MozVersion::parse(row["version"].as_str().unwrap()).unwrap();
                let got = pin.cmp_version(&version) as i64;
                if got != row["cmp"].as_i64().unwrap() {
                    wrong.push(format!("{row}: got {got}"));
                }
            }
            other => wrong.push(format!("no runner for value table {other}")),
        }
    }
    wrong
}

both_backends! {
#[test]
fn balrog_captured_cases() {
    let all = cases();
    assert_eq!(all["format"], "balrog-conformance-cases/1");
    let cases = all["cases"].as_array().unwrap();
    assert_eq!(
        cases.len(),
        TOTAL,
        "the case file changed: update TOTAL/PASSING"
    );
    let mut fixtures: BTreeMap<String, Fixture> = BTreeMap::new();
    let (mut passed, mut failures) = (0, Vec::new());
    for case in cases {
        let id = case["id"].as_str().unwrap();
        if EXCLUDED.iter().any(|(x, _)| *x == id) {
            continue;
        }
        let wrong = match case["kind"].as_str().unwrap() {
            "http" => {
                let fixture = merged_fixture(&all, case);
                let key = format!("{}{}", case["fixture"], case["setup_add"]);
                let loaded = fixtures.entry(key).or_insert_with(|| load(&fixture));
                run_http(loaded, case)
            }
            "rule_match" => run_rule_match(case),
            "value_table" => run_value_table(case),
            other => vec![format!("unknown kind {other}")],
        };
        if wrong.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("{id}:\n  {}", wrong.join("\n  ")));
        }
    }
    eprintln!(
        "Balrog conformance: {passed}/{} passed ({} excluded)",
        cases.len(),
        EXCLUDED.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ from Balrog:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, PASSING);
}
}

both_backends! {
/// `util::FX56_EN`, the document many HTTP tests compare with, is Balrog's captured answer for
/// the same update (56.0 with a partial from 54.0.1) except for the fixture's short hash values;
/// `util::EMPTY` is Balrog's empty answer.
#[test]
fn hand_written_reference_is_balrogs_document() {
    let all = cases();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "partials-from-release-missing-alias")
        .unwrap();
    let mut balrog = case["expected"]["body"].as_str().unwrap().to_owned();
    let patches = case["expected"]["facts"]["updates"][0]["patches"]
        .as_array()
        .unwrap();
    assert_eq!(patches.len(), 2);
    for (patch, ours) in patches.iter().zip(["ab12", "cd34"]) {
        let hash = patch["hashValue"].as_str().unwrap();
        balrog = balrog.replace(
            &format!("hashValue=\"{hash}\""),
            &format!("hashValue=\"{ours}\""),
        );
    }
    assert_eq!(crate::util::FX56_EN, balrog);
    // And `util::EMPTY`, the empty answer the HTTP tests expect, is Balrog's.
    let empty = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "no-update-to-yourself")
        .unwrap();
    assert_eq!(crate::util::EMPTY, empty["expected"]["body"]);
}
}
