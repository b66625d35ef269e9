//! Where attempt images (selfies and the enrolled faces they were compared with) are kept, always
//! encrypted by the caller: files under the data dir by default, or an S3-compatible bucket through
//! the `object_store` crate (`SMARTAUTH_MEDIA_URL=s3://bucket/prefix`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

/// An S3-compatible store's settings; credentials and region fall back to the usual `AWS_*` variables.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `SMARTAUTH_MEDIA_URL`: `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// `SMARTAUTH_S3_ENDPOINT`: for S3-compatible services (MinIO, Ceph, R2, ...); path-style requests.
    pub endpoint: Option<String>,
    /// `SMARTAUTH_S3_REGION`.
    pub region: Option<String>,
    /// `SMARTAUTH_S3_ACCESS_KEY_ID`, `SMARTAUTH_S3_SECRET_ACCESS_KEY`.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

pub enum MediaStore {
    Files(PathBuf),
    Bucket { store: Arc<dyn ObjectStore>, prefix: String },
}

impl MediaStore {
    pub fn files(dir: PathBuf) -> MediaStore {
        MediaStore::Files(dir)
    }

    pub fn s3(s: &S3Settings) -> anyhow::Result<MediaStore> {
        let rest = s.url.strip_prefix("s3://").context("SMARTAUTH_MEDIA_URL must be an s3:// URL")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "SMARTAUTH_MEDIA_URL names no bucket");
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &s.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &s.region {
            builder = builder.with_region(region);
        }
        if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = builder.build().context("SMARTAUTH_MEDIA_URL: the S3 store cannot be set up")?;
        Ok(MediaStore::Bucket { store: Arc::new(store), prefix: prefix.trim_matches('/').to_owned() })
    }

    fn object(prefix: &str, key: &str) -> ObjectPath {
        ObjectPath::from(if prefix.is_empty() { key.to_owned() } else { format!("{prefix}/{key}") })
    }

    /// `key` is made of path segments this server chose (client id, attempt id, file name).
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            MediaStore::Files(dir) => {
                let path = dir.join(key);
                let parent = path.parent().context("a media key has a folder")?.to_path_buf();
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    std::fs::create_dir_all(&parent)?;
                    let tmp = path.with_extension("tmp");
                    std::fs::write(&tmp, bytes)?;
                    std::fs::rename(tmp, path)?;
                    Ok(())
                })
                .await?
            }
            MediaStore::Bucket { store, prefix } => {
                store.put(&Self::object(prefix, key), PutPayload::from(bytes)).await?;
                Ok(())
            }
        }
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            MediaStore::Files(dir) => match tokio::fs::read(dir.join(key)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            MediaStore::Bucket { store, prefix } => match store.get(&Self::object(prefix, key)).await {
                Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Deletes everything under a folder key (an attempt's images).
    pub async fn delete_folder(&self, folder: &str) -> anyhow::Result<()> {
        match self {
            MediaStore::Files(dir) => match tokio::fs::remove_dir_all(dir.join(folder)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            MediaStore::Bucket { store, prefix } => {
                let objects: Vec<_> = store.list(Some(&Self::object(prefix, folder))).try_collect().await?;
                for object in objects {
                    store.delete(&object.location).await?;
                }
                Ok(())
            }
        }
    }
}
