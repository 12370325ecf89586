//! The background updater: a thread that checks on an interval (with jitter) and on demand,
//! downloads, verifies and stages what it finds, and reports [`Event`]s over a channel. It never
//! blocks the host; [`Background::shutdown`] stops it promptly (a download in progress is
//! abandoned at its next read and resumed by a later check).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::offer::UpdateOffer;
use crate::updater::{Outcome, Updater};

/// Firefox's release `promptWaitTime` default: 8 days.
pub const DEFAULT_PROMPT_WAIT: Duration = Duration::from_secs(691_200);

/// How often the thread looks at its clock (real time).
const TICK: Duration = Duration::from_millis(50);

/// What the background updater tells the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A check found nothing newer.
    NoUpdate,
    /// A check found an update; it is being downloaded.
    Available(UpdateOffer),
    /// Download progress: bytes held, advertised size.
    Progress {
        /// Bytes held.
        done: u64,
        /// The advertised size.
        total: u64,
    },
    /// Downloaded, verified and staged (or pending): it takes effect at the next start.
    Downloaded(UpdateOffer),
    /// The prompt wait is over: ask the user to restart.
    ReadyToRestart(UpdateOffer),
    /// A check or update failed; the install is unchanged.
    Failed {
        /// What went wrong.
        error: String,
        /// Firefox's error code, for a refused or failed apply.
        code: Option<u8>,
    },
}

enum Command {
    CheckNow,
    Shutdown,
}

/// The running background updater.
#[derive(Debug)]
pub struct Background {
    commands: Sender<Command>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
    updater: Updater,
}

/// How long [`Background::shutdown`] waits for the thread before leaving it to finish alone (a
/// read blocked on a stalled connection ends at the download deadline at the latest).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::CheckNow => "CheckNow",
            Command::Shutdown => "Shutdown",
        })
    }
}

/// When to prompt for a restart: at once for `showPrompt` or `promptWaitTime="0"`, else the
/// offer's `promptWaitTime` (or `default_wait`) after the download.
pub fn prompt_due(
    offer: &UpdateOffer,
    downloaded_at: SystemTime,
    default_wait: Duration,
) -> SystemTime {
    if offer.show_prompt {
        return downloaded_at;
    }
    downloaded_at
        + offer
            .prompt_wait_time
            .map(Duration::from_secs)
            .unwrap_or(default_wait)
}

impl Background {
    /// Asks for a check now (a manual check: `force=1`).
    pub fn check_now(&self) {
        let _ = self.commands.send(Command::CheckNow);
    }

    /// The events, in order.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Stops the thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.updater.cancel_flag().store(true, Ordering::SeqCst);
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            // Join if it ends in time; otherwise let it finish on its own (it does nothing more
            // than end its current read), so the host is never blocked.
            if self.done.recv_timeout(SHUTDOWN_WAIT).is_ok() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A delay below `max` taken from the sub-second part of `now` (the updater's clock, so a test
/// clock makes it reproducible): enough to spread installs' checks, with no random source.
fn jitter(max: Duration, now: SystemTime) -> Duration {
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    match max.as_millis() as u64 {
        0 => Duration::ZERO,
        ms => Duration::from_millis(nanos % ms),
    }
}

impl Updater {
    /// Starts the background thread. The first check happens at once, then every interval
    /// (plus jitter); [`Background::check_now`] checks immediately.
    pub fn start_background(&self, default_prompt_wait: Duration) -> Background {
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        self.cancel_flag().store(false, Ordering::SeqCst);
        let updater = self.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-updater".to_owned())
            .spawn(move || {
                run(updater, command_rx, event_tx, default_prompt_wait);
                let _ = done_tx.send(());
            })
            .expect("spawning the updater thread");
        Background {
            commands,
            events,
            thread: Some(thread),
            done,
            updater: self.clone(),
        }
    }
}

fn run(
    updater: Updater,
    commands: Receiver<Command>,
    events: Sender<Event>,
    default_wait: Duration,
) {
    let clock = updater.clock().clone();
    let (interval, max_jitter) = updater.interval();
    let mut next_check = clock.now();
    let mut prompt: Option<(UpdateOffer, SystemTime)> = None;
    loop {
        let force = match commands.recv_timeout(TICK) {
            Ok(Command::CheckNow) => true,
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => false,
        };
        let now = clock.now();
        if force || now >= next_check {
            next_check = now + interval + jitter(max_jitter, now);
            if let Some(staged) = attempt(&updater, force, &events) {
                let downloaded_at = updater.downloaded_at().unwrap_or_else(|| clock.now());
                prompt = Some((
                    staged.clone(),
                    prompt_due(&staged, downloaded_at, default_wait),
                ));
            }
        }
        if let Some((offer, due)) = &prompt {
            if clock.now() >= *due {
                let _ = events.send(Event::ReadyToRestart(offer.clone()));
                prompt = None;
            }
        }
    }
}

/// One check-and-update; returns the offer that is now waiting for a restart.
fn attempt(updater: &Updater, force: bool, events: &Sender<Event>) -> Option<UpdateOffer> {
    let offer = match updater.check(force) {
        Ok(Some(offer)) if !offer.unsupported => offer,
        Ok(_) => {
            let _ = events.send(Event::NoUpdate);
            return None;
        }
        Err(e) => {
            let _ = events.send(Event::Failed {
                error: e.to_string(),
                code: e.code(),
            });
            return None;
        }
    };
    let _ = events.send(Event::Available(offer.clone()));
    let progress = |done, total| {
        let _ = events.send(Event::Progress { done, total });
    };
    match updater.update_offer(&offer, &progress) {
        Ok(Outcome::Staged(offer, _)) | Ok(Outcome::Pending(offer, _)) => {
            let _ = events.send(Event::Downloaded(offer.clone()));
            Some(offer)
        }
        Ok(_) => None,
        Err(e) => {
            let _ = events.send(Event::Failed {
                error: e.to_string(),
                code: e.code(),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_timing() {
        let mut offer = UpdateOffer {
            update_type: "minor".into(),
            app_version: "2".into(),
            display_version: "2".into(),
            build_id: "2".into(),
            details_url: None,
            prompt_wait_time: None,
            show_prompt: false,
            unsupported: false,
            patches: Vec::new(),
            check_url: None,
        };
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            prompt_due(&offer, t, DEFAULT_PROMPT_WAIT),
            t + DEFAULT_PROMPT_WAIT
        );
        offer.prompt_wait_time = Some(0);
        assert_eq!(prompt_due(&offer, t, DEFAULT_PROMPT_WAIT), t);
        offer.prompt_wait_time = Some(3600);
        assert_eq!(
            prompt_due(&offer, t, DEFAULT_PROMPT_WAIT),
            t + Duration::from_secs(3600)
        );
        offer.show_prompt = true;
        assert_eq!(prompt_due(&offer, t, DEFAULT_PROMPT_WAIT), t);
    }
}
