//! Issue 8, guessing and message bombing across attempts: a person's failed verifications are counted
//! across attempts and lock their code and face methods; codes sent are capped per person and per
//! destination, failed deliveries included; refused tokens, SDK calls and devices are throttled per
//! address with 429 and `Retry-After`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use smartauth::limits::Limits;
use smartauth_domain::lockout::LockoutRules;

use crate::helpers::*;

const PERSON: &str = "95236098076";
const SAO_PAULO: (f64, f64) = (-23.5614, -46.6559);

/// A new pending attempt (a device never seen) with an SMS code sent; returns its id.
async fn attempt_with_code(app: &TestApp, tenant: &Tenant, n: usize) -> String {
    let a = app.attempt(tenant, PERSON, &format!("device-{n}"), SAO_PAULO).await;
    assert_eq!(a.body["status"], "pending", "{:?}", a.body);
    let id = a.body["attemptId"].as_str().unwrap().to_owned();
    let sent = send(app, tenant, &id).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    id
}

async fn send(app: &TestApp, tenant: &Tenant, attempt: &str) -> Answer {
    let path = format!("/authentications/{attempt}/methods/sms_authentication/send");
    app.post(&path, &sdk(tenant, PERSON), json!({})).await
}

async fn verify(app: &TestApp, tenant: &Tenant, attempt: &str, code: &str) -> Answer {
    let path = format!("/authentications/{attempt}/methods/sms_authentication/verify");
    app.post(&path, &sdk(tenant, PERSON), json!({"code": code})).await
}

/// A code that is not the one sent.
fn wrong(right: &str) -> String {
    if right == "00000000" { "11111111" } else { "00000000" }.to_owned()
}

fn retry_after(a: &Answer) -> u64 {
    a.headers.get("retry-after").expect("a 429 says when to retry").to_str().unwrap().parse().unwrap()
}

async fn lockout_of(app: &TestApp, tenant: &Tenant) -> Value {
    let a = app.get(&format!("/identities/{PERSON}"), &backend(tenant)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body["lockout"].clone()
}

#[tokio::test]
async fn wrong_codes_across_attempts_lock_the_person_until_the_tenant_unlocks() {
    let app = spawn_app_with(|s| {
        s.limits.lockout = LockoutRules::new(20, 20, 0).unwrap();
        s.limits.sends.per_hour = 100;
        s.limits.sends.per_day = 100;
    })
    .await;
    let tenant = app.tenant_with_person(PERSON).await;
    // Three wrong codes per attempt close the method for that attempt only; a new attempt and a new
    // code do not reset the person's count.
    let mut tries = 0;
    let mut last = String::new();
    'attempts: for n in 0.. {
        last = attempt_with_code(&app, &tenant, n).await;
        let code = app.last_sms_code(8);
        for _ in 0..3 {
            let v = verify(&app, &tenant, &last, &wrong(&code)).await;
            assert_eq!(v.status, StatusCode::OK, "try {tries}: {:?}", v.body);
            tries += 1;
            if tries == 19 {
                break 'attempts;
            }
        }
    }
    // The 20th wrong code locks; then even the right code is refused.
    let fresh = attempt_with_code(&app, &tenant, 99).await;
    let right = app.last_sms_code(8);
    let v = verify(&app, &tenant, &fresh, &wrong(&right)).await;
    assert_eq!(v.body["isAuthorized"], false, "{:?}", v.body);
    let locked = verify(&app, &tenant, &fresh, &right).await;
    assert_eq!(locked.status, StatusCode::LOCKED, "{:?}", locked.body);
    assert_eq!(locked.body["code"], "LOCKED");
    assert!(locked.body["message"].as_str().unwrap().contains("unlock"), "{:?}", locked.body);
    // Nor can a new code be sent to a locked person.
    let refused = send(&app, &tenant, &last).await;
    assert_ne!(refused.status, StatusCode::OK, "{:?}", refused.body);
    let state = lockout_of(&app, &tenant).await;
    assert_eq!((state["locked"].clone(), state["consecutiveFailures"].clone()), (json!(true), json!(20)), "{state}");

    // An SDK token (the person's own session) cannot unlock; the tenant's backend can.
    let path = format!("/identities/{PERSON}/unlock");
    assert_eq!(app.post(&path, &sdk(&tenant, PERSON), json!({})).await.status, StatusCode::FORBIDDEN);
    let unlocked = app.post(&path, &backend(&tenant), json!({})).await;
    assert_eq!(unlocked.status, StatusCode::OK, "{:?}", unlocked.body);
    assert_eq!(unlocked.body["unlocked"], true, "{:?}", unlocked.body);
    let approved = verify(&app, &tenant, &fresh, &right).await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);
    assert_eq!(lockout_of(&app, &tenant).await["consecutiveFailures"], 0);
}

#[tokio::test]
async fn past_the_free_failures_each_try_waits_longer_and_a_success_resets_the_count() {
    let app = spawn_app().await; // the defaults: 5 free failures, then 1 s, 2 s, ...
    let tenant = app.tenant_with_person(PERSON).await;
    let first = attempt_with_code(&app, &tenant, 0).await;
    let code = app.last_sms_code(8);
    for _ in 0..3 {
        verify(&app, &tenant, &first, &wrong(&code)).await;
    }
    let second = attempt_with_code(&app, &tenant, 1).await;
    let right = app.last_sms_code(8);
    for _ in 0..2 {
        assert_eq!(verify(&app, &tenant, &second, &wrong(&right)).await.status, StatusCode::OK);
    }
    // Five failures across two attempts: the sixth try must wait a second, and is not counted.
    let early = verify(&app, &tenant, &second, &right).await;
    assert_eq!(early.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", early.body);
    assert_eq!(retry_after(&early), 1);
    assert_eq!(lockout_of(&app, &tenant).await["consecutiveFailures"], 5);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let approved = verify(&app, &tenant, &second, &right).await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);
    let state = lockout_of(&app, &tenant).await;
    assert_eq!((state["consecutiveFailures"].clone(), state["locked"].clone()), (json!(0), json!(false)));
    let own = app.get(&format!("/identities/{PERSON}"), &sdk(&tenant, PERSON)).await;
    assert!(own.body.get("lockout").is_none(), "an SDK token is not told how to pace its guesses: {:?}", own.body);
}

#[tokio::test]
async fn the_right_code_on_the_try_that_reaches_the_threshold_leaves_the_person_unlocked() {
    let app = spawn_app_with(|s| s.limits.lockout = LockoutRules::new(3, 3, 0).unwrap()).await;
    let tenant = app.tenant_with_person(PERSON).await;
    let id = attempt_with_code(&app, &tenant, 0).await;
    let code = app.last_sms_code(8);
    for _ in 0..2 {
        verify(&app, &tenant, &id, &wrong(&code)).await;
    }
    // The third try is counted (and would lock) before it is compared; it is right.
    let approved = verify(&app, &tenant, &id, &code).await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);
    let state = lockout_of(&app, &tenant).await;
    assert_eq!((state["locked"].clone(), state["codeFailures"].clone()), (json!(false), json!(0)), "{state}");
    assert_eq!(attempt_with_code(&app, &tenant, 1).await.len(), 24, "the next step-up sends its code");
}

#[tokio::test]
async fn a_face_accepted_does_not_forget_the_wrong_codes() {
    use base64::Engine;
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["sms_authentication", "face_authentication"]}))
        .await;
    let face = |name: &str| {
        let path = format!("{}/../../data/test-fixtures/faces/{name}", env!("CARGO_MANIFEST_DIR"));
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(path).expect("bash scripts/fetch-data.sh --test-fixtures"))
    };
    let person =
        json!({"personId": PERSON, "name": "John Doe", "phone": "5521982895497", "image": face("fr_obama.jpg")});
    assert_eq!(app.post("/identities", &backend(&tenant), person).await.status, StatusCode::OK);
    let first = attempt_with_code(&app, &tenant, 0).await;
    let code = app.last_sms_code(8);
    for _ in 0..3 {
        verify(&app, &tenant, &first, &wrong(&code)).await;
    }
    let a = app.attempt(&tenant, PERSON, "device-1", SAO_PAULO).await;
    let attempt = a.body["attemptId"].as_str().unwrap();
    let path = format!("/authentications/{attempt}/methods/face_authentication/verify");
    let faced = app.post(&path, &sdk(&tenant, PERSON), json!({"image": face("fr_obama2.jpg")})).await;
    assert_eq!(faced.body["status"], "approved", "{:?}", faced.body);
    // The face's success is the face's: a lax face policy must not reopen guessing the codes.
    let state = lockout_of(&app, &tenant).await;
    assert_eq!((state["codeFailures"].clone(), state["faceFailures"].clone()), (json!(3), json!(0)), "{state}");
    assert_eq!(state["consecutiveFailures"], 3);
}

#[tokio::test]
async fn the_operator_can_unlock_a_person_of_any_tenant() {
    let app = spawn_app_with(|s| s.limits.lockout = LockoutRules::new(2, 2, 0).unwrap()).await;
    let tenant = app.tenant_with_person(PERSON).await;
    let id = attempt_with_code(&app, &tenant, 0).await;
    let code = app.last_sms_code(8);
    for _ in 0..2 {
        verify(&app, &tenant, &id, &wrong(&code)).await;
    }
    assert_eq!(verify(&app, &tenant, &id, &code).await.status, StatusCode::LOCKED);
    let path = format!("/admin/clients/{}/identities/{PERSON}/unlock", tenant.client_id);
    assert_eq!(app.post(&path, &backend(&tenant), json!({})).await.status, StatusCode::UNAUTHORIZED);
    let unlocked = app.post(&path, ADMIN_TOKEN, json!({})).await;
    assert_eq!(unlocked.body["unlocked"], true, "{:?}", unlocked.body);
    let nobody = format!("/admin/clients/{}/identities/00000000000/unlock", tenant.client_id);
    assert_eq!(app.post(&nobody, ADMIN_TOKEN, json!({})).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_policy_may_allow_more_than_five_tries_per_code_or_face() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    for body in
        [json!({"name": "lax", "codes": {"maxAttempts": 10}}), json!({"name": "lax", "face": {"maxAttempts": 6}})]
    {
        let a = app.put("/policies/lax", &backend(&tenant), body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains("between 1 and 5"), "{:?}", a.body);
    }
}

#[tokio::test]
async fn codes_to_one_person_are_capped_across_attempts() {
    let app = spawn_app().await; // 6 an hour
    let tenant = app.tenant_with_person(PERSON).await;
    for n in 0..6 {
        attempt_with_code(&app, &tenant, n).await;
    }
    let a = app.attempt(&tenant, PERSON, "device-7", SAO_PAULO).await;
    let id = a.body["attemptId"].as_str().unwrap().to_owned();
    let capped = send(&app, &tenant, &id).await;
    assert_eq!(capped.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", capped.body);
    let wait = retry_after(&capped);
    assert!((3500..=3600).contains(&wait), "the first send leaves the hour in about an hour: {wait}");
    assert_eq!(app.sms.received.lock().unwrap().len(), 6, "the seventh message was not sent");
}

#[tokio::test]
async fn codes_to_one_phone_are_capped_across_people() {
    let app = spawn_app_with(|s| s.limits.sends.per_hour = 2).await;
    let tenant = app.tenant_with_person(PERSON).await;
    // Another person with the same phone number (create_identity gives everyone the same one).
    app.create_identity(&tenant, "11144477735").await;
    for n in 0..2 {
        attempt_with_code(&app, &tenant, n).await;
    }
    let a = app.attempt(&tenant, "11144477735", "device-x", SAO_PAULO).await;
    let id = a.body["attemptId"].as_str().unwrap().to_owned();
    let path = format!("/authentications/{id}/methods/sms_authentication/send");
    let capped = app.post(&path, &sdk(&tenant, "11144477735"), json!({})).await;
    assert_eq!(capped.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", capped.body);
    // Email is another destination, within its own cap.
    let path = format!("/authentications/{id}/methods/email_authentication/send");
    let email = app.post(&path, &sdk(&tenant, "11144477735"), json!({})).await;
    assert_eq!(email.status, StatusCode::OK, "{:?}", email.body);
}

#[tokio::test]
async fn sub_addresses_and_gmail_dots_of_one_mailbox_share_its_cap() {
    let app = spawn_app_with(|s| s.limits.sends.per_hour = 2).await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["email_authentication"]})).await;
    // Four people, one inbox: victim+1@, victim+2@, v.i.c.t.i.m@ and victim@ｇmail all reach victim@gmail.com.
    let people = [
        ("11144477735", "Victim+1@gmail.com"),
        ("52998224725", "victim+2@gmail.com"),
        (PERSON, "v.i.c.t.i.m@gmail.com"),
        ("39053344705", "victim@\u{FF47}mail.com"), // a fullwidth g: the same domain to a relay (UTS #46)
    ];
    let mut answers = Vec::new();
    for (n, (person, email)) in people.iter().enumerate() {
        let created =
            app.post("/identities", &backend(&tenant), json!({"personId": person, "name": "V", "email": email})).await;
        assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
        let a = app.attempt(&tenant, person, &format!("device-{n}"), SAO_PAULO).await;
        let id = a.body["attemptId"].as_str().unwrap().to_owned();
        let path = format!("/authentications/{id}/methods/email_authentication/send");
        answers.push(app.post(&path, &sdk(&tenant, person), json!({})).await.status);
    }
    assert_eq!(answers, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
}

#[tokio::test]
async fn a_gateway_that_fails_after_storing_still_counts_against_the_resend_delay() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    *app.sms.failing_after_storing.lock().unwrap() = true;
    let a = app.attempt(&tenant, PERSON, "device-0", SAO_PAULO).await;
    let id = a.body["attemptId"].as_str().unwrap().to_owned();
    let first = send(&app, &tenant, &id).await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY, "{:?}", first.body);
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(send(&app, &tenant, &id).await.status);
    }
    assert!(answers.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{answers:?}");
    assert_eq!(app.sms.received.lock().unwrap().len(), 1, "one message reached the gateway");
}

#[tokio::test]
async fn refused_admin_tokens_from_one_address_are_throttled_even_before_the_right_one() {
    let app = spawn_app().await; // 20 refusals a minute
    let mut statuses = Vec::new();
    for n in 0..25 {
        statuses.push(app.get("/admin/clients", &format!("guess-{n}")).await.status);
    }
    assert!(statuses[..20].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let right = app.get("/admin/clients", ADMIN_TOKEN).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "a guess that is right is refused while throttled");
    assert!((1..=60).contains(&retry_after(&right)));
}

#[tokio::test]
async fn refused_tenant_tokens_are_throttled_per_address() {
    let app = spawn_app_with(|s| s.limits.auth_failures_per_minute = 3).await;
    let tenant = app.new_tenant().await;
    let forged = Tenant { client_id: tenant.client_id.clone(), secret: "not-the-secret".into() };
    for _ in 0..3 {
        assert_eq!(app.get("/policies", &backend(&forged)).await.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = app.get("/policies", &backend(&forged)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", throttled.body);
    assert_eq!(throttled.body["code"], "TOO_MANY_REQUESTS");
}

#[tokio::test]
async fn sdk_calls_from_one_address_are_throttled_but_not_the_backend() {
    let app = spawn_app_with(|s| s.limits.sdk_per_minute = 3).await;
    let tenant = app.tenant_with_person(PERSON).await;
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/identities/{PERSON}"), &sdk(&tenant, PERSON)).await.status, StatusCode::OK);
    }
    let throttled = app.get(&format!("/identities/{PERSON}"), &sdk(&tenant, PERSON)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", throttled.body);
    assert!(retry_after(&throttled) >= 1);
    assert_eq!(app.get(&format!("/identities/{PERSON}"), &backend(&tenant)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn attempts_from_one_device_are_throttled() {
    let app = spawn_app_with(|s| s.limits = Limits { device_per_minute: 2, ..Limits::default() }).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.create_identity(&tenant, "11144477735").await;
    for _ in 0..2 {
        let a = app.attempt(&tenant, PERSON, "shared-device", SAO_PAULO).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    }
    let third = app.attempt(&tenant, PERSON, "shared-device", SAO_PAULO).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", third.body);
    let other_device = app.attempt(&tenant, PERSON, "another-device", SAO_PAULO).await;
    assert_eq!(other_device.status, StatusCode::OK, "{:?}", other_device.body);
    // From a browser (an SDK token), someone else sending this device's fingerprint does not hold up its own
    // person, nor the reverse.
    let body = |fingerprint: &str| {
        json!({"policyId": "pix", "context": {"device": {"type": "web", "fingerPrint": fingerprint},
               "location": {"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": 10.0}}})
    };
    for _ in 0..2 {
        let mine = app.post("/authentications", &sdk(&tenant, PERSON), body("browser")).await;
        assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
    }
    let stranger = app.post("/authentications", &sdk(&tenant, "11144477735"), body("browser")).await;
    assert_eq!(stranger.status, StatusCode::OK, "{:?}", stranger.body);
    // From the tenant's backend, one device tried for many people is throttled.
    let reported = |person: &str| {
        let mut b = body("reported-device");
        b["personId"] = json!(person);
        b
    };
    for person in [PERSON, "11144477735"] {
        let a = app.post("/authentications", &backend(&tenant), reported(person)).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    }
    let third = app.post("/authentications", &backend(&tenant), reported("52998224725")).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", third.body);
}
