//! Times policy replay's reads alone (no decisions) on a SQLite file the replay bench left
//! (`BENCH_KEEP_DB=DIR scripts/bench.sh --replay`): the policy's newest attempts a page at a time, the
//! pasts of the people each page meets first and who shared their devices, as `ops::replay` reads them.
//! Prints each statement's time a round, then the fastest round's total, so that two builds or two
//! schemas can be compared on the same file without the decisions' noise:
//!
//!     replay_reads DB CLIENT_ID POLICY_ID [ROUNDS] [ATTEMPTS]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use smartauth_store::sqlite::SqliteStore;
use smartauth_store::{ReplaySpan, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, client, policy, rest @ ..] = &args[..] else {
        return Err("usage: replay_reads DB CLIENT_ID POLICY_ID [ROUNDS] [ATTEMPTS]".into());
    };
    let rounds: usize = rest.first().map(|r| r.parse()).transpose()?.unwrap_or(5);
    let limit: u32 = rest.get(1).map(|r| r.parse()).transpose()?.unwrap_or(100_000);
    let store = SqliteStore::open(std::path::Path::new(db)).await?;
    let lead = 86_400_000;
    let mut best = Duration::MAX;
    for round in 1..=rounds {
        let (mut page_t, mut pasts_t, mut sharing_t) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let started = Instant::now();
        let Some(mut window) = store.replay_window(client, policy, 0, limit).await? else {
            return Err("no attempts to replay".into());
        };
        let replayed_after = window.after.clone().unwrap_or((-1, "~".into()));
        let (mut met, mut devices, mut attempts) = (HashSet::new(), HashSet::new(), 0);
        loop {
            let t = Instant::now();
            let page = store.replay_page(client, policy, &window, 20_000).await?;
            page_t += t.elapsed();
            let Some(last) = page.last() else { break };
            attempts += page.len();
            window.after = Some((last.created_at, last.id.clone()));
            let mut people: Vec<String> =
                page.iter().filter_map(|r| r.person_id.clone()).filter(|p| met.insert(p.clone())).collect();
            people.sort_unstable();
            people.dedup();
            let span = ReplaySpan {
                from: page[0].created_at - lead,
                until: window.until.0,
                replayed_after: replayed_after.clone(),
            };
            let t = Instant::now();
            let pasts = store.replay_pasts(client, &people, policy, span).await?;
            pasts_t += t.elapsed();
            let fingerprints: Vec<String> = pasts
                .values()
                .flat_map(|p| p.past.devices.iter().map(|d| d.fingerprint.clone()))
                .filter(|f| devices.insert(f.clone()))
                .collect();
            let t = Instant::now();
            store.replay_sharing(client, &fingerprints, &[], &people).await?;
            sharing_t += t.elapsed();
        }
        let total = started.elapsed();
        best = best.min(total);
        println!(
            "round {round}: {attempts} attempts, {} people: pages {} ms, pasts {} ms, sharing {} ms, in all {} ms",
            met.len(),
            page_t.as_millis(),
            pasts_t.as_millis(),
            sharing_t.as_millis(),
            total.as_millis()
        );
    }
    println!("fastest round: {} ms", best.as_millis());
    Ok(())
}
