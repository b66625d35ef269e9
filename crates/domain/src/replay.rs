//! Policy replay: a person's history as it was at a past instant, rebuilt from when each thing became
//! known (the store keeps the first sighting of every device, place and key) and from the person's
//! attempts around the replayed ones. With it, `decide` can be asked again what a candidate policy
//! would have done at that moment. Pure: times are milliseconds since the epoch, passed in.

use std::collections::HashMap;

/// The maps of a replay: keyed by person, device or key ids, each looked up for every replayed attempt, so
/// with a fast hash (foldhash, seeded per process) rather than SipHash (2% of a replay, `PERF=1
/// scripts/bench.sh --replay`).
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use chrono::DateTime;

use crate::context::Coordinates;
use crate::decision::{History, KnownDeviceKey};

/// A place the person was approved at: its latest coordinates, and when it was first and last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PastPlace {
    pub coordinates: Coordinates,
    pub accuracy_m: Option<f64>,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// One of the person's attempts, as much as the history needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PastAttempt {
    /// When it was made.
    pub at: i64,
    /// Where it was approved (coordinates and accuracy), when it ended approved with a location.
    pub approved_at: Option<(Coordinates, Option<f64>)>,
    /// When it was approved (later than `at` after a step-up): only then is it the last approved place.
    pub approved_when: i64,
}

impl PastAttempt {
    /// An attempt made at `at`, approved at `approved_at` when it ended so, decided at `decided_at` (none for
    /// one still waiting; never before it was made).
    pub fn new(at: i64, approved_at: Option<(Coordinates, Option<f64>)>, decided_at: Option<i64>) -> PastAttempt {
        PastAttempt { at, approved_at, approved_when: decided_at.unwrap_or(at).max(at) }
    }
}

/// A device fingerprint the person was approved on.
#[derive(Debug, Clone, PartialEq)]
pub struct PastDevice {
    pub fingerprint: String,
    /// Their first approval on it: from then on they count among the device's people.
    pub first_seen: i64,
    /// When it became a known device of theirs (an approval that vouched for it); none while only policies
    /// that did not look at devices approved them on it.
    pub known_since: Option<i64>,
}

impl PastDevice {
    /// A device known from its first approval.
    pub fn known(fingerprint: &str, first_seen: i64) -> PastDevice {
        PastDevice { fingerprint: fingerprint.to_owned(), first_seen, known_since: Some(first_seen) }
    }
}

/// A device key the person was approved with (and the fingerprint it came with), as [`PastDevice`].
#[derive(Debug, Clone, PartialEq)]
pub struct PastKey {
    pub key: KnownDeviceKey,
    pub first_seen: i64,
    pub known_since: Option<i64>,
}

/// Everything one person had shown, each with the instant it became known.
#[derive(Debug, Clone, Default)]
pub struct Past {
    pub devices: Vec<PastDevice>,
    pub keys: Vec<PastKey>,
    pub places: Vec<PastPlace>,
    /// The person's attempts (every policy) from some instant on, in time order.
    pub attempts: Vec<PastAttempt>,
}

/// Who else was approved on a device, and since when: by fingerprint and by device key. The people whose
/// pasts were read bring their own devices (`add_own`); the store is asked only for the others
/// (`by_fingerprint`, `by_key`), so that a device only its own person has used costs a look in an index and
/// no row. A person may be in both: they count once.
#[derive(Debug, Clone, Default)]
pub struct Sharing {
    pub by_fingerprint: Map<String, Vec<(String, i64)>>,
    pub by_key: Map<String, Vec<(String, i64)>>,
    own_fingerprints: Map<String, Vec<(String, i64)>>,
    own_keys: Map<String, Vec<(String, i64)>>,
}

impl Sharing {
    /// Counts `person`'s own devices and keys (from their past) beside what the store answered.
    pub fn add_own(&mut self, person: &str, past: &Past) {
        for d in &past.devices {
            self.own_fingerprints.entry(d.fingerprint.clone()).or_default().push((person.to_owned(), d.first_seen));
        }
        for k in &past.keys {
            self.own_keys.entry(k.key.thumbprint.clone()).or_default().push((person.to_owned(), k.first_seen));
        }
    }

    /// How many people other than `person` were approved on the device before `at`: by its key when it
    /// proved one, else by its fingerprint (as the live history counts them).
    pub fn others(&self, person: &str, fingerprint: Option<&str>, key: Option<&str>, at: i64) -> u32 {
        let (read, own) = match (key, fingerprint) {
            (Some(k), _) => (self.by_key.get(k), self.own_keys.get(k)),
            (None, Some(f)) => (self.by_fingerprint.get(f), self.own_fingerprints.get(f)),
            (None, None) => (None, None),
        };
        let mut people: Vec<&str> = read
            .into_iter()
            .chain(own)
            .flatten()
            .filter(|(p, first)| p != person && *first < at)
            .map(|(p, _)| p.as_str())
            .collect();
        people.sort_unstable();
        people.dedup();
        u32::try_from(people.len()).unwrap_or(u32::MAX)
    }
}

impl Past {
    /// The history `decide` would have read at `at`: what had become known strictly before it. Its
    /// `attempts_in_window` is left 0: it depends on the policy's window (`attempts_since`).
    pub fn history_at(&self, at: i64, other_identities_on_device: u32) -> History {
        let before = |first: i64| first < at;
        let known_devices =
            self.devices.iter().filter(|d| d.known_since.is_some_and(before)).map(|d| d.fingerprint.clone()).collect();
        let known_device_keys =
            self.keys.iter().filter(|k| k.known_since.is_some_and(before)).map(|k| k.key.clone()).collect();
        let known_locations = self.places.iter().filter(|p| before(p.first_seen)).map(|p| p.coordinates).collect();
        let earlier = self.attempts.partition_point(|a| a.at < at);
        let last = self.attempts[..earlier]
            .iter()
            .rev()
            .filter(|a| a.approved_when < at)
            .find_map(|a| a.approved_at.map(|(c, acc)| (a.at, c, acc)))
            .or_else(|| self.place_before(at));
        let (last_approved_location, last_approved_accuracy_m) = match last {
            Some((t, c, acc)) => (DateTime::from_timestamp_millis(t).map(|t| (t, c)), acc),
            None => (None, None),
        };
        History {
            known_devices,
            known_device_keys,
            other_identities_on_device,
            known_locations,
            last_approved_location,
            last_approved_accuracy_m,
            attempts_in_window: 0,
        }
    }

    /// The person's attempts from `window_start` to `at`, counted up to `limit`. Those made in the same
    /// millisecond count, as they do live (the request counts every attempt stored since the window start):
    /// the past holds only attempts replayed before this one, which joins it once decided (`record`).
    pub fn attempts_since(&self, at: i64, window_start: i64, limit: u32) -> u32 {
        let earlier = self.attempts.partition_point(|a| a.at <= at);
        let from = self.attempts[..earlier].partition_point(|a| a.at < window_start);
        u32::try_from(earlier - from).unwrap_or(u32::MAX).min(limit)
    }

    /// Adds an attempt to the past, in time order (the replayed attempts join it as they are replayed).
    pub fn record(&mut self, attempt: PastAttempt) {
        let i = self.attempts.partition_point(|a| a.at <= attempt.at);
        self.attempts.insert(i, attempt);
    }

    /// The latest approval at a place before `at`, from the places alone (for a time before the attempts
    /// loaded): a place last seen before `at` was seen then; one seen again since is known to have been
    /// seen at its first sighting, at least.
    fn place_before(&self, at: i64) -> Option<(i64, Coordinates, Option<f64>)> {
        self.places
            .iter()
            .filter(|p| p.first_seen < at)
            .map(|p| (if p.last_seen < at { p.last_seen } else { p.first_seen }, p.coordinates, p.accuracy_m))
            .max_by_key(|(t, _, _)| *t)
    }
}

/// How far before the first replayed attempt the person's attempts must be read, so that the attempt
/// limit's window and the travel check see what they saw live: the longest attempt window, and the
/// time it takes to cross half the Earth at the slowest allowed speed (beyond it no travel is
/// impossible), capped at 30 days (the longest window a policy may have).
pub fn lead_ms(window_seconds: &[u32], travel_speeds_kmh: &[f64]) -> i64 {
    const HALF_EARTH_KM: f64 = 20_038.0;
    const MAX_MS: i64 = 30 * 86_400_000;
    let window = window_seconds.iter().map(|s| i64::from(*s) * 1000).max().unwrap_or(0);
    let travel = travel_speeds_kmh
        .iter()
        .filter(|s| **s > 0.0)
        .map(|s| (HALF_EARTH_KM / s * 3_600_000.0).min(MAX_MS as f64) as i64)
        .max()
        .unwrap_or(0);
    window.max(travel).min(MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    fn past() -> Past {
        Past {
            devices: vec![
                PastDevice::known("fp-a", 1_000),
                PastDevice::known("fp-b", 5_000),
                // Approved on under device-blind policies from 500, vouched for at 9 500.
                PastDevice { fingerprint: "fp-c".into(), first_seen: 500, known_since: Some(9_500) },
                // Only ever approved on under device-blind policies.
                PastDevice { fingerprint: "fp-d".into(), first_seen: 600, known_since: None },
            ],
            keys: vec![
                PastKey {
                    key: KnownDeviceKey { thumbprint: "k1".into(), fingerprint: Some("fp-a".into()) },
                    first_seen: 2_000,
                    known_since: Some(2_000),
                },
                // Approved with under device-blind policies only: counted, never known.
                PastKey {
                    key: KnownDeviceKey { thumbprint: "k2".into(), fingerprint: None },
                    first_seen: 1_500,
                    known_since: None,
                },
            ],
            places: vec![
                PastPlace {
                    coordinates: at(-22.9, -43.2),
                    accuracy_m: Some(20.0),
                    first_seen: 1_000,
                    last_seen: 9_000,
                },
                PastPlace { coordinates: at(-23.5, -46.6), accuracy_m: None, first_seen: 6_000, last_seen: 6_000 },
            ],
            attempts: vec![
                PastAttempt::new(7_000, None, None),
                PastAttempt::new(8_000, Some((at(-23.5, -46.6), Some(10.0))), Some(8_000)),
                PastAttempt::new(9_000, None, Some(9_000)),
                // Approved by a step-up 50 s after it was made.
                PastAttempt::new(9_100, Some((at(-22.9, -43.2), None)), Some(59_100)),
            ],
        }
    }

    #[test]
    fn the_history_holds_only_what_was_known_before_the_instant() {
        let h = past().history_at(5_000, 0);
        assert_eq!(h.known_devices, vec!["fp-a".to_owned()]);
        assert_eq!(h.known_device_keys.len(), 1);
        assert_eq!(h.known_locations, vec![at(-22.9, -43.2)]);
        // Before the attempts loaded, the last approval comes from the places: Rio, seen again later, so at its
        // first sighting at least.
        assert_eq!(h.last_approved_location.map(|(t, c)| (t.timestamp_millis(), c)), Some((1_000, at(-22.9, -43.2))));
        assert_eq!(past().attempts_since(5_000, 0, 10), 0);
        let later = past().history_at(10_000, 0);
        assert_eq!(later.known_devices, ["fp-a", "fp-b", "fp-c"], "fp-c from 9 500, fp-d never");
        assert_eq!(later.known_locations.len(), 2);
    }

    #[test]
    fn the_last_approval_and_the_window_come_from_the_attempts() {
        let h = past().history_at(9_500, 0);
        assert_eq!(h.last_approved_location.map(|(t, c)| (t.timestamp_millis(), c)), Some((8_000, at(-23.5, -46.6))));
        assert_eq!(h.last_approved_accuracy_m, Some(10.0));
        assert_eq!(past().attempts_since(9_500, 7_500, 10), 3, "8 000, 9 000 and 9 100; 7 000 is before the window");
        assert_eq!(past().attempts_since(9_500, 0, 2), 2, "counting stops at the limit");
        // Two attempts in one millisecond: the second sees the first, as the live count does.
        let mut same = past();
        same.record(PastAttempt::new(9_700, None, None));
        assert_eq!(same.attempts_since(9_700, 9_000, 10), 3, "9 000, 9 100 and the one at 9 700");
        // 9 100 was approved at 59 100: before that, 8 000 is still the last approved place.
        let before = past().history_at(30_000, 0).last_approved_location.map(|(t, _)| t.timestamp_millis());
        assert_eq!(before, Some(8_000));
        let after = past().history_at(60_000, 0).last_approved_location.map(|(t, _)| t.timestamp_millis());
        assert_eq!(after, Some(9_100));
    }

    #[test]
    fn a_device_is_shared_with_the_other_people_approved_on_it_before() {
        let mut sharing = Sharing::default();
        sharing.by_fingerprint.insert("fp".into(), vec![("me".into(), 1), ("ana".into(), 10), ("bia".into(), 50)]);
        sharing.by_key.insert("k".into(), vec![("ana".into(), 10), ("ana".into(), 20)]);
        assert_eq!(sharing.others("me", Some("fp"), None, 30), 1);
        assert_eq!(sharing.others("me", Some("fp"), None, 60), 2);
        assert_eq!(sharing.others("me", Some("fp"), Some("k"), 60), 1, "by the key when there is one, people once");
        assert_eq!(sharing.others("me", None, None, 60), 0);
        // Bia's own past, read too, names the device she was also read on: she counts once; Caio, known only
        // from his past, counts from his first approval.
        let bia = Past { devices: vec![PastDevice::known("fp", 50)], ..Past::default() };
        // Caio was approved on it under a device-blind policy only: he counts all the same.
        let caio = Past {
            devices: vec![PastDevice { fingerprint: "fp".into(), first_seen: 40, known_since: None }],
            ..Past::default()
        };
        sharing.add_own("bia", &bia);
        sharing.add_own("caio", &caio);
        assert_eq!(sharing.others("me", Some("fp"), None, 45), 2);
        assert_eq!(sharing.others("me", Some("fp"), None, 60), 3);
        assert_eq!(sharing.others("caio", Some("fp"), None, 60), 3, "me, ana and bia");
    }

    #[test]
    fn the_lead_covers_the_window_and_half_the_earth() {
        assert_eq!(lead_ms(&[3_600], &[]), 3_600_000);
        assert_eq!(lead_ms(&[3_600], &[1_000.0]), (20_038.0f64 / 1_000.0 * 3_600_000.0) as i64);
        assert_eq!(lead_ms(&[3_600], &[1.0]), 30 * 86_400_000, "capped");
    }
}
