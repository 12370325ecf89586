//! `kiln worker`: claims the units a coordinator queued (with a lease), runs each with the same
//! stage code the local executor runs, renews the lease while it works, and records the outcome.
//! A worker that dies or loses the database stops renewing; once its lease ends another worker
//! claims the unit and redoes it, and the first one's late result is refused (its claim's token
//! no longer holds the unit), so each unit is finished once whatever the races.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use serde::Serialize;

use crate::release::config::Config;
use crate::release::coordinator;
use crate::release::executor::{set_identity, Plan};
use crate::release::stages;
use crate::release::state::{Claim, ReleaseStatus, State};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Its name in the queue and the item table (`host:pid` by default).
    pub name: Option<String>,
    /// Stop once nothing is queued or claimed and no release is being promoted.
    pub exit_when_idle: bool,
    /// How often an idle worker looks at the queue.
    pub poll: Duration,
}

/// What a worker did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkerReport {
    /// The worker's name.
    pub name: String,
    /// Units it finished (its result accepted).
    pub finished: usize,
    /// Units it ran whose result was refused (its lease had been lost).
    pub refused: usize,
    /// Units it could not run (recorded failed).
    pub failed: usize,
}

/// Runs a worker until it is idle (with `exit_when_idle`) or killed.
pub fn run(config: &Config, options: &WorkerOptions) -> anyhow::Result<WorkerReport> {
    if let Some(name) = &options.name {
        set_identity(name);
    }
    let name = crate::release::executor::identity().to_owned();
    let state = coordinator::open_state(config)?;
    let lease = config.pipeline.lease();
    let mut report = WorkerReport {
        name: name.clone(),
        ..WorkerReport::default()
    };
    tracing::info!(worker = %name, lease_s = lease.as_secs(), "worker started");
    loop {
        match state.claim(&name, lease, None)? {
            Some(claim) => run_batch(config, &state, claim, &mut report)?,
            None => {
                if options.exit_when_idle && is_idle(&state)? {
                    tracing::info!(worker = %name, finished = report.finished, "idle: exiting");
                    return Ok(report);
                }
                std::thread::sleep(options.poll);
            }
        }
    }
}

/// Nothing to claim now or later: no unit is open and no release is being promoted.
fn is_idle(state: &State) -> anyhow::Result<bool> {
    Ok(!state.has_open_units()?
        && !state
            .releases()?
            .iter()
            .any(|r| r.status == ReleaseStatus::Promoting))
}

/// Runs `first` and then every further unit of the same release and stage this worker can
/// claim, planning the stage once.
fn run_batch(
    config: &Config,
    state: &State,
    first: Claim,
    report: &mut WorkerReport,
) -> anyhow::Result<()> {
    let (release, stage) = (first.release.clone(), first.stage.clone());
    let mut ctx = match coordinator::context(config, state, state.release(&release)?) {
        Ok(ctx) => ctx,
        Err(e) => return refuse(state, &first, &format!("{e:#}"), report),
    };
    ctx.in_worker = true;
    if let Err(e) = stages::pull_for(&ctx, &stage) {
        return refuse(
            state,
            &first,
            &format!("fetching {stage}'s inputs: {e:#}"),
            report,
        );
    }
    let plan = match stages::plan(&ctx, &stage) {
        Ok(plan) => plan,
        Err(e) => return refuse(state, &first, &format!("planning {stage}: {e:#}"), report),
    };
    let units = plan.units();
    let lease = config.pipeline.lease();
    let mut next = Some(first);
    while let Some(claim) = next {
        match units.iter().find(|(key, _)| *key == claim.unit) {
            Some((_, print)) if *print == claim.fingerprint => {
                run_claimed(state, plan.as_ref(), &claim, lease, report)?;
            }
            _ => refuse(
                state,
                &claim,
                "this worker plans the unit differently from the coordinator (another kiln.toml, \
                 keys or inputs?)",
                report,
            )?,
        }
        next = state.claim(
            crate::release::executor::identity(),
            lease,
            Some((&release, &stage)),
        )?;
    }
    Ok(())
}

/// Records `claim` as failed with `why`.
fn refuse(
    state: &State,
    claim: &Claim,
    why: &str,
    report: &mut WorkerReport,
) -> anyhow::Result<()> {
    tracing::error!(release = %claim.release, stage = %claim.stage, unit = %claim.unit, %why, "cannot run unit");
    state.finish(claim, Err(why))?;
    report.failed += 1;
    Ok(())
}

/// Runs one claimed unit while a heartbeat thread renews its lease, then records the outcome.
fn run_claimed(
    state: &State,
    plan: &dyn Plan,
    claim: &Claim,
    lease: Duration,
    report: &mut WorkerReport,
) -> anyhow::Result<()> {
    tracing::info!(release = %claim.release, stage = %claim.stage, unit = %claim.unit, "claimed");
    // Dropping the sender ends the heartbeat at once, however long its wait.
    let (finished, ended) = std::sync::mpsc::channel::<()>();
    let outcome = std::thread::scope(|scope| {
        scope.spawn(move || heartbeat(state, claim, lease, &ended));
        let outcome = plan.run_unit(&claim.unit, &indicatif::ProgressBar::hidden());
        drop(finished);
        outcome
    });
    let accepted = match &outcome {
        Ok(outcome) => state.finish(claim, Ok(&serde_json::to_string(outcome)?))?,
        Err(e) => state.finish(claim, Err(&format!("{e:#}")))?,
    };
    match (accepted, outcome) {
        (false, _) => {
            tracing::warn!(unit = %claim.unit, "lease lost while running: another worker redoes the unit; result refused");
            report.refused += 1;
        }
        (true, Ok(_)) => report.finished += 1,
        (true, Err(_)) => report.failed += 1,
    }
    Ok(())
}

/// Renews `claim`'s lease every third of `lease` until `ended` disconnects (the unit is done);
/// stops renewing once the lease is lost (the unit is someone else's now).
fn heartbeat(state: &State, claim: &Claim, lease: Duration, ended: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(lease / 3) {
        match state.renew(claim, lease) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(unit = %claim.unit, "lease lost");
                return;
            }
            Err(e) => tracing::warn!(unit = %claim.unit, error = %e, "cannot renew the lease"),
        }
    }
}
