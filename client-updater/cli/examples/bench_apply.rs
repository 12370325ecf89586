//! Benchmark driver (not a test): apply of a partial and of a complete, staged and in place, by
//! the release `kiln-client`, on a synthetic install of `--size-mb` MiB, against `cp -r` of the
//! changed files and of the whole install, plus check → download → apply on loopback. Wall time
//! and peak RSS come from `/usr/bin/time -f "%e %M"`. See BENCHMARKS.md for the command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use mar::keys::SigningKey;
use mar::update::generate::{complete_mar, partial_mar, PartialOptions, Tree, UpdateParams};
use mar::{Compression, ProductInfo};
use sha2::Digest;

const FILE_MIB: usize = 1;
const CHANNEL: &str = "kiln-bench";

/// Deterministic, moderately compressible bytes (xorshift words with runs).
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word = x.to_le_bytes();
        if x.is_multiple_of(4) {
            out.extend_from_slice(&[word[0]; 8]);
        } else {
            out.extend_from_slice(&word);
        }
    }
    out.truncate(len);
    out
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Writes build `version` (files `lib/fileN.bin`); version 2 edits every 10th file, adds one and
/// removes one. Returns the relative paths the update writes.
fn build(root: &Path, files: usize, version: u32, config: &str) -> Vec<String> {
    let mut changed = vec!["application.ini".to_owned(), "precomplete".to_owned()];
    write(
        root,
        "application.ini",
        format!("[App]\nName=Bench\nVersion={version}.0\nBuildID=2026010100000{version}\n")
            .as_bytes(),
    );
    write(
        root,
        "update-settings.ini",
        format!("[Settings]\nACCEPTED_MAR_CHANNEL_IDS={CHANNEL}\n").as_bytes(),
    );
    write(
        root,
        "defaults/pref/channel-prefs.js",
        b"pref(\"app.update.channel\", \"release\");\n",
    );
    write(root, "update.locale", b"en-US\n");
    write(root, "kiln-update.toml", config.as_bytes());
    let mut names = vec![
        "application.ini".to_owned(),
        "update-settings.ini".to_owned(),
        "defaults/pref/channel-prefs.js".to_owned(),
        "update.locale".to_owned(),
        "kiln-update.toml".to_owned(),
    ];
    for i in 0..files {
        if version == 2 && i == 1 {
            continue; // removed in 2
        }
        let mut bytes = content(i as u64, FILE_MIB << 20);
        let name = format!("lib/file{i}.bin");
        if version == 2 && i.is_multiple_of(10) {
            for j in (0..bytes.len()).step_by(4096) {
                bytes[j] = bytes[j].wrapping_add(1);
            }
            changed.push(name.clone());
        }
        write(root, &name, &bytes);
        names.push(name);
    }
    if version == 2 {
        write(root, "lib/added.bin", &content(99_999, FILE_MIB << 20));
        names.push("lib/added.bin".to_owned());
        changed.push("lib/added.bin".to_owned());
    }
    let pre = mar::update::precomplete::precomplete_text(
        names.iter().map(String::as_str),
        ["lib", "defaults", "defaults/pref"],
    );
    write(root, "precomplete", pre.as_bytes());
    changed
}

fn signed_header(key: &SigningKey, body: &[u8]) -> String {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    let ed = key.as_ed25519().unwrap();
    let mut msg = expires.to_be_bytes().to_vec();
    msg.extend_from_slice(body);
    let id = hex::encode(&sha2::Sha256::digest(ed.verifying_key().as_bytes())[..8]);
    format!(
        "keyid={id}; expires={expires}; ed25519={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ed.sign(&msg).to_bytes())
    )
}

type Routes = Arc<Mutex<std::collections::BTreeMap<String, (Vec<(String, String)>, PathBuf)>>>;

fn serve(listener: TcpListener, routes: Routes) {
    for stream in listener.incoming().flatten() {
        let routes = routes.clone();
        std::thread::spawn(move || handle(stream, &routes));
    }
}

fn handle(mut stream: TcpStream, routes: &Routes) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let route = routes.lock().unwrap().get(&path).cloned();
    let Some((headers, file)) = route else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let mut f = std::fs::File::open(&file).unwrap();
    let len = f.metadata().unwrap().len();
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// Runs a command under `/usr/bin/time`: (wall seconds, peak RSS MiB).
fn timed(program: &Path, args: &[&str]) -> (f64, f64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "KILN-TIME %e %M"])
        .arg(program)
        .args(args)
        .output()
        .expect("/usr/bin/time runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program:?} {args:?}: {stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("KILN-TIME "))
        .expect("time output");
    let mut parts = line.split_whitespace();
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    let kib: f64 = parts.next().unwrap().parse().unwrap();
    (secs, kib / 1024.0)
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size_mb: usize = args
        .iter()
        .position(|a| a == "--size-mb")
        .map(|i| args[i + 1].parse().unwrap())
        .unwrap_or(200);
    let kiln_client = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("kiln-client");
    assert!(
        kiln_client.is_file(),
        "build it first: cargo build --release -p kiln-client --bin kiln-client"
    );
    let work = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".to_owned()))
        .unwrap();
    let w = work.path();
    let files = size_mb / FILE_MIB;

    let mar_key = SigningKey::generate_ed25519();
    let response_key = SigningKey::generate_ed25519();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: Routes = Arc::default();
    let r = routes.clone();
    std::thread::spawn(move || serve(listener, r));
    let config = client_updater::UpdateConfig {
        urls: vec![format!("{base}/update.xml")],
        response_keys: vec![response_key.public_key().to_pem().unwrap()],
        mar_keys: vec![mar_key.public_key().to_pem().unwrap()],
        mar_threshold: 1,
        build_target: Some("Linux_x86_64-gcc3".to_owned()),
        ..Default::default()
    }
    .to_toml();

    let t = std::time::Instant::now();
    build(&w.join("old"), files, 1, &config);
    let changed = build(&w.join("new"), files, 2, &config);
    let params = UpdateParams::new(ProductInfo::new(CHANNEL, "2.0").unwrap())
        .compression(Compression::Zstd { level: 3 })
        .sign_with(mar_key.clone());
    let old_tree = Tree::from_dir(&w.join("old")).unwrap();
    let new_tree = Tree::from_dir(&w.join("new")).unwrap();
    complete_mar(&new_tree, &params, &w.join("complete.mar")).unwrap();
    partial_mar(
        &old_tree,
        &new_tree,
        &params,
        &PartialOptions::default(),
        &w.join("partial.mar"),
    )
    .unwrap();
    drop((old_tree, new_tree));
    let install_bytes: u64 = walk_size(&w.join("old"));
    let changed_bytes: u64 = changed
        .iter()
        .map(|c| {
            std::fs::metadata(w.join("new").join(c))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum();
    println!(
        "install {:.1} MiB ({} files), changed {:.1} MiB ({} files); complete MAR {:.1} MiB, partial {:.2} MiB; prepared in {:.0} s",
        install_bytes as f64 / 1048576.0,
        files + 5,
        changed_bytes as f64 / 1048576.0,
        changed.len(),
        std::fs::metadata(w.join("complete.mar")).unwrap().len() as f64 / 1048576.0,
        std::fs::metadata(w.join("partial.mar")).unwrap().len() as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    // Baselines: cp -r of the changed files, and of the whole install.
    let (cp_changed, cp_changed_rss) = {
        let dst = w.join("cp-changed");
        std::fs::create_dir_all(dst.join("lib")).unwrap();
        let mut args: Vec<String> = changed
            .iter()
            .filter(|c| c.starts_with("lib/"))
            .map(|c| w.join("new").join(c).display().to_string())
            .collect();
        args.push(dst.join("lib").display().to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        timed(Path::new("/bin/cp"), &[&["-r"][..], &refs[..]].concat())
    };
    let (cp_all, cp_all_rss) = timed(
        Path::new("/bin/cp"),
        &[
            "-r",
            &w.join("new").display().to_string(),
            &w.join("cp-all").display().to_string(),
        ],
    );
    // The applier fsyncs what it writes (crash safety); so does this baseline.
    let (cp_sync, _) = {
        let dst = w.join("cp-sync");
        std::fs::create_dir_all(dst.join("lib")).unwrap();
        let files: Vec<String> = changed
            .iter()
            .filter(|c| c.starts_with("lib/"))
            .map(|c| w.join("new").join(c).display().to_string())
            .collect();
        let script = format!(
            "cp -r {} {} && sync -f {}",
            files.join(" "),
            dst.join("lib").display(),
            dst.join("lib").display()
        );
        timed(Path::new("/bin/sh"), &["-c", &script])
    };
    println!("| cp -r of the changed files | {cp_changed:.2} | {cp_changed_rss:.1} |");
    println!("| cp -r of the changed files, then sync | {cp_sync:.2} | |");
    println!("| cp -r of the whole install | {cp_all:.2} | {cp_all_rss:.1} |");

    for kind in ["partial", "complete"] {
        let mar_path = w.join(format!("{kind}.mar"));
        let bytes = std::fs::read(&mar_path).unwrap();
        let mut patches = format!(
            "<patch type=\"complete\" URL=\"{base}/complete.mar\" hashFunction=\"sha512\" hashValue=\"{}\" size=\"{}\"/>",
            hex::encode(sha2::Sha512::digest(std::fs::read(w.join("complete.mar")).unwrap())),
            std::fs::metadata(w.join("complete.mar")).unwrap().len()
        );
        if kind == "partial" {
            patches.push_str(&format!(
                "<patch type=\"partial\" URL=\"{base}/partial.mar\" hashFunction=\"sha512\" hashValue=\"{}\" size=\"{}\"/>",
                hex::encode(sha2::Sha512::digest(&bytes)),
                bytes.len()
            ));
        }
        let xml = format!("<?xml version=\"1.0\"?>\n<updates>\n<update type=\"minor\" appVersion=\"2.0\" displayVersion=\"2.0\" buildID=\"20260101000002\">{patches}</update>\n</updates>");
        let xml_path = w.join(format!("{kind}.xml"));
        std::fs::write(&xml_path, &xml).unwrap();
        {
            let mut r = routes.lock().unwrap();
            r.insert(
                "/update.xml".into(),
                (
                    vec![(
                        "Content-Signature".into(),
                        signed_header(&response_key, xml.as_bytes()),
                    )],
                    xml_path,
                ),
            );
            r.insert("/complete.mar".into(), (Vec::new(), w.join("complete.mar")));
            r.insert("/partial.mar".into(), (Vec::new(), w.join("partial.mar")));
        }
        for staged in [false, true] {
            let install = w.join(format!("install-{kind}-{staged}"));
            copy_tree(&w.join("old"), &install);
            let dir = install.display().to_string();
            let stage = if staged { "--stage" } else { "--no-stage" };
            let (t_update, rss_update) = timed(&kiln_client, &["update", "--install", &dir, stage]);
            let (t_start, rss_start) = timed(&kiln_client, &["start", "--install", &dir]);
            let status = std::fs::read_to_string(install.join("updates/0/update.status")).unwrap();
            assert_eq!(status.trim(), "succeeded");
            let mode = if staged { "staged" } else { "in place" };
            println!(
                "| {kind}, {mode} | update (check+download+verify{}) {t_update:.2} s / {rss_update:.1} MiB | start ({}) {t_start:.2} s / {rss_start:.1} MiB | total {:.2} s |",
                if staged { "+stage" } else { "" },
                if staged { "swap" } else { "verify+apply" },
                t_update + t_start
            );
            std::fs::remove_dir_all(&install).unwrap();
        }
    }
}

fn walk_size(root: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            walk_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}
