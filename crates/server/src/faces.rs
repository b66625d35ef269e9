//! Face authentication's running parts: the models, a bounded pool of low-priority threads that runs
//! them off the async runtime, a per-identity limit on verifications, and the media files (selfies and the enrolled
//! image compared with them), encrypted in the data dir and served by signed, expiring links.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smartauth_face::{Analysis, FaceEngine, Refusal};

use crate::crypto::MasterKey;
use crate::error::ApiError;
use crate::media::MediaStore;
use crate::telemetry;

/// Longest a request waits for its selfie to be analysed before the server says it is busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(20);
/// Counts a verification at `now` among an identity's recent ones (oldest first), or says how long until
/// the oldest no longer counts when there are [`IDENTITY_LIMIT`] in the window.
fn allow_at(times: &mut std::collections::VecDeque<Instant>, now: Instant) -> Result<(), Duration> {
    while times.front().is_some_and(|t| now.duration_since(*t) >= IDENTITY_WINDOW) {
        times.pop_front();
    }
    if times.len() >= IDENTITY_LIMIT {
        let oldest = times.front().copied().unwrap_or(now);
        return Err(IDENTITY_WINDOW.saturating_sub(now.duration_since(oldest)));
    }
    times.push_back(now);
    Ok(())
}

/// Face verifications per identity in [`IDENTITY_WINDOW`], across attempts.
pub const IDENTITY_LIMIT: usize = 10;
pub const IDENTITY_WINDOW: Duration = Duration::from_secs(600);
/// How long a media link stays valid.
pub const LINK_LIFETIME_SECS: i64 = 900;

pub struct Faces {
    engine: Arc<FaceEngine>,
    pool: WorkerPool,
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
    media: MediaStore,
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads of their own for the models, at a lower scheduling priority than the request handlers,
/// with a bounded queue: a burst of selfies waits here (or is told the server is busy) while
/// everything else keeps its latency.
struct WorkerPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

/// Selfies waiting per worker before new ones are refused as busy.
const QUEUE_PER_WORKER: usize = 4;
/// The workers' niceness: the scheduler prefers the request handlers when both want the CPU.
const WORKER_NICENESS: i32 = 10;

impl WorkerPool {
    fn new(workers: usize) -> WorkerPool {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("face-{n}")).spawn(move || {
                lower_priority();
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    if job.is_ok() {
                        telemetry::face_queue_changed(-1.0);
                    }
                    match job {
                        // A panic in the models or a decoder fails that one selfie (its caller sees the
                        // dropped reply), not the worker.
                        Ok(job) => {
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                                tracing::error!("a face analysis panicked");
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start a face worker");
            }
        }
        WorkerPool { jobs }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority on the calling thread (who 0 with PRIO_PROCESS is the calling thread on
    // Linux, where threads are tasks); no memory is touched.
    let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICENESS) };
    if done != 0 {
        tracing::debug!("could not lower the face worker's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl Faces {
    /// Loads the models (once per process and directory) with `workers` verifications at a time.
    pub fn load(models_dir: &Path, media: MediaStore, workers: usize) -> Result<Faces, String> {
        static LOADED: Mutex<Vec<(PathBuf, Arc<FaceEngine>)>> = Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        let engine = match loaded.iter().find(|(p, _)| p == models_dir) {
            Some((_, e)) => e.clone(),
            None => {
                let e = Arc::new(FaceEngine::load(models_dir).map_err(|e| e.to_string())?);
                loaded.push((models_dir.to_path_buf(), e.clone()));
                e
            }
        };
        Ok(Faces { engine, pool: WorkerPool::new(workers.max(1)), recent: Mutex::new(HashMap::new()), media })
    }

    /// Runs the pipeline on a face worker; when every worker is busy and the queue is full, the
    /// caller is told to come back (503) rather than queued without bound.
    pub async fn analyze(&self, bytes: Vec<u8>) -> Result<Result<Analysis, Refusal>, ApiError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let engine = self.engine.clone();
        let started = Instant::now();
        let job: Job = Box::new(move || {
            let _ = done.send(engine.analyze_bytes_timed(&bytes, &mut telemetry::face_stage_timed));
        });
        // Counted before it is queued: a worker may take it before `try_send` returns.
        telemetry::face_queue_changed(1.0);
        self.pool.jobs.try_send(job).map_err(|e| {
            telemetry::face_queue_changed(-1.0);
            match e {
                std::sync::mpsc::TrySendError::Full(_) => {
                    ApiError::Unavailable("face verification is busy; try again in a moment".into())
                }
                std::sync::mpsc::TrySendError::Disconnected(_) => {
                    ApiError::Unavailable("face workers are stopped".into())
                }
            }
        })?;
        let result = tokio::time::timeout(QUEUE_WAIT, result)
            .await
            .map_err(|_| ApiError::Unavailable("face verification is busy; try again in a moment".into()))?
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a face worker stopped")))?
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
        metrics::histogram!("smartauth_face_analysis_seconds").record(started.elapsed().as_secs_f64());
        Ok(result)
    }

    /// Counts a verification for the identity; when it has had too many lately, how long until the oldest
    /// of them no longer counts.
    pub fn allow(&self, client_id: &str, person_id: &str) -> Result<(), Duration> {
        let key = format!("{client_id}\0{person_id}");
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() > 100_000 {
            recent.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < IDENTITY_WINDOW));
        }
        allow_at(recent.entry(key).or_default(), now)
    }

    /// Keeps an image of an attempt, encrypted.
    pub async fn store_media(
        &self,
        key: &MasterKey,
        client_id: &str,
        attempt_id: &str,
        name: &str,
        image: &[u8],
    ) -> anyhow::Result<()> {
        self.media.put(&format!("{client_id}/{attempt_id}/{name}"), key.encrypt(image)).await
    }

    pub async fn read_media(&self, key: &MasterKey, client_id: &str, attempt_id: &str, name: &str) -> Option<Vec<u8>> {
        match self.media.get(&format!("{client_id}/{attempt_id}/{name}")).await {
            Ok(sealed) => key.decrypt(&sealed?).ok(),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "an attempt's image could not be read");
                None
            }
        }
    }

    /// Deletes every image of the attempts (erasure).
    pub async fn forget_media(&self, client_id: &str, attempt_ids: &[String]) {
        for id in attempt_ids {
            if let Err(e) = self.media.delete_folder(&format!("{client_id}/{id}")).await {
                tracing::warn!(error = %format!("{e:#}"), "could not delete an erased attempt's images");
            }
        }
    }
}

/// A media file's name: the verification's random id and which image it is.
pub fn media_name(id: &str, which: &str) -> String {
    format!("{id}-{which}.bin")
}

/// Whether a requested name is one this server writes (so a link cannot reach anything else).
pub fn valid_media_name(name: &str) -> bool {
    let Some((id, rest)) = name.split_once('-') else { return false };
    (1..=32).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(rest, "provided.bin" | "expected.bin")
}

/// A signed, expiring link to an attempt's image.
pub fn signed_link(key: &MasterKey, base: &str, client_id: &str, attempt_id: &str, name: &str, now: i64) -> String {
    let expires = now + LINK_LIFETIME_SECS;
    let signature = key.media_signature(&[client_id, attempt_id, name, &expires.to_string()]);
    format!("{base}/media/{client_id}/{attempt_id}/{name}?expires={expires}&signature={signature}")
}

#[cfg(test)]
mod allowance_tests {
    use super::*;

    #[test]
    fn the_wait_told_is_until_the_oldest_verification_leaves_the_window() {
        let start = Instant::now();
        let mut times = std::collections::VecDeque::new();
        for i in 0..IDENTITY_LIMIT as u64 {
            assert!(allow_at(&mut times, start + Duration::from_secs(i * 10)).is_ok());
        }
        // At 100 s, the first (at 0 s) counts for 500 s more; at 599 s, for 1 s more; at 600 s, no more.
        assert_eq!(allow_at(&mut times, start + Duration::from_secs(100)), Err(Duration::from_secs(500)));
        assert_eq!(allow_at(&mut times, start + Duration::from_secs(599)), Err(Duration::from_secs(1)));
        assert_eq!(allow_at(&mut times, start + Duration::from_secs(600)), Ok(()));
        assert_eq!(times.len(), IDENTITY_LIMIT, "the oldest left, the newest came");
    }
}
