//! The simulator's in-flight gauge: how many calls are waiting out their latency now,
//! the most there ever were at once, and how many calls were made.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts simulated calls. Shared through an `Arc` between the simulators that count
/// on it and whoever reads it (`baton bench` proves its concurrency with `peak`).
#[derive(Debug, Default)]
pub struct SimGauge {
    in_flight: AtomicU64,
    peak: AtomicU64,
    calls: AtomicU64,
}

impl SimGauge {
    /// The calls in flight now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most calls that were in flight at once since the last [`SimGauge::reset`].
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }

    /// The calls begun since the last [`SimGauge::reset`].
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Starts the peak and the call count again from the calls in flight now.
    pub fn reset(&self) {
        self.peak.store(self.in_flight(), Ordering::SeqCst);
        self.calls.store(0, Ordering::SeqCst);
    }

    /// Counts a call in until the returned guard is dropped.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight { gauge: self }
    }
}

/// One call in flight; dropping it counts the call out.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    gauge: &'a SimGauge,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
