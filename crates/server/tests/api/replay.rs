//! Policy replay: `POST /policies/{policyId}/replay` folds the policy's past attempts through the engine
//! with a candidate policy, each against the person's history as it was then.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const RIO: (f64, f64) = (-22.9068, -43.1729);

/// Ana's past on policy `pix`: a first attempt stepped up (nothing known), three passive approvals on the
/// same phone, a new phone stepped up, and a passive approval on it. Returns the attempt ids in order.
/// Each attempt is a millisecond or more after the one before: replay orders attempts of one millisecond by
/// their random ids, so that the order the assertions name is the order they were made.
async fn past(app: &TestApp, tenant: &Tenant) -> Vec<String> {
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(2));
    let mut ids = vec![app.approve_by_email(tenant, "ana", "phone-1", RIO).await];
    for _ in 0..3 {
        tick().await;
        let a = app.attempt(tenant, "ana", "phone-1", RIO).await;
        assert_eq!(a.body["status"], "approved", "{:?}", a.body);
        ids.push(a.body["attemptId"].as_str().unwrap().to_owned());
    }
    tick().await;
    ids.push(app.approve_by_email(tenant, "ana", "phone-2", RIO).await);
    tick().await;
    let a = app.attempt(tenant, "ana", "phone-2", RIO).await;
    assert_eq!(a.body["status"], "approved", "{:?}", a.body);
    ids.push(a.body["attemptId"].as_str().unwrap().to_owned());
    ids
}

/// The saved policy as `GET` shows it (read-only fields and all): a candidate is taken as it stands.
async fn saved(app: &TestApp, tenant: &Tenant) -> Value {
    app.get("/policies/pix", &backend(tenant)).await.body
}

async fn replay(app: &TestApp, tenant: &Tenant, body: Value) -> Answer {
    app.post("/policies/pix/replay", &backend(tenant), body).await
}

#[tokio::test]
async fn replaying_the_saved_policy_gives_back_every_decision_that_was_taken() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    past(&app, &tenant).await;
    let rows_before = (app.count_rows("attempts").await, app.count_rows("known_contexts").await);

    let policy = saved(&app, &tenant).await;
    let a = replay(&app, &tenant, json!({"policy": policy})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let r = &a.body;
    assert_eq!(r["attempts"], 6);
    assert_eq!(r["complete"], true);
    // The first attempt was stepped up because nothing was known then, though today its phone and place are:
    // the history is the one of each moment.
    assert_eq!(r["decided"], json!({"approved": 4, "pending": 2, "reproved": 0}), "{r}");
    assert_eq!(r["current"], r["decided"], "{r}");
    assert_eq!(r["candidate"], r["decided"], "{r}");
    assert_eq!(r["changed"], 0);
    assert_eq!(r["changes"], json!([]));
    assert_eq!(r["peopleWithMoreFriction"], 0);
    assert!(r["attemptsPerSecond"].as_u64().unwrap() > 0);
    assert_eq!(
        (app.count_rows("attempts").await, app.count_rows("known_contexts").await),
        rows_before,
        "a replay writes nothing"
    );
}

#[tokio::test]
async fn a_candidate_that_ignores_devices_approves_the_new_phone_and_says_why() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    let ids = past(&app, &tenant).await;
    let mut policy = saved(&app, &tenant).await;
    policy["contexts"]["device_context"]["enabled"] = json!(false);

    let r = replay(&app, &tenant, json!({"policy": policy})).await.body;
    assert_eq!(r["candidate"], json!({"approved": 5, "pending": 1, "reproved": 0}), "{r}");
    assert_eq!(r["changed"], 1);
    assert_eq!(r["transitions"], json!({"pending→approved": 1}));
    let change = &r["changes"][0];
    assert_eq!(change["attemptId"], ids[4].as_str(), "the new phone's attempt: {r}");
    assert_eq!(change["personId"], "ana");
    assert_eq!(change["decided"], "pending");
    assert_eq!(change["candidate"], "approved");
    assert_eq!(change["endedApproved"], true);
    assert_eq!(
        change["contexts"],
        json!([{"context": "device", "decided": "NEW_DEVICE", "candidate": "CONTEXT_DISABLED",
                "detail": "this context is not evaluated by the policy"}])
    );
    // The very first attempt stays stepped up: Rio was not known yet.
    assert!(r["changes"].as_array().unwrap().iter().all(|c| c["attemptId"] != ids[0].as_str()));
}

#[tokio::test]
async fn a_tighter_attempt_limit_names_the_legitimate_people_it_would_refuse() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    let ids = past(&app, &tenant).await;
    let mut policy = saved(&app, &tenant).await;
    policy["maxAttemptsPerIdentity"] = json!({"limit": 3, "windowSeconds": 3600});

    let r = replay(&app, &tenant, json!({"policy": policy})).await.body;
    // The fourth attempt and later had three attempts or more in the hour before them.
    assert_eq!(r["candidate"], json!({"approved": 2, "pending": 1, "reproved": 3}), "{r}");
    assert_eq!(r["transitions"], json!({"approved→reproved": 2, "pending→reproved": 1}), "{r}");
    assert_eq!(r["reasons"]["MAX_ATTEMPTS_PER_IDENTITY"], 3, "{r}");
    let changed: Vec<&str> =
        r["changes"].as_array().unwrap().iter().map(|c| c["attemptId"].as_str().unwrap()).collect();
    assert_eq!(changed, vec![ids[3].as_str(), ids[4].as_str(), ids[5].as_str()]);
    assert_eq!(r["peopleWithMoreFriction"], 1);
    // Two passive approvals refused, and a new phone's step-up she passed refused outright.
    assert_eq!(r["people"], json!([{"personId": "ana", "moreFriction": 3, "lessFriction": 0}]));

    // The last two attempts only: the window moves, the history before it is still read.
    let r = replay(&app, &tenant, json!({"policy": policy, "limit": 2})).await.body;
    assert_eq!(r["attempts"], 2);
    assert_eq!(r["candidate"]["reproved"], 2, "the attempts before the window still count: {r}");
}

#[tokio::test]
async fn a_replay_is_refused_clearly_and_only_for_the_tenants_own_policy() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    past(&app, &tenant).await;
    let policy = saved(&app, &tenant).await;
    let b = backend(&tenant);

    let bad = replay(&app, &tenant, json!({"policy": {"name": "x", "maxAttemptsPerIdentity": {"limit": 0}}})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["message"].as_str().unwrap().starts_with("policy: "), "{:?}", bad.body);
    for limit in [0, 100_001] {
        let a = replay(&app, &tenant, json!({"policy": policy, "limit": limit})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{limit}");
        assert!(a.body["message"].as_str().unwrap().contains("limit"), "{:?}", a.body);
    }
    let a = replay(&app, &tenant, json!({"policy": policy, "since": "yesterday"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = replay(&app, &tenant, json!({"policy": policy, "limitt": 3})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "a misspelt field is refused: {:?}", a.body);
    let other = app.post("/policies/nope/replay", &b, json!({"policy": policy})).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let person = app.post("/policies/pix/replay", &sdk(&tenant, "ana"), json!({"policy": policy})).await;
    assert_eq!(person.status, StatusCode::FORBIDDEN, "a person's token cannot replay");
    // Refused for the token before the body is read: the answer does not depend on it.
    let person = app.post("/policies/pix/replay", &sdk(&tenant, "ana"), json!({"limitt": "x"})).await;
    assert_eq!(person.status, StatusCode::FORBIDDEN, "{:?}", person.body);
    let person = app.post("/identities", &sdk(&tenant, "ana"), json!([])).await;
    assert_eq!(person.status, StatusCode::FORBIDDEN, "{:?}", person.body);

    // A partial candidate is replayed as it stands, and the answer says what it leaves out.
    let partial = replay(&app, &tenant, json!({"policy": {"name": "only a name"}})).await;
    assert_eq!(partial.status, StatusCode::OK, "{:?}", partial.body);
    let warnings: Vec<&str> =
        partial.body["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    for context in ["device_context", "location_context", "network_context"] {
        assert!(warnings.iter().any(|w| w.contains(context) && w.contains("not evaluated")), "{context}: {warnings:?}");
    }
    let full = replay(&app, &tenant, json!({"policy": policy})).await.body;
    assert!(!full["warnings"].to_string().contains("left out"), "{}", full["warnings"]);

    // Another tenant with a policy of the same name sees none of ana's attempts.
    let stranger = app.tenant_with_person("bia").await;
    let r = replay(&app, &stranger, json!({"policy": policy})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["attempts"], 0);

    // A window in the future holds nothing.
    let r = replay(&app, &tenant, json!({"policy": policy, "since": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(r.body["attempts"], 0);
}

#[tokio::test]
async fn travel_is_judged_from_the_last_approval_before_the_window() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    past(&app, &tenant).await;
    // São Paulo, 360 km from Rio, seconds after an approval in Rio.
    let far = app.attempt(&tenant, "ana", "phone-1", (-23.5505, -46.6333)).await;
    assert_eq!(far.body["status"], "pending", "{:?}", far.body);
    let id = far.body["attemptId"].as_str().unwrap();
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body;
    assert_eq!(doc["contextEvaluation"]["location_context"]["reason"], "IMPOSSIBLE_TRAVEL", "{doc}");

    // Only that attempt is replayed; Rio's approval is before the window, and still the last one it sees.
    let mut policy = saved(&app, &tenant).await;
    let r = replay(&app, &tenant, json!({"policy": policy.clone(), "limit": 1})).await.body;
    assert_eq!((r["attempts"].as_u64(), r["changed"].as_u64()), (Some(1), Some(0)), "{r}");
    assert_eq!(r["current"], json!({"approved": 0, "pending": 1, "reproved": 0}), "{r}");
    // Without the location context, the same attempt passes: only travel held it.
    policy["contexts"]["location_context"]["enabled"] = json!(false);
    let r = replay(&app, &tenant, json!({"policy": policy, "limit": 1})).await.body;
    assert_eq!(r["transitions"], json!({"pending→approved": 1}), "{r}");
    assert_eq!(r["changes"][0]["contexts"][0]["decided"], "IMPOSSIBLE_TRAVEL", "{r}");
    assert_eq!(r["changes"][0]["contexts"][0]["candidate"], "CONTEXT_DISABLED", "{r}");
}

#[tokio::test]
async fn an_attempt_made_while_another_waited_for_its_code_replays_as_it_was_decided() {
    // A review found it: the first attempt's phone and place become known when its code is verified, not when
    // it was made; the retry made in between saw nothing known, and must replay so.
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    let first = app.attempt(&tenant, "ana", "phone-1", RIO).await;
    let retry = app.attempt(&tenant, "ana", "phone-1", RIO).await;
    assert_eq!((&first.body["status"], &retry.body["status"]), (&json!("pending"), &json!("pending")));
    let id = first.body["attemptId"].as_str().unwrap();
    let person = sdk(&tenant, "ana");
    app.post(&format!("/authentications/{id}/methods/email_authentication/send"), &person, json!({})).await;
    let code = app.last_email_code(8).await;
    let v = app
        .post(&format!("/authentications/{id}/methods/email_authentication/verify"), &person, json!({"code": code}))
        .await;
    assert_eq!(v.body["status"], "approved", "{:?}", v.body);
    let after = app.attempt(&tenant, "ana", "phone-1", RIO).await;
    assert_eq!(after.body["status"], "approved");

    let r = replay(&app, &tenant, json!({"policy": saved(&app, &tenant).await})).await.body;
    assert_eq!(r["decided"], json!({"approved": 1, "pending": 2, "reproved": 0}), "{r}");
    assert_eq!(r["current"], r["decided"], "{r}");
    assert_eq!(r["changed"], 0, "{r}");
}

/// The answer without what differs from one request to the next.
fn outcome(mut r: Value) -> Value {
    for timing in ["elapsedMs", "attemptsPerSecond", "timings", "requestId"] {
        r.as_object_mut().unwrap().remove(timing);
    }
    r
}

#[tokio::test]
async fn attempts_stored_or_changed_by_an_earlier_version_replay_from_their_document_the_same() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    past(&app, &tenant).await;
    let fresh = "SELECT COUNT(*) FROM attempts WHERE judged IS NOT NULL AND judged_version = version";
    assert_eq!(app.scalar(fresh).await, 6, "every attempt has its judged fields, at its version");
    let mut policy = saved(&app, &tenant).await;
    policy["contexts"]["device_context"]["enabled"] = json!(false);
    policy["maxAttemptsPerIdentity"] = json!({"limit": 4, "windowSeconds": 3600});
    let body = json!({"policy": policy});

    let with_judged = outcome(replay(&app, &tenant, body.clone()).await.body);
    assert_eq!(with_judged["changed"], 2, "{with_judged}");
    // An earlier version writing to the same file (a rolling upgrade, a rollback) changes an attempt's
    // document and version, not its judged fields: they are not read (were they, these would not parse).
    assert_eq!(app.sql("UPDATE attempts SET version = version + 1, judged = '{\"stale\": true}'").await, 6);
    assert_eq!(outcome(replay(&app, &tenant, body.clone()).await.body), with_judged);
    // Attempts stored before the judged fields existed.
    app.sql("UPDATE attempts SET judged = NULL, judged_version = NULL").await;
    assert_eq!(outcome(replay(&app, &tenant, body).await.body), with_judged);

    // Erasure takes the judged fields with the person (they hold the device and the place), whichever
    // version erases: here as an earlier one would, detaching the attempts without knowing the column.
    app.sql("UPDATE attempts SET judged = '{}', judged_version = version").await;
    assert_eq!(app.sql("UPDATE attempts SET person_id = NULL").await, 6);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM attempts WHERE judged IS NOT NULL").await, 0);
}

#[tokio::test]
async fn an_erased_persons_attempts_keep_no_judged_fields_and_are_skipped() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    past(&app, &tenant).await;
    // A waiting attempt, which the expiry sweep will close after the erasure.
    let waiting = app.attempt(&tenant, "ana", "phone-3", RIO).await;
    assert_eq!(waiting.body["status"], "pending", "{:?}", waiting.body);
    let erased = app.call(reqwest::Method::DELETE, "/identities/ana", Some(&backend(&tenant)), None).await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM attempts WHERE judged IS NOT NULL").await, 0);
    // The expiry sweep closes the waiting one, and writes its document without them.
    let id = waiting.body["attemptId"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE attempts SET expires_at = 1, document = json_set(document, '$.stepUp.expiresAt', 1) WHERE id = '{id}'"
    ))
    .await;
    let closed = format!("SELECT COUNT(*) FROM attempts WHERE id = '{id}' AND status = 'reproved'");
    for _ in 0..80 {
        if app.scalar(&closed).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.scalar(&closed).await, 1, "the sweep closed it");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM attempts WHERE judged IS NOT NULL").await, 0);

    let r = replay(&app, &tenant, json!({"policy": saved(&app, &tenant).await})).await.body;
    assert_eq!((r["attempts"].as_u64(), r["skipped"].as_u64()), (Some(0), Some(7)), "{r}");
}

/// A device two people were approved on counts the other person from the moment they were approved on it,
/// as it did live; a device only one person used counts nobody.
#[tokio::test]
async fn a_device_shared_with_another_person_counts_them_from_when_they_were_approved_on_it() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    app.create_identity(&tenant, "bia").await;
    app.create_identity(&tenant, "caio").await;
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(2));
    app.approve_by_email(&tenant, "ana", "family-tablet", RIO).await;
    tick().await;
    app.approve_by_email(&tenant, "caio", "caio-phone", RIO).await;
    tick().await;
    let bia_first = app.approve_by_email(&tenant, "bia", "family-tablet", RIO).await;
    tick().await;
    let bia_again = app.attempt(&tenant, "bia", "family-tablet", RIO).await;
    assert_eq!(bia_again.body["status"], "approved", "{:?}", bia_again.body);
    tick().await;
    let ana_again = app.attempt(&tenant, "ana", "family-tablet", RIO).await;
    assert_eq!(ana_again.body["status"], "approved", "{:?}", ana_again.body);
    tick().await;
    let caio_again = app.attempt(&tenant, "caio", "caio-phone", RIO).await;
    assert_eq!(caio_again.body["status"], "approved", "{:?}", caio_again.body);

    let mut policy = saved(&app, &tenant).await;
    let same = replay(&app, &tenant, json!({"policy": policy.clone()})).await.body;
    assert_eq!(same["changed"], 0, "{same}");
    policy["contexts"]["device_context"]["maxIdentitiesPerDevice"] = json!(1);
    let r = replay(&app, &tenant, json!({"policy": policy})).await.body;
    // Ana's first attempt came before Bia was known on the tablet; Caio's phone is his alone.
    let changed: Vec<&str> =
        r["changes"].as_array().unwrap().iter().map(|c| c["attemptId"].as_str().unwrap()).collect();
    let bia_again = bia_again.body["attemptId"].as_str().unwrap();
    let ana_again = ana_again.body["attemptId"].as_str().unwrap();
    assert_eq!(changed, vec![bia_first.as_str(), bia_again, ana_again], "{r}");
    assert_eq!(r["reasons"], json!({"MAX_IDENTITIES_PER_DEVICE": 3}), "{r}");
    assert_eq!(r["candidate"]["reproved"], 3, "{r}");
}

/// A person approved alone on a device is counted when another is refused on it: replaying the saved policy
/// gives the refusal back, not a step-up (a filter that kept only devices shared by two approved people hid it).
#[tokio::test]
async fn a_refusal_for_a_device_someone_else_owns_replays_as_a_refusal() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"contexts": {"device_context": {"maxIdentitiesPerDevice": 1}}})).await;
    app.create_identity(&tenant, "ana").await;
    app.create_identity(&tenant, "bia").await;
    app.approve_by_email(&tenant, "ana", "ana-phone", RIO).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let bia = app.attempt(&tenant, "bia", "ana-phone", RIO).await;
    assert_eq!(bia.body["status"], "reproved", "{:?}", bia.body);

    let r = replay(&app, &tenant, json!({"policy": saved(&app, &tenant).await})).await.body;
    assert_eq!(r["attempts"], 2, "{r}");
    assert_eq!(r["changed"], 0, "{r}");
    assert_eq!(r["candidate"]["reproved"], 1, "{r}");
}

/// `reasons` counts the reasons a changed attempt's new outcome rests on, not every context that moved
/// beside them: a network the candidate now checks, and finds clean, beside the device it stops checking.
#[tokio::test]
async fn reasons_count_what_the_candidate_decides_on_not_what_moved_beside_it() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    // The saved policy leaves the network out.
    let mut policy = saved(&app, &tenant).await;
    let network = policy["contexts"].as_object_mut().unwrap().remove("network_context").unwrap();
    assert_eq!(app.put("/policies/pix", &backend(&tenant), policy.clone()).await.status, StatusCode::OK);
    let ids = past(&app, &tenant).await;
    // The candidate checks the network (clean for every attempt) and ignores devices: the new phone's
    // attempt is approved because of the device, and only the device's reason is counted.
    policy["contexts"]["network_context"] = network;
    policy["contexts"]["device_context"]["enabled"] = json!(false);
    let r = replay(&app, &tenant, json!({"policy": policy})).await.body;
    assert_eq!(r["transitions"], json!({"pending→approved": 1}), "{r}");
    assert_eq!(r["changes"][0]["attemptId"], ids[4].as_str(), "{r}");
    assert_eq!(r["reasons"], json!({"CONTEXT_DISABLED": 1}), "{r}");
    // The change still lists every context whose verdict differs, the network's included.
    let contexts: Vec<&str> =
        r["changes"][0]["contexts"].as_array().unwrap().iter().map(|c| c["context"].as_str().unwrap()).collect();
    assert_eq!(contexts, ["device", "network"], "{r}");
}

#[tokio::test]
async fn an_attempt_is_offered_the_step_up_means_the_person_had_when_it_was_made() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    let b = backend(&tenant);
    let patch = |body: Value| app.call(reqwest::Method::PATCH, "/identities/ana", Some(&b), Some(body));
    // While her attempts are made, Ana has an email address and no phone; since, the other way round.
    assert_eq!(patch(json!({"phone": null})).await.status, StatusCode::OK);
    past(&app, &tenant).await;
    let swapped = patch(json!({"email": null, "phone": "5521982895497"})).await;
    assert_eq!(swapped.status, StatusCode::OK, "{:?}", swapped.body);
    let saved = saved(&app, &tenant).await;
    let only = |method: &str| {
        let mut policy = saved.clone();
        policy["reauthenticationMethods"] = json!([method]);
        json!({"policy": policy})
    };
    let (by_email, by_sms) = (only("email_authentication"), only("sms_authentication"));
    let stepped_up = json!({"approved": 4, "pending": 2, "reproved": 0});
    let refused = json!({"approved": 4, "pending": 0, "reproved": 2});
    let candidate = |body: &Value| {
        let body = body.clone();
        let (app, tenant) = (&app, &tenant);
        async move { replay(app, tenant, body).await.body["candidate"].clone() }
    };

    // Her two stepped-up attempts could be stepped up by email, not by SMS: she had no phone then.
    assert_eq!(candidate(&by_email).await, stepped_up);
    assert_eq!(candidate(&by_sms).await, refused);
    // The same from their documents (judged fields of an earlier version are not read).
    app.sql("UPDATE attempts SET judged = NULL, judged_version = NULL").await;
    assert_eq!(candidate(&by_email).await, stepped_up);
    assert_eq!(candidate(&by_sms).await, refused);

    // Attempts stored before they kept their means are offered the means on file now: SMS, not email.
    assert_eq!(app.sql("UPDATE attempts SET document = json_remove(document, '$.identity.means')").await, 6);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM attempts WHERE document LIKE '%\"means\"%'").await, 0);
    assert_eq!(candidate(&by_email).await, refused);
    assert_eq!(candidate(&by_sms).await, stepped_up);
}
