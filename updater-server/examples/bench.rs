//! Benchmark driver for the update server (see `bench/run.sh`).
//!
//! * `setup`: writes 300 releases (schema 9, 3 platforms × 20 locales, complete + partial) and
//!   1,000 rules as Balrog JSON, imports them into a fresh database through the real `import`
//!   path, writes the wrk path list, a static file the size of a typical answer (for nginx), and
//!   measures snapshot build and rebuild-after-change times.
//! * `visibility`: against running servers (`bench/replicas.sh`), changes a probe rule through one
//!   replica and times until every other replica answers with it (change-to-visible latency).
//! * `admin-writes`: against running servers, rule changes per second from several writers spread
//!   over the replicas (each on its own rule, so none conflict).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use updater_server::admin::auth::Actor;
use updater_server::admin::{rules, Mode};
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
    /// Change-to-visible latency across replicas.
    Visibility {
        /// Base URL of the replica that takes the writes.
        #[arg(long)]
        write: String,
        /// Base URLs of the replicas that must see them (repeatable).
        #[arg(long = "read")]
        reads: Vec<String>,
        /// Admin token.
        #[arg(long)]
        token: String,
        /// Changes to time.
        #[arg(long, default_value_t = 200)]
        rounds: usize,
    },
    /// Admin write throughput.
    AdminWrites {
        /// Base URLs of the replicas to write through (repeatable; writers are spread over them).
        #[arg(long = "url")]
        urls: Vec<String>,
        /// Admin token.
        #[arg(long)]
        token: String,
        /// Concurrent writers.
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// How long to write.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Sends `body` with `method` to the admin API; returns the status and the JSON answer.
fn admin(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let auth = format!("Bearer {token}");
    let request = match method {
        "POST" => agent.post(url),
        _ => agent.put(url),
    };
    let mut resp = request
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(body.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn visibility(write: &str, reads: &[String], token: &str, rounds: usize) -> anyhow::Result<()> {
    let agent = agent();
    let probe = json!({"priority": 100_000, "backgroundRate": 100, "update_type": "minor",
        "product": "Firefox", "channel": "kiln-visibility", "mapping": release_name(RELEASES - 1)});
    let (status, created) = admin(
        &agent,
        "POST",
        &format!("{write}/api/v1/rules"),
        token,
        &probe,
    )?;
    anyhow::ensure!(
        status < 300,
        "cannot create the probe rule: {status} {created}"
    );
    let rule_id = created["rule_id"].as_i64().context("rule_id")?;
    let mut version = created["data_version"].as_i64().unwrap_or(1);
    let path = format!(
        "/update/6/Firefox/30.0/{}/WINNT_x86_64-msvc/en-US/kiln-visibility/Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/default/update.xml",
        build_id(0)
    );
    let mut latencies = Vec::with_capacity(rounds * reads.len());
    for round in 0..rounds {
        let body = json!({"priority": 100_000 + round, "data_version": version});
        let (status, changed) = admin(
            &agent,
            "PUT",
            &format!("{write}/api/v1/rules/{rule_id}"),
            token,
            &body,
        )?;
        anyhow::ensure!(status == 200, "write refused: {status} {changed}");
        version = changed["data_version"].as_i64().context("data_version")?;
        let acknowledged = Instant::now();
        for read in reads {
            loop {
                let resp = agent.get(format!("{read}{path}")).call()?;
                let seen: i64 = resp
                    .headers()
                    .get("Rule-Data-Version")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if seen >= version {
                    latencies.push(acknowledged.elapsed());
                    break;
                }
                anyhow::ensure!(
                    acknowledged.elapsed() < Duration::from_secs(10),
                    "{read} did not see version {version}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    latencies.sort();
    println!(
        "change-to-visible over {} samples ({rounds} changes x {} readers): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        reads.len(),
        percentile(&latencies, 50).as_secs_f64() * 1e3,
        percentile(&latencies, 99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(())
}

fn admin_writes(urls: &[String], token: &str, writers: usize, seconds: u64) -> anyhow::Result<()> {
    anyhow::ensure!(!urls.is_empty(), "give at least one --url");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let url = urls[w % urls.len()].clone();
            let token = token.to_owned();
            std::thread::spawn(move || -> anyhow::Result<(u64, Vec<Duration>)> {
                let agent = agent();
                // Writer w owns rule w + 1 of the data set: no conflicts between writers.
                let rule_url = format!("{url}/api/v1/rules/{}", w + 1);
                let mut current: Value = serde_json::from_str(
                    &agent
                        .get(&rule_url)
                        .header("Authorization", &format!("Bearer {token}"))
                        .call()?
                        .body_mut()
                        .read_to_string()?,
                )?;
                let mut version = current["data_version"].as_i64().context("data_version")?;
                let (mut done, mut times) = (0, Vec::new());
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let body = json!({"priority": 5000 + done, "data_version": version});
                    let (status, changed) = admin(&agent, "PUT", &rule_url, &token, &body)?;
                    anyhow::ensure!(status == 200, "write refused: {status} {changed}");
                    times.push(started.elapsed());
                    current = changed;
                    version = current["data_version"].as_i64().context("data_version")?;
                    done += 1;
                }
                Ok((done as u64, times))
            })
        })
        .collect();
    let mut total = 0;
    let mut times = Vec::new();
    for h in handles {
        let (n, t) = h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        total += n;
        times.extend(t);
    }
    times.sort();
    println!(
        "admin writes: {total} in {seconds} s = {:.1}/s ({writers} writers over {} replica(s)); latency p50 {:.1} ms, p99 {:.1} ms",
        total as f64 / seconds as f64,
        urls.len(),
        percentile(&times, 50).as_secs_f64() * 1e3,
        percentile(&times, 99).as_secs_f64() * 1e3
    );
    Ok(())
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
        let q = updater_server::client::query::parse(p, "", "")?.context("route")?;
        let outcome =
            updater_server::client::evaluate::evaluate(&snapshot, &q, &client, &mut || 0)?;
        sizes.push(outcome.body.len());
        if sample.is_empty() {
            sample = outcome.body.into_owned();
        }
    }
    let mean = sizes.iter().sum::<usize>() / sizes.len().max(1);
    let queries: Vec<_> = paths
        .iter()
        .map(|p| updater_server::client::query::parse(p, "", ""))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..10 {
        for q in queries.iter().flatten() {
            bytes += updater_server::client::evaluate::evaluate(&snapshot, q, &client, &mut || 0)?
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
        Cmd::Visibility {
            write,
            reads,
            token,
            rounds,
        } => visibility(&write, &reads, &token, rounds),
        Cmd::AdminWrites {
            urls,
            token,
            writers,
            seconds,
        } => admin_writes(&urls, &token, writers, seconds),
    }
}
