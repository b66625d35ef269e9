//! Policy replay: what a candidate policy would have decided on a tenant's past attempts of a policy, next
//! to what was decided then and to what the saved policy decides on them today.
//!
//! Each attempt is decided again from what it stored (its context, and the network and place facts it
//! was enriched with then), against the person's history as it was at that instant: the devices, keys
//! and places known before it (from their first sighting), the person's attempts in the policy's window
//! and their last approved location. History follows what actually happened: an attempt that the
//! candidate would have refused still taught what its real approval taught. Read-only; the attempts are
//! read a page at a time, so memory is bounded by a page and the people in the window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use smartauth_context::{LocationFlag, NetworkContext};
use smartauth_domain::context::{DeviceInput, LocationInput, NetworkFacts};
use smartauth_domain::replay::PastAttempt;
use smartauth_domain::replay::{lead_ms, Map, Sharing};
use smartauth_domain::{decide, AttemptContext, Decision, DecisionInput, Method, Policy, Status};

use crate::ops::attempts::Offers;
use smartauth_store::{Millis, ReplayPerson, ReplayRecord, ReplaySpan, Store};
use tokio::sync::Semaphore;

use crate::attempt::{ts, AttemptDoc};
use crate::startup::App;

/// The most attempts one replay reads.
pub const MAX_ATTEMPTS: u32 = 100_000;
/// How many attempts a replay reads when the request does not say.
pub const DEFAULT_ATTEMPTS: u32 = 1_000;
/// The changed attempts listed in the answer (all are counted).
const LISTED_CHANGES: usize = 500;
/// The people listed as stepped up more often (all are counted).
const LISTED_PEOPLE: usize = 100;
/// Attempts read at a time. The people first met in a page have their pasts read together, and the more
/// there are the closer their rows lie in the indexes (in the replay bench, 2,000 a page read the pasts
/// in twice the time 10,000 do, and 20,000 saved a further 8%). A page of judged fields is about 10 MB; one
/// of attempts stored before they were kept apart is read from their documents, about 44 MB, and the
/// aggregate text, the rows and the parsed attempts are alive together for a moment: about 100 MB at the
/// peak. The deadline is checked between pages and while deciding, so a replay can overrun it by one
/// page's read and parse (about 0.3 s on the bench).
const PAGE: u32 = 20_000;
/// A replay that runs longer (its wait for another included) stops and answers what it replayed, saying so.
const TIME_BUDGET: Duration = Duration::from_secs(30);
/// How long a replay waits for another tenant's to end before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// The clock is read every this many attempts while deciding.
const CLOCK_EVERY: usize = 256;

/// One replay at a time per process: it is CPU work beside the request path.
static RUNNING: Semaphore = Semaphore::const_new(1);
/// The tenants with a replay running or waiting: one each, so that a tenant cannot queue many and hold the
/// others off.
static TENANTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The tenant's place in `TENANTS`, given back when the replay ends (or its request is dropped).
struct TenantTurn(String);

impl TenantTurn {
    fn take(client_id: &str) -> Option<TenantTurn> {
        let mut tenants = TENANTS.lock().unwrap_or_else(|e| e.into_inner());
        if tenants.iter().any(|t| t == client_id) {
            return None;
        }
        tenants.push(client_id.to_owned());
        Some(TenantTurn(client_id.to_owned()))
    }
}

impl Drop for TenantTurn {
    fn drop(&mut self) {
        TENANTS.lock().unwrap_or_else(|e| e.into_inner()).retain(|t| *t != self.0);
    }
}

pub struct Request {
    pub candidate: Policy,
    pub since: Option<Millis>,
    pub limit: u32,
}

pub enum Refusal {
    /// This tenant already has a replay running or waiting.
    TenantBusy,
    /// Another tenant's replay did not end within `MAX_WAIT`.
    ServerBusy,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub approved: u64,
    pub pending: u64,
    pub reproved: u64,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Approved => self.approved += 1,
            Status::Pending => self.pending += 1,
            Status::Reproved => self.reproved += 1,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextChange {
    pub context: &'static str,
    pub decided: String,
    pub candidate: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub attempt_id: String,
    pub person_id: String,
    pub created_at: String,
    pub decided: Status,
    pub candidate: Status,
    /// The attempt ended approved (passively or after its step-up): a legitimate person, as far as
    /// the past tells.
    pub ended_approved: bool,
    /// The contexts whose verdict differs, with the candidate's reason for each.
    pub contexts: Vec<ContextChange>,
    pub summary: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonFriction {
    pub person_id: String,
    /// Their attempts that ended approved, approved passively then, and that the candidate steps up or refuses.
    pub more_friction: u64,
    /// Their attempts that ended approved after a step-up then, and that the candidate approves passively.
    pub less_friction: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub policy_id: String,
    /// Attempts replayed, and the instants of the first and the last.
    pub attempts: u64,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Attempts of erased people, which cannot be replayed (their history is gone).
    pub skipped: u64,
    /// False when the replay stopped at its time budget; the counts cover `attempts`.
    pub complete: bool,
    /// As decided when each attempt was made.
    pub decided: Counts,
    /// The saved policy, replayed: differences from `decided` come from edits to the policy or the engine
    /// since then, not from the candidate.
    pub current: Counts,
    pub candidate: Counts,
    pub changed: u64,
    /// Changed attempts by `decided→candidate` status.
    pub transitions: BTreeMap<String, u64>,
    /// Changed attempts by the candidate's reason (of each context that changed; an attempt counts once per reason).
    pub reasons: BTreeMap<String, u64>,
    /// The first changed attempts, oldest first.
    pub changes: Vec<Change>,
    /// People whose attempts ended approved and whom the candidate would step up more often than the
    /// policy did, most affected first.
    pub people_with_more_friction: u64,
    pub people: Vec<PersonFriction>,
    /// What the candidate leaves out or this server cannot enforce (see `ops::policies::candidate_warnings`).
    pub warnings: Vec<String>,
    pub elapsed_ms: u64,
    pub attempts_per_second: u64,
    /// Where the time went, in milliseconds (wall time of each stage, summed over the pages).
    pub timings: Timings,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Reading the attempts from the store.
    pub read_ms: f64,
    /// Parsing what the replay judges from their documents.
    pub parse_ms: f64,
    /// Reading the people's pasts and who shared their devices.
    pub history_ms: f64,
    /// Deciding each attempt with both policies.
    pub decide_ms: f64,
}

/// What a replay judges of an attempt: written beside its document whenever the document is (the store's
/// `judged` column, a few hundred bytes where the document is about 2 KB), and read by a replay instead of
/// it. The location and the decision time keep the document's names, so that the store reads both at the
/// same paths.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Judged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<JudgedDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<LocationInput>,
    network: NetworkFacts,
    /// The country of the place nearest the coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    country: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    location_flags: Vec<LocationFlag>,
    /// The verdicts of the device, location and network contexts: status and reason.
    verdicts: [(Status, String); 3],
    /// The step-up methods the attempt asked for (none when it was approved or refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    needed: Vec<Method>,
    valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decided_at: Option<Millis>,
    /// Which of device, location and network its approval vouched for (`ops::attempts::vouched`); read by
    /// the store's replay statements only (an attempt written before it was kept vouched for all three).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vouched: Option<[bool; 3]>,
    /// The step-up means the person had on file (face, email, phone); absent from attempts stored before
    /// they were kept, for which the replay reads the means on file now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    means: Option<[bool; 3]>,
}

/// The device signals `decide` reads.
#[derive(Debug, Serialize, Deserialize)]
struct JudgedDevice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    emulator: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rooted: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    automation: bool,
}

impl JudgedDevice {
    fn of(d: &DeviceInput) -> JudgedDevice {
        JudgedDevice {
            fingerprint: d.fingerprint.clone(),
            key: d.key.clone(),
            emulator: d.emulator,
            rooted: d.rooted,
            automation: d.automation,
        }
    }

    fn input(self) -> DeviceInput {
        DeviceInput {
            fingerprint: self.fingerprint,
            key: self.key,
            emulator: self.emulator,
            rooted: self.rooted,
            automation: self.automation,
            ..DeviceInput::default()
        }
    }
}

impl Judged {
    /// What a replay will judge of the attempt `doc` describes.
    pub fn of(doc: &AttemptDoc) -> Judged {
        let e = &doc.evaluation;
        let verdict = |v: &crate::attempt::Verdict| {
            let status = if v.status == Status::Approved.as_str() { Status::Approved } else { Status::Reproved };
            (status, v.reason.clone())
        };
        Judged {
            device: doc.device.as_ref().map(JudgedDevice::of),
            location: doc.location.clone(),
            network: doc.network.decision_facts(),
            country: doc.place.as_ref().and_then(|p| p.country_code.clone()),
            location_flags: doc.location_flags.clone(),
            verdicts: [verdict(&e.device_context), verdict(&e.location_context), verdict(&e.network_context)],
            needed: e.needed_reauthentications.clone(),
            valid: e.valid,
            decided_at: doc.decided_at,
            vouched: Some(crate::ops::attempts::vouched(doc)),
            means: doc.identity.as_ref().and_then(|i| i.means),
        }
    }

    /// The judged fields of an attempt stored before they were kept apart, from its document.
    fn from_document(document: &str) -> serde_json::Result<Judged> {
        let doc: ReplayDoc = serde_json::from_str(document)?;
        let e = doc.evaluation;
        let verdict = |v: StoredVerdict| (v.status, v.reason);
        Ok(Judged {
            device: doc.device.as_ref().map(JudgedDevice::of),
            location: doc.location,
            network: doc.network.decision_facts(),
            country: doc.place.and_then(|p| p.country_code),
            location_flags: doc.location_flags,
            verdicts: [verdict(e.device_context), verdict(e.location_context), verdict(e.network_context)],
            needed: e.needed_reauthentications,
            valid: e.valid,
            decided_at: doc.decided_at,
            vouched: None,
            means: doc.identity.and_then(|i| i.means),
        })
    }

    /// The judged fields of a record as the store hands it over; none for an erased person's attempt.
    fn read(record: &ReplayRecord) -> anyhow::Result<Option<Judged>> {
        let parsed = match (&record.person_id, &record.judged, &record.document) {
            (None, _, _) => return Ok(None),
            (Some(_), Some(judged), _) => serde_json::from_str(judged),
            (Some(_), None, Some(document)) => Judged::from_document(document),
            (Some(_), None, None) => return Err(anyhow::anyhow!("attempt {}: nothing to replay", record.id)),
        };
        parsed.map(Some).map_err(|e| anyhow::anyhow!("attempt {}: {e}", record.id))
    }
}

/// What a replay reads of the document of an attempt stored without its judged fields (the rest is
/// skipped unparsed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplayDoc {
    #[serde(default)]
    identity: Option<IdentityMeans>,
    device: Option<DeviceInput>,
    location: Option<LocationInput>,
    network: NetworkContext,
    #[serde(default)]
    place: Option<PlaceCountry>,
    #[serde(default)]
    location_flags: Vec<LocationFlag>,
    evaluation: StoredEvaluation,
    #[serde(default)]
    decided_at: Option<Millis>,
}

#[derive(Deserialize)]
struct IdentityMeans {
    #[serde(default)]
    means: Option<[bool; 3]>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaceCountry {
    country_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredEvaluation {
    device_context: StoredVerdict,
    location_context: StoredVerdict,
    network_context: StoredVerdict,
    valid: bool,
    needed_reauthentications: Vec<Method>,
}

#[derive(Deserialize)]
struct StoredVerdict {
    status: Status,
    reason: String,
}

/// What replaying one page needs and keeps between pages.
struct Fold {
    current: Arc<Policy>,
    candidate: Policy,
    people: Map<String, ReplayPerson>,
    /// Who was approved on the devices met so far: a device asked about has its entry, empty when nobody was.
    sharing: Sharing,
    /// The people whose pasts were read (their own devices are in `sharing`).
    owners: foldhash::HashSet<String>,
    friction: Map<String, (u64, u64)>,
    /// The first and last replayed attempts' times, for `from` and `to`.
    span: Option<(Millis, Millis)>,
    report: Report,
    offers: Offers,
}

pub async fn replay(
    app: &App,
    client_id: &str,
    current: Arc<Policy>,
    request: Request,
) -> Result<anyhow::Result<Report>, Refusal> {
    let started = Instant::now();
    let Some(_turn) = TenantTurn::take(client_id) else {
        return Err(Refusal::TenantBusy);
    };
    let Ok(Ok(_running)) = tokio::time::timeout(MAX_WAIT, RUNNING.acquire()).await else {
        return Err(Refusal::ServerBusy);
    };
    Ok(run(app, client_id, current, request, started).await)
}

async fn run(
    app: &App,
    client_id: &str,
    current: Arc<Policy>,
    request: Request,
    started: Instant,
) -> anyhow::Result<Report> {
    let deadline = started + TIME_BUDGET;
    let store: &dyn Store = app.store.as_ref();
    let policy_id = current.policy_id.clone();
    let limit = request.limit.clamp(1, MAX_ATTEMPTS);
    let since = request.since.unwrap_or(0);
    let lead = lead_ms(
        &[current.max_attempts_per_identity.window_seconds, request.candidate.max_attempts_per_identity.window_seconds],
        &[&current, &request.candidate]
            .iter()
            .filter_map(|p| p.contexts.location_context.as_ref().filter(|l| l.enabled).map(|l| l.max_travel_speed_kmh))
            .collect::<Vec<_>>(),
    );
    let warnings = crate::ops::policies::candidate_warnings(app, &request.candidate);
    let mut fold = Fold {
        current,
        candidate: request.candidate,
        people: Map::default(),
        sharing: Sharing::default(),
        owners: Default::default(),
        friction: Map::default(),
        span: None,
        report: Report {
            policy_id: policy_id.clone(),
            attempts: 0,
            from: None,
            to: None,
            skipped: 0,
            complete: true,
            decided: Counts::default(),
            current: Counts::default(),
            candidate: Counts::default(),
            changed: 0,
            transitions: BTreeMap::new(),
            reasons: BTreeMap::new(),
            changes: Vec::new(),
            people_with_more_friction: 0,
            people: Vec::new(),
            warnings,
            elapsed_ms: 0,
            attempts_per_second: 0,
            timings: Timings::default(),
        },
        offers: Offers::of(app),
    };
    let Some(mut window) = store.replay_window(client_id, &policy_id, since, limit).await? else {
        return Ok(finish(fold, started));
    };
    // The policy's attempts up to this cursor are not replayed: they are read as the people's past. Ids are
    // lowercase hex, so "~" comes after any of them.
    let replayed_after = window.after.clone().unwrap_or((since - 1, "~".into()));
    loop {
        let t = Instant::now();
        let page = store.replay_page(client_id, &policy_id, &window, PAGE).await?;
        fold.report.timings.read_ms += t.elapsed().as_secs_f64() * 1000.0;
        let Some(last) = page.last() else { break };
        window.after = Some((last.created_at, last.id.clone()));
        let t = Instant::now();
        let docs = tokio::task::spawn_blocking(move || {
            page.into_iter()
                .map(|mut record| {
                    let judged = Judged::read(&record)?;
                    (record.judged, record.document) = (None, None);
                    Ok((record, judged))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await??;
        fold.report.timings.parse_ms += t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let span = ReplaySpan { from: 0, until: window.until.0, replayed_after: replayed_after.clone() };
        load_pasts(store, client_id, &policy_id, &mut fold, &docs, lead, span).await?;
        fold.report.timings.history_ms += t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        fold = tokio::task::spawn_blocking(move || {
            for (i, (record, doc)) in docs.into_iter().enumerate() {
                if i % CLOCK_EVERY == 0 && Instant::now() > deadline {
                    fold.report.complete = false;
                    break;
                }
                fold.replay(&record, doc);
            }
            fold
        })
        .await?;
        fold.report.timings.decide_ms += t.elapsed().as_secs_f64() * 1000.0;
        if !fold.report.complete || Instant::now() > deadline {
            fold.report.complete = false;
            break;
        }
    }
    let mut report = finish(fold, started);
    forget_erased_since(store, client_id, &mut report).await?;
    Ok(report)
}

/// People erased while the replay ran: their attempts stay counted (they were replayed), but the answer
/// names none of them (one read for each person it names, at most 600).
async fn forget_erased_since(store: &dyn Store, client_id: &str, report: &mut Report) -> anyhow::Result<()> {
    let mut named: Vec<String> = report.changes.iter().map(|c| c.person_id.clone()).collect();
    named.extend(report.people.iter().map(|p| p.person_id.clone()));
    named.sort_unstable();
    named.dedup();
    let mut gone = Vec::new();
    for person in named {
        if store.identity(client_id, &person).await?.is_none() {
            gone.push(person);
        }
    }
    report.forget(&gone);
    Ok(())
}

impl Report {
    /// Takes these people out of the listed changes and people (not out of the counts).
    fn forget(&mut self, gone: &[String]) {
        self.changes.retain(|c| !gone.contains(&c.person_id));
        let before = self.people.len();
        self.people.retain(|p| !gone.contains(&p.person_id));
        self.people_with_more_friction -= (before - self.people.len()) as u64;
    }
}

/// Reads the pasts of the page's people not met yet (from `lead` before the page), and who else was
/// approved on its devices.
async fn load_pasts(
    store: &dyn Store,
    client_id: &str,
    policy_id: &str,
    fold: &mut Fold,
    docs: &[(ReplayRecord, Option<Judged>)],
    lead: i64,
    mut span: ReplaySpan,
) -> anyhow::Result<()> {
    let Some(first) = docs.first() else { return Ok(()) };
    // The page's people, once each, in order.
    let mut page_people: Vec<String> =
        docs.iter().filter_map(|(r, _)| r.person_id.clone()).collect::<foldhash::HashSet<_>>().into_iter().collect();
    page_people.sort_unstable();
    let people: Vec<String> = page_people.iter().filter(|p| !fold.people.contains_key(*p)).cloned().collect();
    if !people.is_empty() {
        span.from = first.0.created_at.saturating_sub(lead);
        let mut loaded = store.replay_pasts(client_id, &people, policy_id, span).await?;
        // Grown once a page rather than doubled as they fill (rehashing was 4% of a replay).
        fold.people.reserve(people.len());
        fold.owners.reserve(people.len());
        for person in people {
            // Every person asked for has an entry (an empty past for one erased since): not asked for again.
            let found = loaded.remove(&person).unwrap_or_default();
            fold.sharing.add_own(&person, &found.past);
            fold.owners.insert(person.clone());
            fold.people.insert(person, found);
        }
    }
    // Attempts stored before each kept the means of its moment: their people's means on file now, read once.
    let mut without: Vec<&String> = docs
        .iter()
        .filter(|(_, d)| d.as_ref().is_some_and(|d| d.means.is_none()))
        .filter_map(|(r, _)| r.person_id.as_ref())
        .filter(|p| fold.people.get(*p).is_some_and(|p| p.means.is_none()))
        .collect();
    if !without.is_empty() {
        without.sort_unstable();
        without.dedup();
        let without: Vec<String> = without.into_iter().cloned().collect();
        let found = store.replay_means(client_id, &without).await?;
        for p in without {
            if let Some(person) = fold.people.get_mut(&p) {
                person.means = Some(found.get(&p).copied().unwrap_or_default());
            }
        }
    }
    let mut fingerprints = foldhash::HashSet::default();
    let mut keys = foldhash::HashSet::default();
    for device in docs.iter().filter_map(|(_, d)| d.as_ref()?.device.as_ref()) {
        if let Some(k) = device.key.as_ref().filter(|k| !fold.sharing.by_key.contains_key(*k)) {
            keys.insert(k.clone());
        } else if let Some(f) = device.fingerprint.as_ref().filter(|f| !fold.sharing.by_fingerprint.contains_key(*f)) {
            fingerprints.insert(f.clone());
        }
    }
    if fingerprints.is_empty() && keys.is_empty() {
        return Ok(());
    }
    let fingerprints: Vec<String> = fingerprints.into_iter().collect();
    let keys: Vec<String> = keys.into_iter().collect();
    // The page's people whose pasts were read bring their own devices: the store is asked for the others.
    let leave_out: Vec<String> = page_people.into_iter().filter(|p| fold.owners.contains(p)).collect();
    let mut shared = store.replay_sharing(client_id, &fingerprints, &keys, &leave_out).await?;
    for f in fingerprints {
        let people = shared.by_fingerprint.remove(&f).unwrap_or_default();
        fold.sharing.by_fingerprint.insert(f, people);
    }
    for k in keys {
        let people = shared.by_key.remove(&k).unwrap_or_default();
        fold.sharing.by_key.insert(k, people);
    }
    Ok(())
}

/// How much an outcome asks of a person: nothing, a step-up, or a refusal.
fn friction(status: Status) -> u8 {
    match status {
        Status::Approved => 0,
        Status::Pending => 1,
        Status::Reproved => 2,
    }
}

/// The status the engine gave when the attempt was made, from its stored evaluation.
fn decided_status(e: &Judged) -> Status {
    if e.valid {
        Status::Approved
    } else if e.needed.is_empty() {
        Status::Reproved
    } else {
        Status::Pending
    }
}

impl Fold {
    fn replay(&mut self, record: &ReplayRecord, doc: Option<Judged>) {
        let (Some(person_id), Some(doc)) = (record.person_id.as_deref(), doc) else {
            self.report.skipped += 1;
            return;
        };
        let Some(person) = self.people.get_mut(person_id) else {
            self.report.skipped += 1;
            return;
        };
        let at = record.created_at;
        let decided = decided_status(&doc);
        let device = doc.device.as_ref();
        let fingerprint = device.and_then(|d| d.fingerprint.as_deref());
        let others = self.sharing.others(person_id, fingerprint, device.and_then(|d| d.key.as_deref()), at);
        let network = &doc.network;
        // The means of the moment; for an attempt stored (or last written) by a version that did not keep
        // them, those on file now (none for a person erased since).
        let [face, email, phone] = doc.means.or(person.means.map(|m| [m.face, m.email, m.phone])).unwrap_or_default();
        let methods = self.offers.for_person(face, email, phone);
        let now = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
        let suspicious = doc.location_flags.iter().find_map(|f| f.suspicion());
        let country = doc.country.as_deref();
        let context = AttemptContext { device: doc.device.map(JudgedDevice::input), location: doc.location };
        // One history for both policies; only the attempt count depends on the policy's window.
        let mut history = person.past.history_at(at, others);
        let mut decide_with = |policy: &Policy| -> Decision {
            let limit = &policy.max_attempts_per_identity;
            history.attempts_in_window =
                person.past.attempts_since(at, at - i64::from(limit.window_seconds) * 1000, limit.limit);
            decide(&DecisionInput {
                policy,
                context: &context,
                network,
                location_country: country,
                suspicious_location: suspicious,
                history: &history,
                now,
                available_methods: &methods,
            })
        };
        let current = decide_with(&self.current);
        let candidate = decide_with(&self.candidate);
        let ended_approved = record.status == Status::Approved.as_str();
        // What really happened is the past of the attempts after it.
        // Its place is where the person was last approved only when the approval vouched for it (as the past
        // read from the store counts it: `ops::attempts::vouched`).
        let place_vouched = doc.vouched.is_none_or(|[_, location, _]| location);
        let approved_at =
            context.location.as_ref().filter(|_| ended_approved && place_vouched).map(|l| (l.coordinates, l.accuracy));
        person.past.record(PastAttempt::new(at, approved_at, doc.decided_at));

        let report = &mut self.report;
        report.attempts += 1;
        self.span = Some((self.span.map_or(at, |(first, _)| first), at));
        report.decided.add(decided);
        report.current.add(current.status);
        report.candidate.add(candidate.status);
        // Only the people whose friction changes get an entry (an allocation per attempt otherwise).
        // Friction rises from approved to stepped up to refused: a person who passed a step-up and would be
        // refused outright meets more of it too.
        let more = match friction(candidate.status).cmp(&friction(decided)) {
            std::cmp::Ordering::Greater => Some(true),
            std::cmp::Ordering::Less => Some(false),
            std::cmp::Ordering::Equal => None,
        };
        if let Some(more) = more.filter(|_| ended_approved) {
            let f = match self.friction.get_mut(person_id) {
                Some(f) => f,
                None => self.friction.entry(person_id.to_owned()).or_default(),
            };
            if more {
                f.0 += 1;
            } else {
                f.1 += 1;
            }
        }
        if decided == candidate.status {
            return;
        }
        report.changed += 1;
        *report.transitions.entry(format!("{}→{}", decided.as_str(), candidate.status.as_str())).or_default() += 1;
        let [device, location, network] = &doc.verdicts;
        let pairs = [
            ("device", device, &candidate.device),
            ("location", location, &candidate.location),
            ("network", network, &candidate.network),
        ];
        let listed = report.changes.len() < LISTED_CHANGES;
        let mut contexts = Vec::new();
        let mut reasons: Vec<&'static str> = Vec::with_capacity(3);
        for (name, (was_status, was_reason), now) in pairs {
            if *was_reason != now.reason || *was_status != now.status {
                // A reason counts when the outcome's change rests on it: a context the candidate now refuses
                // (a step-up or a block) when the attempt is not approved, or one it now approves that it
                // refused when the attempt is; not one that merely moved beside them (a network now checked
                // and clean, beside a device no longer checked).
                let explains = match now.status {
                    Status::Approved => candidate.status == Status::Approved && *was_status != Status::Approved,
                    _ => candidate.status != Status::Approved,
                };
                if explains && !reasons.contains(&now.reason) {
                    reasons.push(now.reason);
                    *report.reasons.entry(now.reason.to_owned()).or_default() += 1;
                }
                if listed {
                    contexts.push(ContextChange {
                        context: name,
                        decided: was_reason.clone(),
                        candidate: now.reason,
                        detail: now.detail.to_string(),
                    });
                }
            }
        }
        if listed {
            report.changes.push(Change {
                attempt_id: record.id.clone(),
                person_id: person_id.to_owned(),
                created_at: ts(at),
                decided,
                candidate: candidate.status,
                ended_approved,
                contexts,
                summary: candidate.summary.into_owned(),
            });
        }
    }
}

fn finish(mut fold: Fold, started: Instant) -> Report {
    let mut people: Vec<PersonFriction> = fold
        .friction
        .into_iter()
        .filter(|(_, (more, less))| more > less)
        .map(|(person_id, (more_friction, less_friction))| PersonFriction { person_id, more_friction, less_friction })
        .collect();
    people.sort_by(|a, b| {
        (b.more_friction - b.less_friction)
            .cmp(&(a.more_friction - a.less_friction))
            .then(a.person_id.cmp(&b.person_id))
    });
    fold.report.people_with_more_friction = people.len() as u64;
    (fold.report.from, fold.report.to) =
        fold.span.map(|(first, last)| (Some(ts(first)), Some(ts(last)))).unwrap_or_default();
    people.truncate(LISTED_PEOPLE);
    fold.report.people = people;
    let elapsed = started.elapsed();
    fold.report.elapsed_ms = elapsed.as_millis() as u64;
    fold.report.attempts_per_second = (fold.report.attempts as f64 / elapsed.as_secs_f64().max(1e-6)) as u64;
    fold.report
}

#[cfg(test)]
mod tests {
    use super::{Change, PersonFriction, Report, Status, TenantTurn};

    #[test]
    fn people_erased_during_a_replay_are_not_named_in_its_answer() {
        let change = |person: &str| Change {
            attempt_id: format!("a-{person}"),
            person_id: person.into(),
            created_at: String::new(),
            decided: Status::Approved,
            candidate: Status::Pending,
            ended_approved: true,
            contexts: Vec::new(),
            summary: String::new(),
        };
        let friction = |person: &str| PersonFriction { person_id: person.into(), more_friction: 2, less_friction: 0 };
        let mut report = Report {
            changed: 3,
            changes: vec![change("ana"), change("bob"), change("ana")],
            people_with_more_friction: 5,
            people: vec![friction("bob"), friction("ana")],
            ..Report::default()
        };
        report.forget(&["bob".to_owned()]);
        let named: Vec<&str> = report.changes.iter().map(|c| c.person_id.as_str()).collect();
        assert_eq!(named, ["ana", "ana"]);
        assert_eq!(report.people.iter().map(|p| p.person_id.as_str()).collect::<Vec<_>>(), ["ana"]);
        assert_eq!((report.changed, report.people_with_more_friction), (3, 4), "counted, not named");
    }

    #[test]
    fn a_tenant_has_one_replay_at_a_time_and_gets_its_turn_back() {
        let first = TenantTurn::take("tenant-a").expect("a first turn");
        assert!(TenantTurn::take("tenant-a").is_none(), "a second replay of the same tenant is refused");
        let other = TenantTurn::take("tenant-b");
        assert!(other.is_some(), "another tenant is not refused for it");
        drop(first);
        assert!(TenantTurn::take("tenant-a").is_some(), "the turn comes back when the replay ends");
    }
}
