//! A small time-bounded cache for what almost every request reads and rarely changes (clients,
//! policies). Changes made in this process evict at once; changes from another process (the CLI, a
//! second server) are seen once the entry is older than the TTL.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 100_000;

pub struct TtlCache<V> {
    entries: RwLock<HashMap<String, (V, Instant)>>,
}

impl<V> Default for TtlCache<V> {
    fn default() -> Self {
        TtlCache { entries: RwLock::new(HashMap::new()) }
    }
}

impl<V: Clone> TtlCache<V> {
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(_, at)| at.elapsed() < TTL).map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: String, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    pub fn forget(&self, key: &str) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}
