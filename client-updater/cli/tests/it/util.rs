//! Shared helpers: install trees, update MARs, a small HTTP/1.1 server that can misbehave, and
//! running `kiln-client`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use client_updater::UpdateConfig;
use ed25519_dalek::Signer as _;
use mar::keys::SigningKey;
use mar::update::generate::{complete_mar, partial_mar, PartialOptions, Tree, UpdateParams};
use mar::ProductInfo;
use sha2::Digest;

pub(crate) const CHANNEL_ID: &str = "firefox-mozilla-release";
pub(crate) const TARGET: &str = "Linux_x86_64-gcc3";

/// Files (bytes, mode) by path; directories are implied.
pub(crate) type Snapshot = BTreeMap<String, (Vec<u8>, u32)>;

/// The test keys: two MAR keys, a response key, and an unknown one.
pub(crate) struct Keys {
    pub(crate) mar: SigningKey,
    pub(crate) mar2: SigningKey,
    pub(crate) response: SigningKey,
    pub(crate) rogue: SigningKey,
}

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        mar: SigningKey::generate_ed25519(),
        mar2: SigningKey::generate_ed25519(),
        response: SigningKey::generate_ed25519(),
        rogue: SigningKey::generate_ed25519(),
    })
}

pub(crate) fn pem(key: &SigningKey) -> String {
    key.public_key().to_pem().unwrap()
}

/// What distinguishes one build's files.
#[derive(Clone, Debug)]
pub(crate) struct BuildSpec {
    pub(crate) product: &'static str,
    pub(crate) version: &'static str,
    pub(crate) build_id: &'static str,
    pub(crate) locale: &'static str,
    pub(crate) files: usize,
    /// A mac bundle (`Firefox.app`) instead of the flat layout.
    pub(crate) mac: bool,
}

impl BuildSpec {
    pub(crate) fn new(version: &'static str, build_id: &'static str) -> BuildSpec {
        BuildSpec {
            product: "Firefox",
            version,
            build_id,
            locale: "de",
            files: 6,
            mac: false,
        }
    }

    /// The same build as a mac bundle, rooted at `Firefox.app` as Mozilla's: `Contents/Info.plist`,
    /// binaries in `Contents/MacOS/`, everything else in `Contents/Resources/`; 119.0 and 120.0
    /// also have `gmp-clearkey/0.1/` there, which later builds drop.
    pub(crate) fn mac(self) -> BuildSpec {
        BuildSpec { mac: true, ..self }
    }
}

/// A compressible text that changes a little with `seed`.
fn text(seed: &str, lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| {
            if i % 97 == 0 {
                format!("line {i} of {seed}\n")
            } else {
                format!("line {i} is the same in every build of this product\n")
            }
        })
        .collect::<String>()
        .into_bytes()
}

/// The files of a build (with `precomplete`), and `kiln-update.toml` if given.
pub(crate) fn build_tree(spec: &BuildSpec, config: Option<&UpdateConfig>) -> Snapshot {
    let (resources, binaries) = if spec.mac {
        ("Contents/Resources/", "Contents/MacOS/")
    } else {
        ("", "")
    };
    let mut t = Snapshot::new();
    let mut put = |p: &str, b: Vec<u8>, mode: u32| {
        // Executables (0755) go to the binaries directory, everything else to the resources.
        let dir = if mode == 0o755 { binaries } else { resources };
        t.insert(format!("{dir}{p}"), (b, mode));
    };
    put(
        "application.ini",
        format!(
            "[App]\nVendor=Mozilla\nName={}\nVersion={}\nBuildID={}\n",
            spec.product, spec.version, spec.build_id
        )
        .into_bytes(),
        0o644,
    );
    put(
        "update-settings.ini",
        format!("[Settings]\nACCEPTED_MAR_CHANNEL_IDS={CHANNEL_ID}\n").into_bytes(),
        0o644,
    );
    put(
        "defaults/pref/channel-prefs.js",
        b"pref(\"app.update.channel\", \"release\");\n".to_vec(),
        0o644,
    );
    put(
        "update.locale",
        format!("{}\n", spec.locale).into_bytes(),
        0o644,
    );
    put(
        "firefox",
        text(&format!("bin {}", spec.version), 400),
        0o755,
    );
    put(
        "libxul.so",
        text(&format!("xul {}", spec.version), 3000),
        0o755,
    );
    for i in 0..spec.files {
        put(
            &format!("browser/res/file{i}.txt"),
            text(&format!("res {i} {}", spec.version), 60),
            0o644,
        );
    }
    // One file only in the old builds, one only in the new.
    if spec.version.starts_with("119") || spec.version.starts_with("120") {
        put("browser/old-only.txt", b"legacy\n".to_vec(), 0o644);
    } else {
        put("browser/new-only.txt", b"fresh\n".to_vec(), 0o644);
    }
    if let Some(config) = config {
        put("kiln-update.toml", config.to_toml().into_bytes(), 0o644);
    }
    let old = spec.version.starts_with("119") || spec.version.starts_with("120");
    if spec.mac && old {
        put(
            "gmp-clearkey/0.1/manifest.json",
            b"{\"name\": \"clearkey\"}\n".to_vec(),
            0o644,
        );
    }
    if spec.mac {
        let plist = format!(
            "<plist><dict><key>CFBundleShortVersionString</key><string>{}</string></dict></plist>\n",
            spec.version
        );
        t.insert(
            "Contents/Info.plist".to_owned(),
            (plist.into_bytes(), 0o644),
        );
    }
    let files: Vec<String> = t.keys().cloned().collect();
    let mut dirs = std::collections::BTreeSet::new();
    for f in &files {
        let parts: Vec<&str> = f.split('/').collect();
        for d in 1..parts.len() {
            dirs.insert(parts[..d].join("/"));
        }
    }
    let pre = mar::update::precomplete::precomplete_text(
        files.iter().map(String::as_str),
        dirs.iter().map(String::as_str),
    );
    t.insert(format!("{resources}precomplete"), (pre.into_bytes(), 0o644));
    t
}

pub(crate) fn materialize(root: &Path, tree: &Snapshot) {
    use std::os::unix::fs::PermissionsExt;
    for (path, (bytes, mode)) in tree {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// Every file of `root` (bytes and mode), skipping the updater's own `updates/` directory;
/// empty directories are listed with no bytes and mode 0.
pub(crate) fn snapshot(root: &Path) -> Snapshot {
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, rel: &str, out: &mut Snapshot) {
        let mut empty = true;
        for entry in std::fs::read_dir(root.join(rel)).unwrap() {
            empty = false;
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if path == "updates" {
                continue;
            }
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let mode = meta.permissions().mode() & 0o777;
                out.insert(path, (std::fs::read(entry.path()).unwrap(), mode));
            }
        }
        if empty && !rel.is_empty() {
            out.insert(format!("{rel}/"), (Vec::new(), 0));
        }
    }
    let mut out = Snapshot::new();
    walk(root, "", &mut out);
    out
}

/// How a MAR is made.
#[derive(Clone, Debug)]
pub(crate) struct MarSpec<'a> {
    pub(crate) channel: &'a str,
    pub(crate) version: &'a str,
    pub(crate) keys: Vec<&'a SigningKey>,
}

impl MarSpec<'_> {
    pub(crate) fn new(version: &str) -> MarSpec<'_> {
        MarSpec {
            channel: CHANNEL_ID,
            version,
            keys: vec![&keys().mar],
        }
    }
}

fn params(spec: &MarSpec<'_>) -> UpdateParams {
    let mut p = UpdateParams::new(ProductInfo::new(spec.channel, spec.version).unwrap());
    for k in &spec.keys {
        p = p.sign_with((*k).clone());
    }
    p
}

fn tree_of(snapshot: &Snapshot) -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().unwrap();
    materialize(dir.path(), snapshot);
    let tree = Tree::from_dir(dir.path()).unwrap();
    (dir, tree)
}

/// A complete update MAR of `new`.
pub(crate) fn complete(new: &Snapshot, spec: &MarSpec<'_>) -> Vec<u8> {
    let (_d, tree) = tree_of(new);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("c.mar");
    complete_mar(&tree, &params(spec), &path).unwrap();
    std::fs::read(path).unwrap()
}

/// A partial update MAR from `old` to `new`.
pub(crate) fn partial(old: &Snapshot, new: &Snapshot, spec: &MarSpec<'_>) -> Vec<u8> {
    let (_a, old) = tree_of(old);
    let (_b, new) = tree_of(new);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("p.mar");
    partial_mar(&old, &new, &params(spec), &PartialOptions::default(), &path).unwrap();
    std::fs::read(path).unwrap()
}

pub(crate) fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(bytes))
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `Content-Signature` as the update server makes it.
pub(crate) fn content_signature(key: &SigningKey, expires: u64, body: &[u8]) -> String {
    let ed = key.as_ed25519().unwrap();
    let mut msg = expires.to_be_bytes().to_vec();
    msg.extend_from_slice(body);
    let id = hex::encode(&sha2::Sha256::digest(ed.verifying_key().as_bytes())[..8]);
    format!(
        "keyid={id}; expires={expires}; ed25519={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ed.sign(&msg).to_bytes())
    )
}

/// A patch line of the update XML.
pub(crate) fn patch_xml(kind: &str, url: &str, bytes: &[u8]) -> String {
    format!(
        "<patch type=\"{kind}\" URL=\"{url}\" hashFunction=\"sha512\" hashValue=\"{}\" size=\"{}\"/>",
        sha512_hex(bytes),
        bytes.len()
    )
}

/// An update XML document offering `version`/`build_id` with these patch lines.
pub(crate) fn update_xml(
    version: &str,
    build_id: &str,
    attrs: &str,
    patches: &[String],
) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<updates>\n    <update type=\"minor\" displayVersion=\"{version}\" appVersion=\"{version}\" buildID=\"{build_id}\"{attrs}>\n        {}\n    </update>\n</updates>",
        patches.join("\n        ")
    )
    .into_bytes()
}

/// A request the test server saw.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

/// What the test server answers.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A normal answer; a `Range` request on a 200 gets a 206 of the rest.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with no length, then bytes until the client goes away.
    Endless,
    /// The body at `bytes_per_sec` (after the first `fast` bytes at once).
    Drip {
        body: Vec<u8>,
        fast: usize,
        bytes_per_sec: u64,
    },
    /// The headers of the full body, `at` bytes of it, then the connection closes.
    Cut { body: Vec<u8>, at: usize },
}

impl Reply {
    pub(crate) fn ok(body: Vec<u8>) -> Reply {
        Reply::Full {
            status: 200,
            headers: Vec::new(),
            body,
        }
    }

    pub(crate) fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: b"error".to_vec(),
        }
    }

    /// An update response signed with `key`, expiring at `expires`.
    pub(crate) fn signed(body: Vec<u8>, key: &SigningKey, expires: u64) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/xml; charset=utf-8".into()),
                (
                    "Content-Signature".into(),
                    content_signature(key, expires, &body),
                ),
            ],
            body,
        }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A small HTTP/1.1 server on loopback (one thread per connection, `Connection: close`).
pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    routes: Arc<Mutex<BTreeMap<String, Reply>>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    /// Serves the routes set with [`TestServer::route`] (404 otherwise).
    pub(crate) fn start() -> TestServer {
        let routes: Arc<Mutex<BTreeMap<String, Reply>>> = Arc::default();
        let r = routes.clone();
        let mut server = TestServer::with_handler(Arc::new(move |req: &Seen| {
            let path = req.path.split('?').next().unwrap_or("");
            r.lock()
                .unwrap()
                .get(path)
                .cloned()
                .unwrap_or(Reply::status(404))
        }));
        server.routes = routes;
        server
    }

    pub(crate) fn with_handler(handler: Arc<Handler>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (h, s) = (handler.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &*h, &s));
            }
        });
        TestServer {
            base,
            seen,
            routes: Arc::default(),
            stop,
        }
    }

    pub(crate) fn route(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn requests(&self, prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
    }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        body.resize(len, 0);
        let _ = reader.read_exact(&mut body);
    }
    let req = Seen {
        method,
        path,
        headers,
        body,
    };
    seen.lock().unwrap().push(req.clone());
    let reply = handler(&req);
    let _ = respond(stream, &req, reply);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn respond(mut stream: TcpStream, req: &Seen, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let range = req
                .headers
                .get("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|r| r.parse::<usize>().ok());
            let (status, body, extra) = match range {
                Some(from) if status == 200 && from <= body.len() => (
                    206,
                    body[from..].to_vec(),
                    format!(
                        "Content-Range: bytes {from}-{}/{}\r\n",
                        body.len().saturating_sub(1),
                        body.len()
                    ),
                ),
                _ => (status, body, String::new()),
            };
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}",
                reason(status),
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            stream.write_all(&body)?;
        }
        Reply::Endless => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            let chunk = vec![b'x'; 64 * 1024];
            loop {
                stream.write_all(&chunk)?;
            }
        }
        Reply::Drip {
            body,
            fast,
            bytes_per_sec,
        } => {
            stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )?;
            stream.write_all(&body[..fast.min(body.len())])?;
            for b in body.iter().skip(fast) {
                std::thread::sleep(Duration::from_millis(1000 / bytes_per_sec.max(1)));
                stream.write_all(&[*b])?;
            }
        }
        Reply::Cut { body, at } => {
            stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )?;
            stream.write_all(&body[..at])?;
            stream.flush()?;
        }
    }
    Ok(())
}

/// The check URL path template the tests serve.
pub(crate) const CHECK_PATH: &str = "/update/6/%PRODUCT%/%VERSION%/%BUILD_ID%/%BUILD_TARGET%/%LOCALE%/%CHANNEL%/%OS_VERSION%/%SYSTEM_CAPABILITIES%/%DISTRIBUTION%/%DISTRIBUTION_VERSION%/update.xml";

/// A configuration pinning the test keys, checking `<base>` + [`CHECK_PATH`] (or `urls`).
pub(crate) fn config(urls: Vec<String>) -> UpdateConfig {
    UpdateConfig {
        urls,
        response_keys: vec![pem(&keys().response)],
        mar_keys: vec![pem(&keys().mar)],
        mar_threshold: 1,
        build_target: Some(TARGET.to_owned()),
        ..UpdateConfig::default()
    }
}

/// An install of `spec` in a fresh directory, with `config` as its `kiln-update.toml`.
pub(crate) fn install(spec: &BuildSpec, config: &UpdateConfig) -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let tree = build_tree(spec, Some(config));
    materialize(dir.path(), &tree);
    (dir, tree)
}

/// Runs `kiln-client` with `args`.
pub(crate) fn kiln_client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln-client"))
        .args(args)
        .env_remove("KILN_CLIENT_KILL_AT")
        .output()
        .unwrap()
}

/// Runs `kiln-client` with `args` (which include `--json`): (exit code, the last line's JSON).
pub(crate) fn run_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = kiln_client(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or_else(|_| {
        panic!(
            "no JSON: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

/// `kiln-client start`, which must exit 0: what it prints (`Product Version (BuildID)`).
pub(crate) fn start(install: &Path) -> String {
    let out = kiln_client(&["start", "--install", path_str(install)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `updates/0/update.status` of an install, trimmed.
pub(crate) fn status_of(install: &Path) -> String {
    std::fs::read_to_string(install.join("updates/0/update.status"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Asserts that the install's files are exactly `expected` (the updater's `updates/` aside),
/// with no leftover backups, drafts, journals or staging directories.
#[track_caller]
pub(crate) fn assert_tree(install: &Path, expected: &Snapshot) {
    let actual = snapshot(install);
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let differ: Vec<&String> = expected
        .keys()
        .filter(|k| actual.get(*k).is_some_and(|a| a != &expected[*k]))
        .collect();
    assert!(
        extra.is_empty() && missing.is_empty() && differ.is_empty(),
        "install differs: extra {extra:?}, missing {missing:?}, changed {differ:?}"
    );
}
