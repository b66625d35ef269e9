//! Face authentication end to end with the real models and images from packages: enrolment (inline
//! and by URL, with SSRF protection), the face step-up, the seed's face fields, signed media links,
//! limits, erasure and encryption at rest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn image(name: &str) -> Vec<u8> {
    let path = format!("{}/../../data/test-fixtures/faces/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}; run bash scripts/fetch-data.sh --test-fixtures"))
}

/// `served` is the fixture `name` as kept: the same pixels, without the metadata it came with (the fixtures
/// are press photos with EXIF, IPTC and XMP, as a phone's photo has EXIF with its GPS position).
fn assert_kept_without_metadata(served: &[u8], name: &str) {
    let original = image(name);
    for metadata in [&b"Exif\0\0"[..], b"Photoshop 3.0", b"http://ns.adobe.com/xap"] {
        assert!(contains(&original, metadata), "{name} has no {metadata:?} to remove");
        assert!(!contains(served, metadata), "{name} is kept with {}", String::from_utf8_lossy(metadata));
    }
    let pixels = |b: &[u8]| image::load_from_memory(b).unwrap().to_rgb8();
    assert!(pixels(served) == pixels(&original), "{name} is kept with other pixels");
}

fn b64(name: &str) -> String {
    STANDARD.encode(image(name))
}

/// A tenant whose policy steps up by face only, and a person enrolled with `enrolled`.
async fn face_tenant(app: &TestApp, enrolled: &str) -> Tenant {
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["face_authentication"]})).await;
    let r = app
        .post("/identities", &backend(&tenant), json!({"personId": PERSON, "name": "John Doe", "image": b64(enrolled)}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    tenant
}

async fn pending_attempt(app: &TestApp, tenant: &Tenant) -> String {
    let a = app.attempt(tenant, PERSON, "phone-1", SAO_PAULO).await;
    assert_eq!(a.body["status"], "pending", "{:?}", a.body);
    assert_eq!(a.body["neededReauthentications"], json!(["face_authentication"]));
    a.body["attemptId"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, tenant: &Tenant, attempt: &str, body: Value) -> Answer {
    app.post(&format!("/authentications/{attempt}/methods/face_authentication/verify"), &sdk(tenant, PERSON), body)
        .await
}

#[tokio::test]
async fn enrolment_needs_exactly_one_usable_face() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let enrol = |person: &str, img: String| json!({"personId": person, "name": "Jane", "image": img});
    let ok = app.post("/identities", &backend(&tenant), enrol("p-ok", b64("fr_obama.jpg"))).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(app.get("/identities/p-ok", &backend(&tenant)).await.body["hasFace"], true);
    for (person, file, reason) in [
        ("p-group", "if_t1.jpg", "multiple_faces"),
        ("p-mask", "if_mask_blue.jpg", "face_not_found"),
        ("p-cut", "fr_obama_partial_face.jpg", "poor_quality"),
    ] {
        let r = app.post("/identities", &backend(&tenant), enrol(person, b64(file))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{file}");
        assert!(r.body["message"].as_str().unwrap().contains(reason), "{file}: {:?}", r.body);
        assert_eq!(app.get(&format!("/identities/{person}"), &backend(&tenant)).await.status, StatusCode::NOT_FOUND);
    }
    let junk =
        app.post("/identities", &backend(&tenant), enrol("p-junk", STANDARD.encode(b"\xff\xd8\xffnot really"))).await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
}

/// Serves the fixture images over HTTP on loopback; `/big` is over the size limit, `/hop` redirects.
async fn image_server() -> String {
    use axum::routing::get;
    let obama = image("fr_obama.jpg");
    let app = axum::Router::new()
        .route("/obama.jpg", get(move || async move { obama.clone() }))
        .route("/big", get(|| async { vec![0xffu8; 11 * 1024 * 1024] }))
        .route("/hop", get(|| async { axum::response::Redirect::temporary("/obama.jpg") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn image_urls_are_fetched_but_never_from_private_addresses_unless_allowed() {
    let server = image_server().await;
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let r = app
        .post(
            "/identities",
            &backend(&tenant),
            json!({"personId": "p1", "name": "Jane", "imageUrl": format!("{server}/obama.jpg")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("private"), "{:?}", r.body);
    for url in ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "ftp://example.com/a.jpg"] {
        let r = app
            .post("/identities", &backend(&tenant), json!({"personId": "p1", "name": "Jane", "imageUrl": url}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
    }

    let open = spawn_app_with(|s| s.allow_private_targets = true).await;
    let tenant = open.new_tenant().await;
    for (person, path) in [("p1", "/obama.jpg"), ("p2", "/hop")] {
        let r = open
            .post(
                "/identities",
                &backend(&tenant),
                json!({"personId": person, "name": "Jane", "imageUrl": format!("{server}{path}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    }
    let big = open
        .post(
            "/identities",
            &backend(&tenant),
            json!({"personId": "p3", "name": "Jane", "imageUrl": format!("{server}/big")}),
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_same_person_passes_the_face_step_up_and_the_document_shows_it() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_obama2.jpg")})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["isAuthorized"], true);
    assert!(r.body["attestation"].is_string());

    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    assert_eq!(doc["status"], "approved");
    let method = &doc["authenticationMethods"]["face_authentication"];
    assert_eq!(method["status"], "approved");
    let tried = &method["attempts"][0];
    assert_eq!(tried["refusalReason"], Value::Null);
    assert_eq!(tried["faceMatch"]["isMatch"], true);
    let similarity: f64 = tried["faceMatch"]["similarity"].as_str().expect("a string, as in the seed").parse().unwrap();
    assert!(similarity > 0.6, "{similarity}");
    assert_eq!(tried["liveness"]["isAlive"], true);

    // The signed links serve the selfie and the enrolled image, and nothing else.
    let provided = tried["providedFace"]["signedUrl"].as_str().unwrap();
    let expected = tried["expectedFace"]["signedUrl"].as_str().unwrap();
    for (url, file) in [(provided, "fr_obama2.jpg"), (expected, "fr_obama.jpg")] {
        let got = app.http.get(url).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{url}");
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        assert_kept_without_metadata(&got.bytes().await.unwrap(), file);
    }
    let tampered = provided.replace("provided.bin", "expected.bin");
    assert_eq!(app.http.get(&tampered).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let expired = provided.replace("expires=", "expires=1");
    assert_eq!(app.http.get(&expired).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let unsigned = provided.split('?').next().unwrap();
    assert_eq!(app.http.get(unsigned).send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_person_is_refused_and_the_method_closes_after_its_attempts() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    for (n, left) in [(1, 2), (2, 1)] {
        let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_biden.jpg")})).await;
        assert_eq!(r.body["refusalReason"], "face_mismatch", "try {n}: {:?}", r.body);
        assert_eq!((r.body["status"].clone(), r.body["attemptsLeft"].clone()), (json!("pending"), json!(left)));
        assert_eq!(r.body["faceMatch"]["isMatch"], false);
    }
    // A group photo is a try too, refused for what it is.
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("if_t1.jpg")})).await;
    assert_eq!(r.body["refusalReason"], "multiple_faces");
    assert_eq!(r.body["status"], "reproved", "the only method is closed: the attempt is refused");
    // The attempt has ended: even the right face cannot reopen it.
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_obama2.jpg")})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    let reasons: Vec<Value> = doc["authenticationMethods"]["face_authentication"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["refusalReason"].clone())
        .collect();
    assert_eq!(reasons, vec![json!("face_mismatch"), json!("face_mismatch"), json!("multiple_faces")]);
}

#[tokio::test]
async fn a_broken_image_is_a_400_and_not_a_try() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    let mut truncated = image("fr_obama2.jpg");
    truncated.truncate(500);
    let r = verify(&app, &tenant, &attempt, json!({"image": STANDARD.encode(truncated)})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = verify(&app, &tenant, &attempt, json!({"code": "123456"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = verify(&app, &tenant, &attempt, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Nor do they use up the person's 10 verifications in 10 minutes: bodies that carry no selfie (not base64,
    // not an image, a URL this server does not fetch from) are refused before they are counted.
    for _ in 0..4 {
        for body in [
            json!({"image": "!!!"}),
            json!({"image": STANDARD.encode(b"no image here")}),
            json!({"imageUrl": "http://127.0.0.1:9/selfie.jpg"}),
        ] {
            let r = verify(&app, &tenant, &attempt, body.clone()).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        }
    }
    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    assert_eq!(doc["authenticationMethods"]["face_authentication"]["attempts"], json!([]));
    // The method is still open.
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_obama3.jpg")})).await;
    assert_eq!(r.body["status"], "approved", "{:?}", r.body);
}

#[tokio::test]
async fn faces_are_encrypted_at_rest_and_erased_with_the_person() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    verify(&app, &tenant, &attempt, json!({"image": b64("fr_obama2.jpg")})).await;
    // Neither the enrolled image nor the selfie is readable on disk.
    let db = app.db_bytes().await;
    for file in ["fr_obama.jpg", "fr_obama2.jpg"] {
        let chunk = &image(file)[2000..2064];
        assert!(!db.windows(chunk.len()).any(|w| w == chunk), "{file} is in the database in clear");
    }
    let media = app.data_dir.path().join("media").join(&tenant.client_id).join(&attempt);
    let files: Vec<_> = std::fs::read_dir(&media).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    assert_eq!(files.len(), 2);
    for f in &files {
        assert!(!f.starts_with(&[0xff, 0xd8]), "a media file is a readable JPEG");
    }
    let link = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body["authenticationMethods"]
        ["face_authentication"]["attempts"][0]["providedFace"]["signedUrl"]
        .as_str()
        .unwrap()
        .to_owned();

    let erased =
        app.call(reqwest::Method::DELETE, &format!("/identities/{PERSON_DIGITS}"), Some(&backend(&tenant)), None).await;
    assert!(erased.status.is_success());
    assert!(!media.exists(), "the attempt's images are deleted with the person");
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn face_is_not_offered_without_an_enrolled_face() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["face_authentication", "sms_authentication"]}))
        .await;
    app.create_identity(&tenant, PERSON).await;
    let a = app.attempt(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    assert_eq!(a.body["neededReauthentications"], json!(["sms_authentication"]));
}

/// moto's S3-compatible server (installed by `scripts/test-tools.sh`) on a free port, with one bucket.
struct S3Server {
    endpoint: String,
    _process: tokio::process::Child,
}

async fn s3_server(bucket: &str) -> S3Server {
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/.venv/bin/moto_server");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let process = tokio::process::Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e}; run bash scripts/test-tools.sh"));
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.put(format!("{endpoint}/{bucket}")).send().await.is_ok_and(|r| r.status().is_success()) {
            return S3Server { endpoint, _process: process };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("moto's S3 server did not start on {endpoint}");
}

#[tokio::test]
async fn attempt_images_can_live_in_an_s3_compatible_bucket() {
    let s3 = s3_server("smartauth-media").await;
    let endpoint = s3.endpoint.clone();
    let app = spawn_app_with(|s| {
        s.media_s3 = Some(smartauth::media::S3Settings {
            url: "s3://smartauth-media/faces".into(),
            endpoint: Some(endpoint),
            region: Some("us-east-1".into()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
        })
    })
    .await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_obama2.jpg")})).await;
    assert_eq!(r.body["status"], "approved", "{:?}", r.body);

    // Both images are objects in the bucket, encrypted; none is on the local disk.
    let list = |prefix: String| {
        let url = format!("{}/smartauth-media?list-type=2&prefix={prefix}", s3.endpoint);
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let listing = list(format!("faces/{}/{attempt}/", tenant.client_id)).await;
    let keys: Vec<&str> = listing.split("<Key>").skip(1).map(|k| k.split("</Key>").next().unwrap()).collect();
    assert_eq!(keys.len(), 2, "{listing}");
    for key in &keys {
        let object =
            reqwest::get(format!("{}/smartauth-media/{key}", s3.endpoint)).await.unwrap().bytes().await.unwrap();
        assert!(!object.starts_with(&[0xff, 0xd8]), "{key} is a readable JPEG in the bucket");
    }
    assert!(!app.data_dir.path().join("media").exists());

    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    let link = doc["authenticationMethods"]["face_authentication"]["attempts"][0]["providedFace"]["signedUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = app.http.get(&link).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_kept_without_metadata(&got.bytes().await.unwrap(), "fr_obama2.jpg");

    let erased =
        app.call(reqwest::Method::DELETE, &format!("/identities/{PERSON_DIGITS}"), Some(&backend(&tenant)), None).await;
    assert!(erased.status.is_success());
    let after = list(format!("faces/{}/", tenant.client_id)).await;
    assert!(!after.contains("<Key>"), "erasure leaves objects: {after}");
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sdk_token_sees_neither_the_images_nor_the_scores() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_biden.jpg")})).await;
    assert_eq!(r.body["faceMatch"]["isMatch"], false);
    assert_eq!(r.body["faceMatch"]["similarity"], Value::Null, "no score for a person token");
    let seen = app.get(&format!("/authentications/{attempt}"), &sdk(&tenant, PERSON)).await.body;
    let tried = &seen["authenticationMethods"]["face_authentication"]["attempts"][0];
    assert_eq!(tried["refusalReason"], "face_mismatch");
    assert_eq!(tried["expectedFace"]["signedUrl"], Value::Null, "the enrolled photo is not for the SDK");
    assert_eq!(tried["providedFace"]["signedUrl"], Value::Null);
    assert_eq!(tried["faceMatch"]["similarity"], Value::Null);
    let analyst = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    let tried = &analyst["authenticationMethods"]["face_authentication"]["attempts"][0];
    assert!(tried["expectedFace"]["signedUrl"].is_string());
    assert!(tried["faceMatch"]["similarity"].is_string());
}

#[tokio::test]
async fn the_enrolled_photo_itself_is_not_a_live_selfie() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    for copy in [image("fr_obama.jpg"), {
        // The same capture, rescaled and recompressed.
        let photo = image::load_from_memory(&image("fr_obama.jpg")).unwrap();
        let smaller = photo.resize(600, 800, image::imageops::FilterType::Triangle);
        let mut out = std::io::Cursor::new(Vec::new());
        smaller.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }] {
        let r = verify(&app, &tenant, &attempt, json!({"image": STANDARD.encode(copy)})).await;
        assert_eq!(r.body["refusalReason"], "person_not_alive", "{:?}", r.body);
        assert_eq!(r.body["isAuthorized"], false);
    }
}

#[tokio::test]
async fn a_null_image_url_is_refused_and_a_null_image_removes_the_face() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let path = format!("/identities/{PERSON_DIGITS}");
    let r = app.call(reqwest::Method::PATCH, &path, Some(&backend(&tenant)), Some(json!({"imageUrl": null}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&path, &backend(&tenant)).await.body["hasFace"], true);
    // Removing the face and setting one in the same change says two things: refused, as image and imageUrl are.
    let both = json!({"image": null, "imageUrl": "https://example.com/face.jpg"});
    let r = app.call(reqwest::Method::PATCH, &path, Some(&backend(&tenant)), Some(both)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("not both"), "{:?}", r.body);
    let r = app.call(reqwest::Method::PATCH, &path, Some(&backend(&tenant)), Some(json!({"image": null}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.get(&path, &backend(&tenant)).await.body["hasFace"], false);
    let a = app.attempt(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    assert_eq!(a.body["neededReauthentications"], json!([]), "no face, no method: {:?}", a.body);
}

#[tokio::test]
async fn a_selfie_refused_for_its_quality_says_what_to_fix_and_is_counted_apart_from_mismatches() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    // The same selfie in a dark room.
    let photo = image::load_from_memory(&image("fr_obama2.jpg")).unwrap().into_rgb8();
    let dark = image::RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        image::Rgb(photo.get_pixel(x, y).0.map(|v| v / 8))
    });
    let mut jpeg = Vec::new();
    dark.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    let r = verify(&app, &tenant, &attempt, json!({"image": STANDARD.encode(&jpeg)})).await;
    assert_eq!(
        (r.body["refusalReason"].as_str(), r.body["refusalDetail"].as_str()),
        (Some("poor_quality"), Some("too_dark"))
    );
    assert!(r.body["message"].as_str().unwrap().contains("more light"), "{:?}", r.body);
    let r = verify(&app, &tenant, &attempt, json!({"image": b64("fr_biden.jpg")})).await;
    assert_eq!((r.body["refusalReason"].as_str(), r.body["refusalDetail"].as_str()), (Some("face_mismatch"), None));
    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    let face = &doc["authenticationMethods"]["face_authentication"];
    assert_eq!((face["qualityRefusals"].clone(), face["mismatches"].clone()), (json!(1), json!(1)), "{face}");
    assert_eq!(face["attempts"][0]["refusalDetail"], "too_dark");
    // The person is told what to fix too (it is not evidence of the risk signals).
    let own = app.get(&format!("/authentications/{attempt}"), &sdk(&tenant, PERSON)).await.body;
    assert_eq!(own["authenticationMethods"]["face_authentication"]["attempts"][0]["refusalDetail"], "too_dark");
}

/// A multipart body as a phone's upload builds it: one part per (name, file bytes).
fn form(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----smartauth-test-7d3f2a";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"selfie.jpg\"\r\n\
                 Content-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn verify_form(app: &TestApp, tenant: &Tenant, attempt: &str, parts: &[(&str, &[u8])]) -> (StatusCode, Value) {
    let (content_type, body) = form(parts);
    let r = app
        .http
        .post(format!("{}/authentications/{attempt}/methods/face_authentication/verify", app.address))
        .bearer_auth(sdk(tenant, PERSON))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// API.md: the selfie may come as the multipart part `image` (the file itself, not base64).
#[tokio::test]
async fn a_selfie_can_be_sent_as_a_multipart_file() {
    let app = spawn_app().await;
    let tenant = face_tenant(&app, "fr_obama.jpg").await;
    let attempt = pending_attempt(&app, &tenant).await;
    let selfie = image("fr_obama2.jpg");
    let mut truncated = selfie.clone();
    truncated.truncate(500);
    for (parts, what) in [
        (vec![("selfie", selfie.as_slice())], "unknown form part `selfie`"),
        (vec![("x\u{202E}gpj.exe", selfie.as_slice())], "unknown form part `xgpj.exe`"),
        (vec![("image", truncated.as_slice())], "cannot be decoded"),
        (vec![("image", b"%PDF-1.7 not a picture".as_slice())], "JPEG or PNG"),
        (vec![], "no `image` part"),
        (vec![("image", selfie.as_slice()), ("image", selfie.as_slice())], "more than one image"),
    ] {
        let (status, body) = verify_form(&app, &tenant, &attempt, &parts).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].as_str().unwrap().contains(what), "{what}: {body}");
    }
    let plain = app
        .http
        .post(format!("{}/authentications/{attempt}/methods/face_authentication/verify", app.address))
        .bearer_auth(sdk(&tenant, PERSON))
        .header("content-type", "text/plain")
        .body(selfie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let said: Value = plain.json().await.unwrap();
    assert!(said["message"].as_str().unwrap().contains("multipart/form-data"), "{said}");
    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    assert_eq!(doc["authenticationMethods"]["face_authentication"]["attempts"], json!([]), "a refused form is no try");

    let (status, body) = verify_form(&app, &tenant, &attempt, &[("image", &selfie)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved", "{body}");
    let doc = app.get(&format!("/authentications/{attempt}"), &backend(&tenant)).await.body;
    let provided = doc["authenticationMethods"]["face_authentication"]["attempts"][0]["providedFace"]["signedUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = app.http.get(&provided).send().await.unwrap();
    // The file is kept as it was sent, less its metadata.
    assert_kept_without_metadata(&got.bytes().await.unwrap(), "fr_obama2.jpg");
}
