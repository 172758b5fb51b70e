//! Envoy-style outlier ejection: pure, time injected.
//!
//! Callers [`report`](OutlierDetector::report) each request's outcome per host and call
//! [`tick`](OutlierDetector::tick) whenever they like (at least every `interval`); the
//! detector answers with ejections and returns.
//!
//! - **Consecutive 5xx**: `consecutive_5xx` server errors in a row eject the host at once.
//! - **Success rate**: every `interval`, among hosts with at least `request_volume`
//!   requests in that interval (and only when at least `minimum_hosts` have), a host
//!   whose success rate is below `mean - stdev_factor × stdev` is ejected.
//! - An ejection lasts `base_ejection_time × n`, where `n` counts this host's ejections,
//!   capped at `max_ejection_time`; `n` decreases by one for every interval the host
//!   spends un-ejected, so a host that recovers is forgiven over time.
//! - At most `max_ejection_percent` of hosts are ejected at once, except that one host
//!   may always be ejected.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::observe::RequestOutcome;

/// Settings, with Envoy's defaults in [`Default`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Server errors in a row that eject a host (`None` disables; Envoy default 5).
    pub consecutive_5xx: Option<u32>,
    /// How often success rates are judged and ejections expire (default 10 s).
    pub interval: Duration,
    /// The first ejection's length (default 30 s).
    pub base_ejection_time: Duration,
    /// The longest ejection (default 300 s).
    pub max_ejection_time: Duration,
    /// The largest share of hosts ejected at once, in percent (default 10).
    pub max_ejection_percent: u32,
    /// Success-rate ejection (`None` disables).
    pub success_rate: Option<SuccessRateConfig>,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_5xx: Some(5),
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            success_rate: Some(SuccessRateConfig::default()),
        }
    }
}

/// Success-rate ejection settings, with Envoy's defaults in [`Default`].
#[derive(Debug, Clone, PartialEq)]
pub struct SuccessRateConfig {
    /// Hosts with enough volume needed before any is judged (default 5).
    pub minimum_hosts: usize,
    /// Requests in one interval for a host to be judged (default 100).
    pub request_volume: u64,
    /// `k` in `mean - k × stdev` (Envoy's `stdev_factor` 1900 means 1.9).
    pub stdev_factor: f64,
}

impl Default for SuccessRateConfig {
    fn default() -> Self {
        Self {
            minimum_hosts: 5,
            request_volume: 100,
            stdev_factor: 1.9,
        }
    }
}

/// Why a host was ejected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EjectReason {
    /// Too many server errors in a row.
    Consecutive5xx,
    /// Its success rate fell below the threshold.
    SuccessRate {
        /// The host's success rate in the interval, 0 to 1.
        rate: f64,
        /// `mean - k × stdev` for that interval.
        threshold: f64,
    },
}

/// A change in a host's ejection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutlierEvent {
    /// The host is ejected until `until`.
    Ejected {
        /// The host's index.
        host: usize,
        /// Why.
        reason: EjectReason,
        /// When the ejection ends.
        until: Instant,
    },
    /// The host's ejection ended.
    Restored {
        /// The host's index.
        host: usize,
    },
}

#[derive(Debug, Clone, Default)]
struct HostStats {
    consecutive_5xx: u32,
    interval_requests: u64,
    interval_successes: u64,
    ejected_until: Option<Instant>,
    ejection_multiplier: u32,
}

/// Outlier detection over a fixed set of hosts, addressed by index.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    config: OutlierConfig,
    hosts: Vec<HostStats>,
    next_interval: Instant,
}

impl OutlierDetector {
    /// A detector for `host_count` hosts, first judging success rates at `now + interval`.
    pub fn new(config: OutlierConfig, host_count: usize, now: Instant) -> Result<Self, Error> {
        if config.interval.is_zero() || config.base_ejection_time.is_zero() {
            return Err(Error::InvalidSetting {
                field: "interval",
                reason: "interval and base ejection time must be greater than zero",
            });
        }
        if config.consecutive_5xx == Some(0) {
            return Err(Error::InvalidSetting {
                field: "consecutive_5xx",
                reason: "must be at least 1",
            });
        }
        if config.max_ejection_percent > 100 {
            return Err(Error::InvalidSetting {
                field: "max_ejection_percent",
                reason: "must be at most 100",
            });
        }
        let bad_factor = config
            .success_rate
            .as_ref()
            .is_some_and(|sr| !(sr.stdev_factor.is_finite() && sr.stdev_factor >= 0.0));
        if bad_factor {
            return Err(Error::InvalidSetting {
                field: "stdev_factor",
                reason: "must be a finite, non-negative number",
            });
        }
        let next_interval = now + config.interval;
        Ok(Self {
            config,
            hosts: vec![HostStats::default(); host_count],
            next_interval,
        })
    }

    /// Record one request to `host`: `server_error` is a 5xx, connect failure or timeout.
    ///
    /// Returns an ejection when this request completes a run of `consecutive_5xx`.
    /// An unknown host index is ignored.
    pub fn report(
        &mut self,
        now: Instant,
        host: usize,
        server_error: bool,
    ) -> Option<OutlierEvent> {
        let limit = self.config.consecutive_5xx;
        let stats = self.hosts.get_mut(host)?;
        stats.interval_requests += 1;
        if !server_error {
            stats.interval_successes += 1;
            stats.consecutive_5xx = 0;
            return None;
        }
        stats.consecutive_5xx += 1;
        let limit = limit?;
        if stats.consecutive_5xx < limit || stats.ejected_until.is_some() {
            return None;
        }
        stats.consecutive_5xx = 0;
        self.try_eject(now, host, EjectReason::Consecutive5xx)
    }

    /// Record one request by its [`RequestOutcome`]: any 5xx, connect failure, timeout
    /// or invalid response counts as a server error (Envoy's behaviour when local-origin
    /// errors are not split from upstream ones).
    pub fn report_outcome(
        &mut self,
        now: Instant,
        host: usize,
        outcome: RequestOutcome,
    ) -> Option<OutlierEvent> {
        let server_error = match outcome {
            RequestOutcome::Success => false,
            RequestOutcome::HttpStatus(code) => (500..600).contains(&code),
            RequestOutcome::ConnectError
            | RequestOutcome::ConnectTimeout
            | RequestOutcome::ResponseTimeout
            | RequestOutcome::InvalidResponse => true,
        };
        self.report(now, host, server_error)
    }

    fn ejection_allowed(&self) -> bool {
        let ejected = self.ejected_count();
        let total = self.hosts.len().max(1);
        ejected == 0 || (ejected + 1) * 100 <= total * self.config.max_ejection_percent as usize
    }

    fn try_eject(
        &mut self,
        now: Instant,
        host: usize,
        reason: EjectReason,
    ) -> Option<OutlierEvent> {
        if !self.ejection_allowed() {
            return None;
        }
        let base = self.config.base_ejection_time;
        let cap = self.config.max_ejection_time.max(base);
        let stats = self.hosts.get_mut(host)?;
        stats.ejection_multiplier = stats.ejection_multiplier.saturating_add(1);
        let length = base.saturating_mul(stats.ejection_multiplier).min(cap);
        let until = now + length;
        stats.ejected_until = Some(until);
        Some(OutlierEvent::Ejected {
            host,
            reason,
            until,
        })
    }

    /// Expire ejections that are over and, once per `interval`, judge success rates.
    pub fn tick(&mut self, now: Instant) -> Vec<OutlierEvent> {
        let interval_over = now >= self.next_interval;
        if interval_over {
            self.next_interval = now + self.config.interval;
            // Forgiveness: a host that stayed un-ejected through an interval owes less.
            for stats in &mut self.hosts {
                if stats.ejected_until.is_none() {
                    stats.ejection_multiplier = stats.ejection_multiplier.saturating_sub(1);
                }
            }
        }
        let mut events = Vec::new();
        for (host, stats) in self.hosts.iter_mut().enumerate() {
            if stats.ejected_until.is_some_and(|until| until <= now) {
                stats.ejected_until = None;
                events.push(OutlierEvent::Restored { host });
            }
        }
        if !interval_over {
            return events;
        }
        if let Some(sr) = self.config.success_rate.clone() {
            for (host, reason) in self.success_rate_outliers(&sr) {
                if let Some(event) = self.try_eject(now, host, reason) {
                    events.push(event);
                }
            }
        }
        for stats in &mut self.hosts {
            stats.interval_requests = 0;
            stats.interval_successes = 0;
        }
        events
    }

    fn success_rate_outliers(&self, sr: &SuccessRateConfig) -> Vec<(usize, EjectReason)> {
        let rates: Vec<(usize, f64)> = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.ejected_until.is_none() && s.interval_requests >= sr.request_volume.max(1)
            })
            .map(|(i, s)| (i, s.interval_successes as f64 / s.interval_requests as f64))
            .collect();
        if rates.len() < sr.minimum_hosts.max(1) {
            return Vec::new();
        }
        let n = rates.len() as f64;
        let mean = rates.iter().map(|(_, r)| r).sum::<f64>() / n;
        let variance = rates.iter().map(|(_, r)| (r - mean).powi(2)).sum::<f64>() / n;
        let threshold = mean - sr.stdev_factor * variance.sqrt();
        rates
            .into_iter()
            .filter(|(_, rate)| *rate < threshold)
            .map(|(host, rate)| (host, EjectReason::SuccessRate { rate, threshold }))
            .collect()
    }

    /// Whether `host` is ejected now.
    pub fn is_ejected(&self, host: usize) -> bool {
        self.hosts
            .get(host)
            .is_some_and(|s| s.ejected_until.is_some())
    }

    /// How many hosts are ejected now.
    pub fn ejected_count(&self) -> usize {
        self.hosts
            .iter()
            .filter(|s| s.ejected_until.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn config() -> OutlierConfig {
        OutlierConfig {
            consecutive_5xx: Some(3),
            interval: 10 * S,
            base_ejection_time: 30 * S,
            max_ejection_time: 100 * S,
            max_ejection_percent: 50,
            success_rate: None,
        }
    }

    #[test]
    fn consecutive_errors_eject_and_success_resets() {
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(config(), 4, t0).expect("valid");
        assert_eq!(d.report(t0, 0, true), None);
        assert_eq!(d.report(t0, 0, true), None);
        assert_eq!(d.report(t0, 0, false), None, "success resets");
        assert_eq!(d.report(t0, 0, true), None);
        assert_eq!(d.report(t0, 0, true), None);
        let ev = d.report(t0, 0, true).expect("third in a row ejects");
        assert_eq!(
            ev,
            OutlierEvent::Ejected {
                host: 0,
                reason: EjectReason::Consecutive5xx,
                until: t0 + 30 * S
            }
        );
        assert!(d.is_ejected(0));
        assert!(d.tick(t0 + 29 * S).is_empty());
        assert_eq!(
            d.tick(t0 + 30 * S),
            vec![OutlierEvent::Restored { host: 0 }]
        );
        assert!(!d.is_ejected(0));
    }

    #[test]
    fn ejection_time_grows_then_is_capped_and_forgiven() {
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(config(), 2, t0).expect("valid");
        let mut now = t0;
        let mut lengths = Vec::new();
        for _ in 0..5 {
            let mut event = None;
            for _ in 0..3 {
                event = d.report(now, 1, true);
            }
            match event {
                Some(OutlierEvent::Ejected { until, .. }) => {
                    lengths.push(until - now);
                    // Restore without a full interval passing un-ejected.
                    now = until;
                    d.tick(now);
                }
                other => panic!("expected ejection, got {other:?}"),
            }
        }
        assert_eq!(lengths, vec![30 * S, 60 * S, 90 * S, 100 * S, 100 * S]);
        // Many intervals un-ejected bring the multiplier back down to zero.
        for _ in 0..10 {
            now += 10 * S;
            d.tick(now);
        }
        for _ in 0..3 {
            if let Some(OutlierEvent::Ejected { until, .. }) = d.report(now, 1, true) {
                assert_eq!(until - now, 30 * S);
                return;
            }
        }
        panic!("host 1 was not ejected again");
    }

    #[test]
    fn max_ejection_percent_caps_but_one_is_always_allowed() {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            max_ejection_percent: 10,
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, 3, t0).expect("valid");
        for host in 0..3 {
            for _ in 0..3 {
                d.report(t0, host, true);
            }
        }
        assert_eq!(
            d.ejected_count(),
            1,
            "10% of 3 is under one host, but one is allowed"
        );

        let cfg = OutlierConfig {
            max_ejection_percent: 50,
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, 4, t0).expect("valid");
        for host in 0..4 {
            for _ in 0..3 {
                d.report(t0, host, true);
            }
        }
        assert_eq!(d.ejected_count(), 2);
    }

    #[test]
    fn success_rate_ejects_the_low_outlier_only() {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            consecutive_5xx: None,
            success_rate: Some(SuccessRateConfig {
                minimum_hosts: 5,
                request_volume: 100,
                stdev_factor: 1.9,
            }),
            ..config()
        };
        let mut d = OutlierDetector::new(cfg.clone(), 6, t0).expect("valid");
        // Hosts 0-4 succeed 99%, host 5 only 50%.
        for host in 0..6 {
            let failures = if host == 5 { 50 } else { 1 };
            for i in 0..100 {
                d.report(t0, host, i < failures);
            }
        }
        assert!(
            d.tick(t0 + 5 * S).is_empty(),
            "judged only once an interval"
        );
        let events = d.tick(t0 + 10 * S);
        assert_eq!(events.len(), 1);
        match events[0] {
            OutlierEvent::Ejected {
                host: 5,
                reason: EjectReason::SuccessRate { rate, threshold },
                ..
            } => {
                assert!((rate - 0.5).abs() < 1e-9);
                assert!(threshold > rate && threshold < 0.99);
            }
            other => panic!("unexpected {other:?}"),
        }

        // Too few hosts with enough volume: nobody is judged.
        let mut d = OutlierDetector::new(cfg, 6, t0).expect("valid");
        for host in 0..6 {
            let volume = if host < 4 { 100 } else { 10 };
            for i in 0..volume {
                d.report(t0, host, host == 3 && i < 90);
            }
        }
        assert!(d.tick(t0 + 10 * S).is_empty());
    }

    #[test]
    fn outcomes_map_to_server_errors() {
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(config(), 2, t0).expect("valid");
        assert_eq!(
            d.report_outcome(t0, 0, RequestOutcome::HttpStatus(501)),
            None
        );
        assert_eq!(
            d.report_outcome(t0, 0, RequestOutcome::ConnectTimeout),
            None
        );
        assert!(
            d.report_outcome(t0, 0, RequestOutcome::InvalidResponse)
                .is_some()
        );
        for outcome in [RequestOutcome::HttpStatus(404), RequestOutcome::Success] {
            assert_eq!(
                d.report_outcome(t0, 1, RequestOutcome::HttpStatus(500)),
                None
            );
            assert_eq!(
                d.report_outcome(t0, 1, RequestOutcome::HttpStatus(503)),
                None
            );
            assert_eq!(
                d.report_outcome(t0, 1, outcome),
                None,
                "{outcome:?} resets the run"
            );
        }
        assert!(!d.is_ejected(1));
        assert_eq!(d.report(t0, 7, true), None, "unknown hosts are ignored");
    }

    #[test]
    fn bad_config_is_rejected() {
        let t0 = Instant::now();
        let bad = [
            OutlierConfig {
                interval: Duration::ZERO,
                ..config()
            },
            OutlierConfig {
                consecutive_5xx: Some(0),
                ..config()
            },
            OutlierConfig {
                max_ejection_percent: 101,
                ..config()
            },
            OutlierConfig {
                success_rate: Some(SuccessRateConfig {
                    stdev_factor: f64::NAN,
                    ..SuccessRateConfig::default()
                }),
                ..config()
            },
        ];
        for cfg in bad {
            assert!(OutlierDetector::new(cfg, 1, t0).is_err());
        }
    }
}
