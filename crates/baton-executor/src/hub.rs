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
    /// One entry per live run. The engine inserts it when the run starts and removes
    /// it after the run's last event; receivers then see the channel close. The
    /// channel itself is made by the first subscriber: its buffer (`CHANNEL_CAPACITY`
    /// slots, allocated whole) would otherwise be most of what a run nobody watches
    /// costs in memory.
    channels: Mutex<HashMap<RunId, Option<broadcast::Sender<Arc<Event>>>>>,
}

impl EventHub {
    /// Marks a run that is starting as live.
    pub fn open(&self, run_id: RunId) {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(run_id).or_insert(None);
    }

    /// Subscribes to a live run; `None` when the run is not running in this process
    /// (it ended, or never started here): read the journal instead.
    pub fn subscribe(&self, run_id: RunId) -> Option<broadcast::Receiver<Arc<Event>>> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let sender = channels
            .get_mut(&run_id)?
            .get_or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
        Some(sender.subscribe())
    }

    /// Publishes committed events to a run's subscribers.
    pub fn publish(&self, events: &[Event]) {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            // Nobody listening (the common case) costs no copy.
            if let Some(Some(sender)) = channels.get(&event.run_id)
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

#[cfg(test)]
mod tests {
    use baton_core::event::EventPayload;
    use baton_core::ids::TaskId;
    use time::OffsetDateTime;
    use tokio::sync::broadcast::error::TryRecvError;

    use super::*;

    fn delta(run_id: RunId, seq: u64) -> Event {
        Event {
            run_id,
            seq,
            ts: OffsetDateTime::now_utc(),
            payload: EventPayload::TaskDelta {
                task_id: TaskId::parse("t").unwrap_or_else(|_| unreachable!()),
                text: seq.to_string(),
            },
        }
    }

    fn has_channel(hub: &EventHub, run_id: RunId) -> bool {
        hub.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&run_id)
            .is_some_and(Option::is_some)
    }

    #[test]
    fn a_run_nobody_watches_gets_no_channel() {
        let hub = EventHub::default();
        let run_id = RunId::new();

        hub.open(run_id);
        hub.publish(&[delta(run_id, 1)]);

        assert!(!has_channel(&hub, run_id));
    }

    #[test]
    fn a_subscriber_gets_what_is_published_after_it_subscribed_until_the_run_closes() {
        let hub = EventHub::default();
        let run_id = RunId::new();
        assert!(hub.subscribe(run_id).is_none(), "not live before it opens");
        hub.open(run_id);
        hub.publish(&[delta(run_id, 1)]);

        let mut first = hub.subscribe(run_id).expect("a live run");
        let mut second = hub.subscribe(run_id).expect("a live run");
        hub.publish(&[delta(run_id, 2), delta(RunId::new(), 1)]);
        hub.close(run_id);

        for receiver in [&mut first, &mut second] {
            let received = receiver
                .try_recv()
                .expect("the event published after subscribing");
            assert_eq!(received.seq, 2);
            assert_eq!(received.run_id, run_id);
            assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Closed);
        }
        assert!(hub.subscribe(run_id).is_none(), "not live after it closed");
    }
}
