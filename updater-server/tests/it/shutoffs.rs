use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

const SHUTOFF: &str = "/emergency_shutoff/Firefox/release";

/// Releases 54.0.1 and 56.0, and a rule sending `release` clients to 56.0.
fn serving_56() -> (Server, String) {
    let srv = Server::start();
    srv.put_release(firefox_54());
    srv.put_release(firefox_56());
    srv.add_rule(rule(
        1,
        "Firefox-56.0-build1",
        json!({"channel": "release"}),
    ));
    let client = update_path();
    assert_eq!(srv.get(&client).body, FX56_EN);
    (srv, client)
}

fn shut_off(srv: &Server, token: &str) -> Resp {
    srv.api(
        "POST",
        "/emergency_shutoff",
        Some(token),
        Some(json!({"product": "Firefox", "channel": "release", "comment": "bad build"})),
    )
}

both_backends! {
#[test]
fn balrog_routes_create_get_list_and_delete_with_data_version() {
    let (srv, client) = serving_56();
    let body = json!({"product": "Firefox", "channel": "release"});
    assert_eq!(srv.api("POST", "/emergency_shutoff", None, Some(body)).status, 401);

    let created = shut_off(&srv, &srv.admin_token);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.json(),
        json!({"product": "Firefox", "channel": "release", "comment": "bad build", "data_version": 1})
    );
    assert_eq!(srv.get(&client).body, EMPTY, "the client endpoint is shut off");
    assert_eq!(
        shut_off(&srv, &srv.admin_token).status,
        409,
        "already shut off (Balrog: 400; Kiln answers 409 for every existing object)"
    );

    let list = srv.admin("GET", "/emergency_shutoff", None);
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["shutoffs"][0]["channel"], "release");
    assert_eq!(
        srv.admin("GET", "/emergency_shutoffs", None)["shutoffs"],
        list["shutoffs"],
        "Kiln's path lists the same shutoffs"
    );
    let one = srv.api("GET", SHUTOFF, Some(&srv.admin_token), None);
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.header("x-data-version"), Some("1"));
    assert_eq!(one.json()["comment"], "bad build");
    let missing = srv.api("GET", "/emergency_shutoff/Firefox/beta", Some(&srv.admin_token), None);
    assert_eq!(missing.status, 404);

    let delete = |query: &str| {
        srv.api("DELETE", &format!("{SHUTOFF}{query}"), Some(&srv.admin_token), None)
    };
    let unversioned = delete("");
    assert_eq!(unversioned.status, 400, "data_version is required");
    assert!(unversioned.body.contains("data_version"), "{}", unversioned.body);
    let stale = delete("?data_version=2");
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert_eq!(stale.json()["data_version"], 1, "the answer names the current version");
    assert_eq!(srv.get(&client).body, EMPTY, "a refused delete lifts nothing");
    assert_eq!(
        srv.api("DELETE", "/emergency_shutoff/Firefox/nightly?data_version=1",
            Some(&srv.admin_token), None).status,
        404
    );

    let lifted = delete("?data_version=1");
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(srv.get(&client).body, FX56_EN);
    assert_eq!(srv.api("GET", SHUTOFF, Some(&srv.admin_token), None).status, 404);
    let history = srv.admin(
        "GET",
        "/history?object_kind=emergency_shutoff&object_key=Firefox/release",
        None,
    );
    assert_eq!(history.to_string().matches("\"admin\"").count(), 2, "{history}");
}
}

both_backends! {
#[test]
fn balrog_routes_check_the_emergency_shutoff_permission_per_product_and_action() {
    let (srv, client) = serving_56();
    let nobody = srv.user("nobody", &[], &[]);
    let thunderbird = srv.user(
        "tb",
        &[("emergency_shutoff", json!({"products": ["Thunderbird"]}))],
        &[],
    );
    let creator = srv.user(
        "creator",
        &[("emergency_shutoff", json!({"actions": ["create"], "products": ["Firefox"]}))],
        &[],
    );
    assert_eq!(shut_off(&srv, &nobody).status, 403);
    assert_eq!(shut_off(&srv, &thunderbird).status, 403, "restricted to Thunderbird");
    assert_eq!(srv.get(&client).body, FX56_EN);
    let tb = srv.api(
        "POST",
        "/emergency_shutoff",
        Some(&thunderbird),
        Some(json!({"product": "Thunderbird", "channel": "release"})),
    );
    assert_eq!(tb.status, 201, "{}", tb.body);
    assert_eq!(srv.get(&client).body, FX56_EN, "another product's shutoff");

    assert_eq!(shut_off(&srv, &creator).status, 201);
    assert_eq!(srv.get(&client).body, EMPTY);
    for token in [&creator, &nobody, &thunderbird] {
        let denied = srv.api("DELETE", &format!("{SHUTOFF}?data_version=1"), Some(token), None);
        assert_eq!(denied.status, 403, "{}", denied.body);
    }
    assert_eq!(srv.get(&client).body, EMPTY);
    srv.admin("DELETE", &format!("{SHUTOFF}?data_version=1"), None);
    assert_eq!(srv.get(&client).body, FX56_EN);
}
}

both_backends! {
#[test]
fn balrog_shutoff_on_a_signed_off_channel_is_lifted_by_a_scheduled_change() {
    let (srv, client) = serving_56();
    let alice = srv.user("alice", &[("emergency_shutoff", json!({}))], &["releng"]);
    let bob = srv.user("bob", &[], &["releng"]);
    srv.admin(
        "POST",
        "/required_signoffs",
        Some(json!({"product": "Firefox", "channel": "release", "role": "releng", "signoffs_required": 2})),
    );
    // Shutting off is the emergency brake: no signoff.
    assert_eq!(shut_off(&srv, &alice).status, 201);
    assert_eq!(srv.get(&client).body, EMPTY);
    // Lifting it directly is refused, and the answer says where to go.
    let direct = srv.api("DELETE", &format!("{SHUTOFF}?data_version=1"), Some(&alice), None);
    assert_eq!(direct.status, 400, "{}", direct.body);
    assert!(direct.body.contains("scheduled_changes/"), "{}", direct.body);
    assert_eq!(srv.get(&client).body, EMPTY);

    let schedule = |body: Value| {
        srv.api("POST", "/scheduled_changes/emergency_shutoff", Some(&alice), Some(body))
    };
    let stale = schedule(
        json!({"change_type": "delete", "product": "Firefox", "channel": "release", "data_version": 2}),
    );
    assert_eq!(stale.status, 409, "{}", stale.body);
    let none = schedule(
        json!({"change_type": "delete", "product": "Firefox", "channel": "beta", "data_version": 1}),
    );
    assert_eq!(none.status, 404, "{}", none.body);
    let sc = schedule(
        json!({"change_type": "delete", "product": "Firefox", "channel": "release", "data_version": 1}),
    );
    assert_eq!(sc.status, 201, "{}", sc.body);
    assert_eq!(sc.json()["required_signoffs"], json!({"releng": 2}));
    let sc_id = sc.json()["sc_id"].as_i64().unwrap();
    for kind in ["emergency_shutoff", "emergency_shutoffs"] {
        let listed = srv.admin("GET", &format!("/scheduled_changes/{kind}"), None);
        assert_eq!(listed["count"], 1, "{kind}: {listed}");
        assert_eq!(listed["scheduled_changes"][0]["sc_id"], sc_id);
    }
    let path = format!("/scheduled_changes/emergency_shutoff/{sc_id}");
    let enact = || srv.api("POST", &format!("{path}/enact"), Some(&srv.admin_token), None);
    assert_eq!(enact().status, 400, "no signoffs yet");
    let sign = |token: &str, role: &str| {
        srv.api("POST", &format!("{path}/signoffs"), Some(token), Some(json!({"role": role})))
            .status
    };
    assert_eq!(sign(&alice, "relman"), 403, "alice does not hold relman");
    assert_eq!(sign(&alice, "releng"), 200);
    let one = enact();
    assert!(one.status == 400 && one.body.contains("has 1"), "{}", one.body);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(srv.get(&client).body, EMPTY, "one signoff of two lifts nothing");
    assert_eq!(sign(&bob, "releng"), 200);
    // The background task or this call enacts it, exactly once.
    let explicit = enact();
    assert!(
        explicit.status == 200 || explicit.body.contains("is enacted"),
        "{}",
        explicit.body
    );
    assert!(wait_until(|| srv.get(&client).body == FX56_EN));
    assert_eq!(srv.api("GET", SHUTOFF, Some(&alice), None).status, 404);
    assert_eq!(srv.admin("GET", &path, None)["state"], "enacted");
}
}
