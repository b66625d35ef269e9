//! Logs (text or JSON, to stderr), the Prometheus recorder, and every metric this server exports:
//! its name, its help text and the bounded set of label values it is counted under.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use smartauth_context::intelligence::DataSetStatus;
use smartauth_domain::{Decision, Method, Status};
use smartauth_face::Stage;
use smartauth_store::AttemptRecord;
use tracing_subscriber::filter::Directive;
use tracing_subscriber::EnvFilter;

use crate::attempt::AttemptDoc;
use crate::configuration::{LogFormat, Settings};
use crate::ops::attempts::{EXPIRED, IDENTITY_ERASED, METHODS_EXHAUSTED};

/// Log levels by crate. `RUST_LOG` is added on top: `RUST_LOG=debug` raises everything that is not
/// named here, and naming a crate (`RUST_LOG=debug,tract=debug`) overrides its line. The model runtime
/// (tract) logs tens of thousands of lines at debug while loading; sqlx logs every statement.
pub const DEFAULT_LOG_LEVELS: &str =
    "info,tract=warn,sqlx=warn,kiddo=warn,maxminddb=info,hyper=info,h2=info,rustls=info,reqwest=info";

/// The default levels with the operator's `RUST_LOG` directives over them.
pub fn log_filter(base: &str, extra: Option<&str>) -> anyhow::Result<EnvFilter> {
    let mut filter = EnvFilter::try_new(base)?;
    for directive in extra.unwrap_or_default().split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let parsed: Directive = directive.parse().map_err(|e| {
            anyhow::anyhow!("RUST_LOG: {directive:?} is not a level or target=level such as smartauth=debug ({e})")
        })?;
        filter = filter.add_directive(parsed);
    }
    Ok(filter)
}

/// Installs the global log subscriber: [`DEFAULT_LOG_LEVELS`] under `settings.log_levels`.
pub fn init_logs(settings: &Settings) -> anyhow::Result<()> {
    init_logs_from(DEFAULT_LOG_LEVELS, settings)
}

/// The same with other default levels (the one-shot commands keep quiet unless something fails).
pub fn init_logs_from(base: &str, settings: &Settings) -> anyhow::Result<()> {
    let filter = log_filter(base, settings.log_levels.as_deref())?;
    // Colours only for a person at a terminal, not in files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

/// The process-wide metrics recorder, installed on first use, with every metric described.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .expect("static buckets are valid")
                // The models take tens to hundreds of milliseconds a stage, and a selfie may wait up
                // to `faces::QUEUE_WAIT` (20 s) for a worker.
                .set_buckets_for_metric(
                    Matcher::Prefix("smartauth_face_".into()),
                    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0],
                )
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                describe_metrics();
            }
            handle
        })
        .clone()
}

const COUNTERS: &[(&str, &str)] = &[
    ("smartauth_http_requests_total", "HTTP requests answered, by method, route (the path template) and status."),
    (
        "smartauth_decisions_total",
        "Attempts by the status of their passive decision at creation: approved, pending (step-up asked) or reproved.",
    ),
    (
        "smartauth_attempts_decided_total",
        "Attempts by final outcome (approved_passive, approved_step_up, reproved, blocked) and the reason code that \
         decided it: a context's (NEW_DEVICE, BLOCKED_COUNTRY, ...), the step-up method, or METHODS_EXHAUSTED. \
         Counted once per attempt, when it ends.",
    ),
    (
        "smartauth_codes_sent_total",
        "One-time codes handed to the SMS gateway or the SMTP relay, by channel (sms, email).",
    ),
    (
        "smartauth_code_delivery_failures_total",
        "Code sends that failed (the gateway or relay refused or did not answer), by channel (sms, email).",
    ),
    ("smartauth_code_verifications_total", "Codes checked, by channel and whether the code was accepted."),
    (
        "smartauth_code_refusals_total",
        "Codes refused, by channel and cause: wrong, expired, or closed (the method had no tries left).",
    ),
    ("smartauth_face_verifications_total", "Face step-ups recorded, by outcome (approved or the refusal reason)."),
    (
        "smartauth_face_quality_refusals_total",
        "Selfies refused for their quality, by what to fix (face_too_small, too_dark, blurred, ...).",
    ),
    ("smartauth_lockout_refusals_total", "Step-ups refused because the person's code and face methods are locked."),
    ("smartauth_unlocks_total", "Locked persons unlocked by their tenant or the operator."),
    ("smartauth_send_caps_reached_total", "Code sends refused by the per-person or per-destination hourly/daily caps."),
    ("smartauth_throttled_total", "Requests refused with 429 by a throttle (auth_failures, sdk, device)."),
    (
        "smartauth_webhook_deliveries_total",
        "Webhook delivery tries, by outcome: delivered (2xx), failed (to be retried or given up), gone (410) or \
         deferred (timed out while this server's delivering thread waited for a CPU; sent again, not counted \
         against the receiver).",
    ),
    ("smartauth_webhooks_disabled_total", "Webhook subscriptions disabled by the server (410, or failing for days)."),
    ("smartauth_attempts_expired_total", "Waiting attempts refused because their attemptTtlSeconds passed."),
];

const HISTOGRAMS: &[(&str, &str)] = &[
    ("smartauth_http_request_duration_seconds", "Time to answer an HTTP request, by method and route."),
    (
        "smartauth_face_analysis_seconds",
        "Time from queueing a face image to its analysis result, waiting for a worker included.",
    ),
    (
        "smartauth_face_stage_seconds",
        "Time of each stage of the face pipeline (decode, detect, quality, embed, liveness); a refused image runs \
         no stage after the one that refused it.",
    ),
    ("smartauth_webhook_delivery_delay_seconds", "Time from an event to its successful delivery, retries included."),
];

const GAUGES: &[(&str, &str)] = &[
    ("smartauth_face_queue_depth", "Face images waiting for a face worker (not yet being analysed)."),
    (
        "smartauth_data_set_age_seconds",
        "Age of each loaded context data set (now minus the date its MANIFEST.json gives), as of the scrape.",
    ),
    (
        "smartauth_webhook_queue_depth",
        "Webhook deliveries waiting: retries, and the events after the subscriptions' cursors (not yet tried).",
    ),
    ("smartauth_webhook_oldest_pending_seconds", "Age of the oldest webhook delivery still waiting."),
];

/// Help text for every metric, and a zero for the series whose labels are few and known, so that a
/// dashboard sees them (and their help) before the first event.
fn describe_metrics() {
    for (name, help) in COUNTERS {
        metrics::describe_counter!(*name, *help);
    }
    for (name, help) in HISTOGRAMS {
        metrics::describe_histogram!(*name, *help);
    }
    for (name, help) in GAUGES {
        metrics::describe_gauge!(*name, *help);
    }
    for outcome in ["delivered", "failed", "gone", "deferred"] {
        metrics::counter!("smartauth_webhook_deliveries_total", "outcome" => outcome).increment(0);
    }
    for name in [
        "smartauth_lockout_refusals_total",
        "smartauth_unlocks_total",
        "smartauth_send_caps_reached_total",
        "smartauth_webhooks_disabled_total",
        "smartauth_attempts_expired_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for throttle in ["auth_failures", "sdk", "device"] {
        metrics::counter!("smartauth_throttled_total", "throttle" => throttle).increment(0);
    }
    for status in [Status::Approved, Status::Pending, Status::Reproved] {
        metrics::counter!("smartauth_decisions_total", "status" => status.as_str()).increment(0);
    }
    for channel in ["sms", "email"] {
        metrics::counter!("smartauth_codes_sent_total", "channel" => channel).increment(0);
        metrics::counter!("smartauth_code_delivery_failures_total", "channel" => channel).increment(0);
        for cause in ["wrong", "expired", "closed"] {
            metrics::counter!("smartauth_code_refusals_total", "channel" => channel, "cause" => cause).increment(0);
        }
    }
    metrics::gauge!("smartauth_face_queue_depth").increment(0.0);
    metrics::counter!("smartauth_face_verifications_total", "outcome" => "approved").increment(0);
    for issue in smartauth_face::QualityIssue::ALL {
        metrics::counter!("smartauth_face_quality_refusals_total", "detail" => issue.code()).increment(0);
    }
}

/// Counts an attempt that ended when it was created: approved passively, refused, or blocked. One
/// that waits for a step-up is counted when the step-up ends it ([`step_up_ended`]).
pub fn attempt_decided(decision: &Decision) {
    let verdicts = [&decision.device, &decision.location, &decision.network];
    let first = |pick: &dyn Fn(&smartauth_domain::ContextVerdict) -> bool| {
        verdicts.iter().copied().find(|v| pick(v)).map(|v| v.reason)
    };
    let (outcome, reason) = match decision.status {
        Status::Pending => return,
        // The first context that was evaluated and known (KNOWN_DEVICE, ...).
        Status::Approved => ("approved_passive", first(&|v| v.reason != "CONTEXT_DISABLED")),
        Status::Reproved if decision.is_blocked => ("blocked", first(&|v| v.blocks)),
        Status::Reproved => ("reproved", first(&|v| v.status == Status::Reproved)),
    };
    let reason = reason.unwrap_or("CONTEXT_DISABLED");
    metrics::counter!("smartauth_attempts_decided_total", "outcome" => outcome, "reason" => reason).increment(1);
}

/// Counts an attempt a step-up has just ended, once its new state is stored: approved by the method
/// that succeeded, or refused when every offered method has closed.
pub fn step_up_ended(record: &AttemptRecord, doc: &AttemptDoc) {
    let (outcome, reason) = if record.status == Status::Approved.as_str() {
        let method = doc
            .methods
            .iter()
            .find(|(_, state)| state.status == Status::Approved.as_str())
            .and_then(|(name, _)| Method::parse(name));
        ("approved_step_up", method.map_or("unknown", Method::as_str))
    } else if record.status == Status::Reproved.as_str() {
        // Closed without a step-up's outcome: expired, or its person erased; else its methods ran out.
        let closed = [EXPIRED, IDENTITY_ERASED].into_iter().find(|r| doc.closed_reason.as_deref() == Some(*r));
        ("reproved", closed.unwrap_or(METHODS_EXHAUSTED))
    } else {
        return;
    };
    metrics::counter!("smartauth_attempts_decided_total", "outcome" => outcome, "reason" => reason).increment(1);
}

fn channel(method: Method) -> &'static str {
    match method {
        Method::SmsAuthentication => "sms",
        Method::EmailAuthentication => "email",
        Method::FaceAuthentication => "face",
    }
}

/// Counts a code handed to its channel, or a send that failed.
pub fn code_sent(method: Method, delivered: bool) {
    let name = if delivered { "smartauth_codes_sent_total" } else { "smartauth_code_delivery_failures_total" };
    metrics::counter!(name, "channel" => channel(method)).increment(1);
}

/// Counts a code checked; `refusal` is the answer's `refusalReason` when it was not accepted.
pub fn code_checked(method: Method, refusal: Option<&str>) {
    let approved = if refusal.is_none() { "true" } else { "false" };
    metrics::counter!("smartauth_code_verifications_total", "channel" => channel(method), "approved" => approved)
        .increment(1);
    if let Some(refusal) = refusal {
        code_refused(method, refusal);
    }
}

/// Counts a code refused, by the cause in the answer's `refusalReason`.
pub fn code_refused(method: Method, refusal: &str) {
    let cause = match refusal {
        "expired_code" => "expired",
        "max_attempts_exceeded" => "closed",
        _ => "wrong",
    };
    metrics::counter!("smartauth_code_refusals_total", "channel" => channel(method), "cause" => cause).increment(1);
}

pub fn face_stage_timed(stage: Stage, took: Duration) {
    metrics::histogram!("smartauth_face_stage_seconds", "stage" => stage.as_str()).record(took.as_secs_f64());
}

/// Moves the face queue gauge by `change` images (+1 queued, -1 taken by a worker).
pub fn face_queue_changed(change: f64) {
    metrics::gauge!("smartauth_face_queue_depth").increment(change);
}

/// Sets each loaded data set's age from the date `/ready` reports (a set without one has no age).
pub fn record_data_set_ages(sets: &[DataSetStatus], now: DateTime<Utc>) {
    for set in sets.iter().filter(|s| s.loaded) {
        if let Some(date) = set.date.as_deref().and_then(parse_data_date) {
            let age = (now - date).num_seconds().max(0) as f64;
            metrics::gauge!("smartauth_data_set_age_seconds", "data_set" => set.name).set(age);
        }
    }
}

/// `2026-06-05` (midnight UTC) or an RFC 3339 time, as the fetch script writes them.
fn parse_data_date(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw.get(..10)?, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

tokio::task_local! {
    /// Where the `Tenant` extractor leaves the client its token named, for the access log.
    static REQUEST_CLIENT: Arc<OnceLock<String>>;
}

/// Notes the client a request acts for (once its token is verified), for the request's access log line.
pub fn note_client(client_id: &str) {
    let _ = REQUEST_CLIENT.try_with(|client| client.set(client_id.to_owned()));
}

/// Runs a request and returns its result with the client its token named, if any.
pub async fn with_client<T>(request: impl Future<Output = T>) -> (T, Option<String>) {
    let client = Arc::new(OnceLock::new());
    let out = REQUEST_CLIENT.scope(client.clone(), request).await;
    (out, client.get().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_adds_to_the_defaults_and_a_named_crate_overrides_its_line() {
        let debug = log_filter(DEFAULT_LOG_LEVELS, Some("debug")).unwrap().to_string();
        assert!(debug.contains("tract=warn") && debug.contains("sqlx=warn"), "{debug}");
        let tract = log_filter(DEFAULT_LOG_LEVELS, Some("debug,tract=debug")).unwrap().to_string();
        assert!(tract.contains("tract=debug") && !tract.contains("tract=warn"), "{tract}");
        let err = log_filter(DEFAULT_LOG_LEVELS, Some("smartauth=loud")).unwrap_err().to_string();
        assert!(err.contains("smartauth=loud"), "{err}");
    }

    #[test]
    fn a_data_set_date_is_a_day_or_a_time() {
        let day = parse_data_date("2026-06-05").unwrap();
        assert_eq!(day.to_rfc3339(), "2026-06-05T00:00:00+00:00");
        let time = parse_data_date("2026-10-05T11:34:21Z").unwrap();
        assert_eq!(time.to_rfc3339(), "2026-10-05T11:34:21+00:00");
        assert!(parse_data_date("June").is_none() && parse_data_date("").is_none());
    }
}
