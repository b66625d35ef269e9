//! Guessing across attempts (issue 8): every code and face verification of a person is counted as a
//! failure before its outcome is known, against the operator's [`LockoutRules`], per factor (codes and
//! faces apart); a success clears its factor's count, and a lock of either factor locks both. Waits answer 429 with `Retry-After`, a lock answers 423 until the tenant or the
//! operator unlocks the person.

use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use smartauth_domain::lockout::{Factor, Guards, TryVerdict};

use crate::attempt::ts;
use crate::error::{ApiError, ApiResult};
use crate::ops::audit::Actor;
use crate::startup::App;

fn refusal(verdict: TryVerdict, now: i64) -> ApiResult<()> {
    match verdict {
        TryVerdict::Allowed => Ok(()),
        TryVerdict::WaitUntil(at) => Err(ApiError::TooManyRequests {
            message: "too many wrong codes or faces lately; wait before trying again".into(),
            retry_after_secs: u64::try_from((at - now + 999) / 1000).unwrap_or(1),
        }),
        TryVerdict::Locked => Err(ApiError::Locked(
            "too many consecutive failed verifications: this person's code and face methods are locked until the \
             tenant unlocks them (POST /identities/{personId}/unlock)"
                .into(),
        )),
    }
}

/// Refuses at once, without counting, when the person is locked or must still wait: before a code
/// is sent or an image analysed.
pub async fn check(app: &App, client_id: &str, person_id: &str, factor: Factor) -> ApiResult<()> {
    let now = Utc::now().timestamp_millis();
    let guards = app.store.guards(client_id, person_id).await?.unwrap_or_default();
    refusal(app.limits.lockout.verdict(&guards.for_try(factor), now), now)
}

/// Counts one verification try as a failure, if one is allowed now. Call [`succeeded`] when it
/// turns out to be right.
pub async fn claim(app: &App, client_id: &str, person_id: &str, factor: Factor) -> ApiResult<()> {
    let now = Utc::now().timestamp_millis();
    let verdict = app.store.claim_try(client_id, person_id, factor, now, &app.limits.lockout).await?;
    if verdict == TryVerdict::Locked {
        metrics::counter!("smartauth_lockout_refusals_total").increment(1);
    }
    refusal(verdict, now)
}

/// A verification succeeded: the person's failures of that factor are forgotten (not the other's: a face
/// accepted under a lax face policy must not reopen guessing the codes).
pub async fn succeeded(app: &App, client_id: &str, person_id: &str, factor: Factor) -> ApiResult<()> {
    app.store.clear_failures(client_id, person_id, Some(factor)).await?;
    Ok(())
}

/// Who unlocked a person, for the record.
#[derive(Debug, Clone, Copy)]
pub enum Unlocker {
    Tenant,
    Operator,
}

/// Clears the person's failures and lock. Returns the state that was cleared (`None`: there was
/// nothing to clear). Recorded in the log (and in the audit trail once it exists).
/// Every call leaves an audit line (`identity.unlocked`), whether there was anything to clear or not.
pub async fn unlock(
    app: &App,
    actor: &Actor,
    client_id: &str,
    person_id: &str,
    by: Unlocker,
) -> ApiResult<Option<LockState>> {
    let now = Utc::now().timestamp_millis();
    let before = app.store.guards(client_id, person_id).await?;
    let cleared = app.store.clear_failures(client_id, person_id, None).await?;
    let state = if cleared { before.map(|g| LockState::of(app, &g, now)) } else { None };
    let detail = json!({"failuresCleared": state.as_ref().map(|c| c.consecutive_failures),
                        "wasLocked": state.as_ref().is_some_and(|c| c.locked)});
    app.store.insert_audit(&actor.line(Some(client_id), "identity.unlocked", Some(person_id), Some(detail))).await?;
    if !cleared {
        return Ok(None);
    }
    tracing::info!(
        client_id,
        by = ?by,
        code_failures = before.map_or(0, |g| g.code.consecutive_failures),
        face_failures = before.map_or(0, |g| g.face.consecutive_failures),
        was_locked = before.is_some_and(|g| g.locked_at().is_some()),
        "unlocked a person's code and face methods"
    );
    metrics::counter!("smartauth_unlocks_total").increment(1);
    Ok(state)
}

/// What the identity document shows about the lockout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockState {
    /// The larger of the two factors' counts.
    pub consecutive_failures: u32,
    /// Consecutive failed code verifications (SMS or email), and face verifications.
    pub code_failures: u32,
    pub face_failures: u32,
    pub locked: bool,
    pub locked_at: Option<String>,
    /// When the next try is allowed, while a wait is owed.
    pub next_try_at: Option<String>,
    pub lock_after: u32,
}

impl LockState {
    fn of(app: &App, guards: &Guards, now: i64) -> LockState {
        let verdicts = Factor::ALL.map(|f| app.limits.lockout.verdict(&guards.for_try(f), now));
        LockState {
            consecutive_failures: guards.code.consecutive_failures.max(guards.face.consecutive_failures),
            code_failures: guards.code.consecutive_failures,
            face_failures: guards.face.consecutive_failures,
            locked: verdicts.contains(&TryVerdict::Locked),
            locked_at: guards.locked_at().map(ts),
            // The later of the waits, when a factor owes one.
            next_try_at: verdicts
                .iter()
                .filter_map(|v| match v {
                    TryVerdict::WaitUntil(at) => Some(*at),
                    _ => None,
                })
                .max()
                .map(ts),
            lock_after: app.limits.lockout.lock_after,
        }
    }
}

pub async fn state(app: &App, client_id: &str, person_id: &str) -> ApiResult<LockState> {
    let now = Utc::now().timestamp_millis();
    let guards = app.store.guards(client_id, person_id).await?.unwrap_or_default();
    Ok(LockState::of(app, &guards, now))
}
