//! Context intelligence end to end: the real data sets fill the attempt's document, and the policy's
//! network and location rules judge what they say. Requests reach the server through a trusted
//! proxy on loopback, so `X-Forwarded-For` carries the public address under test.

use std::net::SocketAddr;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) \
                              Chrome/131.0.0.0 Mobile Safari/537.36";
/// A residential address DB-IP places in São Paulo.
const SAO_PAULO_IP: &str = "201.6.0.1";
/// Amazon's São Paulo region: a hosting range in iporigin's list.
const AWS_SAO_PAULO: &str = "177.71.128.1";
/// A Tor exit in iporigin's list.
const TOR_EXIT: &str = "185.220.101.1";

async fn behind_proxy(configure: impl FnOnce(&mut smartauth::configuration::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        configure(s);
    })
    .await
}

async fn attempt_from(app: &TestApp, tenant: &Tenant, ip: &str, at: (f64, f64), fingerprint: &str) -> Value {
    let r = app
        .http
        .post(format!("{}/authentications", app.address))
        .bearer_auth(sdk(tenant, PERSON))
        .header("x-forwarded-for", ip)
        .header("user-agent", CHROME_ANDROID)
        .json(&json!({"policyId": "pix", "context": {
            "device": {"type": "web", "fingerPrint": fingerprint},
            "location": {"latitude": at.0, "longitude": at.1, "accuracy": 10}
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let created: Value = r.json().await.unwrap();
    let doc = app.get(&format!("/authentications/{}", created["attemptId"].as_str().unwrap()), &backend(tenant)).await;
    assert_eq!(doc.status, StatusCode::OK);
    doc.body
}

#[tokio::test]
async fn the_attempt_document_carries_device_network_and_place_facts() {
    let app = behind_proxy(|_| {}).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, SAO_PAULO_IP, SAO_PAULO, "phone-1").await;
    let context = &doc["context"];

    // The SDK's own User-Agent header, parsed as ua-parser-js would.
    let info = &context["device"]["info"];
    assert_eq!(info["userAgent"], CHROME_ANDROID);
    assert_eq!(info["browser"], json!({"name": "Chrome", "version": "131.0.0.0", "major": "131"}));
    assert_eq!(info["engine"], json!({"name": "Blink", "version": "131.0.0.0"}));
    assert_eq!(info["os"], json!({"name": "Android", "version": "14"}));
    assert_eq!(info["device"], json!({"vendor": "Samsung", "model": "SM-S918B", "type": "mobile"}));
    assert_eq!(info["cpu"], json!({"architecture": null}));
    assert_eq!(context["device"]["deviceKey"].as_str().unwrap().len(), 32);

    let network = &context["network"];
    assert_eq!(network["ip"], SAO_PAULO_IP);
    assert!(network["asCode"].as_u64().unwrap() > 0, "{network}");
    assert!(!network["asName"].as_str().unwrap().is_empty());
    assert_eq!(network["isVpn"], false);
    assert_eq!(network["isTor"], false);
    assert_eq!(network["isHosting"], false);
    assert_eq!(doc["contextEvaluation"]["network_context"]["reason"], "NO_NETWORK_RISK");
    let at = &network["location"];
    assert_eq!((&at["city"], &at["region"]), (&json!("São Paulo"), &json!("São Paulo")));
    assert_eq!((&at["regionCode"], &at["country"], &at["countryCode"]), (&json!("SP"), &json!("Brazil"), &json!("BR")));

    let place = &context["location"]["reverseGeolocation"];
    assert_eq!(place["city"], "São Paulo");
    assert_eq!(place["region"], "São Paulo");
    assert_eq!(place["regionCode"], "SP");
    assert_eq!(place["country"], "Brazil");
    assert_eq!(place["countryCode"], "BR");
    assert_eq!(place["formattedAddress"], "São Paulo - SP, Brazil");
    // No street geocoder is configured: street-level fields are null, not invented.
    for field in ["streetName", "streetNumber", "neighborhood", "zipcode"] {
        assert_eq!(place[field], Value::Null, "{field}");
    }
    assert_eq!(context["location"]["flags"], json!([]));
}

#[tokio::test]
async fn a_tor_exit_is_refused_when_the_policy_disallows_tor() {
    let app = behind_proxy(|_| {}).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({"contexts": {"network_context": {"allowTor": false}}})).await;
    let doc = attempt_from(&app, &tenant, TOR_EXIT, SAO_PAULO, "phone-1").await;
    assert_eq!(doc["status"], "reproved");
    assert_eq!(doc["isBlocked"], true);
    assert_eq!(doc["contextEvaluation"]["network_context"]["reason"], "TOR_NOT_ALLOWED");
    assert_eq!(doc["context"]["network"]["isTor"], true);
    assert_eq!(doc["context"]["network"]["provider"], "Tor (tor)");
}

#[tokio::test]
async fn a_cloud_address_asks_for_a_step_up_and_names_its_provider() {
    let app = behind_proxy(|_| {}).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, AWS_SAO_PAULO, SAO_PAULO, "phone-1").await;
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["contextEvaluation"]["network_context"]["reason"], "HOSTING_NOT_ALLOWED");
    assert_eq!(doc["context"]["network"]["isHosting"], true);
    assert_eq!(doc["context"]["network"]["provider"], "Amazon AWS (hosting)");
    assert_eq!(doc["context"]["network"]["asCode"], 16509);
}

#[tokio::test]
async fn a_device_in_a_blocked_country_is_refused_and_flagged_as_far_from_its_address() {
    let app = behind_proxy(|_| {}).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({"contexts": {"location_context": {"blockedCountries": ["PT"]}}})).await;
    let doc = attempt_from(&app, &tenant, SAO_PAULO_IP, (38.7223, -9.1393), "phone-1").await;
    assert_eq!(doc["status"], "reproved");
    assert_eq!(doc["contextEvaluation"]["location_context"]["reason"], "BLOCKED_COUNTRY");
    assert_eq!(doc["context"]["location"]["reverseGeolocation"]["countryCode"], "PT");
    assert_eq!(doc["context"]["location"]["flags"], json!(["FAR_FROM_IP_COUNTRY"]));
}

#[tokio::test]
async fn coordinates_at_0_0_ask_for_a_step_up() {
    let app = behind_proxy(|_| {}).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, SAO_PAULO_IP, (0.0, 0.0), "phone-1").await;
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["contextEvaluation"]["location_context"]["reason"], "SUSPICIOUS_COORDINATES");
    let flags = doc["context"]["location"]["flags"].as_array().unwrap().clone();
    assert!(flags.contains(&json!("NULL_ISLAND")), "{flags:?}");
}

#[tokio::test]
async fn a_backend_call_does_not_take_its_own_user_agent_for_the_persons_device() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let r = app
        .http
        .post(format!("{}/authentications", app.address))
        .bearer_auth(backend(&tenant))
        .header("user-agent", "python-requests/2.32.3")
        .json(&json!({"policyId": "pix", "personId": PERSON, "context": {"device": {"fingerPrint": "x"}}}))
        .send()
        .await
        .unwrap();
    let created: Value = r.json().await.unwrap();
    let doc = app.get(&format!("/authentications/{}", created["attemptId"].as_str().unwrap()), &backend(&tenant)).await;
    assert_eq!(doc.body["context"]["device"]["info"]["userAgent"], Value::Null);
    assert_eq!(doc.body["context"]["device"]["info"]["browser"]["name"], Value::Null);
}

/// A Nominatim-compatible endpoint: answers `/reverse` with a fixed Brazilian address, and says which
/// point it was asked about.
async fn nominatim(fail: bool) -> SocketAddr {
    let app = Router::new().route(
        "/reverse",
        get(move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
            if fail {
                return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": "down"})));
            }
            assert_eq!(q.get("format").map(String::as_str), Some("jsonv2"));
            assert!(q["lat"].starts_with("-23.56"), "{q:?}");
            (
                axum::http::StatusCode::OK,
                axum::Json(json!({"address": {
                    "house_number": "1578", "road": "Avenida Paulista", "suburb": "Bela Vista",
                    "city": "São Paulo", "state": "São Paulo", "postcode": "01310-200",
                    "country": "Brasil", "country_code": "br"
                }})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

#[tokio::test]
async fn a_street_geocoder_adds_street_level_fields() {
    let geocoder = nominatim(false).await;
    let app = behind_proxy(|s| s.geocoder_url = Some(format!("http://{geocoder}"))).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, SAO_PAULO_IP, SAO_PAULO, "phone-1").await;
    let place = &doc["context"]["location"]["reverseGeolocation"];
    assert_eq!(place["streetName"], "Avenida Paulista");
    assert_eq!(place["streetNumber"], "1578");
    assert_eq!(place["neighborhood"], "Bela Vista");
    assert_eq!(place["zipcode"], "01310-200");
    assert_eq!(place["formattedAddress"], "Avenida Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200, Brazil");
}

#[tokio::test]
async fn a_failing_street_geocoder_leaves_street_fields_null_and_the_attempt_goes_on() {
    let geocoder = nominatim(true).await;
    let app = behind_proxy(|s| s.geocoder_url = Some(format!("http://{geocoder}"))).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, SAO_PAULO_IP, SAO_PAULO, "phone-1").await;
    let place = &doc["context"]["location"]["reverseGeolocation"];
    assert_eq!(place["streetName"], Value::Null);
    assert_eq!(place["city"], "São Paulo");
    assert_eq!(doc["status"], "pending");
}

#[tokio::test]
async fn without_data_sets_the_server_runs_with_null_fields_and_says_what_is_missing() {
    let empty = tempfile::tempdir().unwrap();
    let app = behind_proxy(|s| s.intel.dir = empty.path().to_path_buf()).await;
    let ready = app.get("/ready", "").await;
    assert_eq!(ready.status, StatusCode::OK);
    let sets = ready.body["dataSets"].as_array().unwrap();
    let loaded = |name: &str| sets.iter().find(|s| s["name"] == name).unwrap()["loaded"].clone();
    assert_eq!(loaded("ipCity"), false);
    assert_eq!(loaded("ipAnonymizers"), false);
    assert_eq!(loaded("userAgents"), false);
    assert_eq!(loaded("places"), true, "the compiled-in places table is always there");

    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, TOR_EXIT, SAO_PAULO, "phone-1").await;
    assert_eq!(doc["context"]["network"]["isTor"], Value::Null);
    assert_eq!(doc["context"]["network"]["asCode"], Value::Null);
    assert_eq!(doc["context"]["device"]["info"]["browser"]["name"], Value::Null);
    // The compiled-in GeoNames table, in its ASCII spelling; without ISO 3166 data there is no region code.
    let place = &doc["context"]["location"]["reverseGeolocation"];
    assert_eq!(
        (&place["city"], &place["region"], &place["countryCode"]),
        (&json!("Sao Paulo"), &json!("Sao Paulo"), &json!("BR"))
    );
    assert_eq!(place["regionCode"], Value::Null);
}

#[tokio::test]
async fn ready_reports_every_data_set_with_its_date() {
    let app = spawn_app().await;
    let ready = app.get("/ready", "").await;
    let sets = ready.body["dataSets"].as_array().unwrap();
    for s in sets {
        assert_eq!(s["loaded"], true, "{s}");
    }
    let asn = sets.iter().find(|s| s["name"] == "ipAsn").unwrap();
    assert_eq!(asn["date"], "2026-06-17");
    assert!(asn["entries"].as_u64().unwrap() > 400_000);
}

#[tokio::test]
async fn erasing_the_person_scrubs_place_device_and_network_detail_from_their_attempts() {
    let app = behind_proxy(|_| {}).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let doc = attempt_from(&app, &tenant, SAO_PAULO_IP, SAO_PAULO, "phone-1").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let erased =
        app.call(reqwest::Method::DELETE, &format!("/identities/{PERSON_DIGITS}"), Some(&backend(&tenant)), None).await;
    assert!(erased.status.is_success(), "{:?}", erased.body);
    let after = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body;
    let context = &after["context"];
    assert_eq!(context["location"]["reverseGeolocation"]["city"], Value::Null);
    assert_eq!(context["location"]["reverseGeolocation"]["formattedAddress"], Value::Null);
    assert_eq!(context["device"]["deviceKey"], Value::Null);
    assert_eq!(context["device"]["info"]["browser"]["name"], Value::Null);
    assert_eq!(context["network"]["location"]["city"], Value::Null);
    assert_eq!(context["network"]["asName"], Value::Null);
    assert_eq!(context["network"]["location"]["countryCode"], "BR");
}

#[tokio::test]
async fn travel_is_judged_on_what_the_fixes_can_tell_apart() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    // Approved on a precise fix on Paulista Avenue, then 16 km east seconds later.
    app.approve_by_email(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    let east = (SAO_PAULO.0, SAO_PAULO.1 + 0.157);
    let reason = |accuracy: f64| {
        let body = json!({"policyId": "pix", "context": {
            "device": {"type": "web", "fingerPrint": "phone-1"},
            "location": {"latitude": east.0, "longitude": east.1, "accuracy": accuracy}}});
        let (app, tenant) = (&app, &tenant);
        async move {
            let a = app.post("/authentications", &sdk(tenant, PERSON), body).await;
            let id = a.body["attemptId"].as_str().unwrap().to_owned();
            let doc = app.get(&format!("/authentications/{id}"), &backend(tenant)).await;
            doc.body["contextEvaluation"]["location_context"]["reason"].as_str().unwrap().to_owned()
        }
    };
    // A precise fix there is a jump no one makes in seconds; a coarse network fix 20 km wide may be the same place.
    assert_eq!(reason(15.0).await, "IMPOSSIBLE_TRAVEL");
    assert_eq!(reason(20_000.0).await, "KNOWN_LOCATION");
}

#[tokio::test]
async fn client_hints_beat_the_frozen_user_agent_string() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    // Edge on Windows 11 still writes "Windows NT 10.0" and a Chrome token in its User-Agent.
    let frozen = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0";
    let body = json!({"policyId": "pix", "context": {"device": {"type": "web", "fingerPrint": "hints-1"},
                      "location": {"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": 10.0}}});
    let info = |id: String| {
        let app = &app;
        let tenant = &tenant;
        async move {
            let doc = app.get(&format!("/authentications/{id}"), &backend(tenant)).await;
            doc.body["context"]["device"]["info"].clone()
        }
    };
    // From the browser's own headers (an SDK call).
    let a = app
        .http
        .post(format!("{}/authentications", app.address))
        .bearer_auth(sdk(&tenant, PERSON))
        .header("user-agent", frozen)
        .header("sec-ch-ua", r#""Not A(Brand";v="99", "Microsoft Edge";v="121", "Chromium";v="121""#)
        .header(
            "sec-ch-ua-full-version-list",
            r#""Not A(Brand";v="99.0.0.0", "Microsoft Edge";v="121.0.2277.83", "Chromium";v="121.0.6167.85""#,
        )
        .header("sec-ch-ua-platform", r#""Windows""#)
        .header("sec-ch-ua-platform-version", r#""15.0.0""#)
        .header("sec-ch-ua-mobile", "?0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    let id = a.json::<Value>().await.unwrap()["attemptId"].as_str().unwrap().to_owned();
    let got = info(id).await;
    assert_eq!((got["os"]["name"].as_str(), got["os"]["version"].as_str()), (Some("Windows"), Some("11")), "{got}");
    assert_eq!(
        (got["browser"]["name"].as_str(), got["browser"]["version"].as_str()),
        (Some("Edge"), Some("121.0.2277.83"))
    );
    // From the body, as a mobile SDK or the web SDK sends them: an Android phone whose string hides its model.
    let mut body = body;
    body["context"]["device"]["userAgent"] = json!("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Mobile Safari/537.36");
    body["context"]["device"]["providedInfo"] = json!({"clientHints": {"platform": "Android", "platformVersion": "14.0.0",
        "model": "SM-S918B", "mobile": true, "fullVersionList": "Google Chrome 121.0.6167.101, Chromium 121.0.6167.101"}});
    let a = app.post("/authentications", &sdk(&tenant, PERSON), body).await;
    let got = info(a.body["attemptId"].as_str().unwrap().to_owned()).await;
    assert_eq!((got["os"]["name"].as_str(), got["os"]["version"].as_str()), (Some("Android"), Some("14.0.0")), "{got}");
    assert_eq!((got["device"]["model"].as_str(), got["device"]["type"].as_str()), (Some("SM-S918B"), Some("mobile")));
    assert_eq!(got["browser"]["name"], "Chrome");
}

#[tokio::test]
async fn malformed_client_hints_are_a_400_that_stores_nothing() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    for (hints, field) in [
        (json!({"platform": "W".repeat(65)}), "clientHints.platform"),
        (json!({"model": "SM-S918B\u{202E}"}), "clientHints.model"),
        (json!({"mobile": "yes"}), "mobile"),
    ] {
        let body = json!({"policyId": "pix", "context": {"device": {"type": "web", "fingerPrint": "h-1", "clientHints": hints}}});
        let a = app.post("/authentications", &sdk(&tenant, PERSON), body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{hints}: {:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains(field), "{hints}: {:?}", a.body);
    }
    assert_eq!(app.count_rows("attempts").await, 0, "refused attempts change nothing");
}

/// An attempt under `policy` by `person` on a web `fingerprint` at `at`, and the document it was stored as.
async fn judged_attempt(
    app: &TestApp,
    tenant: &Tenant,
    policy: &str,
    person: &str,
    fingerprint: &str,
    at: (f64, f64),
) -> Value {
    let body = json!({"policyId": policy, "context": {
        "device": {"type": "web", "fingerPrint": fingerprint},
        "location": {"latitude": at.0, "longitude": at.1, "accuracy": 10.0}}});
    let a = app.post("/authentications", &sdk(tenant, person), body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let id = a.body["attemptId"].as_str().unwrap().to_owned();
    app.get(&format!("/authentications/{id}"), &backend(tenant)).await.body
}

/// A policy that does not look at a place does not vouch for it: an approval under it must not make the
/// place known to the policies that do look, nor be the last approved place a travel is measured from (a
/// known phone approved passively for a login that ignores places must not make a new city safe for
/// transfers). The replay rebuilds the same past.
#[tokio::test]
async fn a_policy_that_does_not_look_at_a_context_does_not_teach_it_to_the_strict_ones() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.approve_by_email(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    // `login` looks at devices only (a context left out is not evaluated), and the answer says so.
    let pix = app.get("/policies/pix", &backend(&tenant)).await.body;
    let login = json!({"name": "login", "contexts": {"device_context": pix["contexts"]["device_context"]},
                       "reauthenticationMethods": ["email_authentication"]});
    let a = app.put("/policies/login", &backend(&tenant), login.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let warnings = a.body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().all(|w| w.as_str().unwrap().contains("so it is not evaluated")), "{warnings:?}");
    const MANAUS: (f64, f64) = (-3.119, -60.0217);
    let attempt = |policy, fingerprint, at| judged_attempt(&app, &tenant, policy, PERSON, fingerprint, at);
    // The known phone in a new city, then back home: `login` approves both without looking at the place.
    let away = attempt("login", "phone-1", MANAUS).await;
    assert_eq!(away["status"], "approved", "{away}");
    assert_eq!(away["contextEvaluation"]["location_context"]["reason"], "CONTEXT_DISABLED");
    let back = attempt("login", "phone-1", SAO_PAULO).await;
    assert_eq!(back["status"], "approved", "{back}");
    // A transfer from that city is not approved passively (it was, as KNOWN_LOCATION): the city is not known,
    // and the last place vouched for is São Paulo, 2,700 km away a moment ago.
    let transfer = attempt("pix", "phone-1", MANAUS).await;
    assert_eq!(transfer["contextEvaluation"]["location_context"]["reason"], "IMPOSSIBLE_TRAVEL", "{transfer}");
    assert_eq!(transfer["status"], "pending");
    // Nor is the login's city the last approved place: a transfer from São Paulo a moment later is no travel.
    let home = attempt("pix", "phone-1", SAO_PAULO).await;
    assert_eq!(home["status"], "approved", "{home}");
    // A step-up vouches for everything its attempt carried: the person proved who they are, there, on it.
    app.approve_by_email(&tenant, PERSON, "phone-3", MANAUS).await;
    let transfer = attempt("pix", "phone-3", MANAUS).await;
    assert_eq!(transfer["status"], "approved", "{transfer}");

    // Replaying the saved policy over these attempts decides each as it was decided: the past it rebuilds
    // learns what the live attempts learnt.
    let replay = app.post("/policies/pix/replay", &backend(&tenant), json!({"policy": pix, "limit": 100})).await;
    assert_eq!(replay.status, StatusCode::OK, "{:?}", replay.body);
    assert_eq!((&replay.body["attempts"], &replay.body["changed"]), (&json!(5), &json!(0)), "{}", replay.body);
    // Replaying `login` with places looked at: the trip to Manaus would have been stepped up, and the return
    // home measured from the last place vouched for (São Paulo), not from Manaus, whether the replay starts
    // before the trip or after it.
    let mut candidate = login.clone();
    candidate["contexts"]["location_context"] = pix["contexts"]["location_context"].clone();
    let replay = app.post("/policies/login/replay", &backend(&tenant), json!({"policy": candidate})).await.body;
    assert_eq!(replay["attempts"], 2, "{replay}");
    assert_eq!(replay["changed"], 1, "{replay}");
    assert_eq!(replay["changes"][0]["attemptId"], away["id"], "{replay}");
}

/// A policy that does not look at devices does not make a new phone known either: approved under it, the
/// phone is still new to the policies that look. It counts all the same among the device's people
/// (`maxIdentitiesPerDevice`), so a device-blind login cannot hide a ring of accounts on one phone. The
/// replay rebuilds the same.
#[tokio::test]
async fn a_device_blind_policy_records_a_phone_without_making_it_known() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.approve_by_email(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    let pix = app.get("/policies/pix", &backend(&tenant)).await.body;
    assert_eq!(pix["contexts"]["device_context"]["maxIdentitiesPerDevice"], 2, "{pix}");
    let login = json!({"name": "login", "contexts": {"network_context": pix["contexts"]["network_context"]},
                       "reauthenticationMethods": ["email_authentication"]});
    let a = app.put("/policies/login", &backend(&tenant), login).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let attempt = |policy, person| judged_attempt(&app, &tenant, policy, person, "phone-9", SAO_PAULO);
    let login = attempt("login", PERSON).await;
    assert_eq!(login["status"], "approved", "{login}");
    assert_eq!(login["contextEvaluation"]["device_context"]["reason"], "CONTEXT_DISABLED");
    // At home, but on a phone no policy that looks at devices has seen: a step-up (it was KNOWN_DEVICE).
    let transfer = attempt("pix", PERSON).await;
    assert_eq!(transfer["contextEvaluation"]["device_context"]["reason"], "NEW_DEVICE", "{transfer}");
    assert_eq!(transfer["status"], "pending");
    // Two more people log in on that phone: with João, three were approved on it, and a fourth's transfer
    // is refused for the people on the device, as if every policy had looked.
    for person in ["ana", "bia", "caio"] {
        app.create_identity(&tenant, person).await;
    }
    for person in ["ana", "bia"] {
        assert_eq!(attempt("login", person).await["status"], "approved");
    }
    let ring = attempt("pix", "caio").await;
    assert_eq!(ring["contextEvaluation"]["device_context"]["reason"], "MAX_IDENTITIES_PER_DEVICE", "{ring}");
    assert_eq!(ring["status"], "reproved", "{ring}");
    // The replay of pix decides both as they were decided.
    let replay = app.post("/policies/pix/replay", &backend(&tenant), json!({"policy": pix, "limit": 100})).await;
    assert_eq!(replay.status, StatusCode::OK, "{:?}", replay.body);
    assert_eq!((&replay.body["attempts"], &replay.body["changed"]), (&json!(3), &json!(0)), "{}", replay.body);
}
