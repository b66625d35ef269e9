//! A tenant at size, generated: identities with their known device, place and network, and attempts
//! spread over them and over a period, for the at-size benchmark (`scripts/bench.sh --at-size`) and
//! the query-plan tests. The rows are the same whatever the engine; each engine writes them in its
//! own bulk way (`SqliteStore::bulk_load`; a PostgreSQL engine would COPY them).

use crate::{AttemptRecord, IdentityRecord, Learned, Millis};

const DAY_MS: Millis = 86_400_000;

/// What to generate, and the real attempt document the attempts are copied from.
#[derive(Debug, Clone)]
pub struct BulkSpec {
    pub client_id: String,
    pub policy_id: String,
    pub identities: u64,
    pub attempts: u64,
    /// The attempts are spread evenly over the `days` before `now`, oldest first.
    pub days: u32,
    pub now: Millis,
    /// Every attempt whose number is a multiple of this goes to person 0, which then has thousands
    /// of attempts (for measuring the erasure of a busy person).
    pub busy_person_every: Option<u64>,
    /// A document the server wrote; every occurrence of `template_attempt_id` and `template_person_id`
    /// in it is replaced by the generated attempt's own.
    pub template: String,
    pub template_attempt_id: String,
    pub template_person_id: String,
    /// The template attempt's judged fields (`AttemptRecord::judged`), with each attempt's decision time.
    pub judged: Option<String>,
}

/// Deterministic, well-mixed 64-bit values (SplitMix64), so that ids land all over their indexes
/// as random ids do, and a run can be repeated.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The rows of a spec. Person `i` is `bulk-{i}`; attempt `n` belongs to a person picked by a hash of `n`.
pub struct Generator {
    spec: BulkSpec,
    /// Mixed into every id, so that two tenants' rows never share one (ids are unique across tenants).
    seed: u64,
    /// The template split around the ids it carries and its decision time: text, then what goes next.
    pieces: Vec<(String, Option<Slot>)>,
    /// The same for the judged fields.
    judged: Option<Vec<(String, Option<Slot>)>>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Attempt,
    Person,
    /// `"decidedAt":` and the attempt's own decision time: 20 s after it was made (a step-up), or null while
    /// it waits.
    DecidedAt,
    /// The template's device fingerprint, latitude and longitude: the person's own device and place (their
    /// known ones), so that a replay meets as many devices and places as people, as a real tenant's does.
    Fingerprint,
    Latitude,
    Longitude,
}

/// What a person's attempts carry of their own: their device's fingerprint and their place.
struct Own {
    fingerprint: String,
    latitude: f64,
    longitude: f64,
}

/// The template's `"name":value` (its first), when it has one: a number, `null`, or a string without escapes.
fn member(template: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":");
    let at = template.find(&key)? + key.len();
    let rest = &template[at..];
    let len = match rest.strip_prefix('"') {
        Some(string) => string.find('"')? + 2,
        None => rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))).unwrap_or(rest.len()),
    };
    Some(template[at - key.len()..at + len].to_string())
}

/// The needles of the members a person's attempts fill with their own (see [`Slot`]).
fn own_needles(template: &str) -> Vec<(String, Slot)> {
    [("decidedAt", Slot::DecidedAt), ("fingerprint", Slot::Fingerprint), ("latitude", Slot::Latitude)]
        .into_iter()
        .chain([("longitude", Slot::Longitude)])
        .filter_map(|(name, slot)| member(template, name).map(|m| (m, slot)))
        .collect()
}

/// `template` split around the needles it carries.
fn split(template: &str, needles: &[(String, Slot)]) -> Vec<(String, Option<Slot>)> {
    let mut pieces = Vec::new();
    let mut rest = template;
    loop {
        let next = needles
            .iter()
            .filter(|(needle, _)| !needle.is_empty())
            .filter_map(|(needle, slot)| rest.find(needle.as_str()).map(|at| (at, needle.len(), *slot)))
            .min_by_key(|(at, _, _)| *at);
        match next {
            Some((at, len, slot)) => {
                pieces.push((rest[..at].to_string(), Some(slot)));
                rest = &rest[at + len..];
            }
            None => {
                pieces.push((rest.to_string(), None));
                return pieces;
            }
        }
    }
}

/// The pieces put together with one attempt's values.
fn fill(pieces: &[(String, Option<Slot>)], id: &str, person: &str, own: &Own, decided_at: Option<Millis>) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|(text, _)| text.len() + 32).sum());
    for (text, slot) in pieces {
        out.push_str(text);
        match slot {
            Some(Slot::Attempt) => out.push_str(id),
            Some(Slot::Person) => out.push_str(person),
            Some(Slot::DecidedAt) => {
                out.push_str("\"decidedAt\":");
                match decided_at {
                    Some(at) => out.push_str(&at.to_string()),
                    None => out.push_str("null"),
                }
            }
            Some(Slot::Fingerprint) => {
                out.push_str("\"fingerprint\":\"");
                out.push_str(&own.fingerprint);
                out.push('"');
            }
            Some(Slot::Latitude) => out.push_str(&format!("\"latitude\":{}", own.latitude)),
            Some(Slot::Longitude) => out.push_str(&format!("\"longitude\":{}", own.longitude)),
            None => {}
        }
    }
    out
}

impl Generator {
    pub fn new(spec: BulkSpec) -> Self {
        let mut needles =
            vec![(spec.template_attempt_id.clone(), Slot::Attempt), (spec.template_person_id.clone(), Slot::Person)];
        needles.extend(own_needles(&spec.template));
        let pieces = split(&spec.template, &needles);
        let judged = spec.judged.as_deref().map(|j| split(j, &own_needles(j)));
        let seed = spec
            .client_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Generator { spec, pieces, judged, seed }
    }

    pub fn spec(&self) -> &BulkSpec {
        &self.spec
    }

    pub fn person_id(&self, i: u64) -> String {
        format!("bulk-{i:07}")
    }

    /// Person `i`'s device and place (in Brazil).
    fn own(&self, i: u64) -> Own {
        let h = mix(i ^ self.seed);
        Own {
            fingerprint: format!("bulk-device-{h:016x}"),
            latitude: -30.0 + (h % 15_000) as f64 / 1_000.0,
            longitude: -55.0 + ((h >> 16) % 15_000) as f64 / 1_000.0,
        }
    }

    /// Identity `i` and what its approvals taught: one device, one place (in Brazil) and one network.
    pub fn identity(&self, i: u64) -> (IdentityRecord, Learned) {
        let s = &self.spec;
        let h = mix(i ^ self.seed);
        let created = s.now - Millis::from(s.days) * DAY_MS;
        let identity = IdentityRecord {
            id: format!("{:024x}", u128::from(mix(h)) << 32 | u128::from(h as u32)),
            client_id: s.client_id.clone(),
            person_id: self.person_id(i),
            name: format!("Bulk Person {i}"),
            email: None,
            phone: Some(format!("55{:011}", 11_900_000_000 + i % 99_999_999)),
            face_image_enc: None,
            face_template_enc: None,
            created_at: created,
            updated_at: created,
        };
        let own = self.own(i);
        let learned = Learned {
            client_id: s.client_id.clone(),
            person_id: identity.person_id.clone(),
            fingerprint: Some(own.fingerprint),
            fingerprint_vouched: true,
            location: Some((own.latitude, own.longitude)),
            location_accuracy: Some(20.0),
            device_key: None,
            device_key_vouched: true,
            at: created + (h % DAY_MS as u64) as Millis,
            known_at: created + (h % DAY_MS as u64) as Millis,
        };
        (identity, learned)
    }

    /// Attempt `n`: 90% approved, 6% pending, 4% reproved, at its place in the period, decided 20 s after
    /// it was made (but the pending ones).
    pub fn attempt(&self, n: u64) -> AttemptRecord {
        let s = &self.spec;
        let h = mix(n ^ self.seed.rotate_left(32));
        let i = match s.busy_person_every {
            Some(k) if k > 0 && n.is_multiple_of(k) => 0,
            _ => h % s.identities.max(1),
        };
        let (person, own) = (self.person_id(i), self.own(i));
        let id = format!("{:024x}", u128::from(h) << 32 | u128::from(mix(h) as u32));
        let span = Millis::from(s.days) * DAY_MS;
        let created_at = s.now - span + (span as u128 * u128::from(n) / u128::from(s.attempts.max(1))) as Millis;
        let status = match h % 100 {
            0..=89 => "approved",
            90..=95 => "pending",
            _ => "reproved",
        };
        let decided_at = (status != "pending").then_some(created_at + 20_000);
        let document = fill(&self.pieces, &id, &person, &own, decided_at);
        let judged = self.judged.as_ref().map(|pieces| fill(pieces, &id, &person, &own, decided_at));
        AttemptRecord {
            id,
            client_id: s.client_id.clone(),
            person_id: Some(person),
            policy_id: s.policy_id.clone(),
            status: status.into(),
            created_at,
            version: 1,
            document,
            expires_at: None,
            judged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BulkSpec {
        BulkSpec {
            client_id: "c1".into(),
            policy_id: "pix".into(),
            identities: 10,
            attempts: 100,
            days: 30,
            now: 1_800_000_000_000,
            busy_person_every: Some(10),
            template: r#"{"attemptId":"A1","personId":"P1","again":"A1","decidedAt":1700000000000}"#.into(),
            template_attempt_id: "A1".into(),
            template_person_id: "P1".into(),
            judged: Some(
                r#"{"device":{"fingerprint":"fp-1"},"location":{"coordinates":{"latitude":-23.5,"longitude":-46.6}},"decidedAt":1700000000000,"valid":true}"#
                    .into(),
            ),
        }
    }

    #[test]
    fn attempts_carry_their_own_ids_and_stay_in_the_period() {
        let g = Generator::new(spec());
        let a = g.attempt(7);
        let doc: serde_json::Value = serde_json::from_str(&a.document).unwrap();
        assert_eq!(doc["attemptId"], a.id.as_str());
        assert_eq!(doc["again"], a.id.as_str());
        assert_eq!(doc["personId"], a.person_id.as_deref().unwrap());
        let judged: serde_json::Value = serde_json::from_str(a.judged.as_deref().unwrap()).unwrap();
        let decided_at = (a.status != "pending").then_some(a.created_at + 20_000);
        assert_eq!(doc["decidedAt"].as_i64(), decided_at, "its own decision time");
        assert_eq!(judged["decidedAt"].as_i64(), decided_at);
        assert_eq!(judged["valid"], true);
        let i: u64 = a.person_id.as_deref().unwrap()["bulk-".len()..].parse().unwrap();
        let (_, learned) = g.identity(i);
        assert_eq!(judged["device"]["fingerprint"].as_str(), learned.fingerprint.as_deref(), "the person's device");
        let (lat, lon) = learned.location.unwrap();
        assert_eq!(judged["location"]["coordinates"]["latitude"].as_f64(), Some(lat), "the person's place");
        assert_eq!(judged["location"]["coordinates"]["longitude"].as_f64(), Some(lon));
        assert_ne!(g.attempt(8).id, a.id);
        let first = g.attempt(0).created_at;
        let last = g.attempt(99).created_at;
        assert!(first >= 1_800_000_000_000 - 30 * DAY_MS && last < 1_800_000_000_000 && first < last);
        assert!(a.person_id.unwrap().starts_with("bulk-000000"));
        assert_eq!(g.attempt(20).person_id.as_deref(), Some("bulk-0000000"), "the busy person");
    }
}
