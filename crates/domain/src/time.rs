use chrono::{DateTime, SecondsFormat, Utc};

/// Timestamps in the API are RFC 3339, UTC, with milliseconds: `2024-01-01T13:45:24.321Z`.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
