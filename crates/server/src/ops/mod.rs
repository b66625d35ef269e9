//! Operations: the work behind the API and the command line, taking typed input. Handlers and
//! commands parse, call one of these, and render the result.

pub mod attempts;
pub mod audit;
pub mod backup;
pub mod check;
pub mod clients;
pub mod devices;
pub mod identities;
pub mod images;
pub mod lockout;
pub mod pages;
pub mod policies;
pub mod replay;
pub mod sends;
pub mod store;
pub mod webhooks;

use std::path::PathBuf;

use smartauth_store::sqlite::backup::Source;

use crate::configuration::Settings;

/// The database `serve` uses, as the store's maintenance functions name it.
pub enum Database {
    File(PathBuf),
    Url(String),
}

impl Database {
    pub fn of(settings: &Settings) -> anyhow::Result<Database> {
        match settings.database_url.as_deref() {
            None => Ok(Database::File(settings.data_dir.join("smartauth.db"))),
            Some(url) if url.starts_with("sqlite:") => Ok(Database::Url(url.to_owned())),
            Some(_) => anyhow::bail!("SMARTAUTH_DATABASE_URL: only sqlite: URLs are supported by this build"),
        }
    }

    pub fn source(&self) -> Source<'_> {
        match self {
            Database::File(path) => Source::File(path),
            Database::Url(url) => Source::Url(url),
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::File(path) => write!(f, "{}", crate::startup::data_dir_note(path)),
            Database::Url(url) => write!(f, "{url}"),
        }
    }
}
