//! Live event fan-out: one broadcast channel per running run. Events are sent here
//! only after the journal committed them; a subscriber that lags re-reads the
//! journal, which stays the source of truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_core::event::Event;
use baton_core::ids::RunId;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it must re-read the journal.
const CHANNEL_CAPACITY: usize = 1024;

/// The live channels of the runs this process is running.
#[derive(Debug, Default)]
pub struct EventHub {
    /// One sender per live run. The engine inserts it when the run starts and removes
    /// it after the run's last event; receivers then see the channel close.
    channels: Mutex<HashMap<RunId, broadcast::Sender<Arc<Event>>>>,
}

impl EventHub {
    /// Opens the channel of a run that is starting.
    pub fn open(&self, run_id: RunId) {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels
            .entry(run_id)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
    }

    /// Subscribes to a live run; `None` when the run is not running in this process
    /// (it ended, or never started here): read the journal instead.
    pub fn subscribe(&self, run_id: RunId) -> Option<broadcast::Receiver<Arc<Event>>> {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.get(&run_id).map(broadcast::Sender::subscribe)
    }

    /// Publishes committed events to a run's subscribers.
    pub fn publish(&self, events: &[Event]) {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            // Nobody listening (the common case) costs no copy.
            if let Some(sender) = channels.get(&event.run_id)
                && sender.receiver_count() > 0
            {
                // An error only means the last listener just left.
                let _ = sender.send(Arc::new(event.clone()));
            }
        }
    }

    /// Closes a run's channel after its last event.
    pub fn close(&self, run_id: RunId) {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.remove(&run_id);
    }
}
