//! Several real `updater-server serve` processes on one PostgreSQL database, and a TCP proxy the
//! tests control (delay, cut) to put between a replica and the database.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use updater_server::commands;
use updater_server::config::Database;
use updater_server::store::Store;

use crate::util::*;

/// One PostgreSQL database shared by the replicas of a test, with an admin token, two releases
/// and one rule mapping 54.0.1 to 56.0.
pub(crate) struct Cluster {
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) rule_id: i64,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A new database (dropped when the test ends), migrated and seeded through a first replica.
    pub(crate) fn new() -> Cluster {
        let url = fresh_postgres();
        let db = Database::Postgres(url.clone());
        drop(Store::open(&db).unwrap());
        commands::add_user(&db, ADMIN, true, &[]).unwrap();
        let token = commands::create_token(&db, ADMIN).unwrap();
        let mut cluster = Cluster {
            url,
            token,
            rule_id: 0,
            dir: tempfile::tempdir().unwrap(),
        };
        let seed = cluster.replica();
        for blob in [firefox_54(), firefox_56()] {
            let name = blob["name"].as_str().unwrap().to_owned();
            let resp = seed.api(
                "PUT",
                &format!("/releases/{name}"),
                Some(json!({ "blob": blob, "product": "Firefox" })),
            );
            assert!(resp.status < 300, "{}", resp.body);
        }
        let resp = seed.api(
            "POST",
            "/rules",
            Some(rule(
                10,
                "Firefox-56.0-build1",
                json!({"channel": "release"}),
            )),
        );
        assert!(resp.status < 300, "{}", resp.body);
        cluster.rule_id = resp.json()["rule_id"].as_i64().unwrap();
        cluster
    }

    /// A replica connected straight to the database.
    pub(crate) fn replica(&self) -> Replica {
        self.replica_via(&self.url)
    }

    /// A replica connected to the database through `url` (a proxy's, say).
    pub(crate) fn replica_via(&self, url: &str) -> Replica {
        Replica::spawn(self.dir.path(), url, &self.token)
    }

    /// A replica with `settings` (top-level TOML lines) added to its configuration.
    pub(crate) fn replica_with(&self, settings: &str) -> Replica {
        Replica::spawn_with(self.dir.path(), &self.url, &self.token, settings)
    }

    /// The database's change version (`kiln_state`).
    pub(crate) fn stored_change_version(&self) -> i64 {
        Store::open(&Database::Postgres(self.url.clone()))
            .unwrap()
            .version()
            .unwrap()
    }

    /// The current rule `data_version` as stored.
    pub(crate) fn stored_rule_version(&self) -> i64 {
        let store = Store::open(&Database::Postgres(self.url.clone())).unwrap();
        store
            .read(|tx| tx.rule(self.rule_id))
            .unwrap()
            .expect("the seeded rule")
            .data_version
    }
}

/// A running `updater-server serve` process.
pub(crate) struct Replica {
    pub(crate) base: String,
    child: Child,
    token: String,
    agent: ureq::Agent,
}

impl Replica {
    /// Starts a replica on `url` as an admin with `token`; its config file goes to `dir`.
    pub(crate) fn spawn(dir: &std::path::Path, url: &str, token: &str) -> Replica {
        Replica::spawn_with(dir, url, token, "")
    }

    /// [`Replica::spawn`] with `settings` (top-level TOML lines) added to the configuration.
    pub(crate) fn spawn_with(
        dir: &std::path::Path,
        url: &str,
        token: &str,
        settings: &str,
    ) -> Replica {
        let port = free_port();
        let config = dir.join(format!("replica-{port}.toml"));
        std::fs::write(
            &config,
            format!(
                "database = \"{url}\"\nworkers = 2\nscheduler_interval_ms = 50\n{settings}\n\
                 [client]\nallowlisted_domains = {{ \"download.mozilla.org\" = [\"Firefox\"], \"download.example.org\" = [\"Firefox\"] }}\n"
            ),
        )
        .unwrap();
        let child = serve(&config, port);
        let replica = Replica {
            base: format!("http://127.0.0.1:{port}"),
            child,
            token: token.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(20)))
                .build()
                .into(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while replica
            .agent
            .get(format!("{}/__lbheartbeat__", replica.base))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "replica did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        replica
    }

    /// GET on the client side.
    pub(crate) fn get(&self, path: &str) -> Resp {
        to_resp(self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// The `Rule-Data-Version` this replica answers the update path with (its snapshot's view).
    pub(crate) fn rule_version(&self) -> i64 {
        let resp = self.get(&update_path());
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.header("Rule-Data-Version")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Rule-Data-Version: {:?}", resp.headers))
    }

    /// Polls until this replica answers with rule version `want`; returns how long it took.
    pub(crate) fn wait_for_rule_version(&self, want: i64, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let seen = self.rule_version();
            if seen >= want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "{} still at rule version {seen} after {limit:?}, want {want}",
                self.base
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// An admin API call as the cluster's admin.
    pub(crate) fn api(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.try_api(method, path, body)
            .unwrap_or_else(|| panic!("{method} {path} on {}: no answer", self.base))
    }

    /// An admin API call; `None` when the replica answers nothing (killed, say).
    pub(crate) fn try_api(&self, method: &str, path: &str, body: Option<Value>) -> Option<Resp> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            (other, _) => panic!("unsupported {other}"),
        };
        result.is_ok().then(|| to_resp(result))
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Requests `path` on every replica in a loop until stopped; counts statuses. The tests assert
/// the count of 5xx (and of transport errors) is zero.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(u64, u64, u64)>>,
}

impl Load {
    pub(crate) fn start(bases: &[String]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = bases
            .iter()
            .map(|base| {
                let stop = Arc::clone(&stop);
                let url = format!("{base}{}", update_path());
                std::thread::spawn(move || {
                    let agent = agent();
                    let (mut ok, mut server_errors, mut transport) = (0, 0, 0);
                    while !stop.load(Ordering::Relaxed) {
                        match agent.get(&url).call() {
                            Ok(r) if r.status().as_u16() >= 500 => server_errors += 1,
                            Ok(_) => ok += 1,
                            Err(_) => transport += 1,
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    (ok, server_errors, transport)
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops and returns `(answered, 5xx, transport errors)` over all replicas.
    pub(crate) fn finish(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    }
}

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Forward as is.
    Pass,
    /// Forward each chunk after a delay (ms).
    Delay(u64),
    /// Close every connection and refuse new ones.
    Cut,
}

/// A TCP proxy to PostgreSQL on a loopback port, with a switch for delays and cuts.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    delay_ms: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Proxies to `upstream` (`host:port`).
    pub(crate) fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        {
            let (delay_ms, cut, open) = (delay_ms.clone(), cut.clone(), open.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        continue;
                    };
                    let mut list = open.lock().unwrap();
                    list.push(client.try_clone().unwrap());
                    list.push(server.try_clone().unwrap());
                    drop(list);
                    for (from, to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server, client),
                    ] {
                        let delay_ms = delay_ms.clone();
                        std::thread::spawn(move || pump(from, to, &delay_ms));
                    }
                }
            });
        }
        Proxy {
            port,
            delay_ms,
            cut,
            open,
        }
    }

    /// Switches the proxy's behaviour.
    pub(crate) fn set(&self, mode: Mode) {
        match mode {
            Mode::Pass => {
                self.delay_ms.store(0, Ordering::SeqCst);
                self.cut.store(false, Ordering::SeqCst);
            }
            Mode::Delay(ms) => {
                self.delay_ms.store(ms, Ordering::SeqCst);
                self.cut.store(false, Ordering::SeqCst);
            }
            Mode::Cut => {
                self.cut.store(true, Ordering::SeqCst);
                for stream in self.open.lock().unwrap().drain(..) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay_ms: &AtomicU64) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// The `host:port` of a `postgres://user@host:port/db` URL.
pub(crate) fn host_port(url: &str) -> String {
    let after = url.split_once('@').map_or(url, |(_, rest)| rest);
    let after = after.split_once("://").map_or(after, |(_, rest)| rest);
    after.split('/').next().unwrap().to_owned()
}

/// `url` pointing at `127.0.0.1:port` instead.
pub(crate) fn via_port(url: &str, port: u16) -> String {
    url.replacen(&host_port(url), &format!("127.0.0.1:{port}"), 1)
}
