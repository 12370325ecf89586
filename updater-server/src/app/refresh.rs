//! Keeps a replica's snapshot current with the database: other replicas' writes arrive as
//! PostgreSQL notifications (`LISTEN kiln_changes`), and every `snapshot_poll_ms` the change
//! version is read anyway, as a safety net for a lost notification or a dropped listener (and
//! as the only path on SQLite, where another process may write the same file).
//!
//! The thread holds only a weak reference to the state and ends when the server's state is gone.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use crate::state::AppState;

/// Starts the refresher thread of `state`.
pub fn spawn(state: &Arc<AppState>) -> std::io::Result<JoinHandle<()>> {
    let weak = Arc::downgrade(state);
    let poll = Duration::from_millis(state.config.snapshot_poll_ms.max(10));
    std::thread::Builder::new()
        .name("kiln-refresh".to_owned())
        .spawn(move || run(&weak, poll))
}

fn run(weak: &Weak<AppState>, poll: Duration) {
    let mut listener: Option<postgres::Client> = None;
    let mut failing = false;
    loop {
        {
            let Some(state) = weak.upgrade() else { return };
            if listener.is_none() {
                if let Some(pg) = state.store.postgres() {
                    listener = pg.listener().ok();
                }
            }
        }
        let waited = match listener.as_mut() {
            Some(client) => wait(client, poll),
            None => {
                std::thread::sleep(poll);
                Ok(())
            }
        };
        if let Err(e) = waited {
            tracing::warn!(error = %e, "change listener lost; polling until it is back");
            listener = None;
            std::thread::sleep(poll);
        }
        let Some(state) = weak.upgrade() else { return };
        match state.store.refresh(&state.snapshot) {
            Ok(version) => {
                if failing {
                    tracing::info!(version, "database reachable again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot refresh the snapshot; serving the last one");
                }
                failing = true;
            }
        }
    }
}

/// Waits up to `poll` for a change notification, then takes every other one already queued, so a
/// burst of changes costs one reload.
fn wait(client: &mut postgres::Client, poll: Duration) -> Result<(), postgres::Error> {
    let mut notifications = client.notifications();
    if notifications.timeout_iter(poll).next()?.is_some() {
        let mut pending = notifications.iter();
        while pending.next()?.is_some() {}
    }
    Ok(())
}
