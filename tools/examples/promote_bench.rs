//! The promote benchmark of BENCHMARKS.md: three platforms × N locales × three partial sources.
//!
//! `cargo run --release -p kiln-tools --example promote_bench -- [small|large] [LOCALES] [DIR]`
//! ships 119.0, 120.0 and 121.0 (so 122.0 has three partial sources), then times 122.0's
//! promote per stage, a no-op rerun, and the same promote with en-US and de only (the fan-out
//! ratio; the fixtures' partner configs need de).

use std::time::Instant;

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat` (Linux,
/// where the kernel reports them in USER_HZ = 100 ticks per second). On a machine shared with
/// other work, the fan-out ratio in CPU seconds is steadier than in wall time.
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> { Ok(fields[i].parse::<f64>()?) };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

use kiln_tools::release::coordinator::{self, PromoteReport};
use kiln_tools::release::quickstart;

fn train(
    dir: &std::path::Path,
    size: kiln_fixtures::Size,
    locales: usize,
) -> anyhow::Result<(PromoteReport, PromoteReport, f64)> {
    let options = kiln_fixtures::Options {
        size,
        locales: kiln_fixtures::Locales::Count(locales),
        versions: ["119.0", "120.0", "121.0", "122.0"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    let env = quickstart::prepare(dir, &options, false)?;
    let state = coordinator::open_state(&env.config)?;
    for version in ["119.0", "120.0", "121.0"] {
        quickstart::release(&env, &state, version, "release", 100)?;
    }
    let row = quickstart::go_to_build(&env, &state, "122.0", "release", "bench")?;
    let name = row.name.clone();
    let cpu = cpu_seconds()?;
    let first = coordinator::promote(&env.config, &state, row, None)?;
    let cpu = cpu_seconds()? - cpu;
    let again = coordinator::promote(&env.config, &state, state.release(&name)?, None)?;
    Ok((first, again, cpu))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let size: kiln_fixtures::Size = args.get(1).map_or("small", String::as_str).parse()?;
    let locales: usize = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let dir = std::path::PathBuf::from(args.get(3).map_or("target/promote-bench", String::as_str));
    let started = Instant::now();
    let (full, noop, full_cpu) = train(&dir.join("fanout"), size, locales)?;
    let (one, _, one_cpu) = train(&dir.join("one"), size, 2)?;
    println!("| stage | items | wall s | items/s | notes |\n|---|---|---|---|---|");
    for stage in &full.stages {
        println!(
            "| {} | {} | {:.2} | {:.1} | {} |",
            stage.stage,
            stage.counts.total(),
            stage.seconds,
            stage.counts.total() as f64 / stage.seconds.max(1e-9),
            stage.extra
        );
    }
    println!(
        "\npromote, {locales} locales: {:.2} s ({} items)",
        full.seconds,
        full.total.total()
    );
    println!(
        "promote, en-US and de: {:.2} s ({} items)",
        one.seconds,
        one.total.total()
    );
    println!(
        "fan-out ratio ({locales} locales / en-US and de): {:.2}× wall",
        full.seconds / one.seconds
    );
    println!(
        "CPU seconds: {full_cpu:.1} / {one_cpu:.1} = {:.2}×",
        full_cpu / one_cpu
    );
    println!("no-op rerun: {:.2} s ({})", noop.seconds, noop.total);
    println!(
        "benchmark wall time, fixtures and three shipped releases included: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
