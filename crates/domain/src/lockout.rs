//! Guessing across attempts (NIST SP 800-63B-4 §3.2.2, rate limiting): a person's failed code and
//! face verifications are counted across every attempt and method. After a few free failures each
//! further try waits longer, and at `lock_after` consecutive failures (never more than 100) the
//! person's code and face methods lock until a success is impossible without the tenant or the
//! operator unlocking them. A success resets the count; a new attempt or a new code does not.

/// NIST SP 800-63B-4: no more than 100 consecutive failed attempts on one account, whatever else.
pub const NIST_MAX_CONSECUTIVE_FAILURES: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutRules {
    /// Consecutive failures that cost no wait.
    pub free_failures: u32,
    /// Consecutive failures at which the methods lock (1..=100).
    pub lock_after: u32,
    /// The longest wait between two tries before the lock.
    pub max_delay_secs: u32,
}

impl Default for LockoutRules {
    /// 20 tries in all against a 6-digit code is a 1 in 50,000 chance; a person who mistypes a few
    /// times across attempts waits 1, 2, 4... seconds, never more than 5 minutes.
    fn default() -> Self {
        LockoutRules { free_failures: 5, lock_after: 20, max_delay_secs: 300 }
    }
}

/// What is known of a person's recent verifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guard {
    pub consecutive_failures: u32,
    /// When the last counted try was made (ms since the epoch).
    pub last_try_at: i64,
    /// When the methods locked, if they did.
    pub locked_at: Option<i64>,
}

/// What a try proves: a code (SMS or email) or a face. Each has its own count, so that a success of one
/// does not forget the failures of the other; a lock of either locks both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    Code,
    Face,
}

impl Factor {
    pub const ALL: [Factor; 2] = [Factor::Code, Factor::Face];

    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Code => "code",
            Factor::Face => "face",
        }
    }

    pub fn parse(s: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A person's guards, one per factor (the default: no failure counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guards {
    pub code: Guard,
    pub face: Guard,
}

impl Guards {
    pub fn own(&self, factor: Factor) -> &Guard {
        match factor {
            Factor::Code => &self.code,
            Factor::Face => &self.face,
        }
    }

    pub fn own_mut(&mut self, factor: Factor) -> &mut Guard {
        match factor {
            Factor::Code => &mut self.code,
            Factor::Face => &mut self.face,
        }
    }

    /// The guard a try of `factor` answers to: its own failures and wait, and the lock of either factor.
    pub fn for_try(&self, factor: Factor) -> Guard {
        Guard { locked_at: self.locked_at(), ..*self.own(factor) }
    }

    /// When the first of the factors locked, if one did.
    pub fn locked_at(&self) -> Option<i64> {
        self.code.locked_at.into_iter().chain(self.face.locked_at).min()
    }
}

/// Whether a verification may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryVerdict {
    Allowed,
    /// Not before this instant (ms since the epoch).
    WaitUntil(i64),
    Locked,
}

impl LockoutRules {
    /// Refuses rules that would allow more than NIST's 100 consecutive failures, or none at all.
    pub fn new(free_failures: u32, lock_after: u32, max_delay_secs: u32) -> Result<Self, String> {
        if !(1..=NIST_MAX_CONSECUTIVE_FAILURES).contains(&lock_after) {
            return Err(format!("the lockout threshold must be between 1 and {NIST_MAX_CONSECUTIVE_FAILURES}"));
        }
        if free_failures > lock_after {
            return Err("free failures cannot exceed the lockout threshold".into());
        }
        Ok(LockoutRules { free_failures, lock_after, max_delay_secs })
    }

    /// The wait owed after `failures` consecutive failures: none for the free ones, then 1 s doubling
    /// up to `max_delay_secs`.
    pub fn delay_ms_after(&self, failures: u32) -> i64 {
        if failures < self.free_failures.max(1) {
            return 0;
        }
        let doublings = (failures - self.free_failures.max(1)).min(30);
        let secs = (1u64 << doublings).min(u64::from(self.max_delay_secs));
        secs as i64 * 1000
    }

    pub fn verdict(&self, guard: &Guard, now: i64) -> TryVerdict {
        if guard.locked_at.is_some() || guard.consecutive_failures >= self.lock_after {
            return TryVerdict::Locked;
        }
        let ready_at = guard.last_try_at.saturating_add(self.delay_ms_after(guard.consecutive_failures));
        if now < ready_at {
            TryVerdict::WaitUntil(ready_at)
        } else {
            TryVerdict::Allowed
        }
    }

    /// The guard once a try has been counted as a failure (a try is counted before its outcome is
    /// known, so that parallel tries cannot exceed the lock; a success then resets the count).
    pub fn after_try(&self, guard: &Guard, now: i64) -> Guard {
        let failures = guard.consecutive_failures.saturating_add(1);
        Guard {
            consecutive_failures: failures,
            last_try_at: now,
            locked_at: guard.locked_at.or((failures >= self.lock_after).then_some(now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_free_then_each_wait_doubles_up_to_the_cap() {
        let rules = LockoutRules::default();
        let waits: Vec<i64> = (0..=15).map(|f| rules.delay_ms_after(f) / 1000).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn a_try_inside_the_wait_is_refused_until_the_wait_ends() {
        let rules = LockoutRules::default();
        let guard = Guard { consecutive_failures: 7, last_try_at: 10_000, locked_at: None };
        assert_eq!(rules.verdict(&guard, 13_999), TryVerdict::WaitUntil(14_000));
        assert_eq!(rules.verdict(&guard, 14_000), TryVerdict::Allowed);
    }

    #[test]
    fn the_methods_lock_at_the_threshold_and_stay_locked_whatever_the_time() {
        let rules = LockoutRules::default();
        let mut guard = Guard::default();
        let mut now = 0;
        for _ in 0..rules.lock_after {
            assert_eq!(rules.verdict(&guard, now), TryVerdict::Allowed);
            guard = rules.after_try(&guard, now);
            now += 3_600_000;
        }
        assert_eq!(guard.locked_at, Some(now - 3_600_000));
        assert_eq!(rules.verdict(&guard, i64::MAX), TryVerdict::Locked);
    }

    #[test]
    fn each_factor_counts_its_own_failures_and_a_lock_of_either_locks_both() {
        let rules = LockoutRules::default();
        let mut guards = Guards::default();
        for n in 0..rules.lock_after {
            *guards.own_mut(Factor::Code) = rules.after_try(&guards.for_try(Factor::Code), i64::from(n) * 3_600_000);
        }
        assert_eq!(guards.face.consecutive_failures, 0, "a face try has its own count");
        assert_eq!(rules.verdict(&guards.for_try(Factor::Face), i64::MAX), TryVerdict::Locked, "but not past a lock");
        let face_only = Guards {
            face: Guard { consecutive_failures: 7, last_try_at: 10_000, locked_at: None },
            ..Guards::default()
        };
        assert_eq!(rules.verdict(&face_only.for_try(Factor::Code), 10_000), TryVerdict::Allowed);
        assert_eq!(rules.verdict(&face_only.for_try(Factor::Face), 10_000), TryVerdict::WaitUntil(14_000));
    }

    #[test]
    fn no_rules_may_allow_more_than_a_hundred_consecutive_failures() {
        assert!(LockoutRules::new(5, 101, 300).is_err());
        assert!(LockoutRules::new(5, 0, 300).is_err());
        assert!(LockoutRules::new(30, 20, 300).is_err());
        assert!(LockoutRules::new(5, 100, 300).is_ok());
    }
}
