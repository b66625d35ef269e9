//! The benchmark's reference point: a minimal axum handler that verifies an HS256 JWT and reads a
//! 2 KB row from SQLite, with the same crates smartauth uses. `scripts/bench.sh` runs it beside the
//! real server so that smartauth's figures can be read as a ratio to what the stack itself allows.
//!
//!     cargo run --release --example bench_baseline -- 127.0.0.1:18181 /tmp/baseline.db

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

const SECRET: &str = "baseline-secret";

struct Baseline {
    pool: SqlitePool,
    key: DecodingKey,
    validation: Validation,
}

async fn read(
    State(b): State<Arc<Baseline>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    jsonwebtoken::decode::<Value>(token, &b.key, &b.validation).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let document: Option<String> = sqlx::query_scalar("SELECT document FROM rows WHERE id = ?")
        .bind(id)
        .fetch_optional(&b.pool)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let document = document.ok_or(StatusCode::NOT_FOUND)?;
    Ok(Json(json!({"document": document})))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18181".into());
    let path = args.next().unwrap_or_else(|| "/tmp/smartauth-baseline.db".into());
    let options =
        SqliteConnectOptions::new().filename(&path).create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, document TEXT NOT NULL)").execute(&pool).await?;
    sqlx::query("INSERT OR REPLACE INTO rows (id, document) VALUES ('row', ?)")
        .bind("x".repeat(2048))
        .execute(&pool)
        .await?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["iss"]);
    let state = Arc::new(Baseline { pool, key: DecodingKey::from_secret(SECRET.as_bytes()), validation });
    let app = Router::new().route("/rows/{id}", get(read)).with_state(state);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("baseline listening on http://{listen}");
    axum::serve(listener, app).await?;
    Ok(())
}
