//! Guessing and flooding (issue 8). What is durable lives in the store and is shared by every
//! process: a person's failed verifications across attempts (the lockout) and the codes sent per
//! person and destination (the caps). What only needs to slow a burst lives here, in memory: the
//! throttles per client address (refused tokens, SDK calls) and per device (attempt creation).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use smartauth_domain::lockout::LockoutRules;
use smartauth_store::SendCaps;

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Limits {
    pub lockout: LockoutRules,
    pub sends: SendCaps,
    /// Refused tokens per client address per minute (0: off).
    pub auth_failures_per_minute: u32,
    /// Requests with person-scoped tokens per client address per minute (0: off).
    pub sdk_per_minute: u32,
    /// Attempts created per device of a tenant per minute (0: off).
    pub device_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            lockout: LockoutRules::default(),
            sends: SendCaps { per_hour: 6, per_day: 24 },
            auth_failures_per_minute: 20,
            sdk_per_minute: 120,
            device_per_minute: 30,
        }
    }
}

impl Limits {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Limits> {
        let d = Limits::default();
        let number =
            |key: &str, default: u32, range: std::ops::RangeInclusive<u32>| -> anyhow::Result<u32> {
                match get(key) {
                    None => Ok(default),
                    Some(raw) => raw.trim().parse::<u32>().ok().filter(|n| range.contains(n)).with_context(|| {
                        format!("{key}={raw:?}: use a number from {} to {}", range.start(), range.end())
                    }),
                }
            };
        let lockout = LockoutRules::new(
            number("SMARTAUTH_LOCKOUT_FREE_FAILURES", d.lockout.free_failures, 1..=100)?,
            number("SMARTAUTH_LOCKOUT_AFTER", d.lockout.lock_after, 1..=100)?,
            number("SMARTAUTH_LOCKOUT_MAX_DELAY_SECONDS", d.lockout.max_delay_secs, 0..=86_400)?,
        )
        .map_err(|e| anyhow::anyhow!("SMARTAUTH_LOCKOUT_*: {e}"))?;
        let sends = SendCaps {
            per_hour: number("SMARTAUTH_CODE_SENDS_PER_HOUR", d.sends.per_hour, 1..=1000)?,
            per_day: number("SMARTAUTH_CODE_SENDS_PER_DAY", d.sends.per_day, 1..=10_000)?,
        };
        Ok(Limits {
            lockout,
            sends,
            auth_failures_per_minute: number(
                "SMARTAUTH_THROTTLE_AUTH_FAILURES_PER_MINUTE",
                d.auth_failures_per_minute,
                0..=1_000_000,
            )?,
            sdk_per_minute: number("SMARTAUTH_THROTTLE_SDK_PER_MINUTE", d.sdk_per_minute, 0..=1_000_000)?,
            device_per_minute: number("SMARTAUTH_THROTTLE_DEVICE_PER_MINUTE", d.device_per_minute, 0..=1_000_000)?,
        })
    }
}

/// Whole IPv6 /64s are one address: that is what one subscriber is given.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// A keyed limiter of `per_minute` with a burst of as many; `None` when off.
fn per_minute<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<Keyed<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::dashmap(Quota::per_minute(n)))
}

/// Checks against the limiter; the error names the wait.
fn check<K: std::hash::Hash + Eq + Clone>(limiter: &Keyed<K>, key: &K) -> Result<(), Duration> {
    limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
}

fn too_many(message: &str, wait: Duration) -> ApiError {
    ApiError::TooManyRequests { message: message.to_owned(), retry_after_secs: wait.as_secs_f64().ceil() as u64 }
}

pub struct Throttles {
    auth_failures: Option<Keyed<IpAddr>>,
    /// Addresses that spent their refused tokens, and until when they are refused outright.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    sdk: Option<Keyed<IpAddr>>,
    devices: Option<Keyed<String>>,
    checks: AtomicU64,
}

/// Forgotten keys are pruned every this many checks, so that memory follows the live addresses.
const PRUNE_EVERY: u64 = 10_000;

impl Throttles {
    pub fn new(limits: &Limits) -> Throttles {
        Throttles {
            auth_failures: per_minute(limits.auth_failures_per_minute),
            blocked: Mutex::new(HashMap::new()),
            sdk: per_minute(limits.sdk_per_minute),
            devices: per_minute(limits.device_per_minute),
            checks: AtomicU64::new(0),
        }
    }

    fn tick(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY != PRUNE_EVERY - 1 {
            return;
        }
        for limiter in [&self.auth_failures, &self.sdk].into_iter().flatten() {
            limiter.retain_recent();
        }
        if let Some(d) = &self.devices {
            d.retain_recent();
        }
        let now = Instant::now();
        self.blocked.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, until| *until > now);
    }

    /// Before a token is checked: an address that has spent its refused tokens is refused outright,
    /// whatever it presents, until its allowance comes back.
    pub fn before_token(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.tick();
        let key = address_key(ip);
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&key) {
            Some(until) if *until > Instant::now() => Err(too_many(
                "too many refused tokens from this address; wait before trying again",
                *until - Instant::now(),
            )),
            _ => Ok(()),
        }
    }

    /// A token was refused: counts it against the address. The refusal that spends the allowance is
    /// already answered 429.
    pub fn token_refused(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.auth_failures else {
            return Ok(());
        };
        let key = address_key(ip);
        check(limiter, &key).map_err(|wait| {
            tracing::warn!(address = %key, "too many refused tokens; refusing the address for a while");
            metrics::counter!("smartauth_throttled_total", "throttle" => "auth_failures").increment(1);
            self.blocked.lock().unwrap_or_else(|e| e.into_inner()).insert(key, Instant::now() + wait);
            too_many("too many refused tokens from this address; wait before trying again", wait)
        })
    }

    /// A request with a person-scoped (SDK) token, from `ip`.
    pub fn sdk_request(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.tick();
        let Some(limiter) = &self.sdk else {
            return Ok(());
        };
        check(limiter, &address_key(ip)).map_err(|wait| {
            metrics::counter!("smartauth_throttled_total", "throttle" => "sdk").increment(1);
            too_many("too many requests from this address; slow down", wait)
        })
    }

    /// A new attempt from the tenant's device with this fingerprint.
    pub fn device_attempt(&self, client_id: &str, fingerprint: &str) -> Result<(), ApiError> {
        self.tick();
        let Some(limiter) = &self.devices else {
            return Ok(());
        };
        let key = format!("{client_id}\0{fingerprint}");
        check(limiter, &key).map_err(|wait| {
            metrics::counter!("smartauth_throttled_total", "throttle" => "device").increment(1);
            too_many("too many attempts from this device; slow down", wait)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_subscriber_is_one_address_whatever_its_interface_id() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_address_that_spends_its_refused_tokens_is_refused_even_with_a_good_one() {
        let limits = Limits { auth_failures_per_minute: 3, ..Limits::default() };
        let throttles = Throttles::new(&limits);
        let ip: IpAddr = "198.51.100.9".parse().unwrap();
        for _ in 0..3 {
            assert!(throttles.before_token(ip).is_ok());
            assert!(throttles.token_refused(ip).is_ok());
        }
        assert!(throttles.before_token(ip).is_ok(), "three refusals are within the allowance");
        assert!(throttles.token_refused(ip).is_err(), "the fourth is answered 429");
        match throttles.before_token(ip) {
            Err(ApiError::TooManyRequests { retry_after_secs, .. }) => assert!((1..=20).contains(&retry_after_secs)),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(throttles.before_token("198.51.100.10".parse().unwrap()).is_ok(), "another address is not affected");
    }
}
