//! Opening the store with its master key, as every command does. Only `serve` and `init` may create
//! them, so that a mistyped `SMARTAUTH_DATA_DIR` is an error and not a new, empty store; the key
//! must be the one the database was sealed with; and what holds personal data is readable by its
//! owner only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use smartauth_store::sqlite::guard::stored_key_check;
use smartauth_store::sqlite::SqliteStore;
use smartauth_store::Store;

use super::Database;
use crate::configuration::Settings;
use crate::crypto::{MasterKey, MASTER_KEY_FILE};

/// Whether a command may create the data dir, the database and the master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// `serve` and `init`.
    Allowed,
    /// Every other command: a missing store is an error.
    Refused,
}

pub struct Opened {
    pub store: Arc<dyn Store>,
    pub key: MasterKey,
}

const CREATE_HINT: &str = "`smartauth init` (or `smartauth serve`) creates a new one";

/// Opens the database and loads the master key, checked against the database's key check (which
/// is recorded on the first open of a database that has none, with the key in use).
pub async fn open(settings: &Settings, create: Create) -> anyhow::Result<Opened> {
    let database = Database::of(settings)?;
    let store = match create {
        Create::Allowed => open_or_create(settings, &database).await?,
        Create::Refused => open_existing(settings, &database).await?,
    };
    let key = checked_key(settings, &store, &database, create).await?;
    Ok(Opened { store: Arc::new(store), key })
}

async fn open_or_create(settings: &Settings, database: &Database) -> anyhow::Result<SqliteStore> {
    create_private_dir(&settings.data_dir)?;
    match database {
        Database::File(path) => {
            create_private_file(path)?;
            SqliteStore::open(path).await.with_context(|| format!("opening the database {database}"))
        }
        Database::Url(url) => {
            SqliteStore::open_url(url).await.with_context(|| format!("opening the database {database}"))
        }
    }
}

async fn open_existing(settings: &Settings, database: &Database) -> anyhow::Result<SqliteStore> {
    match database {
        Database::File(path) => {
            if !settings.data_dir.is_dir() {
                bail!(
                    "the data dir {} does not exist: is SMARTAUTH_DATA_DIR the one the server uses? {CREATE_HINT}",
                    settings.data_dir.display()
                );
            }
            if !path.exists() {
                bail!(
                    "there is no database at {}: is SMARTAUTH_DATA_DIR (or SMARTAUTH_DATABASE_URL) the one the server uses? {CREATE_HINT}",
                    path.display()
                );
            }
            SqliteStore::open_existing(path).await.with_context(|| format!("opening the database {database}"))
        }
        Database::Url(url) => SqliteStore::open_existing_url(url).await.with_context(|| {
            format!("opening the database {database}: is SMARTAUTH_DATABASE_URL the one the server uses? {CREATE_HINT}")
        }),
    }
}

/// Where the key comes from, as the operator names it.
fn key_source(settings: &Settings) -> String {
    match settings.master_key {
        Some(_) => "SMARTAUTH_MASTER_KEY".to_owned(),
        None => settings.data_dir.join(MASTER_KEY_FILE).display().to_string(),
    }
}

fn wrong_key(settings: &Settings, database: &Database) -> anyhow::Error {
    let fix = match settings.master_key {
        Some(_) => "set SMARTAUTH_MASTER_KEY to that key, or unset it to use master.key in the data dir",
        None => "put that key back in master.key, or set SMARTAUTH_MASTER_KEY to it",
    };
    anyhow::anyhow!(
        "wrong master key: the key from {} is not the one the database {database} was created with, so its client \
         secrets and faces cannot be read; {fix} (no data was changed)",
        key_source(settings)
    )
}

async fn checked_key(
    settings: &Settings,
    store: &SqliteStore,
    database: &Database,
    create: Create,
) -> anyhow::Result<MasterKey> {
    let recorded = store.key_check().await?;
    let key = match MasterKey::load(settings.master_key.as_deref(), &settings.data_dir)? {
        Some(key) => key,
        None => {
            let sealed = recorded.is_some() || !store.clients().await?.is_empty();
            if sealed {
                bail!(
                    "{} is missing, but the database {database} holds data sealed with a master key: restore \
                     master.key from your backup into the data dir, or set SMARTAUTH_MASTER_KEY",
                    key_source(settings)
                );
            }
            if create == Create::Refused {
                bail!("there is no master key ({} is missing): {CREATE_HINT}", key_source(settings));
            }
            MasterKey::create(&settings.data_dir)?
        }
    };
    let recorded = match recorded {
        Some(value) => value,
        None => {
            if !opens_stored_secrets(store, &key).await? {
                return Err(wrong_key(settings, database));
            }
            store.record_key_check(&key.check_value()).await?
        }
    };
    if !key.has_check_value(&recorded) {
        return Err(wrong_key(settings, database));
    }
    Ok(key)
}

/// For a database from before the key check: the key is the database's when it opens a client
/// secret (or there are none). Clients whose secret it cannot open were created with another key
/// (the trap the key check closes), and are named with their fix.
async fn opens_stored_secrets(store: &SqliteStore, key: &MasterKey) -> anyhow::Result<bool> {
    let clients = store.clients().await?;
    let unreadable: Vec<&str> =
        clients.iter().filter(|c| key.decrypt_text(&c.secret_enc).is_err()).map(|c| c.id.as_str()).collect();
    if !clients.is_empty() && unreadable.len() == clients.len() {
        return Ok(false);
    }
    for id in unreadable {
        tracing::warn!(
            client_id = id,
            "this client's secret was sealed with another master key and cannot be read: \
             give it a new one with `smartauth clients rotate-secret {id}`"
        );
    }
    Ok(true)
}

/// How the master key stands against the database, read without changing anything.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyMatch {
    Matches,
    Differs,
    /// The database has no key check yet: the next `serve` or command records one.
    NotRecorded,
}

pub async fn key_match(key: &MasterKey, database: &Database) -> anyhow::Result<KeyMatch> {
    Ok(match stored_key_check(database.source()).await? {
        None => KeyMatch::NotRecorded,
        Some(value) if key.has_check_value(&value) => KeyMatch::Matches,
        Some(_) => KeyMatch::Differs,
    })
}

/// Refuses a wrong key without opening the database for writing (for `backup`). A missing key is
/// not refused: the database may still be worth copying, and `backup` names the key it needs.
pub async fn ensure_key_matches(settings: &Settings, database: &Database) -> anyhow::Result<()> {
    let Some(key) = MasterKey::load(settings.master_key.as_deref(), &settings.data_dir)? else {
        return Ok(());
    };
    match key_match(&key, database).await? {
        KeyMatch::Differs => Err(wrong_key(settings, database)),
        KeyMatch::Matches | KeyMatch::NotRecorded => Ok(()),
    }
}

/// Creates the directory (and its missing parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("creating the data dir {}", dir.display()))
}

/// Creates an empty file readable by its owner only, unless it exists. SQLite gives its `-wal` and
/// `-shm` files the database file's mode, so they are private too.
pub fn create_private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// A file or directory of the store that users other than its owner may read.
pub struct Exposed {
    pub path: PathBuf,
    pub mode: u32,
    /// The mode it should have: 700 for a directory, 600 for a file.
    pub wanted: u32,
}

impl Exposed {
    pub fn is_dir(&self) -> bool {
        self.wanted == 0o700
    }

    pub fn fix(&self) -> String {
        format!("chmod {:o} {}", self.wanted, self.path.display())
    }
}

/// The data dir and the database files (with `-wal` and `-shm`), where they exist and users other
/// than their owner have any access to them. (`check` names a readable master key on its own.)
pub fn exposed_files(settings: &Settings) -> Vec<Exposed> {
    let mut candidates = vec![(settings.data_dir.clone(), 0o700)];
    if let Ok(Database::File(db)) = Database::of(settings) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            candidates.push((PathBuf::from(name), 0o600));
        }
    }
    candidates
        .into_iter()
        .filter_map(|(path, wanted)| Some(Exposed { mode: wider_mode(&path)?, path, wanted }))
        .collect()
}

/// The file's mode when it grants anything to the group or others.
#[cfg(unix)]
fn wider_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn wider_mode(_: &Path) -> Option<u32> {
    None
}

/// Logs a warning for each file of [`exposed_files`]: at start, so that an operator sees it.
pub fn warn_about_exposed_files(settings: &Settings) {
    for exposed in exposed_files(settings) {
        tracing::warn!(
            path = %exposed.path.display(),
            mode = %format!("{:o}", exposed.mode),
            fix = %exposed.fix(),
            "other users can read this file or directory of the store (it holds personal data or keys)"
        );
    }
}
