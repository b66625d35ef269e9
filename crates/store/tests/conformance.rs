//! The behaviour every storage engine must have. Each case takes a fresh `&dyn Store`; the macro at
//! the bottom runs them all against SQLite (a PostgreSQL engine adds one line there).

use smartauth_domain::Policy;
use smartauth_store::*;

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        id: id.into(),
        name: "acme".into(),
        secret_enc: "v1:sealed".into(),
        disabled: false,
        validate_cpf: false,
        sdk_token_max_lifetime_secs: 900,
        previous_secret: None,
        require_sdk_token_policy: false,
        settings: ClientSettings::default(),
        created_at: 1,
    }
}

fn identity(client: &str, person: &str, id: &str) -> IdentityRecord {
    IdentityRecord {
        id: id.into(),
        client_id: client.into(),
        person_id: person.into(),
        name: "John".into(),
        email: Some("john@example.com".into()),
        phone: None,
        face_image_enc: Some(vec![1, 2, 3]),
        face_template_enc: Some(vec![4, 5, 6]),
        created_at: 10,
        updated_at: 10,
    }
}

fn attempt(client: &str, person: &str, id: &str, at: Millis, status: &str) -> AttemptRecord {
    AttemptRecord {
        id: id.into(),
        client_id: client.into(),
        person_id: Some(person.into()),
        policy_id: "pix".into(),
        status: status.into(),
        created_at: at,
        version: 1,
        document: format!(r#"{{"name":"John","n":{at}}}"#),
        expires_at: (status == "pending").then_some(at + 900_000),
        judged: None,
    }
}

fn learned(client: &str, person: &str, fp: &str, at: Millis, place: (f64, f64)) -> Learned {
    Learned {
        client_id: client.into(),
        person_id: person.into(),
        fingerprint: Some(fp.into()),
        fingerprint_vouched: true,
        location: Some(place),
        location_accuracy: Some(12.0),
        device_key: None,
        device_key_vouched: true,
        at,
        known_at: at,
    }
}

async fn with_clients(store: &dyn Store) {
    for id in ["c1", "c2"] {
        store.insert_client(&client(id)).await.unwrap();
    }
}

/// Clients and the people the attempt cases use: attempts are stored only for enrolled people.
async fn with_people(store: &dyn Store) {
    with_clients(store).await;
    for (n, (c, p)) in [("c1", "p1"), ("c1", "p2"), ("c1", "p3"), ("c2", "p1"), ("c2", "p9")].into_iter().enumerate() {
        store.insert_identity(&identity(c, p, &format!("id{n}"))).await.unwrap();
    }
}

pub async fn clients_are_kept_and_unique(store: &dyn Store) {
    with_clients(store).await;
    assert!(matches!(store.insert_client(&client("c1")).await, Err(StoreError::Conflict)));
    assert_eq!(store.client("c1").await.unwrap(), Some(client("c1")));
    assert_eq!(store.client("zz").await.unwrap(), None);
    assert!(store.set_client_disabled("c1", true).await.unwrap());
    assert!(store.client("c1").await.unwrap().unwrap().disabled);
    assert!(!store.set_client_disabled("zz", true).await.unwrap());
    assert!(store.rotate_client_secret("c2", "v1:new", None).await.unwrap());
    assert_eq!(store.client("c2").await.unwrap().unwrap().secret_enc, "v1:new");
    assert_eq!(store.client("c2").await.unwrap().unwrap().previous_secret, None);
    assert!(!store.rotate_client_secret("zz", "v1:new", None).await.unwrap());
    assert!(store.set_client_require_sdk_token_policy("c2", true).await.unwrap());
    assert!(store.client("c2").await.unwrap().unwrap().require_sdk_token_policy);
    assert!(!store.set_client_require_sdk_token_policy("zz", true).await.unwrap());
    assert!(store.set_client_sdk_token_lifetime("c2", 3600).await.unwrap());
    assert_eq!(store.client("c2").await.unwrap().unwrap().sdk_token_max_lifetime_secs, 3600);
    assert!(!store.set_client_sdk_token_lifetime("zz", 3600).await.unwrap());
    assert_eq!(store.clients().await.unwrap().len(), 2);
}

/// A rotation with a grace period keeps the replaced secret (still sealed) until the given time; one
/// without forgets it, and any secret an earlier rotation kept, at once.
pub async fn a_rotated_secret_overlaps_for_its_grace_period(store: &dyn Store) {
    with_clients(store).await;
    assert!(store.rotate_client_secret("c1", "v1:second", Some(5_000)).await.unwrap());
    let c1 = store.client("c1").await.unwrap().unwrap();
    assert_eq!(c1.secret_enc, "v1:second");
    assert_eq!(c1.previous_secret, Some(PreviousSecret { secret_enc: "v1:sealed".into(), expires_at: 5_000 }));
    assert!(store.rotate_client_secret("c1", "v1:third", Some(9_000)).await.unwrap());
    let c1 = store.client("c1").await.unwrap().unwrap();
    assert_eq!(c1.previous_secret, Some(PreviousSecret { secret_enc: "v1:second".into(), expires_at: 9_000 }));
    assert!(store.rotate_client_secret("c1", "v1:fourth", None).await.unwrap());
    let c1 = store.client("c1").await.unwrap().unwrap();
    assert_eq!((c1.secret_enc.as_str(), c1.previous_secret), ("v1:fourth", None), "an emergency rotation");
    assert_eq!(store.client("c2").await.unwrap(), Some(client("c2")), "the other client is untouched");
}

pub async fn identities_belong_to_their_client(store: &dyn Store) {
    with_clients(store).await;
    store.insert_identity(&identity("c1", "p1", "i1")).await.unwrap();
    assert!(matches!(store.insert_identity(&identity("c1", "p1", "i2")).await, Err(StoreError::Conflict)));
    store.insert_identity(&identity("c2", "p1", "i3")).await.unwrap();
    assert_eq!(store.identity("c1", "p1").await.unwrap().unwrap().id, "i1");
    assert_eq!(store.identity("c2", "p1").await.unwrap().unwrap().id, "i3");
    let change = |c: IdentityChange| async move {
        store.change_identity_with("c1", "p1", &IdentityChange { updated_at: 20, ..c }, Effects::NONE).await.unwrap()
    };
    let changed = change(IdentityChange { name: Some("Jane".into()), face: Some(None), ..Default::default() }).await;
    let read = store.identity("c1", "p1").await.unwrap().unwrap();
    assert_eq!(changed.as_ref(), Some(&read), "the identity as changed");
    assert_eq!((read.name.as_str(), read.face_image_enc, read.face_template_enc), ("Jane", None, None));
    assert_eq!((read.email.as_deref(), read.updated_at), (Some("john@example.com"), 20), "the email as it was");
    // Two changes to different fields, each made from what it read before the other: both stay.
    change(IdentityChange { phone: Some(Some("+5521982895497".into())), ..Default::default() }).await;
    change(IdentityChange { email: Some(None), ..Default::default() }).await;
    change(IdentityChange { face: Some(Some((vec![7], vec![8]))), ..Default::default() }).await;
    let read = store.identity("c1", "p1").await.unwrap().unwrap();
    assert_eq!((read.name.as_str(), read.email, read.phone.as_deref()), ("Jane", None, Some("+5521982895497")));
    assert_eq!((read.face_image_enc, read.face_template_enc), (Some(vec![7]), Some(vec![8])));
    assert_eq!(store.identity("c2", "p1").await.unwrap().unwrap().name, "John", "another tenant's person is theirs");
    let nobody = IdentityChange { name: Some("X".into()), ..Default::default() };
    assert!(store.change_identity_with("c1", "nobody", &nobody, Effects::NONE).await.unwrap().is_none());
    // A change made for the identity read before (its face enrolled meanwhile) does not reach another one
    // made since under the same person id; made for this one, it does.
    let for_another = IdentityChange { name: Some("X".into()), of: Some("i0".into()), ..Default::default() };
    assert!(store.change_identity_with("c1", "p1", &for_another, Effects::NONE).await.unwrap().is_none());
    assert_eq!(store.identity("c1", "p1").await.unwrap().unwrap().name, "Jane");
    let for_this = IdentityChange { name: Some("Joana".into()), of: Some("i1".into()), ..Default::default() };
    let changed = store.change_identity_with("c1", "p1", &for_this, Effects::NONE).await.unwrap();
    assert_eq!(changed.map(|c| c.name).as_deref(), Some("Joana"));
}

pub async fn a_policy_keeps_its_id_and_creation_time_when_replaced(store: &dyn Store) {
    with_clients(store).await;
    let policy = |name: &str| Policy::parse("pix", serde_json::json!({"name": name})).unwrap();
    let first =
        PolicyRecord { id: "pol1".into(), client_id: "c1".into(), policy: policy("A"), created_at: 1, updated_at: 1 };
    store.put_policy(&first).await.unwrap();
    let second =
        PolicyRecord { id: "pol2".into(), client_id: "c1".into(), policy: policy("B"), created_at: 5, updated_at: 5 };
    let stored = store.put_policy(&second).await.unwrap();
    assert_eq!((stored.id.as_str(), stored.created_at, stored.updated_at), ("pol1", 1, 5));
    assert_eq!(stored.policy.name, "B");
    assert!(store.policy("c2", "pix").await.unwrap().is_none());
    assert_eq!(store.policies("c1").await.unwrap().len(), 1);
    assert!(store.delete_policy("c1", "pix").await.unwrap());
    assert!(!store.delete_policy("c1", "pix").await.unwrap());
}

pub async fn an_attempt_update_loses_to_a_concurrent_one(store: &dyn Store) {
    with_people(store).await;
    let a = attempt("c1", "p1", "a1", 100, "pending");
    store.insert_attempt(&a, None, None).await.unwrap();
    let mut mine = a.clone();
    mine.version = 2;
    mine.status = "approved".into();
    let mut theirs = a.clone();
    theirs.version = 2;
    theirs.status = "reproved".into();
    assert!(store.update_attempt(&mine, None).await.unwrap());
    assert!(!store.update_attempt(&theirs, None).await.unwrap(), "a stale version must not overwrite");
    let read = store.attempt("c1", "a1").await.unwrap().unwrap();
    assert_eq!((read.status.as_str(), read.version), ("approved", 2));
    assert!(store.attempt("c2", "a1").await.unwrap().is_none(), "attempts belong to their client");
}

pub async fn attempts_are_listed_newest_first_in_pages(store: &dyn Store) {
    with_people(store).await;
    for i in 0..5 {
        let status = if i % 2 == 0 { "pending" } else { "approved" };
        store.insert_attempt(&attempt("c1", "p1", &format!("a{i}"), 100 + i, status), None, None).await.unwrap();
    }
    store.insert_attempt(&attempt("c1", "p2", "b0", 100, "pending"), None, None).await.unwrap();
    store.insert_attempt(&attempt("c2", "p1", "x0", 100, "pending"), None, None).await.unwrap();
    let page = |after, limit| AttemptFilter { person_id: Some("p1".into()), after, limit, ..Default::default() };
    let first = store.attempts("c1", &page(None, 3)).await.unwrap();
    let ids: Vec<_> = first.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a4", "a3", "a2"]);
    let last = first.last().unwrap();
    let rest = store.attempts("c1", &page(Some((last.created_at, last.id.clone())), 3)).await.unwrap();
    assert_eq!(rest.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a1", "a0"]);
    let approved = AttemptFilter { status: Some("approved".into()), limit: 10, ..Default::default() };
    assert_eq!(store.attempts("c1", &approved).await.unwrap().len(), 2);
    let window = AttemptFilter { from: Some(101), to: Some(103), limit: 10, ..Default::default() };
    assert_eq!(store.attempts("c1", &window).await.unwrap().len(), 2);
    assert_eq!(store.attempts("c2", &AttemptFilter { limit: 10, ..Default::default() }).await.unwrap().len(), 1);
}

pub async fn a_cursor_never_reaches_past_to(store: &dyn Store) {
    // A cursor is the client's to send: one made up past `to`, or a `to` narrowed between pages, must
    // still honour `to`.
    with_people(store).await;
    for i in 0..6 {
        store.insert_attempt(&attempt("c1", "p1", &format!("a{i}"), 100 + i, "pending"), None, None).await.unwrap();
    }
    let ids = |page: Vec<AttemptRecord>| page.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let made_up = AttemptFilter { to: Some(103), after: Some((105, "zz".into())), limit: 10, ..Default::default() };
    assert_eq!(ids(store.attempts("c1", &made_up).await.unwrap()), ["a2", "a1", "a0"]);
    let inside = AttemptFilter { to: Some(103), after: Some((102, "a2".into())), limit: 10, ..Default::default() };
    assert_eq!(ids(store.attempts("c1", &inside).await.unwrap()), ["a1", "a0"]);
}

pub async fn history_reflects_what_approvals_taught(store: &dyn Store) {
    with_people(store).await;
    let query = |person: &'static str, fp: Option<&'static str>, from: Millis| HistoryQuery {
        client_id: "c1",
        person_id: person,
        fingerprint: fp,
        device_key: None,
        window_start: from,
        attempt_limit: 100,
    };
    let empty = store.history(&query("p1", Some("phone"), 0)).await.unwrap();
    assert!(empty.known_devices.is_empty() && empty.known_locations.is_empty());
    assert!(empty.last_approved_location.is_none());

    store
        .insert_attempt(
            &attempt("c1", "p1", "a1", 1_000, "approved"),
            Some(&learned("c1", "p1", "phone", 1_000, (-23.56, -46.63))),
            None,
        )
        .await
        .unwrap();
    let mut later = attempt("c1", "p1", "a2", 2_000, "pending");
    store.insert_attempt(&later, None, None).await.unwrap();
    later.version = 2;
    later.status = "approved".into();
    store.update_attempt(&later, Some(&learned("c1", "p1", "phone", 2_000, (-22.90, -43.17)))).await.unwrap();
    store
        .insert_attempt(
            &attempt("c1", "p2", "b1", 3_000, "approved"),
            Some(&learned("c1", "p2", "phone", 3_000, (0.0, 0.0))),
            None,
        )
        .await
        .unwrap();
    store
        .insert_attempt(
            &attempt("c2", "p9", "x1", 3_000, "approved"),
            Some(&learned("c2", "p9", "phone", 3_000, (0.0, 0.0))),
            None,
        )
        .await
        .unwrap();

    let h = store.history(&query("p1", Some("phone"), 1_500)).await.unwrap();
    assert_eq!(h.known_devices, vec!["phone"], "one device, learnt twice");
    assert_eq!(h.known_locations.len(), 2);
    let (at, place) = h.last_approved_location.unwrap();
    assert_eq!(at.timestamp_millis(), 2_000);
    assert_eq!((place.latitude(), place.longitude()), (-22.90, -43.17), "the newest approved place");
    assert_eq!(h.last_approved_accuracy_m, Some(12.0), "with the accuracy of its fix");
    assert_eq!(h.other_identities_on_device, 1, "p2 uses the phone too; c2's person does not count");
    assert_eq!(h.attempts_in_window, 1, "only a2 is inside the window");
    let unknown_device = store.history(&query("p1", None, 0)).await.unwrap();
    assert_eq!(unknown_device.other_identities_on_device, 0);
    assert_eq!(unknown_device.attempts_in_window, 2);
    let capped = HistoryQuery { attempt_limit: 1, ..query("p1", None, 0) };
    assert_eq!(store.history(&capped).await.unwrap().attempts_in_window, 1, "counting stops at the limit");
}

/// A fingerprint approved under a policy that did not look at devices is counted among the device's people
/// but not known to the person, until an approval vouches for it; then it stays known. The replay's past
/// reads both times.
pub async fn a_device_not_vouched_for_is_counted_but_not_known(store: &dyn Store) {
    with_people(store).await;
    let query = |person: &'static str| HistoryQuery {
        client_id: "c1",
        person_id: person,
        fingerprint: Some("tablet"),
        device_key: None,
        window_start: 0,
        attempt_limit: 100,
    };
    let approve = |id: &'static str, at: Millis, vouched: bool| {
        let learned = Learned {
            fingerprint_vouched: vouched,
            device_key: Some("key-1".into()),
            device_key_vouched: vouched,
            ..learned("c1", "p1", "tablet", at, (1.0, 1.0))
        };
        async move { store.insert_attempt(&attempt("c1", "p1", id, at, "approved"), Some(&learned), None).await }
    };
    let by_key = |person: &'static str| HistoryQuery { device_key: Some("key-1"), ..query(person) };
    approve("a1", 1_000, false).await.unwrap();
    let h = store.history(&query("p1")).await.unwrap();
    assert!(h.known_devices.is_empty() && h.known_device_keys.is_empty(), "seen, not known");
    assert_eq!(store.history(&query("p2")).await.unwrap().other_identities_on_device, 1, "p1 counts on it");
    assert_eq!(store.history(&by_key("p2")).await.unwrap().other_identities_on_device, 1, "on its key too");
    approve("a2", 2_000, true).await.unwrap();
    approve("a3", 3_000, false).await.unwrap();
    let h = store.history(&query("p1")).await.unwrap();
    assert_eq!(h.known_devices, vec!["tablet"], "known once vouched for");
    assert_eq!(h.known_device_keys.len(), 1, "{:?}", h.known_device_keys);
    let span = ReplaySpan { from: 0, until: 10_000, replayed_after: (10_000, "~".into()) };
    let pasts = store.replay_pasts("c1", &["p1".to_owned()], "pix", span).await.unwrap();
    let devices = &pasts["p1"].past.devices;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!((devices[0].first_seen, devices[0].known_since), (1_000, Some(2_000)), "{devices:?}");
    let keys = &pasts["p1"].past.keys;
    // The key with no fingerprint (first approvals) and with the vouched one.
    let seen: Vec<_> = keys.iter().map(|k| (k.key.fingerprint.as_deref(), k.first_seen, k.known_since)).collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.contains(&(None, 1_000, None)) && seen.contains(&(Some("tablet"), 2_000, Some(2_000))), "{seen:?}");
}

/// A replayed person's past attempts carry where each approval placed them (from its judged fields), none
/// for an approval that did not vouch for its place, and the decision time of an approval after a step-up.
pub async fn a_replayed_past_places_each_approval(store: &dyn Store) {
    with_people(store).await;
    let judged = |place: bool, decided: Millis| {
        Some(format!(
            r#"{{"location":{{"coordinates":{{"latitude":-23.5,"longitude":-46.6}},"accuracy":12.0}},"valid":true,"decidedAt":{decided},"vouched":[true,{place},true]}}"#
        ))
    };
    let vouched = AttemptRecord { judged: judged(true, 1_000), ..attempt("c1", "p1", "a1", 1_000, "approved") };
    store.insert_attempt(&vouched, None, None).await.unwrap();
    let blind = AttemptRecord { judged: judged(false, 2_000), ..attempt("c1", "p1", "a2", 2_000, "approved") };
    store.insert_attempt(&blind, None, None).await.unwrap();
    let mut stepped_up = AttemptRecord { judged: judged(true, 3_000), ..attempt("c1", "p1", "a3", 3_000, "pending") };
    store.insert_attempt(&stepped_up, None, None).await.unwrap();
    (stepped_up.version, stepped_up.status, stepped_up.judged) = (2, "approved".into(), judged(true, 9_000));
    assert!(store.update_attempt(&stepped_up, None).await.unwrap());
    let span = ReplaySpan { from: 0, until: 10_000, replayed_after: (10_000, "~".into()) };
    let pasts = store.replay_pasts("c1", &["p1".to_owned()], "pix", span).await.unwrap();
    let seen: Vec<_> = pasts["p1"]
        .past
        .attempts
        .iter()
        .map(|a| (a.at, a.approved_at.map(|(c, acc)| (c.latitude(), c.longitude(), acc)), a.approved_when))
        .collect();
    let rio = Some((-23.5, -46.6, Some(12.0)));
    assert_eq!(seen, [(1_000, rio, 1_000), (2_000, None, 2_000), (3_000, rio, 9_000)]);
}

/// A replay reads the means on file now only for the people it asks about, in their tenant; a person erased
/// has none, and every person asked for has a past (an empty one when erased).
pub async fn a_replay_reads_the_means_on_file_of_the_people_it_names(store: &dyn Store) {
    with_people(store).await;
    let face_only = IdentityRecord { email: None, ..identity("c1", "p4", "id8") };
    let phone_only = IdentityRecord {
        email: None,
        phone: Some("+5521982895497".into()),
        face_image_enc: None,
        face_template_enc: None,
        ..identity("c1", "p5", "id9")
    };
    store.insert_identity(&face_only).await.unwrap();
    store.insert_identity(&phone_only).await.unwrap();
    assert!(store.erase_identity("c1", "p3", &|_| {}).await.unwrap());
    let asked: Vec<String> = ["p1", "p3", "p4", "p5", "p9"].map(String::from).into();
    let means = store.replay_means("c1", &asked).await.unwrap();
    assert_eq!(means.len(), 3, "p3 is erased, p9 is another tenant's: {means:?}");
    assert_eq!(means["p1"], Means { face: true, email: true, phone: false });
    assert_eq!(means["p4"], Means { face: true, email: false, phone: false });
    assert_eq!(means["p5"], Means { face: false, email: false, phone: true });
    let span = ReplaySpan { from: 0, until: 10_000, replayed_after: (10_000, "~".into()) };
    let pasts = store.replay_pasts("c1", &asked, "pix", span).await.unwrap();
    assert_eq!(pasts.len(), 5);
    assert!(pasts.values().all(|p| p.means.is_none() && p.past.attempts.is_empty()));
}

pub async fn decision_inputs_are_the_identity_and_its_history(store: &dyn Store) {
    with_clients(store).await;
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p1",
        fingerprint: Some("phone"),
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    assert!(store.decision_inputs(&q).await.unwrap().is_none(), "no identity, nothing to decide on");
    store.insert_identity(&identity("c1", "p1", "i1")).await.unwrap();
    store.insert_identity(&identity("c2", "p1", "i2")).await.unwrap();
    let approved = learned("c1", "p1", "phone", 1_000, (1.0, 1.0));
    store.insert_attempt(&attempt("c1", "p1", "a1", 1_000, "approved"), Some(&approved), None).await.unwrap();
    let (found, history) = store.decision_inputs(&q).await.unwrap().unwrap();
    assert_eq!(found.id, "i1");
    // Whether a face is enrolled, without the image or the template.
    assert_eq!((found.face_image_enc, found.face_template_enc), (None, Some(vec![])));
    let mut faceless = identity("c1", "p2", "i3");
    faceless.face_template_enc = None;
    store.insert_identity(&faceless).await.unwrap();
    let (found, _) = store.decision_inputs(&HistoryQuery { person_id: "p2", ..q }).await.unwrap().unwrap();
    assert_eq!(found.face_template_enc, None);
    assert_eq!(history.known_devices, vec!["phone"]);
    assert_eq!(history.attempts_in_window, 1);
    assert_eq!(history.known_locations.len(), 1);
}

pub async fn erasure_removes_the_person_and_anonymizes_attempts(store: &dyn Store) {
    with_clients(store).await;
    store.insert_identity(&identity("c1", "p1", "i1")).await.unwrap();
    store.insert_identity(&identity("c2", "p1", "i2")).await.unwrap();
    store
        .insert_attempt(
            &attempt("c1", "p1", "a1", 1_000, "approved"),
            Some(&learned("c1", "p1", "phone", 1_000, (1.0, 1.0))),
            None,
        )
        .await
        .unwrap();
    let scrub = |doc: &mut serde_json::Value| doc["name"] = serde_json::Value::Null;
    assert_eq!(store.attempt_ids_of("c1", "p1").await.unwrap(), vec!["a1".to_owned()]);
    assert!(store.attempt_ids_of("c2", "p1").await.unwrap().is_empty(), "another client's attempts are not listed");
    let detached = store.erase_identity_with("c1", "p1", &scrub, Effects::NONE).await.unwrap();
    let detached = detached.unwrap();
    assert_eq!(detached.attempt_ids, ["a1"], "the attempts it detached");
    assert!(detached.waiting.is_empty(), "a1 was approved");
    assert!(store.attempt_ids_of("c1", "p1").await.unwrap().is_empty());
    assert!(!store.erase_identity("c1", "p1", &scrub).await.unwrap());
    assert!(store.identity("c1", "p1").await.unwrap().is_none());
    assert!(store.identity("c2", "p1").await.unwrap().is_some(), "another client's person is untouched");
    let a = store.attempt("c1", "a1").await.unwrap().unwrap();
    assert_eq!(a.person_id, None);
    assert!(!a.document.contains("John"), "{}", a.document);
    let h = store
        .history(&HistoryQuery {
            client_id: "c1",
            person_id: "p1",
            fingerprint: Some("phone"),
            device_key: None,
            window_start: 0,
            attempt_limit: 10,
        })
        .await
        .unwrap();
    assert!(h.known_devices.is_empty() && h.known_locations.is_empty() && h.attempts_in_window == 0);
}

pub async fn a_failed_attempt_write_leaves_nothing_behind(store: &dyn Store) {
    with_people(store).await;
    store.insert_attempt(&attempt("c1", "p1", "a1", 1_000, "approved"), None, None).await.unwrap();
    let duplicate = attempt("c1", "p1", "a1", 2_000, "approved");
    assert!(store
        .insert_attempt(&duplicate, Some(&learned("c1", "p1", "phone", 2_000, (1.0, 1.0))), None)
        .await
        .is_err());
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p1",
        fingerprint: None,
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    let h = store.history(&q).await.unwrap();
    assert!(h.known_devices.is_empty(), "the refused attempt taught nothing");
    assert_eq!(h.attempts_in_window, 1);
    assert_eq!(store.attempt("c1", "a1").await.unwrap().unwrap().created_at, 1_000, "the stored attempt is untouched");
    // The engine is usable afterwards: no transaction was left open.
    store
        .insert_attempt(
            &attempt("c1", "p1", "a2", 3_000, "approved"),
            Some(&learned("c1", "p1", "phone", 3_000, (1.0, 1.0))),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.history(&q).await.unwrap().known_devices, vec!["phone"]);
    store.insert_client(&client("c3")).await.unwrap();
}

pub async fn the_window_limit_is_checked_when_the_attempt_is_stored(store: &dyn Store) {
    with_people(store).await;
    let limit = WindowLimit { window_start: 1_000, limit: 2 };
    assert!(store.insert_attempt(&attempt("c1", "p1", "old", 500, "pending"), None, Some(&limit)).await.unwrap());
    assert!(store.insert_attempt(&attempt("c1", "p1", "a1", 1_000, "pending"), None, Some(&limit)).await.unwrap());
    assert!(store.insert_attempt(&attempt("c1", "p2", "b1", 1_000, "pending"), None, Some(&limit)).await.unwrap());
    let approved = learned("c1", "p1", "phone", 1_100, (1.0, 1.0));
    assert!(store
        .insert_attempt(&attempt("c1", "p1", "a2", 1_100, "approved"), Some(&approved), Some(&limit))
        .await
        .unwrap());
    let refused = store
        .insert_attempt(
            &attempt("c1", "p1", "a3", 1_200, "approved"),
            Some(&learned("c1", "p1", "tablet", 1_200, (2.0, 2.0))),
            Some(&limit),
        )
        .await
        .unwrap();
    assert!(!refused, "a third attempt in the window is not stored");
    assert!(store.attempt("c1", "a3").await.unwrap().is_none());
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p1",
        fingerprint: None,
        device_key: None,
        window_start: 1_000,
        attempt_limit: 10,
    };
    let h = store.history(&q).await.unwrap();
    assert_eq!(h.known_devices, vec!["phone"], "the refused attempt taught nothing");
    assert_eq!(h.attempts_in_window, 2);
    assert!(
        store.insert_attempt(&attempt("c1", "p1", "a4", 1_300, "reproved"), None, None).await.unwrap(),
        "unguarded writes are always stored"
    );
}

pub async fn one_bad_attempt_among_simultaneous_ones_fails_alone(store: &dyn Store) {
    with_people(store).await;
    store.insert_attempt(&attempt("c1", "p1", "taken", 1_000, "pending"), None, None).await.unwrap();
    let limit = WindowLimit { window_start: 0, limit: 2 };
    let (b1, taken, b2, b3) = (
        attempt("c1", "p2", "b1", 1_000, "approved"),
        attempt("c1", "p3", "taken", 1_000, "pending"),
        attempt("c1", "p2", "b2", 1_001, "pending"),
        attempt("c1", "p2", "b3", 1_002, "pending"),
    );
    let phone = learned("c1", "p2", "phone", 1_000, (1.0, 1.0));
    let (first, duplicate, second, third) = tokio::join!(
        store.insert_attempt(&b1, Some(&phone), Some(&limit)),
        store.insert_attempt(&taken, None, None),
        store.insert_attempt(&b2, None, Some(&limit)),
        store.insert_attempt(&b3, None, Some(&limit)),
    );
    assert!(duplicate.is_err(), "an id that exists is refused");
    assert!(first.unwrap() && second.unwrap(), "the others are stored");
    assert!(!third.unwrap(), "the limit holds among simultaneous writes");
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p2",
        fingerprint: None,
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    let h = store.history(&q).await.unwrap();
    assert_eq!((h.attempts_in_window, h.known_devices.len()), (2, 1));
}

pub async fn simultaneous_attempts_are_written_together_each_with_its_own_guard(store: &dyn Store) {
    with_people(store).await;
    let limit = WindowLimit { window_start: 0, limit: 2 };
    let jobs = [
        attempt("c1", "p1", "a1", 1_000, "approved"),
        attempt("c1", "p1", "a2", 1_001, "approved"),
        attempt("c1", "p1", "a3", 1_002, "approved"),
        attempt("c1", "p2", "b1", 1_003, "approved"),
    ];
    let taught = [
        learned("c1", "p1", "phone", 1_000, (1.0, 1.0)),
        learned("c1", "p1", "laptop", 1_001, (1.0, 1.0)),
        learned("c1", "p1", "tablet", 1_002, (2.0, 2.0)),
        learned("c1", "p2", "watch", 1_003, (3.0, 3.0)),
    ];
    let (r1, r2, r3, r4) = tokio::join!(
        store.insert_attempt(&jobs[0], Some(&taught[0]), Some(&limit)),
        store.insert_attempt(&jobs[1], Some(&taught[1]), Some(&limit)),
        store.insert_attempt(&jobs[2], Some(&taught[2]), Some(&limit)),
        store.insert_attempt(&jobs[3], Some(&taught[3]), Some(&limit)),
    );
    assert_eq!([r1.unwrap(), r2.unwrap(), r3.unwrap(), r4.unwrap()], [true, true, false, true]);
    let q = |person| HistoryQuery {
        client_id: "c1",
        person_id: person,
        fingerprint: None,
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    let p1 = store.history(&q("p1")).await.unwrap();
    assert_eq!(p1.known_devices, vec!["phone", "laptop"], "the refused third attempt taught nothing");
    assert_eq!(p1.known_locations.len(), 1);
    assert_eq!(store.history(&q("p2")).await.unwrap().known_devices, vec!["watch"]);
}

pub async fn an_attempt_for_a_person_no_longer_enrolled_is_not_stored(store: &dyn Store) {
    with_people(store).await;
    // An erasure can happen between the decision and the write: nothing may bring the person back.
    let orphan = attempt("c1", "p9", "o1", 1_000, "approved");
    let taught = learned("c1", "p9", "phone", 1_000, (1.0, 1.0));
    assert!(!store.insert_attempt(&orphan, Some(&taught), None).await.unwrap());
    assert!(store.attempt("c1", "o1").await.unwrap().is_none());
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p9",
        fingerprint: Some("phone"),
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    assert!(store.history(&q).await.unwrap().known_devices.is_empty());
}

pub async fn an_older_sighting_never_replaces_a_newer_one(store: &dyn Store) {
    with_people(store).await;
    let newer = learned("c1", "p1", "phone", 2_000, (1.0, 1.0));
    let older = learned("c1", "p1", "phone", 1_000, (1.0004, 1.0004));
    store.insert_attempt(&attempt("c1", "p1", "a2", 2_000, "approved"), Some(&newer), None).await.unwrap();
    store.insert_attempt(&attempt("c1", "p1", "a1", 1_000, "approved"), Some(&older), None).await.unwrap();
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p1",
        fingerprint: None,
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    let (at, place) = store.history(&q).await.unwrap().last_approved_location.unwrap();
    assert_eq!((at.timestamp_millis(), place.latitude()), (2_000, 1.0));
}

pub async fn parallel_tries_never_pass_the_lock_and_a_success_resets_it(store: &dyn Store) {
    use smartauth_domain::lockout::{Factor, LockoutRules, TryVerdict};
    with_people(store).await;
    let rules = LockoutRules::new(20, 20, 0).unwrap();
    // 50 tries at once: exactly 20 are counted, the rest find the methods locked.
    let tries = (0..50).map(|_| store.claim_try("c1", "p1", Factor::Code, 1_000, &rules));
    let verdicts = futures::future::join_all(tries).await;
    let allowed = verdicts.iter().filter(|v| matches!(v, Ok(TryVerdict::Allowed))).count();
    let locked = verdicts.iter().filter(|v| matches!(v, Ok(TryVerdict::Locked))).count();
    assert_eq!((allowed, locked), (20, 30));
    let guards = store.guards("c1", "p1").await.unwrap().unwrap();
    assert_eq!((guards.code.consecutive_failures, guards.code.locked_at), (20, Some(1_000)));
    // A lock of the code locks the face too.
    assert_eq!(store.claim_try("c1", "p1", Factor::Face, 1_001, &rules).await.unwrap(), TryVerdict::Locked);
    assert!(store.guards("c1", "p2").await.unwrap().is_none(), "another person is untouched");
    assert!(store.guards("c2", "p1").await.unwrap().is_none(), "the same person id of another tenant is untouched");
    assert!(!store.clear_failures("c1", "p1", Some(Factor::Face)).await.unwrap(), "a face success ends no code lock");
    assert_eq!(store.claim_try("c1", "p1", Factor::Face, 1_002, &rules).await.unwrap(), TryVerdict::Locked);
    assert!(store.clear_failures("c1", "p1", None).await.unwrap());
    assert!(store.guards("c1", "p1").await.unwrap().is_none());
    assert_eq!(store.claim_try("c1", "p1", Factor::Code, 2_000, &rules).await.unwrap(), TryVerdict::Allowed);
    // A success of one factor forgets that factor's failures, not the other's.
    store.claim_try("c1", "p1", Factor::Face, 2_001, &rules).await.unwrap();
    assert!(store.clear_failures("c1", "p1", Some(Factor::Face)).await.unwrap());
    let guards = store.guards("c1", "p1").await.unwrap().unwrap();
    assert_eq!((guards.code.consecutive_failures, guards.face.consecutive_failures), (1, 0));
    // The try that reaches the lock turns out right: the person is not left locked.
    assert!(store.clear_failures("c1", "p1", None).await.unwrap());
    for n in 0..20 {
        store.claim_try("c1", "p1", Factor::Code, 3_000 + n, &rules).await.unwrap();
    }
    assert!(store.guards("c1", "p1").await.unwrap().unwrap().code.locked_at.is_some());
    assert!(store.clear_failures("c1", "p1", Some(Factor::Code)).await.unwrap());
    assert_eq!(store.claim_try("c1", "p1", Factor::Code, 4_000, &rules).await.unwrap(), TryVerdict::Allowed);
}

pub async fn sends_are_capped_per_person_and_per_destination(store: &dyn Store) {
    with_people(store).await;
    let caps = SendCaps { per_hour: 3, per_day: 5 };
    let send = |id: &str, person: &str, to: &str, at: Millis| CodeSend {
        id: id.into(),
        client_id: "c1".into(),
        person_id: person.into(),
        destination: to.into(),
        at,
    };
    const H: Millis = 3_600_000;
    for (i, at) in [0, 10, 20].into_iter().enumerate() {
        let s = send(&format!("s{i}"), "p1", "phone-a", at);
        assert_eq!(store.count_send(&s, &caps).await.unwrap(), SendVerdict::Allowed);
    }
    // The fourth in the hour waits until the first is an hour old.
    let fourth = send("s3", "p1", "phone-b", 30);
    assert_eq!(store.count_send(&fourth, &caps).await.unwrap(), SendVerdict::CapReached { retry_at: H });
    // A retried request that was counted is not counted twice.
    assert_eq!(store.count_send(&send("s2", "p1", "phone-a", 40), &caps).await.unwrap(), SendVerdict::Allowed);
    // Another person sending to the same phone meets the destination's cap.
    let other = send("o1", "p2", "phone-a", 50);
    assert_eq!(store.count_send(&other, &caps).await.unwrap(), SendVerdict::CapReached { retry_at: H });
    assert_eq!(store.count_send(&send("o2", "p2", "phone-c", 50), &caps).await.unwrap(), SendVerdict::Allowed);
    // The day's cap: two more an hour later, then the sixth waits for the first to be a day old.
    for (i, at) in [H + 100, H + 101].into_iter().enumerate() {
        let s = send(&format!("d{i}"), "p1", "phone-a", at);
        assert_eq!(store.count_send(&s, &caps).await.unwrap(), SendVerdict::Allowed);
    }
    let sixth = send("d2", "p1", "phone-z", 2 * H);
    assert_eq!(store.count_send(&sixth, &caps).await.unwrap(), SendVerdict::CapReached { retry_at: 24 * H });
}

pub async fn erasure_forgets_failures_but_not_the_destination_s_sends(store: &dyn Store) {
    use smartauth_domain::lockout::{Factor, LockoutRules};
    with_people(store).await;
    store.claim_try("c1", "p1", Factor::Face, 1_000, &LockoutRules::default()).await.unwrap();
    let caps = SendCaps { per_hour: 1, per_day: 1 };
    let send =
        CodeSend { id: "s1".into(), client_id: "c1".into(), person_id: "p1".into(), destination: "d".into(), at: 1 };
    store.count_send(&send, &caps).await.unwrap();
    assert!(store.erase_identity("c1", "p1", &|_| {}).await.unwrap());
    assert!(store.guards("c1", "p1").await.unwrap().is_none());
    // Erasing and re-creating the person does not reopen the phone for the rest of its day...
    let again = CodeSend { id: "s2".into(), ..send.clone() };
    assert!(matches!(store.count_send(&again, &caps).await.unwrap(), SendVerdict::CapReached { .. }));
    // ...while the person is gone from the sends: another destination of theirs is within its caps.
    let elsewhere = CodeSend { id: "s3".into(), destination: "e".into(), ..send };
    assert_eq!(store.count_send(&elsewhere, &caps).await.unwrap(), SendVerdict::Allowed);
}

pub async fn device_keys_are_learnt_with_approvals_only_and_erased(store: &dyn Store) {
    with_people(store).await;
    let keyed =
        |fp: &str, key: &str, at| Learned { device_key: Some(key.into()), ..learned("c1", "p1", fp, at, (1.0, 1.0)) };
    let q = HistoryQuery {
        client_id: "c1",
        person_id: "p1",
        fingerprint: None,
        device_key: None,
        window_start: 0,
        attempt_limit: 10,
    };
    // Grouped insert (a passive approval), then an update (an approval after a step-up).
    let taught = keyed("phone", "k1", 1_000);
    store.insert_attempt(&attempt("c1", "p1", "a1", 1_000, "approved"), Some(&taught), None).await.unwrap();
    let mut second = attempt("c1", "p1", "a2", 2_000, "pending");
    store.insert_attempt(&second, None, None).await.unwrap();
    second.version += 1;
    second.status = "approved".into();
    assert!(store.update_attempt(&second, Some(&keyed("laptop", "k2", 2_000))).await.unwrap());
    // The first key again, from an updated browser: both of its fingerprints stay bound to it.
    let third = keyed("phone-updated", "k1", 3_000);
    store.insert_attempt(&attempt("c1", "p1", "a3", 3_000, "approved"), Some(&third), None).await.unwrap();
    let keys = store.history(&q).await.unwrap().known_device_keys;
    let got: Vec<_> = keys.iter().map(|k| (k.thumbprint.as_str(), k.fingerprint.as_deref())).collect();
    assert_eq!(got, [("k1", Some("phone")), ("k2", Some("laptop")), ("k1", Some("phone-updated"))]);
    // Another person, and another tenant, see none of them; an orphan attempt teaches nothing.
    let other = HistoryQuery { person_id: "p2", ..q };
    assert!(store.history(&other).await.unwrap().known_device_keys.is_empty());
    let orphan = Learned { device_key: Some("k9".into()), ..learned("c1", "p9", "x", 3_000, (1.0, 1.0)) };
    assert!(!store.insert_attempt(&attempt("c1", "p9", "o1", 3_000, "approved"), Some(&orphan), None).await.unwrap());
    let p9 = HistoryQuery { person_id: "p9", ..q };
    assert!(store.history(&p9).await.unwrap().known_device_keys.is_empty());
    assert!(store.erase_identity("c1", "p1", &|_| {}).await.unwrap());
    assert!(store.history(&q).await.unwrap().known_device_keys.is_empty());
}

pub async fn a_device_challenge_is_taken_once_and_bounded_per_person(store: &dyn Store) {
    with_people(store).await;
    let challenge = |n: u32| DeviceChallenge {
        challenge_hash: format!("h{n}"),
        client_id: "c1".into(),
        person_id: "p1".into(),
        policy_id: "pix".into(),
        expires_at: 10_000,
    };
    for n in 0..3 {
        assert!(store.insert_device_challenge(&challenge(n), 1_000, 3).await.unwrap());
    }
    assert!(!store.insert_device_challenge(&challenge(3), 1_000, 3).await.unwrap(), "three are waiting");
    let (a, b) = tokio::join!(store.take_device_challenge("h0"), store.take_device_challenge("h0"));
    let taken: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(taken, [challenge(0)], "taken exactly once");
    assert!(store.insert_device_challenge(&challenge(3), 1_000, 3).await.unwrap(), "a taken one frees its place");
    // Expired ones are forgotten when the next is stored.
    assert!(store.insert_device_challenge(&challenge(4), 20_000, 3).await.unwrap());
    assert!(store.take_device_challenge("h1").await.unwrap().is_none());
    assert_eq!(store.take_device_challenge("h4").await.unwrap().map(|c| c.person_id), Some("p1".into()));
}

pub async fn client_settings_are_kept(store: &dyn Store) {
    with_clients(store).await;
    assert_eq!(store.client("c1").await.unwrap().unwrap().settings, ClientSettings::default());
    let settings = ClientSettings {
        display_name: Some("Banco Exemplo".into()),
        language: "pt-BR".into(),
        allowed_origins: vec!["https://app.example.com".into(), "http://127.0.0.1:3000".into()],
        message_templates: Some(r#"{"sms":"{{code}}"}"#.into()),
    };
    assert!(store.set_client_settings("c1", &settings).await.unwrap());
    assert!(!store.set_client_settings("nobody", &settings).await.unwrap());
    assert_eq!(store.client("c1").await.unwrap().unwrap().settings, settings);
    assert_eq!(store.client("c2").await.unwrap().unwrap().settings, ClientSettings::default());
}

fn webhook(client: &str, id: &str, events: &[&str]) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        client_id: client.into(),
        url: "https://hooks.example.com/x".into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        description: None,
        secret_enc: "sealed".into(),
        previous_secret: None,
        disabled_at: None,
        disabled_reason: None,
        failing_since: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn event(client: &str, id: &str, kind: &str, at: Millis) -> NewEvent {
    NewEvent { id: id.into(), client_id: client.into(), kind: kind.into(), data: "{}".into(), created_at: at }
}

pub async fn events_are_written_with_their_change_for_the_subscriptions_that_want_them(store: &dyn Store) {
    with_people(store).await;
    store.insert_webhook(&webhook("c1", "w1", &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    store
        .insert_webhook(&webhook("c1", "w2", &["authentication.approved", "policy.changed"]), 20, Effects::NONE)
        .await
        .unwrap();
    store.insert_webhook(&webhook("c2", "w3", &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    // At its limit, a client's next subscription is not written (another client's count is its own).
    assert!(!store.insert_webhook(&webhook("c1", "w4", &["policy.changed"]), 2, Effects::NONE).await.unwrap());
    assert!(store.insert_webhook(&webhook("c2", "w5", &["policy.changed"]), 2, Effects::NONE).await.unwrap());
    assert_eq!(store.webhooks("c1").await.unwrap().len(), 2);
    let approved = [event("c1", "e1", "authentication.approved", 1_000)];
    assert!(store
        .insert_attempt_with(&attempt("c1", "p1", "a1", 1_000, "approved"), None, None, &approved)
        .await
        .unwrap());
    // An attempt that is not stored (its person is gone) causes no event.
    let orphan = [event("c1", "e2", "authentication.approved", 1_001)];
    assert!(!store
        .insert_attempt_with(&attempt("c1", "p9", "a2", 1_001, "approved"), None, None, &orphan)
        .await
        .unwrap());
    // Nobody wants this type: nothing is written.
    let unwanted = [event("c1", "e3", "identity.created", 1_002)];
    store.insert_attempt_with(&attempt("c1", "p2", "a3", 1_002, "pending"), None, None, &unwanted).await.unwrap();
    // The event waits after each subscription's cursor: a delivery for each that wants it, no row yet.
    assert!(store.lease_deliveries(5_000, 30_000, 10, &[], 100).await.unwrap().is_empty(), "no retry waits");
    assert_eq!(store.delivery_queue().await.unwrap().waiting, 2, "one delivery per subscription that wants it");
    let listed = store.deliveries("c1", "w1", None, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "listed before its first try");
    assert_eq!((listed[0].1.status.as_str(), listed[0].1.tries), ("pending", 0));
    let claims = store.claim_new_events(5_000, 30_000, 10, &[], 10).await.unwrap();
    let mut got: Vec<_> =
        claims.iter().flat_map(|c| &c.deliveries).map(|d| (d.webhook_id.as_str(), d.event_id.as_str())).collect();
    got.sort();
    assert_eq!(
        got,
        [("w1", "e1"), ("w2", "e1")],
        "one delivery per subscription that wants it, the other tenant's none"
    );
    assert_eq!(claims[0].deliveries[0].id, listed[0].1.id, "the id it was listed with");
    // Held: a second dispatcher gets nothing until the lease ends.
    assert!(store.claim_new_events(5_001, 30_000, 10, &[], 10).await.unwrap().is_empty());
    let of = |w: &str| claims.iter().find(|c| c.webhook_id == w).unwrap().clone();
    let (w1, w2) = (of("w1"), of("w2"));
    let failed = DeliveryTry {
        at: 5_002,
        status: "pending".into(),
        next_try_at: 9_000,
        last_status: Some(500),
        last_error: None,
    };
    let moved = |c: &NewEventsClaim, held_until: Millis| CursorMove {
        webhook_id: c.webhook_id.clone(),
        through: c.through,
        release: true,
        held_until,
    };
    store.finish_deliveries(&[(w1.deliveries[0].clone(), failed)], &[moved(&w1, 35_000)]).await.unwrap();
    assert!(store.lease_deliveries(6_000, 30_000, 10, &[], 100).await.unwrap().is_empty(), "not due yet");
    assert!(store.claim_new_events(6_000, 30_000, 10, &[], 10).await.unwrap().is_empty(), "w1 moved on, w2 held");
    // The retry is due, and w2's claim, never finished (its process died), has ended: its event again.
    let again = store.lease_deliveries(40_000, 30_000, 10, &[], 100).await.unwrap();
    assert_eq!(again.iter().map(|d| (d.webhook_id.as_str(), d.tries)).collect::<Vec<_>>(), [("w1", 1)]);
    let w2_again = store.claim_new_events(40_000, 30_000, 10, &[], 10).await.unwrap();
    assert_eq!(w2_again.len(), 1);
    assert_eq!(
        w2_again[0].deliveries,
        w2.deliveries.iter().map(|d| Delivery { lease_until: Some(70_000), ..d.clone() }).collect::<Vec<_>>()
    );
    assert_eq!(store.webhook("c1", "w1").await.unwrap().unwrap().failing_since, Some(5_002));
    let delivered = DeliveryTry {
        at: 40_001,
        status: "delivered".into(),
        next_try_at: 40_001,
        last_status: Some(204),
        last_error: None,
    };
    let tries = [(again[0].clone(), delivered.clone()), (w2_again[0].deliveries[0].clone(), delivered)];
    store.finish_deliveries(&tries, &[moved(&w2_again[0], 70_000)]).await.unwrap();
    assert_eq!(store.webhook("c1", "w1").await.unwrap().unwrap().failing_since, None);
    assert_eq!(store.delivery_queue().await.unwrap(), DeliveryQueue::default());
    let listed = store.deliveries("c1", "w1", None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].1.status.as_str(), listed[0].1.last_status, listed[0].1.tries), ("delivered", Some(204), 2));
    assert!(store.deliveries("c2", "w1", None, 10).await.unwrap().is_empty(), "another tenant's subscription");
    assert!(store.redeliver("c1", "w1", listed[0].1.seq, 50_000).await.unwrap());
    assert!(!store.redeliver("c2", "w1", listed[0].1.seq, 50_000).await.unwrap(), "another tenant's subscription");
    assert!(!store.redeliver("c1", "w1", listed[0].1.seq + 1000, 50_000).await.unwrap(), "no such delivery");
    assert_eq!(store.lease_deliveries(50_000, 30_000, 10, &[], 100).await.unwrap().len(), 1);
    // A policy change with its audit line, in one transaction.
    let audit = AuditEntry {
        id: "au1".into(),
        client_id: Some("c1".into()),
        actor: "client:c1".into(),
        action: "policy.changed".into(),
        target: Some("pix".into()),
        detail: None,
        ip: None,
        request_id: None,
        at: 60_000,
    };
    let changed = [event("c1", "e4", "policy.changed", 60_000)];
    let pix = PolicyRecord {
        id: "pol1".into(),
        client_id: "c1".into(),
        policy: Policy::parse("pix", serde_json::json!({"name": "Pix"})).unwrap(),
        created_at: 1,
        updated_at: 1,
    };
    store.put_policy_with(&pix, Effects { events: &changed, audit: Some(&audit) }).await.unwrap();
    let lines = store.audit(Some("c1"), None, 10).await.unwrap();
    assert_eq!(lines.iter().map(|(_, a)| a.action.as_str()).collect::<Vec<_>>(), ["policy.changed"]);
    assert!(store.audit(Some("c2"), None, 10).await.unwrap().is_empty());
    // The gauge counts events after the cursors without their types: w1 passes this one when it next looks.
    assert_eq!(store.delivery_queue().await.unwrap().waiting, 3, "w2's policy.changed, the redelivery, w1's look");
    assert_eq!(store.waiting_deliveries("c1", "w1").await.unwrap(), 1, "w1 takes only the redelivery");
    let waiting = store.deliveries("c1", "w2", None, 10).await.unwrap();
    assert_eq!(waiting[0].1.event_id, "e4", "the new event first");
    assert!(store.redeliver("c1", "w2", waiting[0].1.seq, 60_001).await.unwrap(), "on its way already");
    assert!(store.delete_webhook("c1", "w2", Effects::NONE).await.unwrap());
    assert_eq!(store.delivery_queue().await.unwrap().waiting, 2);
}

/// Writes an attempt of `c1`'s or `c2`'s `p1` with one event of `kind`; whether the event was written.
async fn writes_event(store: &dyn Store, client: &str, n: i64, kind: &str) -> bool {
    let before = store.newest_event().await.unwrap();
    let e = [event(client, &format!("e{n}"), kind, 1_000 + n)];
    let a = attempt(client, "p1", &format!("a{n}"), 1_000 + n, "approved");
    assert!(store.insert_attempt_with(&a, None, None, &e).await.unwrap());
    store.newest_event().await.unwrap() > before
}

/// An attempt's event is written only while an enabled subscription of its tenant takes its type, as the
/// subscriptions are created, changed, disabled, enabled again and deleted.
pub async fn an_event_is_written_while_a_subscription_takes_its_type(store: &dyn Store) {
    with_people(store).await;
    let (approved, pending, reproved) =
        ("authentication.approved", "authentication.pending", "authentication.reproved");
    store.insert_webhook(&webhook("c1", "w1", &[approved]), 20, Effects::NONE).await.unwrap();
    store.insert_webhook(&webhook("c1", "w2", &[approved, pending]), 20, Effects::NONE).await.unwrap();
    store.insert_webhook(&webhook("c2", "w3", &[reproved]), 20, Effects::NONE).await.unwrap();
    assert!(writes_event(store, "c1", 1, approved).await);
    assert!(writes_event(store, "c1", 2, pending).await);
    assert!(!writes_event(store, "c1", 3, reproved).await, "another tenant's subscription takes it");
    assert!(writes_event(store, "c2", 4, reproved).await);
    assert!(!writes_event(store, "c2", 5, approved).await);
    // w2 now takes refusals only.
    let mut w2 = store.webhook("c1", "w2").await.unwrap().unwrap();
    let version = w2.updated_at;
    (w2.events, w2.updated_at) = (vec![reproved.to_owned()], 2);
    assert!(store.update_webhook(&w2, version, Effects::NONE).await.unwrap());
    assert!(!writes_event(store, "c1", 6, pending).await);
    assert!(writes_event(store, "c1", 7, reproved).await);
    assert!(writes_event(store, "c1", 8, approved).await, "w1 still takes it");
    // w1 disabled: nobody takes approvals; enabled again: it does.
    assert!(store.disable_webhook("w1", 3, "failing", Effects::NONE).await.unwrap());
    assert!(!writes_event(store, "c1", 9, approved).await);
    let mut w1 = store.webhook("c1", "w1").await.unwrap().unwrap();
    let version = w1.updated_at;
    (w1.disabled_at, w1.disabled_reason, w1.updated_at) = (None, None, 4);
    assert!(store.update_webhook(&w1, version, Effects::NONE).await.unwrap());
    assert!(writes_event(store, "c1", 10, approved).await);
    // w2 deleted: w1's type is still taken, w2's no longer.
    assert!(store.delete_webhook("c1", "w2", Effects::NONE).await.unwrap());
    assert!(!writes_event(store, "c1", 11, reproved).await);
    assert!(writes_event(store, "c1", 12, approved).await);
}

/// Once every event and delivery is pruned, a new event still comes after the cursor (the outbox never gives
/// a new event a `seq` a cursor has passed).
pub async fn after_every_event_is_pruned_the_next_one_is_still_delivered(store: &dyn Store) {
    with_people(store).await;
    store.insert_webhook(&webhook("c1", "w1", &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    for n in 1..=3 {
        assert!(writes_event(store, "c1", n, "authentication.approved").await);
    }
    let claims = store.claim_new_events(5_000, 30_000, 10, &[], 10).await.unwrap();
    let delivered = DeliveryTry {
        at: 5_001,
        status: "delivered".into(),
        next_try_at: 5_001,
        last_status: Some(204),
        last_error: None,
    };
    let tries: Vec<_> = claims[0].deliveries.iter().map(|d| (d.clone(), delivered.clone())).collect();
    let moved = CursorMove { webhook_id: "w1".into(), through: claims[0].through, release: true, held_until: 35_000 };
    store.finish_deliveries(&tries, &[moved]).await.unwrap();
    // A week on, every delivery and event is forgotten.
    assert_eq!(store.prune_deliveries(1_000_000).await.unwrap(), 3);
    assert!(writes_event(store, "c1", 4, "authentication.approved").await);
    let next = store.claim_new_events(1_000_001, 30_000, 10, &[], 10).await.unwrap();
    let got: Vec<_> = next.iter().flat_map(|c| &c.deliveries).map(|d| d.event_id.as_str()).collect();
    assert_eq!(got, ["e4"], "the next event is not behind the cursor");
}

pub async fn audit_lines_past_their_retention_are_pruned_oldest_first(store: &dyn Store) {
    let line = |n: i64, at: Millis| AuditEntry {
        id: format!("au{n}"),
        client_id: Some("c1".into()),
        actor: "admin".into(),
        action: "client.created".into(),
        target: None,
        detail: None,
        ip: None,
        request_id: None,
        at,
    };
    for n in 0..7 {
        store.insert_audit(&line(n, 1_000 + n)).await.unwrap();
    }
    // Retention ends at 1_005: lines 0 to 4 are due, in batches of 2.
    assert_eq!(store.prune_audit(1_005, 2).await.unwrap(), 2);
    assert_eq!(store.prune_audit(1_005, 2).await.unwrap(), 2);
    assert_eq!(store.prune_audit(1_005, 2).await.unwrap(), 1, "the batch ends at the first newer line");
    assert_eq!(store.prune_audit(1_005, 2).await.unwrap(), 0);
    let left: Vec<String> = store.audit(None, None, 10).await.unwrap().into_iter().map(|(_, a)| a.id).collect();
    assert_eq!(left, ["au6", "au5"]);
}

pub async fn a_disabled_subscription_gives_up_its_new_events_until_recovered(store: &dyn Store) {
    with_people(store).await;
    store.insert_webhook(&webhook("c1", "w1", &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    let approve = |n: i64| async move {
        let e = [event("c1", &format!("e{n}"), "authentication.approved", 1_000 + n)];
        let a = attempt("c1", "p1", &format!("a{n}"), 1_000 + n, "approved");
        assert!(store.insert_attempt_with(&a, None, None, &e).await.unwrap());
    };
    approve(1).await;
    approve(2).await;
    // e1 was tried and waits for its retry; e2 was not tried.
    let claim = store.claim_new_events(2_000, 30_000, 1, &[], 10).await.unwrap().remove(0);
    let failed = DeliveryTry {
        at: 2_001,
        status: "pending".into(),
        next_try_at: 90_000,
        last_status: Some(500),
        last_error: None,
    };
    let moved = CursorMove { webhook_id: "w1".into(), through: claim.through, release: true, held_until: 32_000 };
    store.finish_deliveries(&[(claim.deliveries[0].clone(), failed)], &[moved]).await.unwrap();
    assert!(store.disable_webhook("w1", 5_000, "the receiver answered 410 Gone", Effects::NONE).await.unwrap());
    // Its events not tried and its retries are given up, and listed so: nothing waits.
    let listed = store.deliveries("c1", "w1", None, 10).await.unwrap();
    let states: Vec<_> = listed.iter().map(|(_, d)| (d.event_id.as_str(), d.status.as_str(), d.tries)).collect();
    assert_eq!(states, [("e2", "failed", 0), ("e1", "failed", 1)]);
    assert_eq!(store.delivery_queue().await.unwrap(), DeliveryQueue::default());
    assert!(listed[0].1.last_error.as_deref().unwrap().contains("410 Gone"), "{:?}", listed[0].1.last_error);
    assert!(store.claim_new_events(5_001, 30_000, 10, &[], 10).await.unwrap().is_empty());
    // Written while it is off: never sent. Enabled again, it gets what comes next, and `recover` the rest.
    approve(3).await;
    let mut w1 = store.webhook("c1", "w1").await.unwrap().unwrap();
    w1.disabled_at = None;
    w1.disabled_reason = None;
    assert!(store.update_webhook(&w1, w1.updated_at, Effects::NONE).await.unwrap());
    assert!(store.claim_new_events(6_000, 30_000, 10, &[], 10).await.unwrap().is_empty(), "e3 is not sent");
    approve(4).await;
    let claims = store.claim_new_events(6_001, 30_000, 10, &[], 10).await.unwrap();
    assert_eq!(claims.iter().flat_map(|c| &c.deliveries).map(|d| d.event_id.as_str()).collect::<Vec<_>>(), ["e4"]);
    assert_eq!(store.recover_deliveries("c1", "w1", 0, 6_002).await.unwrap(), 2);
    let again: Vec<_> =
        store.lease_deliveries(6_002, 30_000, 10, &[], 10).await.unwrap().into_iter().map(|d| d.event_id).collect();
    assert_eq!(again, ["e1", "e2"]);
    // The tenant disabling it gives them up the same way.
    approve(5).await;
    let mut w1 = store.webhook("c1", "w1").await.unwrap().unwrap();
    w1.disabled_at = Some(7_000);
    w1.disabled_reason = Some("disabled by the tenant".into());
    // A change made since it was read (the dispatcher disabling it) is not undone unseen.
    assert!(!store.update_webhook(&w1, w1.updated_at - 1, Effects::NONE).await.unwrap());
    assert!(store.update_webhook(&w1, w1.updated_at, Effects::NONE).await.unwrap());
    let newest = &store.deliveries("c1", "w1", None, 1).await.unwrap()[0].1;
    assert_eq!((newest.event_id.as_str(), newest.status.as_str()), ("e5", "failed"));
}

pub async fn new_events_are_claimed_fairly_among_subscriptions(store: &dyn Store) {
    with_people(store).await;
    store.insert_webhook(&webhook("c1", "slow", &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    store.insert_webhook(&webhook("c2", "fast", &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    for n in 0..5 {
        let e = event("c1", &format!("s{n}"), "authentication.approved", 1_000 + n);
        store
            .insert_attempt_with(&attempt("c1", "p1", &format!("a{n}"), 1_000 + n, "approved"), None, None, &[e])
            .await
            .unwrap();
    }
    let e = event("c2", "f0", "authentication.approved", 2_000);
    store.insert_attempt_with(&attempt("c2", "p1", "b0", 2_000, "approved"), None, None, &[e]).await.unwrap();
    let events = |claims: &[NewEventsClaim]| -> Vec<String> {
        claims.iter().flat_map(|c| &c.deliveries).map(|d| d.event_id.clone()).collect()
    };
    // The busy subscription's backlog does not crowd the other out: two of its oldest, and the other's.
    let taken = store.claim_new_events(5_000, 30_000, 2, &[], 10).await.unwrap();
    assert_eq!(events(&taken), ["s0", "s1", "f0"], "the furthest behind first");
    // Held: a second dispatcher gets none of them; a subscription this process is busy with is skipped.
    assert!(store.claim_new_events(5_001, 30_000, 2, &[], 10).await.unwrap().is_empty());
    assert_eq!(store.delivery_queue().await.unwrap().waiting, 6);
    let finished = DeliveryTry {
        at: 5_002,
        status: "delivered".into(),
        next_try_at: 5_002,
        last_status: Some(200),
        last_error: None,
    };
    let tries: Vec<_> = taken.iter().flat_map(|c| &c.deliveries).map(|d| (d.clone(), finished.clone())).collect();
    let moves: Vec<_> = taken
        .iter()
        .map(|c| CursorMove { webhook_id: c.webhook_id.clone(), through: c.through, release: true, held_until: 35_000 })
        .collect();
    store.finish_deliveries(&tries, &moves).await.unwrap();
    assert_eq!(store.delivery_queue().await.unwrap().waiting, 3);
    assert!(store.claim_new_events(5_003, 30_000, 2, &["slow".to_owned()], 10).await.unwrap().is_empty());
    let next = store.claim_new_events(5_003, 30_000, 2, &[], 10).await.unwrap();
    assert_eq!(events(&next), ["s2", "s3"]);
    // A cursor is let go of by the process that holds it only: then it is taken again at once.
    let let_go = |held_until| CursorMove { webhook_id: "slow".into(), through: 0, release: true, held_until };
    store.finish_deliveries(&[], &[let_go(1)]).await.unwrap();
    assert!(store.claim_new_events(5_004, 30_000, 2, &[], 10).await.unwrap().is_empty(), "not its lease");
    store.finish_deliveries(&[], &[let_go(35_003)]).await.unwrap();
    assert_eq!(events(&store.claim_new_events(5_005, 30_000, 2, &[], 10).await.unwrap()), ["s2", "s3"]);
    // Events of a type a subscription does not take move its cursor without a delivery.
    store.insert_webhook(&webhook("c2", "other", &["identity.created"]), 20, Effects::NONE).await.unwrap();
    let unwanted = [event("c2", "i0", "identity.created", 3_000)];
    store.insert_attempt_with(&attempt("c2", "p1", "b1", 3_000, "approved"), None, None, &unwanted).await.unwrap();
    let claims = store.claim_new_events(5_006, 30_000, 2, &[], 10).await.unwrap();
    let fast = claims.iter().find(|c| c.webhook_id == "fast").unwrap();
    assert!(fast.deliveries.is_empty());
    let moved = CursorMove { webhook_id: "fast".into(), through: fast.through, release: true, held_until: 35_006 };
    store.finish_deliveries(&[], &[moved]).await.unwrap();
    let left = store.claim_new_events(5_007, 30_000, 2, &[], 10).await.unwrap();
    assert!(left.iter().all(|c| c.webhook_id != "fast"), "fast has nothing new");
    // A week later the finished ones and their events are forgotten; the waiting ones stay.
    assert_eq!(store.prune_deliveries(10_000).await.unwrap(), 3);
    assert_eq!(store.waiting_deliveries("c1", "slow").await.unwrap(), 3);
    assert!(store.deliveries("c2", "fast", None, 10).await.unwrap().is_empty());
    // An event for one subscription only (the test event) comes in its order, whatever its type.
    store.insert_event_for("fast", &event("c2", "t0", "webhook.test", 4_000)).await.unwrap();
    assert_eq!(store.waiting_deliveries("c2", "fast").await.unwrap(), 1);
    assert_eq!(store.deliveries("c2", "fast", None, 10).await.unwrap()[0].1.event_id, "t0");
    let mut last = store.claim_new_events(40_000, 30_000, 2, &[], 10).await.unwrap();
    last.sort_by(|a, b| a.webhook_id.cmp(&b.webhook_id));
    assert_eq!(last.iter().map(|c| c.webhook_id.as_str()).collect::<Vec<_>>(), ["fast", "other", "slow"]);
    assert_eq!(events(&last), ["t0", "i0", "s2", "s3"]);
}

/// Retries of three subscriptions are due, and the dispatcher has senders for two: it is given two
/// subscriptions' retries, not three (a batch without a sender would wait while its lease ran out).
pub async fn retries_are_leased_for_no_more_subscriptions_than_asked(store: &dyn Store) {
    with_people(store).await;
    for w in ["w1", "w2", "w3"] {
        store.insert_webhook(&webhook("c1", w, &["authentication.approved"]), 20, Effects::NONE).await.unwrap();
    }
    let approved = [event("c1", "e1", "authentication.approved", 1_000)];
    store.insert_attempt_with(&attempt("c1", "p1", "a1", 1_000, "approved"), None, None, &approved).await.unwrap();
    let claims = store.claim_new_events(5_000, 30_000, 10, &[], 10).await.unwrap();
    assert_eq!(claims.len(), 3);
    let failed = DeliveryTry {
        at: 5_001,
        status: "pending".into(),
        next_try_at: 6_000,
        last_status: Some(500),
        last_error: None,
    };
    let tries: Vec<_> = claims.iter().map(|c| (c.deliveries[0].clone(), failed.clone())).collect();
    let moves: Vec<_> = claims
        .iter()
        .map(|c| CursorMove { webhook_id: c.webhook_id.clone(), through: c.through, release: true, held_until: 35_000 })
        .collect();
    store.finish_deliveries(&tries, &moves).await.unwrap();
    // Two senders free, ten deliveries each: two subscriptions, though the one a third sender is busy with
    // (here one with nothing due) is not among them.
    let taken = store.lease_deliveries(7_000, 30_000, 10, &["w9".to_owned()], 20).await.unwrap();
    let mut of: Vec<&str> = taken.iter().map(|d| d.webhook_id.as_str()).collect();
    of.dedup();
    assert_eq!(of.len(), 2, "{of:?}");
    // The third is left for the next sender free.
    let rest = store.lease_deliveries(7_001, 30_000, 10, &[], 20).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(!of.contains(&rest[0].webhook_id.as_str()));
}

macro_rules! engine {
    ($engine:ident, $open:expr, [$($case:ident),* $(,)?]) => {
        mod $engine {
            $(
                #[tokio::test]
                async fn $case() {
                    let (_guard, store) = $open.await;
                    super::$case(&store).await;
                }
            )*
        }
    };
}

async fn open_sqlite() -> (tempfile::TempDir, smartauth_store::sqlite::SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = smartauth_store::sqlite::SqliteStore::open(&dir.path().join("test.db")).await.unwrap();
    (dir, store)
}

engine!(
    sqlite,
    super::open_sqlite(),
    [
        retries_are_leased_for_no_more_subscriptions_than_asked,
        clients_are_kept_and_unique,
        audit_lines_past_their_retention_are_pruned_oldest_first,
        a_rotated_secret_overlaps_for_its_grace_period,
        identities_belong_to_their_client,
        a_policy_keeps_its_id_and_creation_time_when_replaced,
        an_attempt_update_loses_to_a_concurrent_one,
        parallel_tries_never_pass_the_lock_and_a_success_resets_it,
        sends_are_capped_per_person_and_per_destination,
        erasure_forgets_failures_but_not_the_destination_s_sends,
        attempts_are_listed_newest_first_in_pages,
        a_cursor_never_reaches_past_to,
        history_reflects_what_approvals_taught,
        a_device_not_vouched_for_is_counted_but_not_known,
        a_replayed_past_places_each_approval,
        a_replay_reads_the_means_on_file_of_the_people_it_names,
        erasure_removes_the_person_and_anonymizes_attempts,
        a_failed_attempt_write_leaves_nothing_behind,
        the_window_limit_is_checked_when_the_attempt_is_stored,
        decision_inputs_are_the_identity_and_its_history,
        one_bad_attempt_among_simultaneous_ones_fails_alone,
        simultaneous_attempts_are_written_together_each_with_its_own_guard,
        an_attempt_for_a_person_no_longer_enrolled_is_not_stored,
        an_older_sighting_never_replaces_a_newer_one,
        device_keys_are_learnt_with_approvals_only_and_erased,
        a_device_challenge_is_taken_once_and_bounded_per_person,
        client_settings_are_kept,
        events_are_written_with_their_change_for_the_subscriptions_that_want_them,
        new_events_are_claimed_fairly_among_subscriptions,
        a_disabled_subscription_gives_up_its_new_events_until_recovered,
        an_event_is_written_while_a_subscription_takes_its_type,
        after_every_event_is_pruned_the_next_one_is_still_delivered,
    ]
);

/// Another process holding SQLite's write lock (here a second connection, as the process that delivers
/// webhooks does) makes a write wait for it, not fail; and the wait ends soon after the lock is let go.
#[tokio::test]
async fn a_write_waits_for_another_connection_holding_the_lock_then_goes_through() {
    use sqlx::{ConnectOptions, Connection};
    let (dir, store) = open_sqlite().await;
    let mut other =
        sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("test.db")).connect().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    // 330 ms: SQLite's own handler, whose sleeps add up to 328 and then 428 ms, would look again 98 ms late.
    let hold = std::time::Duration::from_millis(330);
    let holder = tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        let released = std::time::Instant::now();
        other.close().await.unwrap();
        released
    });
    let started = std::time::Instant::now();
    store.insert_client(&client("waited")).await.unwrap();
    let written = std::time::Instant::now();
    let released = holder.await.unwrap();
    assert!(written.duration_since(started) >= hold - std::time::Duration::from_millis(50));
    assert!(store.client("waited").await.unwrap().is_some());
    // This one looks every millisecond by now (50 ms leaves room for a slow machine).
    let late = written.saturating_duration_since(released);
    assert!(late < std::time::Duration::from_millis(50), "the write went through {late:?} after the lock was let go");
}
