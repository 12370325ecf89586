//! The pipeline across machines that share nothing but PostgreSQL and an S3-compatible bucket:
//! moto's S3 server (PyPI `moto[server]`, a real HTTP S3 endpoint in its own process, which
//! `scripts/test.sh` installs and names in `KILN_TEST_S3_SERVER`), a coordinator and two workers
//! each with a `root` and `work_dir` of its own. What one host makes, the others fetch from the
//! bucket, verified; push copies inside the bucket; and a bucket that answers 500 or stalls for a
//! while costs time, not the release.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_tools::release::config::{Config, ExecutorKind};
use kiln_tools::release::quickstart;
use kiln_tools::release::store::Store;

use super::story::*;
use super::workers::*;

/// moto's S3 server on a free port with the bucket `kiln`, stopped when dropped.
pub(crate) struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    pub(crate) fn start() -> S3Server {
        let server = std::env::var("KILN_TEST_S3_SERVER").unwrap_or_else(|_| {
            panic!(
                "KILN_TEST_S3_SERVER is not set: the S3 tests need moto's server (PyPI \
                 moto[server], its moto_server command). Run scripts/test.sh, which installs it"
            )
        });
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {server}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto's server never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The credentials moto accepts; every kiln process of the test inherits them.
        for (key, value) in [
            ("AWS_ACCESS_KEY_ID", "kiln-test"),
            ("AWS_SECRET_ACCESS_KEY", "kiln-test-secret"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ] {
            std::env::set_var(key, value);
        }
        let created = ureq::put(format!("http://127.0.0.1:{port}/kiln")).send_empty();
        assert!(created.is_ok(), "creating the bucket: {created:?}");
        S3Server { child, port }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points `env`'s configuration at the bucket through `endpoint`.
fn use_bucket(env: &mut quickstart::Env, endpoint: &str) {
    env.config.store.url = Some("s3://kiln/pub".to_owned());
    env.config.store.endpoint = Some(endpoint.to_owned());
    env.config.save(&env.config_path).unwrap();
    env.config = Config::load(&env.config_path).unwrap();
}

/// Another host's configuration: the same one with a `root` and `work_dir` of its own (keys and
/// inputs paths stay: every host has the keys; workers read no inputs but the bucket's).
fn host(env: &quickstart::Env, name: &str) -> PathBuf {
    let dir = env.config_path.parent().unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = env.config.clone();
    config.root = dir.join("pub");
    config.work_dir = dir.join("work");
    let path = dir.join("kiln.toml");
    config.save(&path).unwrap();
    path
}

fn files_under(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count()
}

#[test]
fn hosts_that_share_only_postgres_and_a_bucket_make_what_one_process_makes() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let s3 = S3Server::start();
    let db = FreshDb::new("s3");
    let mut env = env("s3-hosts", &db, ExecutorKind::Local, 30);
    use_bucket(&mut env, &s3.endpoint());
    let revision = env.commits["121.0"].clone();
    // build1 by one local process, published to the bucket as it goes.
    kiln_ok(
        &env.config_path,
        &["go-to-build", "--version", "121.0", "--revision", &revision],
    );
    // build2 by two workers on hosts of their own.
    set_executor(&mut env, ExecutorKind::Workers, 30);
    let hosts = [host(&env, "host-b"), host(&env, "host-c")];
    let reports = build2_by_workers(
        &env,
        &revision,
        &[(hosts[0].as_path(), "b"), (hosts[1].as_path(), "c")],
    );
    for report in reports {
        assert!(report["finished"].as_u64().unwrap() > 0, "{report}");
    }
    assert_each_unit_done(&units(&env, R121_2));

    let candidates = env.config.root.join("candidates/121.0-candidates");
    assert_eq!(
        comparable(&candidates.join("build1")),
        comparable(&candidates.join("build2")),
        "hosts sharing a bucket made other bytes than one process"
    );
    assert_verifies(&env, R121_2);
    // The workers' hosts hold only what their own units read and wrote, not the release.
    for config in &hosts {
        let root = config
            .parent()
            .unwrap()
            .join("pub/candidates/121.0-candidates/build2");
        assert!(
            files_under(&root) < files_under(&candidates.join("build2")),
            "{} holds the whole release",
            root.display()
        );
    }

    // Push copies inside the bucket: a fourth host that fetches releases/121.0 gets exactly the
    // coordinator's pushed files, each checked against its digest on the way.
    kiln_ok(&env.config_path, &["push", R121_2]);
    let fourth = Config::load(&host(&env, "host-d")).unwrap();
    let store = Store::open(&fourth).unwrap();
    let releases = fourth.root.join("releases/121.0");
    assert!(store.pull(&releases).unwrap() > 0);
    assert_eq!(
        snapshot(&releases),
        snapshot(&env.config.root.join("releases/121.0"))
    );
    assert!(store.pull(&fourth.root.join("logs")).is_ok_and(|n| n >= 2));
}

/// A file of 20 MiB goes up in parts (the store switches at 8 MiB) and comes back identical on
/// another host; a bucket object whose bytes are not its recorded digest is refused, leaving no
/// file behind.
#[test]
fn a_large_file_goes_up_in_parts_and_a_corrupt_object_is_refused() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| {
        let mut config = Config::template("Firefox");
        config.root = dir.path().join(name).join("pub");
        config.work_dir = dir.path().join(name).join("work");
        config.store.url = Some("s3://kiln/large".to_owned());
        config.store.endpoint = Some(s3.endpoint());
        config
    };
    let (here, there) = (config("here"), config("there"));
    let large = here.root.join("candidates/large.bin");
    std::fs::create_dir_all(large.parent().unwrap()).unwrap();
    let bytes: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&large, &bytes).unwrap();
    let store = Store::open(&here).unwrap();
    assert!(store.publish(&large).unwrap(), "uploaded");
    assert!(
        !store.publish(&large).unwrap(),
        "the same bytes are not uploaded twice"
    );
    // S3 gives an object uploaded in N parts the ETag `"<digest>-N"`.
    let object = format!("{}/kiln/large/candidates/large.bin", s3.endpoint());
    let head = ureq::head(&object).call().unwrap();
    let etag = head
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "not three parts: {etag}"
    );
    let elsewhere = Store::open(&there).unwrap();
    assert_eq!(elsewhere.pull(&there.root.join("candidates")).unwrap(), 1);
    assert!(std::fs::read(there.root.join("candidates/large.bin")).unwrap() == bytes);

    // Overwrite the object behind the store's back (plain HTTP PUT, no digest metadata).
    assert!(ureq::put(&object).send(&b"not the file"[..]).is_ok());
    let third = config("third");
    let error = Store::open(&third)
        .unwrap()
        .pull(&third.root.join("candidates"))
        .unwrap_err();
    assert!(error.to_string().contains("recorded"), "{error}");
    assert!(!third.root.join("candidates/large.bin").exists());
}

/// A TCP proxy in front of the S3 server that can answer every request with 500, or hold
/// connections without answering, until told to forward again.
struct FaultyProxy {
    port: u16,
    mode: Arc<AtomicU8>,
    /// Requests answered 500 or stalled, and forwarded connections cut mid-stream.
    faults: Arc<AtomicUsize>,
}

const FORWARD: u8 = 0;
const ERROR_500: u8 = 1;
const STALL: u8 = 2;

impl FaultyProxy {
    fn start(upstream: u16) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let faults = Arc::new(AtomicUsize::new(0));
        let (shared, counted) = (Arc::clone(&mode), Arc::clone(&faults));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (mode, faults) = (Arc::clone(&shared), Arc::clone(&counted));
                std::thread::spawn(move || serve(client, upstream, &mode, &faults));
            }
        });
        FaultyProxy { port, mode, faults }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// One client connection: forwarded both ways while the mode is FORWARD; once it is not, the
/// connection gets a 500 (or nothing, stalled) for its next request and is closed.
fn serve(mut client: TcpStream, upstream: u16, mode: &AtomicU8, faults: &AtomicUsize) {
    let fault = |client: &mut TcpStream, mode: u8| {
        let mut buffer = [0u8; 4096];
        let _ = client.read(&mut buffer);
        if mode == ERROR_500 {
            let _ = client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        } else {
            std::thread::sleep(Duration::from_secs(60));
        }
    };
    let now = mode.load(Ordering::SeqCst);
    if now != FORWARD {
        faults.fetch_add(1, Ordering::SeqCst);
        fault(&mut client, now);
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = server.set_read_timeout(Some(Duration::from_millis(200)));
    let pump = |mut from: TcpStream, mut to: TcpStream, mode: &AtomicU8| {
        let mut buffer = [0u8; 64 * 1024];
        loop {
            if mode.load(Ordering::SeqCst) != FORWARD {
                faults.fetch_add(1, Ordering::SeqCst);
                let _ = from.shutdown(std::net::Shutdown::Both);
                let _ = to.shutdown(std::net::Shutdown::Both);
                return;
            }
            match from.read(&mut buffer) {
                Ok(0) => {
                    let _ = to.shutdown(std::net::Shutdown::Write);
                    return;
                }
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    };
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::scope(|scope| {
        scope.spawn(|| pump(client, server, mode));
        scope.spawn(|| pump(s2, c2, mode));
    });
}

#[test]
fn a_bucket_answering_500_then_stalling_for_a_while_costs_time_not_the_release() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let s3 = S3Server::start();
    let proxy = FaultyProxy::start(s3.port);
    let db = FreshDb::new("s3faults");
    let mut env = env("s3-faults", &db, ExecutorKind::Workers, 30);
    use_bucket(&mut env, &format!("http://127.0.0.1:{}", proxy.port));
    let revision = env.commits["121.0"].clone();
    let mut coordinator = spawn_coordinator(
        &env.config_path,
        &["go-to-build", "--version", "121.0", "--revision", &revision],
    );
    wait_for("promoting", || is_promoting(&env, R121), &mut coordinator);
    let hosts = [host(&env, "host-b"), host(&env, "host-c")];
    let workers: Vec<Child> = hosts
        .iter()
        .zip(["b", "c"])
        .map(|(config, name)| spawn_worker(config, name, true))
        .collect();
    wait_for(
        "construct under way",
        || {
            units(&env, R121).iter().any(|u| {
                u.stage == "construct" && u.status == kiln_tools::release::state::UnitStatus::Done
            })
        },
        &mut coordinator,
    );
    proxy.set(ERROR_500);
    std::thread::sleep(Duration::from_secs(4));
    let after_500s = proxy.faults.load(Ordering::SeqCst);
    proxy.set(STALL);
    std::thread::sleep(Duration::from_secs(4));
    proxy.set(FORWARD);
    let after_stall = proxy.faults.load(Ordering::SeqCst);
    assert!(
        after_500s > 0,
        "no request met a 500: the fault window missed the traffic"
    );
    assert!(
        after_stall > after_500s,
        "no request stalled: the fault window missed the traffic"
    );
    assert_coordinator_succeeds(coordinator, &env.config_path);
    for report in workers.into_iter().map(worker_report) {
        assert_eq!(report["failed"], 0, "{report}");
    }
    assert_each_unit_done(&units(&env, R121));
    assert_verifies(&env, R121);
}
