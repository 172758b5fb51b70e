//! HAProxy's event-rate counter over a sliding period (`freq_ctr_period`): two buckets,
//! the current period and the previous one; the rate is the current count plus the
//! previous count weighted by how much of it still lies inside the sliding window.

use std::time::Duration;

/// Events per `period`, over a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreqCounter {
    period: Duration,
    current_start: Duration,
    current: u64,
    previous: u64,
}

impl FreqCounter {
    /// A counter of events per `period` (a zero period is treated as one millisecond).
    pub fn new(period: Duration) -> Self {
        FreqCounter {
            period: period.max(Duration::from_millis(1)),
            current_start: Duration::ZERO,
            current: 0,
            previous: 0,
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    fn rotate(&mut self, now: Duration) {
        let p = self.period.as_nanos();
        let elapsed = now.saturating_sub(self.current_start).as_nanos();
        if elapsed < p {
            return;
        }
        self.previous = if elapsed < 2 * p { self.current } else { 0 };
        self.current = 0;
        // Align the new period on the period grid so that rotations stay regular.
        let periods = elapsed / p;
        let advance = periods * p;
        let advance = u64::try_from(advance).unwrap_or(u64::MAX);
        self.current_start += Duration::from_nanos(advance);
    }

    /// Records `n` events at `now`.
    pub fn add(&mut self, now: Duration, n: u64) {
        self.rotate(now);
        self.current = self.current.saturating_add(n);
    }

    /// Events in the sliding window ending at `now`.
    pub fn rate(&self, now: Duration) -> u64 {
        let mut c = *self;
        c.rotate(now);
        let p = c.period.as_nanos();
        let into = now.saturating_sub(c.current_start).as_nanos().min(p);
        let remaining = p - into;
        c.current + ((u128::from(c.previous) * remaining) / p) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn rate_slides_out_over_one_period() {
        let mut c = FreqCounter::new(10 * S);
        for _ in 0..100 {
            c.add(S, 1);
        }
        assert_eq!(c.rate(S), 100);
        // Next period, halfway: half of the previous period still counts.
        assert_eq!(c.rate(15 * S), 50);
        // Two periods later, nothing.
        assert_eq!(c.rate(25 * S), 0);
        c.add(15 * S, 10);
        assert_eq!(c.rate(15 * S), 60);
    }
}
