//! Shared helpers: a real server per test on SQLite or PostgreSQL (the backend matrix), an HTTP
//! client, fixtures.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use serde_json::{json, Value};
use updater_server::config::{Allowlist, Database};
use updater_server::{commands, AppState, Config};

pub(crate) const ADMIN: &str = "admin";

/// The database backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
    static CREATED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The backend of the running test (set by [`run`]; SQLite outside the matrix).
pub(crate) fn backend() -> Backend {
    BACKEND.with(Cell::get)
}

/// The PostgreSQL server the tests use: `KILN_TEST_POSTGRES_URL` (`scripts/test.sh` starts a
/// throwaway cluster and sets it). A PostgreSQL test without it fails here, saying so.
pub(crate) fn postgres_url() -> String {
    std::env::var("KILN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "KILN_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server. \
             Run scripts/test.sh (it starts a throwaway cluster), or set \
             KILN_TEST_POSTGRES_URL=postgres://user@host:port/db for one that may create databases"
        )
    })
}

/// `url` with its database name replaced by `name`.
pub(crate) fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{root}/{name}{query}")
}

/// Runs SQL on the test server's maintenance database.
pub(crate) fn postgres_admin(sql: &str) {
    let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to KILN_TEST_POSTGRES_URL: {e}"));
    client
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A new, empty PostgreSQL database of its own (dropped when the test ends), as a URL.
pub(crate) fn fresh_postgres() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "kiln_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    postgres_admin(&format!("CREATE DATABASE {name}"));
    CREATED.with(|c| c.borrow_mut().push(name.clone()));
    with_dbname(&postgres_url(), &name)
}

/// A fresh database for the running test's backend: `dir/kiln.db`, or a new PostgreSQL database.
pub(crate) fn fresh_database(dir: &Path) -> Database {
    match backend() {
        Backend::Sqlite => Database::Sqlite(dir.join("kiln.db")),
        Backend::Postgres => Database::Postgres(fresh_postgres()),
    }
}

/// Drops the PostgreSQL databases the test created, also when it panicked.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = CREATED.with(|c| std::mem::take(&mut *c.borrow_mut()));
        for name in names {
            if let Ok(mut client) = postgres::Client::connect(&postgres_url(), postgres::NoTls) {
                let _ =
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// PostgreSQL tests share one server: they hold this shared, and the test that stops and starts
/// the server holds it exclusively, so it never pulls the server from under another test.
static SERVER: RwLock<()> = RwLock::new(());

/// Runs a test body on `backend`.
pub(crate) fn run(backend: Backend, body: fn()) {
    let _shared = (backend == Backend::Postgres)
        .then(|| SERVER.read().unwrap_or_else(PoisonError::into_inner));
    BACKEND.with(|b| b.set(backend));
    let _cleanup = Cleanup;
    body();
}

/// Runs a PostgreSQL test body while no other PostgreSQL test runs.
pub(crate) fn run_alone(body: fn()) {
    let _exclusive = SERVER.write().unwrap_or_else(PoisonError::into_inner);
    BACKEND.with(|b| b.set(Backend::Postgres));
    let _cleanup = Cleanup;
    body();
}

/// Every test inside runs twice, as `name::sqlite` and `name::postgres`: one test matrix.
macro_rules! both_backends {
    ($($(#[doc = $doc:expr])* #[test] fn $name:ident() $body:block)*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body() $body

                #[test]
                fn sqlite() {
                    $crate::util::run($crate::util::Backend::Sqlite, body);
                }

                #[test]
                fn postgres() {
                    $crate::util::run($crate::util::Backend::Postgres, body);
                }
            }
        )*
    };
}

/// A real server on a loopback port with its own database.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) database: Database,
    /// Keeps the SQLite file's directory for the server's lifetime.
    _dir: tempfile::TempDir,
    pub(crate) admin_token: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    agent: ureq::Agent,
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

pub(crate) fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        database: fresh_database(dir),
        workers: Some(1),
        scheduler_interval_ms: 50,
        ..Config::default()
    };
    config.testing.dice_header = true;
    config.client.allowlisted_domains = Allowlist(
        [
            (
                "download.mozilla.org".to_owned(),
                vec!["Firefox".to_owned()],
            ),
            (
                "download.example.org".to_owned(),
                vec!["Firefox".to_owned()],
            ),
        ]
        .into_iter()
        .collect(),
    );
    config.client.special_force_hosts = vec!["http://download.example.org".to_owned()];
    config
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub(crate) fn to_resp(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut resp = result.expect("request failed at the transport level");
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_with(|_| {})
    }

    pub(crate) fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        commands::add_user(&config.database, ADMIN, true, &[]).unwrap();
        let admin_token = commands::create_token(&config.database, ADMIN).unwrap();
        let state = Arc::new(AppState::open(config).unwrap());
        Server::serve(dir, state, admin_token)
    }

    /// Serves `state` (whose database lives in `dir`) on a free loopback port.
    pub(crate) fn serve(
        dir: tempfile::TempDir,
        state: Arc<AppState>,
        admin_token: String,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let database = state.config.database.clone();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = updater_server::start(state, listener).unwrap();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = rx.recv().unwrap();
        Server {
            base,
            database,
            _dir: dir,
            admin_token,
            handle,
            thread: Some(thread),
            agent: agent(),
        }
    }

    pub(crate) fn db(&self) -> Database {
        self.database.clone()
    }

    pub(crate) fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[])
    }

    pub(crate) fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        to_resp(req.call())
    }

    /// An admin API call with an optional bearer token and JSON body.
    pub(crate) fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let url = format!("{}/api/v1{}", self.base, path);
        let auth = token.map(|t| format!("Bearer {t}"));
        macro_rules! send {
            ($builder:expr) => {{
                let mut b = $builder;
                if let Some(a) = &auth {
                    b = b.header("Authorization", a.as_str());
                }
                match &body {
                    Some(v) => to_resp(
                        b.header("Content-Type", "application/json")
                            .send(v.to_string()),
                    ),
                    None => to_resp(b.send_empty()),
                }
            }};
        }
        match method {
            "GET" => {
                let mut b = self.agent.get(&url);
                if let Some(a) = &auth {
                    b = b.header("Authorization", a.as_str());
                }
                to_resp(b.call())
            }
            "POST" => send!(self.agent.post(&url)),
            "PUT" => send!(self.agent.put(&url)),
            "DELETE" => send!(self.agent.delete(&url).force_send_body()),
            other => panic!("unsupported method {other}"),
        }
    }

    /// Admin call as the admin user that must succeed.
    pub(crate) fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let resp = self.api(method, path, Some(&self.admin_token), body);
        assert!(
            resp.status < 300,
            "{method} {path} -> {} {}",
            resp.status,
            resp.body
        );
        resp.json()
    }

    pub(crate) fn put_release(&self, blob: Value) {
        let name = blob["name"].as_str().unwrap().to_owned();
        self.admin(
            "PUT",
            &format!("/releases/{name}"),
            Some(json!({ "blob": blob, "product": "Firefox" })),
        );
    }

    pub(crate) fn add_rule(&self, rule: Value) -> i64 {
        self.admin("POST", "/rules", Some(rule))["rule_id"]
            .as_i64()
            .unwrap()
    }

    /// Creates a user with the given permissions and roles; returns its token.
    pub(crate) fn user(&self, name: &str, permissions: &[(&str, Value)], roles: &[&str]) -> String {
        commands::add_user(&self.db(), name, false, &[]).unwrap();
        for (perm, options) in permissions {
            self.admin(
                "PUT",
                &format!("/users/{name}/permissions/{perm}"),
                Some(json!({ "options": options })),
            );
        }
        for role in roles {
            self.admin("PUT", &format!("/users/{name}/roles/{role}"), None);
        }
        commands::create_token(&self.db(), name).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls `f` every 50 ms for up to 10 s; whether it became true.
pub(crate) fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub(crate) const Q6: &str = "Windows_NT%206.1/ISET:SSE3,MEM:8000/default/default/update.xml";

/// `/update/6/Firefox/{version}/{build_id}/{target}/{locale}/{channel}/…`
pub(crate) fn v6(
    version: &str,
    build_id: &str,
    target: &str,
    locale: &str,
    channel: &str,
) -> String {
    format!("/update/6/Firefox/{version}/{build_id}/{target}/{locale}/{channel}/{Q6}")
}

/// The update request of a Firefox 54.0.1 en-US Windows client on `release` (a rule mapping
/// `release` to `firefox_56()` answers it with 56.0).
pub(crate) fn update_path() -> String {
    v6(
        "54.0.1",
        "20170628075643",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    )
}

pub(crate) fn rule(priority: i64, mapping: &str, extra: Value) -> Value {
    let mut r = json!({
        "priority": priority,
        "mapping": mapping,
        "backgroundRate": 100,
        "update_type": "minor",
        "product": "Firefox",
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

/// Schema 4: 54.0.1, the from-build of 56.0's partial.
pub(crate) fn firefox_54() -> Value {
    json!({
        "name": "Firefox-54.0.1-build1", "schema_version": 4, "hashFunction": "sha512", "product": "Firefox",
        "appVersion": "54.0.1", "displayVersion": "54.0.1", "platformVersion": "54.0.1",
        "fileUrls": {"*": {"completes": {"*": "http://download.mozilla.org/?product=firefox-54.0.1-complete&os=%OS_BOUNCER%&lang=%LOCALE%"}}},
        "platforms": {
            "WINNT_x86-msvc": {"buildID": "20170628075643", "OS_BOUNCER": "win", "OS_FTP": "win32",
                "locales": {"en-US": {"completes": [{"from": "*", "filesize": 100, "hashValue": "c54"}]},
                            "de": {"buildID": "20170628075699", "completes": [{"from": "*", "filesize": 100, "hashValue": "c54de"}]}}},
            "WINNT_x86-msvc-x86": {"alias": "WINNT_x86-msvc"}
        }
    })
}

/// Schema 4: the sample document of `docs/update-protocol.md` (56.0 with a complete and a partial from 54.0.1).
pub(crate) fn firefox_56() -> Value {
    json!({
        "name": "Firefox-56.0-build1", "schema_version": 4, "hashFunction": "sha512", "product": "Firefox",
        "appVersion": "56.0", "displayVersion": "56.0", "platformVersion": "56.0",
        "detailsUrl": "https://www.mozilla.org/%LOCALE%/firefox/56.0/releasenotes/",
        "fileUrls": {
            "*": {"completes": {"*": "http://download.mozilla.org/?product=firefox-56.0-complete&os=%OS_BOUNCER%&lang=%LOCALE%"},
                  "partials": {"Firefox-54.0.1-build1": "http://download.mozilla.org/?product=firefox-56.0-partial-54.0.1&os=%OS_BOUNCER%&lang=%LOCALE%"}},
            "release-localtest": {"completes": {"*": "http://download.example.org/localtest/firefox-56.0-complete?os=%OS_FTP%"}}
        },
        "platforms": {
            "WINNT_x86-msvc": {"buildID": "20170918210324", "OS_BOUNCER": "win", "OS_FTP": "win32",
                "locales": {
                    "en-US": {"completes": [{"from": "*", "filesize": 38171451, "hashValue": "ab12"}],
                              "partials": [{"from": "Firefox-54.0.1-build1", "filesize": 26673535, "hashValue": "cd34"}]},
                    "de": {"completes": [{"from": "*", "filesize": 38171452, "hashValue": "ab12de"}],
                           "partials": [{"from": "Firefox-54.0.1-build1", "filesize": 26673536, "hashValue": "cd34de"}]}
                }},
            "WINNT_x86-msvc-x86": {"alias": "WINNT_x86-msvc"}
        }
    })
}

pub(crate) const FX56_EN: &str = "<?xml version=\"1.0\"?>
<updates>
    <update type=\"minor\" displayVersion=\"56.0\" appVersion=\"56.0\" platformVersion=\"56.0\" buildID=\"20170918210324\" detailsURL=\"https://www.mozilla.org/en-US/firefox/56.0/releasenotes/\">
        <patch type=\"complete\" URL=\"http://download.mozilla.org/?product=firefox-56.0-complete&amp;os=win&amp;lang=en-US\" hashFunction=\"sha512\" hashValue=\"ab12\" size=\"38171451\"/>
        <patch type=\"partial\" URL=\"http://download.mozilla.org/?product=firefox-56.0-partial-54.0.1&amp;os=win&amp;lang=en-US\" hashFunction=\"sha512\" hashValue=\"cd34\" size=\"26673535\"/>
    </update>
</updates>";

pub(crate) const EMPTY: &str = "<?xml version=\"1.0\"?>\n<updates>\n</updates>";

/// Schema 6 with optional attributes.
pub(crate) fn firefox_60() -> Value {
    json!({
        "name": "Firefox-60.0-build1", "schema_version": 6, "hashFunction": "sha512", "product": "Firefox",
        "appVersion": "60.0", "displayVersion": "60.0",
        "detailsUrl": "https://www.mozilla.org/%LOCALE%/firefox/60.0/releasenotes/",
        "actions": "showURL", "openURL": "https://www.example.org/%LOCALE%/whatsnew", "showPrompt": true,
        "promptWaitTime": 3600,
        "fileUrls": {"*": {"completes": {"*": "http://download.example.org/firefox-60.0-complete.mar"}}},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20180501000000", "locales": {
            "en-US": {"completes": [{"from": "*", "filesize": 42, "hashValue": "h60"}]}}}}
    })
}

/// Schema 9 with updateLine groups.
pub(crate) fn firefox_70() -> Value {
    json!({
        "name": "Firefox-70.0-build1", "schema_version": 9, "hashFunction": "sha512", "product": "Firefox",
        "appVersion": "70.0", "displayVersion": "70.0",
        "updateLine": [
            {"for": {}, "fields": {"detailsURL": "https://www.mozilla.org/%LOCALE%/firefox/70.0/releasenotes/", "type": "minor"}},
            {"for": {"channels": ["beta*"]}, "fields": {"actions": "showURL", "openURL": "https://www.example.org/%LOCALE%/beta"}},
            {"for": {"locales": ["de"], "versions": ["<60.0"]}, "fields": {"disableBITS": true, "promptWaitTime": 60}}
        ],
        "fileUrls": {"*": {"completes": {"*": "http://download.example.org/firefox-70.0-complete.mar?lang=%LOCALE%"}}},
        "platforms": {"WINNT_x86-msvc": {"buildID": "20191001000000", "locales": {
            "en-US": {"completes": [{"from": "*", "filesize": 70, "hashValue": "h70"}]},
            "de": {"completes": [{"from": "*", "filesize": 71, "hashValue": "h70de"}]}}}}
    })
}

/// Desupport blob (schema 50).
pub(crate) fn desupport() -> Value {
    json!({
        "name": "Firefox-desupport", "schema_version": 50, "product": "Firefox",
        "detailsUrl": "https://support.example.org/%LOCALE%/%OS%/%VERSION%/desupport", "displayVersion": "Unsupported"
    })
}

/// The real `updater-server` binary serving `dir/kiln.db` on a free loopback port.
pub(crate) struct Binary {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Binary {
    /// A test that fails before stopping its server does not leave the process behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the real `updater-server serve` with `config` on loopback port `port`, output discarded.
pub(crate) fn serve(config: &Path, port: u16) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_updater-server"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

impl Binary {
    pub(crate) fn spawn(dir: &Path) -> Binary {
        let port = free_port();
        let config = dir.join("kiln.toml");
        std::fs::write(
        &config,
        format!(
            "database = \"{}\"\nworkers = 1\n[client]\nallowlisted_domains = {{ \"download.mozilla.org\" = [\"Firefox\", \"GMP\", \"Guardian\"] }}\n",
            dir.join("kiln.db").display()
        ),
    )
    .unwrap();
        let child = serve(&config, port);
        let base = format!("http://127.0.0.1:{port}");
        let agent = agent();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/__lbheartbeat__")).call().is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Binary { child, base }
    }
}
