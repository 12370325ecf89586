//! Benchmark driver for the update server (see `bench/run.sh`).
//!
//! * `setup`: writes 300 releases (schema 9, 3 platforms × 20 locales, complete + partial) and
//!   1,000 rules as Balrog JSON, imports them into a fresh database through the real `import`
//!   path, writes the wrk path list, a static file the size of a typical answer (for nginx), and
//!   measures snapshot build and rebuild-after-change times.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use updater_server::admin::{rules, Mode};
use updater_server::auth::Actor;
use updater_server::config::Allowlist;
use updater_server::store::{Permission, PermissionOptions, Store};
use updater_server::{import, AppState, Config};

const PLATFORMS: [(&str, &str); 3] = [
    ("WINNT_x86_64-msvc", "win64"),
    ("Darwin_x86_64-gcc3", "osx"),
    ("Linux_x86_64-gcc3", "linux64"),
];
const LOCALES: [&str; 20] = [
    "en-US", "de", "fr", "es-ES", "it", "ja", "pt-BR", "ru", "pl", "nl", "zh-CN", "zh-TW", "ko",
    "sv-SE", "tr", "cs", "fi", "da", "nb-NO", "uk",
];
const CHANNELS: [&str; 5] = ["release", "beta", "esr", "aurora", "nightly"];
const RELEASES: usize = 300;
const RULES_PER_CHANNEL: usize = 200;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Generate and import the data set, write wrk inputs, time snapshot rebuilds.
    Setup {
        /// Output directory (database, paths.txt, static.xml, config).
        #[arg(long)]
        out: PathBuf,
    },
}

fn version(i: usize) -> usize {
    30 + i
}

fn release_name(i: usize) -> String {
    format!("Firefox-{}.0-build1", version(i))
}

fn build_id(i: usize) -> String {
    format!("2020{:04}000000", version(i))
}

fn release(i: usize) -> Value {
    let mut platforms = serde_json::Map::new();
    for (target, bouncer) in PLATFORMS {
        let mut locales = serde_json::Map::new();
        for (n, locale) in LOCALES.iter().enumerate() {
            let mut data = json!({
                "buildID": build_id(i),
                "completes": [{"from": "*", "filesize": 50_000_000 + n, "hashValue": format!("{:0128x}", i * 1000 + n)}],
            });
            if i > 0 {
                data["partials"] = json!([{"from": release_name(i - 1), "filesize": 9_000_000 + n,
                    "hashValue": format!("{:0128x}", i * 7919 + n)}]);
            }
            locales.insert((*locale).to_owned(), data);
        }
        platforms.insert(
            target.to_owned(),
            json!({"OS_BOUNCER": bouncer, "OS_FTP": bouncer, "locales": locales}),
        );
    }
    let v = version(i);
    let mut partials = serde_json::Map::new();
    if i > 0 {
        partials.insert(
            release_name(i - 1),
            json!(format!("https://download.example.org/?product=firefox-{v}.0-partial-{}.0&os=%OS_BOUNCER%&lang=%LOCALE%", v - 1)),
        );
    }
    json!({
        "name": release_name(i), "schema_version": 9, "hashFunction": "sha512", "product": "Firefox",
        "appVersion": format!("{v}.0"), "displayVersion": format!("{v}.0"),
        "updateLine": [{"for": {}, "fields": {"detailsURL": format!("https://www.example.org/%LOCALE%/firefox/{v}.0/releasenotes/"), "type": "minor"}}],
        "fileUrls": {"*": {
            "completes": {"*": format!("https://download.example.org/?product=firefox-{v}.0-complete&os=%OS_BOUNCER%&lang=%LOCALE%")},
            "partials": partials}},
        "platforms": platforms,
    })
}

/// Per channel, watershed-style rules: rule j (priority 1000 - j) maps clients below version
/// 31 + j to the next release, so a client at 30 + k scans k rules before its match.
fn rules_json() -> Value {
    let mut list = Vec::new();
    let mut id = 1;
    for channel in CHANNELS {
        for j in 0..RULES_PER_CHANNEL {
            let mut rule = json!({
                "rule_id": id, "priority": 1000 - j, "backgroundRate": 100, "update_type": "minor",
                "product": "Firefox", "channel": channel, "mapping": release_name((j + 1).min(RELEASES - 1)),
            });
            if j + 1 < RULES_PER_CHANNEL {
                rule["version"] = json!(format!("<{}.0", version(j + 1)));
            } else {
                rule["mapping"] = json!(release_name(RELEASES - 1));
            }
            list.push(rule);
            id += 1;
        }
    }
    Value::Array(list)
}

fn paths() -> Vec<String> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap_or(0) % n
    };
    (0..5000)
        .map(|_| {
            let k = next(RULES_PER_CHANNEL - 1);
            let (target, _) = PLATFORMS[next(PLATFORMS.len())];
            format!(
                "/update/6/Firefox/{}.0/{}/{target}/{}/{}/Windows_NT%2010.0.0.0.19045.3086%20(x64)/ISET:SSE4_2,MEM:16384/default/default/update.xml",
                version(k),
                build_id(k),
                LOCALES[next(LOCALES.len())],
                CHANNELS[next(CHANNELS.len())],
            )
        })
        .collect()
}

fn setup(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out.join("releases"))?;
    for i in 0..RELEASES {
        std::fs::write(
            out.join("releases")
                .join(format!("{}.json", release_name(i))),
            release(i).to_string(),
        )?;
    }
    std::fs::write(out.join("rules.json"), rules_json().to_string())?;
    let db = out.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let database = updater_server::config::Database::Sqlite(db.clone());
    let store = Store::open(&database)?;
    let started = Instant::now();
    let report = import::import(&store, &out.join("releases"), &out.join("rules.json"), None)?;
    println!(
        "import: {} releases, {} rules in {:.2}s",
        report.releases,
        report.rules,
        started.elapsed().as_secs_f64()
    );
    drop(store);

    let mut config = Config {
        database,
        ..Config::default()
    };
    config.client.allowlisted_domains = Allowlist(
        [(
            "download.example.org".to_owned(),
            vec!["Firefox".to_owned()],
        )]
        .into_iter()
        .collect(),
    );
    let started = Instant::now();
    let state = AppState::open(config)?;
    println!(
        "cold snapshot build (parse 300 releases + 1,000 rules): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let actor = Actor {
        username: "bench".to_owned(),
        permissions: vec![Permission {
            username: "bench".to_owned(),
            permission: "admin".to_owned(),
            options: PermissionOptions::default(),
            data_version: 1,
        }],
        roles: Vec::new(),
    };
    let rounds: u32 = 20;
    let started = Instant::now();
    for round in 0..rounds {
        state.write(|tx| {
            let current = tx
                .rule(1)?
                .ok_or_else(|| updater_server::Error::NotFound("rule 1".to_owned()))?;
            let body =
                json!({"priority": 5000 + i64::from(round), "data_version": current.data_version});
            rules::update(tx, &actor, Mode::Direct, "1", body).map(|_| ())
        })?;
    }
    println!(
        "admin rule change incl. commit + snapshot rebuild + publish: {:.1} ms (mean of {rounds})",
        started.elapsed().as_secs_f64() * 1e3 / f64::from(rounds)
    );

    let paths = paths();
    let mut file = std::fs::File::create(out.join("paths.txt"))?;
    for p in &paths {
        writeln!(file, "{p}")?;
    }
    // One typical answer, for nginx to serve as a static file of the same size.
    let snapshot = state.snapshot.load();
    let client = state.config.client.clone();
    let mut sizes = Vec::new();
    let mut sample = String::new();
    for p in paths.iter().take(500) {
        let q = updater_server::query::parse(p, "", "")?.context("route")?;
        let outcome = updater_server::evaluate::evaluate(&snapshot, &q, &client, &mut || 0)?;
        sizes.push(outcome.body.len());
        if sample.is_empty() {
            sample = outcome.body.into_owned();
        }
    }
    let mean = sizes.iter().sum::<usize>() / sizes.len().max(1);
    let queries: Vec<_> = paths
        .iter()
        .map(|p| updater_server::query::parse(p, "", ""))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..10 {
        for q in queries.iter().flatten() {
            bytes += updater_server::evaluate::evaluate(&snapshot, q, &client, &mut || 0)?
                .body
                .len();
        }
    }
    println!(
        "evaluate + render in-process: {:.2} us per request ({} requests, {bytes} bytes)",
        started.elapsed().as_secs_f64() * 1e6 / (10 * queries.len()) as f64,
        10 * queries.len()
    );
    let mut body = sample.into_bytes();
    body.resize(mean, b' ');
    std::fs::write(out.join("static.xml"), &body)?;
    println!(
        "mean response size {mean} bytes over {} sampled paths",
        sizes.len()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Setup { out } => setup(&out),
    }
}
