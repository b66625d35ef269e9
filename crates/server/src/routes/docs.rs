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
