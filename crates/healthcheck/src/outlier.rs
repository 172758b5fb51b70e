//! Envoy-style outlier ejection: pure, time injected.
//!
//! Callers [`report`](OutlierDetector::report) each request's outcome per host and call
//! [`tick`](OutlierDetector::tick) whenever they like (at least every `interval`); the
//! detector answers with ejections and returns.
//!
//! Four detectors find outliers:
//!
//! - **Consecutive 5xx**: `consecutive_5xx` server errors in a row make a host an
//!   outlier at once.
//! - **Consecutive gateway failure**: `consecutive_gateway_failure` gateway errors in a
//!   row (502, 503, 504; a failed connection counts as 503, a timeout as 504 and an
//!   unreadable response as 502, as the proxy answers its client with those) make a host
//!   an outlier at once. Any other answer, a non-gateway 5xx included, breaks the run.
//! - **Success rate**: every `interval`, among hosts with at least `request_volume`
//!   requests in that interval (and only when at least `minimum_hosts` have), a host
//!   whose success rate is below `mean - stdev_factor × stdev` is an outlier.
//! - **Failure percentage**: every `interval`, among hosts with at least
//!   `request_volume` requests (and only when at least `minimum_hosts` have), a host
//!   whose share of failed requests is at least `threshold` percent is an outlier.
//!
//! What happens to an outlier, in Envoy's order:
//!
//! 1. It is counted as *detected* for its detector ([`OutlierStats::detected`]). A host
//!    that is already ejected is not judged at all.
//! 2. If `max_ejection_percent` of the hosts are already ejected it stays in service
//!    ([`OutlierStats::overflow`]), except that one host may always be ejected.
//! 3. Its detector's *enforcing* percentage is the chance that it is really ejected: a
//!    draw from the detector's own generator, seeded by [`OutlierConfig::seed`], so a
//!    run replays exactly. 0 never ejects (detection only, to see what a setting would
//!    do), 100 always does. Ejections are counted in [`OutlierStats::enforced`].
//! 4. An ejection lasts `base_ejection_time × n`, where `n` counts this host's
//!    ejections, capped at `max_ejection_time`; `n` decreases by one for every interval
//!    the host spends un-ejected, so a host that recovers is forgiven over time.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::error::Error;
use crate::observe::RequestOutcome;

/// Settings, with Envoy's defaults in [`Default`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Server errors in a row that make a host an outlier (`None` disables; Envoy
    /// default 5).
    pub consecutive_5xx: Option<u32>,
    /// The chance, in percent, that a consecutive-5xx outlier is ejected (default 100).
    pub enforcing_consecutive_5xx: u32,
    /// Gateway errors (502, 503, 504) in a row that make a host an outlier (`None`
    /// disables; default 5). Only [`OutlierDetector::report_outcome`] can tell gateway
    /// errors apart.
    pub consecutive_gateway_failure: Option<u32>,
    /// The chance, in percent, that a consecutive-gateway-failure outlier is ejected
    /// (Envoy's default 0: detected and counted, never ejected).
    pub enforcing_consecutive_gateway_failure: u32,
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
    /// Failure-percentage ejection (`None` disables; on by default, but with Envoy's
    /// `enforcing` of 0 it only counts what it finds).
    pub failure_percentage: Option<FailurePercentageConfig>,
    /// Seed of the generator behind the enforcing percentages. The same seed and the
    /// same reports give the same ejections; detectors that should not move in lockstep
    /// need different seeds.
    pub seed: u64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_5xx: Some(5),
            enforcing_consecutive_5xx: 100,
            consecutive_gateway_failure: Some(5),
            enforcing_consecutive_gateway_failure: 0,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            success_rate: Some(SuccessRateConfig::default()),
            failure_percentage: Some(FailurePercentageConfig::default()),
            seed: 0x006f_7574_6c69_6572,
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
    /// The chance, in percent, that a success-rate outlier is ejected (default 100).
    pub enforcing: u32,
}

impl Default for SuccessRateConfig {
    fn default() -> Self {
        Self {
            minimum_hosts: 5,
            request_volume: 100,
            stdev_factor: 1.9,
            enforcing: 100,
        }
    }
}

/// Failure-percentage ejection settings, with Envoy's defaults in [`Default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePercentageConfig {
    /// A host whose failed requests in one interval are at least this percent of its
    /// requests is an outlier (default 85).
    pub threshold: u32,
    /// The chance, in percent, that a failure-percentage outlier is ejected (Envoy's
    /// default 0: detected and counted, never ejected).
    pub enforcing: u32,
    /// Hosts with enough volume needed before any is judged (default 5).
    pub minimum_hosts: usize,
    /// Requests in one interval for a host to be judged (default 50).
    pub request_volume: u64,
}

impl Default for FailurePercentageConfig {
    fn default() -> Self {
        Self {
            threshold: 85,
            enforcing: 0,
            minimum_hosts: 5,
            request_volume: 50,
        }
    }
}

/// Why a host was found to be an outlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EjectReason {
    /// Too many server errors in a row.
    Consecutive5xx,
    /// Too many gateway errors (502, 503, 504) in a row.
    ConsecutiveGatewayFailure,
    /// Its success rate fell below the threshold.
    SuccessRate {
        /// The host's success rate in the interval, 0 to 1.
        rate: f64,
        /// `mean - k × stdev` for that interval.
        threshold: f64,
    },
    /// Too large a share of its requests failed.
    FailurePercentage {
        /// Failed requests in the interval.
        failures: u64,
        /// All requests in the interval.
        requests: u64,
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

/// One counter per detector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EjectionCounts {
    /// By consecutive 5xx.
    pub consecutive_5xx: u64,
    /// By consecutive gateway failures.
    pub consecutive_gateway_failure: u64,
    /// By success rate.
    pub success_rate: u64,
    /// By failure percentage.
    pub failure_percentage: u64,
}

impl EjectionCounts {
    /// The sum over all detectors.
    pub fn total(&self) -> u64 {
        self.consecutive_5xx
            + self.consecutive_gateway_failure
            + self.success_rate
            + self.failure_percentage
    }

    fn count(&mut self, reason: &EjectReason) {
        let counter = match reason {
            EjectReason::Consecutive5xx => &mut self.consecutive_5xx,
            EjectReason::ConsecutiveGatewayFailure => &mut self.consecutive_gateway_failure,
            EjectReason::SuccessRate { .. } => &mut self.success_rate,
            EjectReason::FailurePercentage { .. } => &mut self.failure_percentage,
        };
        *counter = counter.saturating_add(1);
    }
}

/// What the detectors found and what was done about it, since the detector was built
/// (Envoy's `outlier_detection.ejections_*` statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// Outliers found, ejected or not (`ejections_detected_*`).
    pub detected: EjectionCounts,
    /// Outliers ejected (`ejections_enforced_*`). Detected minus enforced minus overflow
    /// is what the enforcing percentages let stay.
    pub enforced: EjectionCounts,
    /// Outliers left in service because `max_ejection_percent` of the hosts were already
    /// ejected (`ejections_overflow`).
    pub overflow: u64,
}

#[derive(Debug, Clone, Default)]
struct HostStats {
    consecutive_5xx: u32,
    consecutive_gateway_failure: u32,
    interval_requests: u64,
    interval_successes: u64,
    ejected_until: Option<Instant>,
    ejection_multiplier: u32,
}

/// How one request went, as far as the detectors care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Success,
    ServerError,
    GatewayError,
}

impl Answer {
    fn of(outcome: RequestOutcome) -> Self {
        match outcome {
            RequestOutcome::Success => Self::Success,
            RequestOutcome::HttpStatus(502..=504) => Self::GatewayError,
            RequestOutcome::HttpStatus(500..=599) => Self::ServerError,
            RequestOutcome::HttpStatus(_) => Self::Success,
            // What the proxy answers its client with: 503 for a failed connection, 504
            // for a timeout, 502 for an answer it could not read.
            RequestOutcome::ConnectError
            | RequestOutcome::ConnectTimeout
            | RequestOutcome::ResponseTimeout
            | RequestOutcome::InvalidResponse => Self::GatewayError,
        }
    }
}

/// Outlier detection over a fixed set of hosts, addressed by index.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    config: OutlierConfig,
    hosts: Vec<HostStats>,
    next_interval: Instant,
    rng: SmallRng,
    stats: OutlierStats,
}

fn check_percent(field: &'static str, value: u32) -> Result<(), Error> {
    if value > 100 {
        return Err(Error::InvalidSetting {
            field,
            reason: "a percentage must be at most 100",
        });
    }
    Ok(())
}

fn check_run_length(field: &'static str, value: Option<u32>) -> Result<(), Error> {
    if value == Some(0) {
        return Err(Error::InvalidSetting {
            field,
            reason: "must be at least 1",
        });
    }
    Ok(())
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
        check_run_length("consecutive_5xx", config.consecutive_5xx)?;
        check_run_length(
            "consecutive_gateway_failure",
            config.consecutive_gateway_failure,
        )?;
        check_percent("max_ejection_percent", config.max_ejection_percent)?;
        check_percent(
            "enforcing_consecutive_5xx",
            config.enforcing_consecutive_5xx,
        )?;
        check_percent(
            "enforcing_consecutive_gateway_failure",
            config.enforcing_consecutive_gateway_failure,
        )?;
        if let Some(sr) = &config.success_rate {
            if !(sr.stdev_factor.is_finite() && sr.stdev_factor >= 0.0) {
                return Err(Error::InvalidSetting {
                    field: "stdev_factor",
                    reason: "must be a finite, non-negative number",
                });
            }
            check_percent("enforcing_success_rate", sr.enforcing)?;
        }
        if let Some(fp) = &config.failure_percentage {
            check_percent("failure_percentage_threshold", fp.threshold)?;
            check_percent("enforcing_failure_percentage", fp.enforcing)?;
        }
        let next_interval = now + config.interval;
        let rng = SmallRng::seed_from_u64(config.seed);
        Ok(Self {
            config,
            hosts: vec![HostStats::default(); host_count],
            next_interval,
            rng,
            stats: OutlierStats::default(),
        })
    }

    /// Record one request to `host`: `server_error` is a 5xx, connect failure or timeout.
    ///
    /// Returns an ejection when this request completes a run of `consecutive_5xx` and the
    /// enforcing percentage lets it through. A bare flag cannot say whether the error
    /// was a gateway error, so it does not feed the consecutive-gateway-failure detector
    /// (and breaks its run); [`report_outcome`](Self::report_outcome) does.
    /// An unknown host index is ignored.
    pub fn report(
        &mut self,
        now: Instant,
        host: usize,
        server_error: bool,
    ) -> Option<OutlierEvent> {
        let answer = if server_error {
            Answer::ServerError
        } else {
            Answer::Success
        };
        self.record(now, host, answer)
    }

    /// Record one request by its [`RequestOutcome`]: any 5xx, connect failure, timeout
    /// or invalid response counts as a server error (Envoy's behaviour when local-origin
    /// errors are not split from upstream ones); 502, 503, 504, connect failures,
    /// timeouts and invalid responses are also gateway errors.
    pub fn report_outcome(
        &mut self,
        now: Instant,
        host: usize,
        outcome: RequestOutcome,
    ) -> Option<OutlierEvent> {
        self.record(now, host, Answer::of(outcome))
    }

    fn record(&mut self, now: Instant, host: usize, answer: Answer) -> Option<OutlierEvent> {
        let stats = self.hosts.get_mut(host)?;
        stats.interval_requests += 1;
        if answer == Answer::Success {
            stats.interval_successes += 1;
            stats.consecutive_5xx = 0;
            stats.consecutive_gateway_failure = 0;
            return None;
        }
        stats.consecutive_5xx = stats.consecutive_5xx.saturating_add(1);
        if answer == Answer::GatewayError {
            stats.consecutive_gateway_failure = stats.consecutive_gateway_failure.saturating_add(1);
        } else {
            stats.consecutive_gateway_failure = 0;
        }
        // Gateway failures first, as Envoy does: when both runs complete on the same
        // request, the host is judged once per detector, and a host ejected by the first
        // is not judged by the second.
        let gateway_run = stats.consecutive_gateway_failure;
        let server_run = stats.consecutive_5xx;
        if self
            .config
            .consecutive_gateway_failure
            .is_some_and(|limit| gateway_run >= limit)
        {
            self.hosts[host].consecutive_gateway_failure = 0;
            if let Some(event) = self.judge(now, host, EjectReason::ConsecutiveGatewayFailure) {
                return Some(event);
            }
        }
        if self
            .config
            .consecutive_5xx
            .is_some_and(|limit| server_run >= limit)
        {
            self.hosts[host].consecutive_5xx = 0;
            return self.judge(now, host, EjectReason::Consecutive5xx);
        }
        None
    }

    fn ejection_allowed(&self) -> bool {
        let ejected = self.ejected_count();
        let total = self.hosts.len().max(1);
        ejected == 0 || (ejected + 1) * 100 <= total * self.config.max_ejection_percent as usize
    }

    fn enforcing_percent(&self, reason: &EjectReason) -> u32 {
        match reason {
            EjectReason::Consecutive5xx => self.config.enforcing_consecutive_5xx,
            EjectReason::ConsecutiveGatewayFailure => {
                self.config.enforcing_consecutive_gateway_failure
            }
            EjectReason::SuccessRate { .. } => self
                .config
                .success_rate
                .as_ref()
                .map_or(0, |sr| sr.enforcing),
            EjectReason::FailurePercentage { .. } => self
                .config
                .failure_percentage
                .as_ref()
                .map_or(0, |fp| fp.enforcing),
        }
    }

    /// Whether this ejection goes ahead. Draws only strictly between 0 and 100, so
    /// detectors at 0 or 100 leave the generator untouched and do not shift the draws
    /// of the others.
    fn enforce(&mut self, percent: u32) -> bool {
        match percent {
            0 => false,
            100.. => true,
            p => self.rng.random_range(0..100) < p,
        }
    }

    /// An outlier was found: count it, then eject it if the cap and the enforcing
    /// percentage allow.
    fn judge(&mut self, now: Instant, host: usize, reason: EjectReason) -> Option<OutlierEvent> {
        if self.hosts.get(host)?.ejected_until.is_some() {
            return None;
        }
        self.stats.detected.count(&reason);
        if !self.ejection_allowed() {
            self.stats.overflow = self.stats.overflow.saturating_add(1);
            return None;
        }
        if !self.enforce(self.enforcing_percent(&reason)) {
            return None;
        }
        self.stats.enforced.count(&reason);
        let base = self.config.base_ejection_time;
        let cap = self.config.max_ejection_time.max(base);
        let stats = &mut self.hosts[host];
        stats.ejection_multiplier = stats.ejection_multiplier.saturating_add(1);
        // The run that got the host ejected is spent: it must not eject the host again
        // the moment it returns.
        stats.consecutive_5xx = 0;
        stats.consecutive_gateway_failure = 0;
        let length = base.saturating_mul(stats.ejection_multiplier).min(cap);
        let until = now + length;
        stats.ejected_until = Some(until);
        Some(OutlierEvent::Ejected {
            host,
            reason,
            until,
        })
    }

    /// Expire ejections that are over and, once per `interval`, judge success rates and
    /// failure percentages.
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
        // Both detectors look at the same interval, before either ejects anyone; a host
        // the first ejects is then not judged by the second.
        let mut outliers = Vec::new();
        if let Some(sr) = &self.config.success_rate {
            outliers.extend(self.success_rate_outliers(sr));
        }
        if let Some(fp) = &self.config.failure_percentage {
            outliers.extend(self.failure_percentage_outliers(fp));
        }
        for (host, reason) in outliers {
            if let Some(event) = self.judge(now, host, reason) {
                events.push(event);
            }
        }
        for stats in &mut self.hosts {
            stats.interval_requests = 0;
            stats.interval_successes = 0;
        }
        events
    }

    /// Hosts not ejected that served at least `request_volume` requests this interval,
    /// or `None` when fewer than `minimum_hosts` (at least one) did.
    fn judged_hosts(
        &self,
        minimum_hosts: usize,
        request_volume: u64,
    ) -> Option<impl Iterator<Item = (usize, &HostStats)>> {
        let eligible = move |s: &&HostStats| {
            s.ejected_until.is_none() && s.interval_requests >= request_volume.max(1)
        };
        let count = self.hosts.iter().filter(eligible).count();
        if count < minimum_hosts.max(1) {
            return None;
        }
        Some(
            self.hosts
                .iter()
                .enumerate()
                .filter(move |(_, s)| eligible(s)),
        )
    }

    fn success_rate_outliers(&self, sr: &SuccessRateConfig) -> Vec<(usize, EjectReason)> {
        let Some(hosts) = self.judged_hosts(sr.minimum_hosts, sr.request_volume) else {
            return Vec::new();
        };
        let rates: Vec<(usize, f64)> = hosts
            .map(|(i, s)| (i, s.interval_successes as f64 / s.interval_requests as f64))
            .collect();
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

    fn failure_percentage_outliers(
        &self,
        fp: &FailurePercentageConfig,
    ) -> Vec<(usize, EjectReason)> {
        let Some(hosts) = self.judged_hosts(fp.minimum_hosts, fp.request_volume) else {
            return Vec::new();
        };
        hosts
            .filter_map(|(host, s)| {
                let requests = s.interval_requests;
                let failures = requests.saturating_sub(s.interval_successes);
                // failures / requests >= threshold / 100, in integers so that exactly
                // 85 of 100 is 85 percent.
                let outlier =
                    u128::from(failures) * 100 >= u128::from(fp.threshold) * u128::from(requests);
                outlier.then_some((host, EjectReason::FailurePercentage { failures, requests }))
            })
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

    /// Outliers detected and ejected so far, per detector.
    pub fn stats(&self) -> OutlierStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn config() -> OutlierConfig {
        OutlierConfig {
            consecutive_5xx: Some(3),
            enforcing_consecutive_5xx: 100,
            consecutive_gateway_failure: None,
            enforcing_consecutive_gateway_failure: 0,
            interval: 10 * S,
            base_ejection_time: 30 * S,
            max_ejection_time: 100 * S,
            max_ejection_percent: 50,
            success_rate: None,
            failure_percentage: None,
            seed: 1,
        }
    }

    /// A detector over `hosts` hosts capped at `max_ejection_percent`, after every host
    /// has answered three server errors in a row (enough for `config()`'s 5xx rule).
    fn every_host_fails_thrice(
        max_ejection_percent: u32,
        hosts: usize,
        t0: Instant,
    ) -> OutlierDetector {
        let cfg = OutlierConfig {
            max_ejection_percent,
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, hosts, t0).expect("valid");
        for host in 0..hosts {
            for _ in 0..3 {
                d.report(t0, host, true);
            }
        }
        d
    }

    /// How many seeds the randomised tests try; `HEALTHCHECK_SEEDS` raises it.
    fn seed_count() -> u64 {
        std::env::var("HEALTHCHECK_SEEDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4)
    }

    /// Report `failures` errors then successes up to `requests`, to `host`.
    fn traffic(d: &mut OutlierDetector, now: Instant, host: usize, requests: u64, failures: u64) {
        for i in 0..requests {
            d.report(now, host, i < failures);
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
        let d = every_host_fails_thrice(10, 3, t0);
        assert_eq!(
            d.ejected_count(),
            1,
            "10% of 3 is under one host, but one is allowed"
        );

        let d = every_host_fails_thrice(50, 4, t0);
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
                enforcing: 100,
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
    fn bad_config_is_rejected_naming_the_setting() {
        let t0 = Instant::now();
        let bad = [
            (
                "interval",
                OutlierConfig {
                    interval: Duration::ZERO,
                    ..config()
                },
            ),
            (
                "consecutive_5xx",
                OutlierConfig {
                    consecutive_5xx: Some(0),
                    ..config()
                },
            ),
            (
                "consecutive_gateway_failure",
                OutlierConfig {
                    consecutive_gateway_failure: Some(0),
                    ..config()
                },
            ),
            (
                "max_ejection_percent",
                OutlierConfig {
                    max_ejection_percent: 101,
                    ..config()
                },
            ),
            (
                "enforcing_consecutive_5xx",
                OutlierConfig {
                    enforcing_consecutive_5xx: 101,
                    ..config()
                },
            ),
            (
                "enforcing_consecutive_gateway_failure",
                OutlierConfig {
                    enforcing_consecutive_gateway_failure: 250,
                    ..config()
                },
            ),
            (
                "stdev_factor",
                OutlierConfig {
                    success_rate: Some(SuccessRateConfig {
                        stdev_factor: f64::NAN,
                        ..SuccessRateConfig::default()
                    }),
                    ..config()
                },
            ),
            (
                "enforcing_success_rate",
                OutlierConfig {
                    success_rate: Some(SuccessRateConfig {
                        enforcing: 101,
                        ..SuccessRateConfig::default()
                    }),
                    ..config()
                },
            ),
            (
                "failure_percentage_threshold",
                OutlierConfig {
                    failure_percentage: Some(FailurePercentageConfig {
                        threshold: 101,
                        ..FailurePercentageConfig::default()
                    }),
                    ..config()
                },
            ),
            (
                "enforcing_failure_percentage",
                OutlierConfig {
                    failure_percentage: Some(FailurePercentageConfig {
                        enforcing: u32::MAX,
                        ..FailurePercentageConfig::default()
                    }),
                    ..config()
                },
            ),
        ];
        for (field, cfg) in bad {
            match OutlierDetector::new(cfg, 1, t0) {
                Err(Error::InvalidSetting { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: expected InvalidSetting, got {other:?}"),
            }
        }
        // The edges are valid.
        let edges = OutlierConfig {
            enforcing_consecutive_5xx: 0,
            enforcing_consecutive_gateway_failure: 100,
            max_ejection_percent: 100,
            failure_percentage: Some(FailurePercentageConfig {
                threshold: 100,
                enforcing: 100,
                ..FailurePercentageConfig::default()
            }),
            ..config()
        };
        assert!(OutlierDetector::new(edges, 1, t0).is_ok());
    }

    #[test]
    fn defaults_are_envoys() {
        let d = OutlierConfig::default();
        assert_eq!(d.consecutive_5xx, Some(5));
        assert_eq!(d.enforcing_consecutive_5xx, 100);
        assert_eq!(d.consecutive_gateway_failure, Some(5));
        assert_eq!(d.enforcing_consecutive_gateway_failure, 0);
        assert_eq!(d.success_rate.map(|sr| sr.enforcing), Some(100));
        assert_eq!(
            d.failure_percentage,
            Some(FailurePercentageConfig {
                threshold: 85,
                enforcing: 0,
                minimum_hosts: 5,
                request_volume: 50,
            })
        );
    }

    #[test]
    fn enforcing_zero_detects_but_never_ejects() {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            enforcing_consecutive_5xx: 0,
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, 2, t0).expect("valid");
        for _ in 0..10 {
            for _ in 0..3 {
                assert_eq!(d.report(t0, 0, true), None);
            }
        }
        assert!(!d.is_ejected(0));
        let stats = d.stats();
        assert_eq!(stats.detected.consecutive_5xx, 10, "every run is detected");
        assert_eq!(stats.enforced, EjectionCounts::default());
        assert_eq!(stats.overflow, 0);
    }

    #[test]
    fn enforcing_hundred_always_ejects_and_counts_both() {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            max_ejection_percent: 100,
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, 2, t0).expect("valid");
        for host in 0..2 {
            let events: Vec<_> = (0..3).filter_map(|_| d.report(t0, host, true)).collect();
            assert_eq!(events.len(), 1, "host {host}");
        }
        let stats = d.stats();
        assert_eq!(stats.detected.consecutive_5xx, 2);
        assert_eq!(stats.enforced.consecutive_5xx, 2);
        assert_eq!(stats.enforced.total(), 2);
    }

    /// One run of errors for each of `hosts` hosts at `percent` enforcing; which hosts
    /// were ejected.
    fn ejections_at(percent: u32, seed: u64, hosts: usize) -> (Vec<bool>, OutlierStats) {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            consecutive_5xx: Some(1),
            enforcing_consecutive_5xx: percent,
            max_ejection_percent: 100,
            seed,
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, hosts, t0).expect("valid");
        let ejected = (0..hosts)
            .map(|h| d.report(t0, h, true).is_some())
            .collect();
        (ejected, d.stats())
    }

    #[test]
    fn enforcing_fifty_ejects_about_half_and_replays_with_the_seed() {
        const HOSTS: usize = 1000;
        for seed in 0..seed_count() {
            let (ejected, stats) = ejections_at(50, seed, HOSTS);
            let count = ejected.iter().filter(|e| **e).count();
            // Binomial(1000, 0.5) has a standard deviation of ~16: +-100 is over 6.
            assert!(
                (400..=600).contains(&count),
                "seed {seed}: {count} of {HOSTS} ejected"
            );
            assert_eq!(stats.detected.consecutive_5xx, HOSTS as u64, "seed {seed}");
            assert_eq!(stats.enforced.consecutive_5xx, count as u64, "seed {seed}");
            assert_eq!(
                ejections_at(50, seed, HOSTS).0,
                ejected,
                "seed {seed}: the same seed gives the same ejections"
            );
        }
        assert_ne!(
            ejections_at(50, 1, HOSTS).0,
            ejections_at(50, 2, HOSTS).0,
            "different seeds draw differently"
        );
        for seed in 0..seed_count() {
            let (none, _) = ejections_at(0, seed, 200);
            let (all, _) = ejections_at(100, seed, 200);
            assert!(none.iter().all(|e| !e), "seed {seed}: 0% ejected a host");
            assert!(all.iter().all(|e| *e), "seed {seed}: 100% spared a host");
        }
    }

    #[test]
    fn overflow_is_detected_but_not_enforced() {
        let t0 = Instant::now();
        let d = every_host_fails_thrice(25, 4, t0);
        assert_eq!(d.ejected_count(), 1);
        let stats = d.stats();
        assert_eq!(stats.detected.consecutive_5xx, 4);
        assert_eq!(stats.enforced.consecutive_5xx, 1);
        assert_eq!(stats.overflow, 3);
    }

    #[test]
    fn success_rate_enforcing_zero_counts_the_outlier() {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            consecutive_5xx: None,
            success_rate: Some(SuccessRateConfig {
                enforcing: 0,
                ..SuccessRateConfig::default()
            }),
            ..config()
        };
        let mut d = OutlierDetector::new(cfg, 6, t0).expect("valid");
        for host in 0..6 {
            traffic(&mut d, t0, host, 100, if host == 5 { 50 } else { 1 });
        }
        assert!(d.tick(t0 + 10 * S).is_empty());
        assert_eq!(d.stats().detected.success_rate, 1);
        assert_eq!(d.stats().enforced.success_rate, 0);
        assert_eq!(d.ejected_count(), 0);
    }

    fn failure_percentage_config(enforcing: u32) -> OutlierConfig {
        OutlierConfig {
            consecutive_5xx: None,
            max_ejection_percent: 100,
            failure_percentage: Some(FailurePercentageConfig {
                threshold: 85,
                enforcing,
                minimum_hosts: 5,
                request_volume: 50,
            }),
            ..config()
        }
    }

    #[test]
    fn failure_percentage_ejects_at_or_above_the_threshold() {
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(failure_percentage_config(100), 7, t0).expect("valid");
        // Failures per host: 85 of 100 is exactly the threshold, 84 of 100 just under,
        // 49 of 49 is below the request volume and not judged.
        let load: [(u64, u64); 7] = [
            (100, 0),
            (100, 10),
            (60, 0),
            (50, 50),
            (100, 85),
            (100, 84),
            (49, 49),
        ];
        for (host, (requests, failures)) in load.into_iter().enumerate() {
            traffic(&mut d, t0, host, requests, failures);
        }
        assert!(
            d.tick(t0 + 5 * S).is_empty(),
            "judged only once an interval"
        );
        let events = d.tick(t0 + 10 * S);
        let reasons: Vec<_> = events
            .iter()
            .map(|e| match e {
                OutlierEvent::Ejected { host, reason, .. } => (*host, *reason),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            vec![
                (
                    3,
                    EjectReason::FailurePercentage {
                        failures: 50,
                        requests: 50
                    }
                ),
                (
                    4,
                    EjectReason::FailurePercentage {
                        failures: 85,
                        requests: 100
                    }
                ),
            ]
        );
        assert_eq!(d.stats().detected.failure_percentage, 2);
        assert_eq!(d.stats().enforced.failure_percentage, 2);

        // The counts start again each interval: the next one has no traffic.
        assert!(d.tick(t0 + 20 * S).is_empty());
    }

    #[test]
    fn failure_percentage_needs_minimum_hosts_with_volume() {
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(failure_percentage_config(100), 6, t0).expect("valid");
        // Only four hosts reach the volume of 50; host 0 fails everything.
        for host in 0..6 {
            let requests = if host < 4 { 50 } else { 49 };
            traffic(
                &mut d,
                t0,
                host,
                requests,
                if host == 0 { requests } else { 0 },
            );
        }
        assert!(d.tick(t0 + 10 * S).is_empty());
        assert_eq!(d.stats().detected, EjectionCounts::default());

        // A fifth host with volume: now host 0 is judged.
        for host in 0..6 {
            let requests = if host < 5 { 50 } else { 49 };
            traffic(
                &mut d,
                t0,
                host,
                requests,
                if host == 0 { requests } else { 0 },
            );
        }
        let events = d.tick(t0 + 20 * S);
        assert!(matches!(
            events[..],
            [OutlierEvent::Ejected {
                host: 0,
                reason: EjectReason::FailurePercentage { .. },
                ..
            }]
        ));
    }

    #[test]
    fn failure_percentage_default_enforcing_only_counts_and_cap_applies() {
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(failure_percentage_config(0), 6, t0).expect("valid");
        for host in 0..6 {
            traffic(&mut d, t0, host, 50, if host >= 3 { 50 } else { 0 });
        }
        assert!(d.tick(t0 + 10 * S).is_empty(), "enforcing 0 never ejects");
        assert_eq!(d.stats().detected.failure_percentage, 3);
        assert_eq!(d.stats().enforced.failure_percentage, 0);

        // Enforcing 100 with a cap of 34% of 6 hosts: two ejections, one overflow.
        let cfg = OutlierConfig {
            max_ejection_percent: 34,
            ..failure_percentage_config(100)
        };
        let mut d = OutlierDetector::new(cfg, 6, t0).expect("valid");
        for host in 0..6 {
            traffic(&mut d, t0, host, 50, if host >= 3 { 50 } else { 0 });
        }
        assert_eq!(d.tick(t0 + 10 * S).len(), 2);
        assert_eq!(d.stats().enforced.failure_percentage, 2);
        assert_eq!(d.stats().overflow, 1);
    }

    #[test]
    fn a_host_ejected_by_success_rate_is_not_judged_again_by_failure_percentage() {
        let t0 = Instant::now();
        let cfg = OutlierConfig {
            success_rate: Some(SuccessRateConfig::default()),
            ..failure_percentage_config(100)
        };
        let mut d = OutlierDetector::new(cfg, 6, t0).expect("valid");
        for host in 0..6 {
            traffic(&mut d, t0, host, 100, if host == 5 { 90 } else { 1 });
        }
        let events = d.tick(t0 + 10 * S);
        assert!(matches!(
            events[..],
            [OutlierEvent::Ejected {
                host: 5,
                reason: EjectReason::SuccessRate { .. },
                ..
            }]
        ));
        assert_eq!(d.stats().detected.success_rate, 1);
        assert_eq!(d.stats().detected.failure_percentage, 0);
    }

    fn gateway_config(enforcing: u32) -> OutlierConfig {
        OutlierConfig {
            consecutive_5xx: None,
            consecutive_gateway_failure: Some(3),
            enforcing_consecutive_gateway_failure: enforcing,
            max_ejection_percent: 100,
            ..config()
        }
    }

    #[test]
    fn consecutive_gateway_failures_eject() {
        use RequestOutcome::*;
        let t0 = Instant::now();
        let mut d = OutlierDetector::new(gateway_config(100), 8, t0).expect("valid");
        let runs: [(&[RequestOutcome], bool); 8] = [
            (&[HttpStatus(502), HttpStatus(503), HttpStatus(504)], true),
            (&[ConnectError, ConnectTimeout, ResponseTimeout], true),
            (&[InvalidResponse, InvalidResponse, HttpStatus(503)], true),
            // A non-gateway 5xx breaks the run.
            (
                &[
                    HttpStatus(502),
                    HttpStatus(500),
                    HttpStatus(502),
                    HttpStatus(502),
                ],
                false,
            ),
            // So does a success or a 4xx.
            (
                &[HttpStatus(503), HttpStatus(503), Success, HttpStatus(503)],
                false,
            ),
            (
                &[
                    HttpStatus(503),
                    HttpStatus(503),
                    HttpStatus(404),
                    HttpStatus(503),
                ],
                false,
            ),
            (&[HttpStatus(500), HttpStatus(501), HttpStatus(505)], false),
            (&[HttpStatus(503), HttpStatus(503)], false),
        ];
        for (host, (outcomes, ejects)) in runs.into_iter().enumerate() {
            let mut events = outcomes
                .iter()
                .filter_map(|o| d.report_outcome(t0, host, *o))
                .collect::<Vec<_>>();
            if ejects {
                assert_eq!(
                    events.pop(),
                    Some(OutlierEvent::Ejected {
                        host,
                        reason: EjectReason::ConsecutiveGatewayFailure,
                        until: t0 + 30 * S,
                    }),
                    "{outcomes:?}"
                );
            }
            assert!(events.is_empty(), "{outcomes:?}: {events:?}");
        }
        assert_eq!(d.stats().enforced.consecutive_gateway_failure, 3);

        // A bare error flag cannot be a gateway error.
        let mut d = OutlierDetector::new(gateway_config(100), 1, t0).expect("valid");
        for _ in 0..10 {
            assert_eq!(d.report(t0, 0, true), None);
        }
    }

    #[test]
    fn gateway_and_5xx_runs_completing_together() {
        let t0 = Instant::now();
        let run = |d: &mut OutlierDetector| {
            (0..3)
                .filter_map(|_| d.report_outcome(t0, 0, RequestOutcome::HttpStatus(503)))
                .collect::<Vec<_>>()
        };
        // Gateway detection not enforced (Envoy's default): the 5xx detector ejects.
        let cfg = OutlierConfig {
            consecutive_5xx: Some(3),
            ..gateway_config(0)
        };
        let mut d = OutlierDetector::new(cfg, 2, t0).expect("valid");
        let events = run(&mut d);
        assert!(matches!(
            events[..],
            [OutlierEvent::Ejected {
                reason: EjectReason::Consecutive5xx,
                ..
            }]
        ));
        let stats = d.stats();
        assert_eq!(stats.detected.consecutive_gateway_failure, 1);
        assert_eq!(stats.enforced.consecutive_gateway_failure, 0);
        assert_eq!(stats.enforced.consecutive_5xx, 1);

        // Gateway enforced: it ejects first and the 5xx detector does not judge again.
        let cfg = OutlierConfig {
            consecutive_5xx: Some(3),
            ..gateway_config(100)
        };
        let mut d = OutlierDetector::new(cfg, 2, t0).expect("valid");
        let events = run(&mut d);
        assert!(matches!(
            events[..],
            [OutlierEvent::Ejected {
                reason: EjectReason::ConsecutiveGatewayFailure,
                ..
            }]
        ));
        assert_eq!(d.stats().detected.consecutive_5xx, 0);

        // Errors while ejected are not judged, and the spent run does not eject the host
        // the moment it returns.
        let mut d = OutlierDetector::new(config(), 2, t0).expect("valid");
        for _ in 0..3 {
            d.report(t0, 0, true);
        }
        assert!(d.is_ejected(0));
        for _ in 0..4 {
            assert_eq!(d.report(t0, 0, true), None);
        }
        d.tick(t0 + 30 * S);
        assert!(!d.is_ejected(0));
        assert_eq!(d.report(t0 + 30 * S, 0, true), None);
        assert_eq!(d.stats().detected.consecutive_5xx, 1);
    }
}
