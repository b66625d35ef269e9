//! `smartauth backup PATH`: a consistent copy of the SQLite database, taken while the server runs.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use smartauth_store::sqlite::backup::copy_to;

use super::Database;
use crate::configuration::Settings;

pub struct Report {
    pub database: String,
    pub path: PathBuf,
    pub bytes: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = self.bytes.div_ceil(1024);
        write!(f, "backed up {} to {} ({kib} KiB)", self.database, self.path.display())
    }
}

/// Copies the database to `dest`, which must not exist. The copy is written beside `dest` under
/// another name and renamed when complete, so `dest` is never a half-written file; like the
/// database, it is readable by its owner only. A master key that is not the database's is refused.
pub async fn backup(settings: &Settings, dest: &Path) -> anyhow::Result<Report> {
    let database = Database::of(settings)?;
    if let Database::File(path) = &database {
        if !path.exists() {
            bail!(
                "there is no database at {}: is SMARTAUTH_DATA_DIR (or SMARTAUTH_DATABASE_URL) the one the server uses?",
                path.display()
            );
        }
    }
    super::store::ensure_key_matches(settings, &database).await?;
    if dest.exists() {
        bail!("{} exists: a backup never overwrites a file, so name a new one", dest.display());
    }
    let name = dest.file_name().with_context(|| format!("{} is not a file name", dest.display()))?;
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("the directory {} does not exist: create it first", dir.display());
    }
    let partial = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_file(&partial);
    // Created empty and private first: the copy holds the same personal data as the database.
    super::store::create_private_file(&partial)?;
    if let Err(e) = copy_to(database.source(), &partial).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("backing up {database}"));
    }
    let finish = || -> std::io::Result<u64> {
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, dest)?;
        Ok(std::fs::metadata(dest)?.len())
    };
    let bytes = finish().map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        anyhow::anyhow!("writing {}: {e}", dest.display())
    })?;
    Ok(Report { database: database.to_string(), path: dest.to_path_buf(), bytes })
}

/// Where the key that the backup needs is.
pub fn master_key_note(settings: &Settings) -> String {
    if settings.master_key.is_some() {
        "it is the value of SMARTAUTH_MASTER_KEY".to_owned()
    } else {
        format!("{}", settings.data_dir.join("master.key").display())
    }
}
