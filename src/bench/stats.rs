//! Order statistics over timed samples: median, minimum, maximum and nearest-rank
//! percentiles. Pure, so the figures the bench prints are tested without running it.

use std::time::Duration;

/// A set of measurements (in any one unit), kept sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Samples {
    sorted: Vec<f64>,
}

impl Samples {
    /// The samples, sorted; NaNs are dropped (a measurement is never NaN, but a
    /// division by a zero count could make one).
    pub(crate) fn new(values: impl IntoIterator<Item = f64>) -> Samples {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        Samples { sorted }
    }

    /// Durations as milliseconds.
    pub(crate) fn millis(durations: &[Duration]) -> Samples {
        Samples::new(durations.iter().map(|d| d.as_secs_f64() * 1e3))
    }

    /// How many samples there are.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The median: the middle sample, or the mean of the two middle ones; 0 when empty.
    pub(crate) fn median(&self) -> f64 {
        let n = self.sorted.len();
        match n {
            0 => 0.0,
            _ if n % 2 == 1 => self.sorted[n / 2],
            _ => (self.sorted[n / 2 - 1] + self.sorted[n / 2]) / 2.0,
        }
    }

    /// The smallest sample; 0 when empty.
    pub(crate) fn min(&self) -> f64 {
        self.sorted.first().copied().unwrap_or(0.0)
    }

    /// The largest sample; 0 when empty.
    pub(crate) fn max(&self) -> f64 {
        self.sorted.last().copied().unwrap_or(0.0)
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 100): the smallest sample with at
    /// least `p` % of the samples at or below it; 0 when empty.
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return 0.0;
        }
        let rank = (p / 100.0 * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }
}

/// Rounds to `digits` decimals, so the JSON lines stay readable.
pub(crate) fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
