use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_identity_is_created_read_updated_and_stored_normalized() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let b = backend(&tenant);
    let made =
        app.post("/identities", &b, json!({"personId": PERSON, "name": "John Doe", "email": "john@example.com"})).await;
    assert_eq!(made.status, StatusCode::OK);
    assert_eq!(made.body["personId"], PERSON_DIGITS);
    assert_eq!(made.body["id"].as_str().unwrap().len(), 24);
    assert!(made.body["createdAt"].as_str().unwrap().ends_with('Z'));

    let dup = app.post("/identities", &b, json!({"personId": PERSON_DIGITS, "name": "Again"})).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let patched = app
        .call(
            reqwest::Method::PATCH,
            &format!("/identities/{PERSON}"),
            Some(&b),
            Some(json!({"name": "John Q. Doe", "email": null, "phone": "+55 21 98289-5497"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    let read = app.get(&format!("/identities/{PERSON_DIGITS}"), &b).await;
    assert_eq!(read.body["name"], "John Q. Doe");
    assert_eq!(read.body["email"], json!(null));
    assert_eq!(read.body["phone"], "+5521982895497");
    assert_eq!(read.body["hasFace"], false);

    // A PATCH that names no field changes nothing: not `updatedAt`, and it leaves no audit line.
    let lines = |body: serde_json::Value| {
        body["items"].as_array().unwrap().iter().filter(|l| l["action"] == "identity.updated").count()
    };
    let audited = lines(app.get("/audit", &b).await.body);
    let path = format!("/identities/{PERSON}");
    let empty = app.call(reqwest::Method::PATCH, &path, Some(&b), Some(json!({}))).await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!(empty.body["updatedAt"], read.body["updatedAt"]);
    assert_eq!(empty.body["name"], "John Q. Doe");
    assert_eq!(lines(app.get("/audit", &b).await.body), audited);
    let nobody = app.call(reqwest::Method::PATCH, "/identities/52998224725", Some(&b), Some(json!({}))).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{:?}", nobody.body);
}

#[tokio::test]
async fn a_cpf_with_a_wrong_check_digit_is_refused_when_the_tenant_validates_cpfs() {
    let app = spawn_app().await;
    let made = app
        .call(
            reqwest::Method::POST,
            "/admin/clients",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "bank", "validateCpf": true})),
        )
        .await;
    let strict = Tenant {
        client_id: made.body["clientId"].as_str().unwrap().into(),
        secret: made.body["clientSecret"].as_str().unwrap().into(),
    };
    let bad = app.post("/identities", &backend(&strict), json!({"personId": "952.360.980-77", "name": "X"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["message"].as_str().unwrap().contains("CPF"));
    let good = app.post("/identities", &backend(&strict), json!({"personId": "952.360.980-76", "name": "X"})).await;
    assert_eq!(good.status, StatusCode::OK);
    let lenient = app.new_tenant().await;
    assert_eq!(
        app.post("/identities", &backend(&lenient), json!({"personId": "952.360.980-77", "name": "X"})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_face_image_is_stored_encrypted() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    // A real face (enrolment needs one); 64 bytes from the middle of its compressed pixels, which are kept
    // as they came (its metadata is not), are what must not be found in clear.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/test-fixtures/faces/fr_obama.jpg");
    let image = std::fs::read(path).expect("run bash scripts/fetch-data.sh --test-fixtures");
    let marker = &image[image.len() / 2..image.len() / 2 + 64];
    let made = app
        .post(
            "/identities",
            &backend(&tenant),
            json!({"personId": "p1", "name": "X", "image": STANDARD.encode(&image)}),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{:?}", made.body);
    assert_eq!(app.get("/identities/p1", &backend(&tenant)).await.body["hasFace"], true);
    assert!(!contains(&app.db_bytes().await, marker), "the image must not be stored in clear");
}

#[tokio::test]
async fn erasing_an_identity_removes_its_data_and_anonymizes_its_attempts() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let id = app.approve_by_email(&tenant, PERSON, "laptop", SAO_PAULO).await;
    assert_eq!(app.count_rows("known_contexts").await, 2, "device and place are known (no network: nothing reads it)");

    let del = app.call(reqwest::Method::DELETE, &format!("/identities/{PERSON}"), Some(&backend(&tenant)), None).await;
    assert_eq!(del.status, StatusCode::OK, "{:?}", del.body);
    assert_eq!(app.get(&format!("/identities/{PERSON}"), &backend(&tenant)).await.status, StatusCode::NOT_FOUND);
    for table in ["identities", "known_contexts"] {
        assert_eq!(app.count_rows(table).await, 0, "{table}");
    }
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["status"], "approved", "the record stays for statistics");
    assert_eq!(doc.body["identity"]["personId"], json!(null));
    assert_eq!(doc.body["identity"]["name"], json!(null));
    assert_eq!(doc.body["context"]["location"]["location"], json!(null));
    assert_eq!(doc.body["context"]["device"]["fingerPrint"], json!(null));
    assert_eq!(doc.body["context"]["device"]["info"]["userAgent"], json!(null));
    assert_eq!(doc.body["sourceIp"], "0.0.0.0");
    assert_eq!(doc.body["context"]["network"]["ip"], "0.0.0.0");
    assert_eq!(doc.body["authenticationMethods"]["email_authentication"]["attempts"][0]["sentTo"], json!(null));
    for ctx in ["device_context", "location_context", "network_context"] {
        assert!(!doc.body["contextEvaluation"][ctx]["detail"].as_str().unwrap().contains("127.0.0.1"));
    }
    for trace in ["127.0.0.1", "laptop", "Mozilla", "j***@example.com", "John Doe"] {
        let sql = format!("SELECT COUNT(*) FROM attempts WHERE document LIKE '%{trace}%'");
        assert_eq!(app.scalar(&sql).await, 0, "{trace} survived the erasure");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM attempts WHERE document LIKE '%John Doe%'").await,
        0,
        "the name is gone from the attempts"
    );
    let sql_rows = app.sql(&format!("UPDATE attempts SET status = status WHERE person_id = '{PERSON_DIGITS}'")).await;
    assert_eq!(sql_rows, 0, "no attempt points at the person any more");

    // The same person enrolled again starts from nothing: no known device.
    app.create_identity(&tenant, PERSON).await;
    assert_eq!(app.attempt(&tenant, PERSON, "laptop", SAO_PAULO).await.body["status"], "pending");
    let second = app.call(reqwest::Method::DELETE, "/identities/unknown", Some(&backend(&tenant)), None).await;
    assert_eq!(second.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_erased_persons_device_and_place_leave_the_journal_too() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (fingerprint, latitude) = ("fp-erase-me-7f3a9c", "-8.8888888");
    app.approve_by_email(&tenant, PERSON, fingerprint, (-8.8888888, -36.6666666)).await;
    let bytes = app.db_bytes().await;
    assert!(contains(&bytes, fingerprint) && contains(&bytes, latitude), "stored, in the file or its journal");

    let del = app.call(reqwest::Method::DELETE, &format!("/identities/{PERSON}"), Some(&backend(&tenant)), None).await;
    assert_eq!(del.status, StatusCode::OK, "{:?}", del.body);
    // The file's rows are overwritten at once; the journal's earlier copies go when it is emptied, right after.
    let mut left = true;
    for _ in 0..100 {
        let bytes = app.db_bytes().await;
        left = contains(&bytes, fingerprint) || contains(&bytes, latitude);
        if !left {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!left, "the device and the place are in neither the database file nor its journal");
}

/// An identity always has a name: `"name": null` is a 400 and changes nothing, even beside a valid change.
#[tokio::test]
async fn a_null_name_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("ana").await;
    let read = || async {
        let mut body = app.get("/identities/ana", &backend(&tenant)).await.body;
        body.as_object_mut().unwrap().remove("requestId");
        body
    };
    let before = read().await;
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/identities/ana",
            Some(&backend(&tenant)),
            Some(json!({"name": null, "email": "other@example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("name cannot be null"), "{:?}", r.body);
    assert_eq!(read().await, before);
}
