use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};

const OPENAPI: &str = include_str!("../assets/openapi.json");
const DOCS: &str = include_str!("../assets/docs.html");

pub async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A self-contained reference page rendered from the OpenAPI document; it loads nothing from outside.
pub async fn page() -> Html<&'static str> {
    Html(DOCS)
}

/// The web SDK (`sdk/web/smartauth.js`), an ES module built into the binary: nothing is fetched from
/// elsewhere. Any origin may load it (module scripts are fetched with CORS); what it may call is
/// decided by the attempt endpoints' own CORS.
const SDK: &str = include_str!("../../../../sdk/web/smartauth.js");

pub async fn sdk() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=300"),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SDK,
    )
        .into_response()
}
