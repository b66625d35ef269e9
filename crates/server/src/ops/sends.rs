//! The caps on codes sent (issue 8: SMS pumping and message bombing): per person and per destination
//! (phone or email), per hour and per day, across attempts. A send is counted before delivery is
//! tried, so that a gateway that fails after storing the message still counts.

use chrono::Utc;
use smartauth_store::{CodeSend, SendVerdict};

use crate::error::{ApiError, ApiResult};
use crate::startup::App;

/// Counts a code about to go to `destination` for the person. `send_id` is the same for every retry
/// of one request, which is then counted once.
pub async fn count(app: &App, send_id: &str, client_id: &str, person_id: &str, destination: &str) -> ApiResult<()> {
    let now = Utc::now().timestamp_millis();
    let send = CodeSend {
        id: send_id.to_owned(),
        client_id: client_id.to_owned(),
        person_id: person_id.to_owned(),
        destination: app.key.destination_hash(destination),
        at: now,
    };
    match app.store.count_send(&send, &app.limits.sends).await? {
        SendVerdict::Allowed => Ok(()),
        SendVerdict::CapReached { retry_at } => {
            metrics::counter!("smartauth_send_caps_reached_total").increment(1);
            let caps = app.limits.sends;
            Err(ApiError::TooManyRequests {
                message: format!(
                    "too many codes sent to this person or address lately (at most {} an hour and {} a day); try again later",
                    caps.per_hour, caps.per_day
                ),
                retry_after_secs: u64::try_from((retry_at - now + 999) / 1000).unwrap_or(1),
            })
        }
    }
}
