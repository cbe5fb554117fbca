//! A latency histogram many tasks record into at once without a lock: 64 buckets per power of
//! two of microseconds (within 1.6 % of the true value), up to about 4.8 hours.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const SUB: u32 = 64;
const BUCKETS: usize = (SUB as usize) * 29;

pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Values below 64 µs have a bucket each; above, the top 7 bits pick one.
fn bucket(micros: u64) -> usize {
    if micros < SUB as u64 {
        return micros as usize;
    }
    let magnitude = 63 - micros.leading_zeros(); // ≥ 6
    let shift = magnitude - 6;
    let index = (shift + 1) as usize * SUB as usize + ((micros >> shift) as usize - SUB as usize);
    index.min(BUCKETS - 1)
}

/// The smallest value of a bucket.
fn lowest(index: usize) -> u64 {
    if index < SUB as usize {
        return index as u64;
    }
    let shift = (index / SUB as usize - 1) as u32;
    ((index % SUB as usize) as u64 + SUB as u64) << shift
}

impl Histogram {
    /// Forgets what was recorded (a measurement window starts).
    pub fn clear(&self) {
        for count in self.counts.iter() {
            count.store(0, Relaxed);
        }
    }

    pub fn record(&self, micros: u64) {
        self.counts[bucket(micros)].fetch_add(1, Relaxed);
    }

    /// The `p`-th percentile (0–100), `None` when nothing was recorded.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(lowest(index)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_close_to_the_values() {
        for value in [0, 1, 63, 64, 65, 127, 128, 1000, 99_999, 5_000_000] {
            let low = lowest(bucket(value));
            assert!(low <= value, "{value}: {low}");
            assert!(
                (value - low) as f64 <= value as f64 / 64.0,
                "{value}: {low}"
            );
        }
    }

    #[test]
    fn percentiles_rank_the_recorded_values() {
        let h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for ms in 1..=100 {
            h.record(ms * 1000);
        }
        let p50 = h.percentile(50.0).unwrap().as_micros() as f64;
        let p99 = h.percentile(99.0).unwrap().as_micros() as f64;
        assert!((49_000.0..=50_000.0).contains(&p50), "{p50}");
        assert!((98_000.0..=99_000.0).contains(&p99), "{p99}");
    }
}
