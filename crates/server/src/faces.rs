//! Face authentication's running parts: the models, a bounded pool that runs them off the async
//! runtime, a per-identity limit on verifications, and the media files (selfies and the enrolled
//! image compared with them), encrypted in the data dir and served by signed, expiring links.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smartauth_face::{Analysis, FaceEngine, Refusal};
use tokio::sync::Semaphore;

use crate::crypto::MasterKey;
use crate::error::ApiError;

/// Longest a request waits for a free model worker before the server says it is busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Face verifications per identity in [`IDENTITY_WINDOW`], across attempts.
pub const IDENTITY_LIMIT: usize = 10;
pub const IDENTITY_WINDOW: Duration = Duration::from_secs(600);
/// How long a media link stays valid.
pub const LINK_LIFETIME_SECS: i64 = 900;

pub struct Faces {
    engine: Arc<FaceEngine>,
    workers: Arc<Semaphore>,
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
    media_dir: PathBuf,
}

impl Faces {
    /// Loads the models (once per process and directory) with `workers` verifications at a time.
    pub fn load(models_dir: &Path, media_dir: PathBuf, workers: usize) -> Result<Faces, String> {
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
        Ok(Faces {
            engine,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            recent: Mutex::new(HashMap::new()),
            media_dir,
        })
    }

    /// Runs the pipeline on a blocking thread, at most `workers` at once, so that a burst of selfies
    /// cannot starve the requests that need no model.
    pub async fn analyze(&self, bytes: Vec<u8>) -> Result<Result<Analysis, Refusal>, ApiError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, self.workers.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable("face verification is busy; try again in a moment".into()))?
            .map_err(|_| ApiError::Unavailable("face verification is stopping".into()))?;
        let engine = self.engine.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            engine.analyze_bytes(&bytes)
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the face worker stopped: {e}")))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
        metrics::histogram!("smartauth_face_analysis_seconds").record(started.elapsed().as_secs_f64());
        Ok(result)
    }

    /// Counts a verification for the identity; false when it has had too many lately.
    pub fn allow(&self, client_id: &str, person_id: &str) -> bool {
        let key = format!("{client_id}\0{person_id}");
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() > 100_000 {
            recent.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < IDENTITY_WINDOW));
        }
        let times = recent.entry(key).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= IDENTITY_WINDOW) {
            times.pop_front();
        }
        if times.len() >= IDENTITY_LIMIT {
            return false;
        }
        times.push_back(now);
        true
    }

    fn attempt_dir(&self, client_id: &str, attempt_id: &str) -> PathBuf {
        self.media_dir.join(client_id).join(attempt_id)
    }

    /// Keeps an image of an attempt, encrypted; returns its name.
    pub fn store_media(
        &self,
        key: &MasterKey,
        client_id: &str,
        attempt_id: &str,
        name: &str,
        image: &[u8],
    ) -> anyhow::Result<()> {
        let dir = self.attempt_dir(client_id, attempt_id);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, key.encrypt(image))?;
        std::fs::rename(tmp, dir.join(name))?;
        Ok(())
    }

    pub fn read_media(&self, key: &MasterKey, client_id: &str, attempt_id: &str, name: &str) -> Option<Vec<u8>> {
        let sealed = std::fs::read(self.attempt_dir(client_id, attempt_id).join(name)).ok()?;
        key.decrypt(&sealed).ok()
    }

    /// Deletes every image of the attempts (erasure).
    pub fn forget_media(&self, client_id: &str, attempt_ids: &[String]) {
        for id in attempt_ids {
            let dir = self.attempt_dir(client_id, id);
            if dir.exists() {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(error = %e, "could not delete an erased attempt's images");
                }
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
