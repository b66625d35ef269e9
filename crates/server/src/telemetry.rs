//! Logs (text or JSON, to stderr) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::filter::Directive;
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, Settings};

/// Log levels by crate. `RUST_LOG` is added on top: `RUST_LOG=debug` raises everything that is not
/// named here, and naming a crate (`RUST_LOG=debug,tract=debug`) overrides its line. The model runtime
/// (tract) logs tens of thousands of lines at debug while loading; sqlx logs every statement.
pub const DEFAULT_LOG_LEVELS: &str =
    "info,tract=warn,sqlx=warn,maxminddb=info,hyper=info,h2=info,rustls=info,reqwest=info";

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

/// The process-wide metrics recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
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
}
