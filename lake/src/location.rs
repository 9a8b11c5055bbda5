//! A lake is one URL. A plain path or `file://` is a local directory; `s3://bucket/prefix` is
//! any S3-compatible store, configured from [`S3Config`] with the standard `AWS_*` variables as
//! the fallback. Every other part of Pulse addresses the lake through [`Lake`], never through a
//! file system path, so the same code runs on a laptop and against a bucket.

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::view::LakeStore;
use crate::{Error, Result};

/// Connection settings for an S3-compatible store. Unset fields fall back to the standard
/// `AWS_*` environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://127.0.0.1:3900` for a local server.
    pub endpoint: Option<String>,
    /// Region name; S3-compatible servers often accept any.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key. Never printed: `Debug` redacts it.
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints.
    pub allow_http: Option<bool>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// An opened lake: its tables (where they live, their Delta logs as this process has loaded
/// them) and the store as readers see it, [`LakeStore`].
#[derive(Clone)]
pub struct Lake {
    store: Arc<LakeStore>,
    display: String,
}

impl fmt::Debug for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lake").field("url", &self.display).finish()
    }
}

impl fmt::Display for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl Lake {
    /// Opens the lake at `location`: a path (created if missing), `file://...` or `s3://...`.
    pub fn open(location: &str, s3: &S3Config) -> Result<Lake> {
        let invalid = |reason: String| Error::InvalidLocation {
            url: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid("empty location".into()));
        }
        match Url::parse(location) {
            Ok(url) if url.scheme() == "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("s3 URL needs a bucket: s3://bucket/prefix".into()))?
                    .to_string();
                let mut b = AmazonS3Builder::from_env().with_bucket_name(&bucket);
                if let Some(e) = &s3.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = &s3.region {
                    b = b.with_region(r);
                }
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                if let Some(h) = s3.allow_http {
                    b = b.with_allow_http(h);
                }
                let inner = b.build().map_err(|e| invalid(e.to_string()))?;
                let store_url =
                    Url::parse(&format!("s3://{bucket}")).map_err(|e| invalid(e.to_string()))?;
                let prefix = Path::from(url.path().trim_matches('/'));
                Ok(Lake::new(
                    location.trim_end_matches('/').to_string(),
                    Arc::new(inner),
                    store_url,
                    prefix,
                ))
            }
            Ok(url) if url.scheme() == "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid("not a local file URL".into()))?;
                Self::open_local(location, &path)
            }
            Ok(url) if url.scheme().len() > 1 => Err(invalid(format!(
                "unsupported scheme {:?}: use a path, file:// or s3://",
                url.scheme()
            ))),
            // No scheme (or a Windows drive letter): a local path.
            _ => Self::open_local(location, std::path::Path::new(location)),
        }
    }

    fn open_local(location: &str, path: &std::path::Path) -> Result<Lake> {
        let invalid = |reason: String| Error::InvalidLocation {
            url: location.to_string(),
            reason,
        };
        std::fs::create_dir_all(path).map_err(|e| invalid(format!("cannot create: {e}")))?;
        let abs = std::fs::canonicalize(path).map_err(|e| invalid(e.to_string()))?;
        let prefix = Path::from_filesystem_path(&abs).map_err(|e| invalid(e.to_string()))?;
        let store_url = Url::parse("file:///").map_err(|e| invalid(e.to_string()))?;
        Ok(Lake::new(
            abs.display().to_string(),
            Arc::new(LocalFileSystem::new()),
            store_url,
            prefix,
        ))
    }

    fn new(display: String, store: Arc<dyn ObjectStore>, store_url: Url, prefix: Path) -> Lake {
        let tables = Arc::new(crate::delta::Tables::new(store, store_url, prefix));
        Lake {
            store: Arc::new(LakeStore::new(tables)),
            display,
        }
    }

    /// The store as readers see it: each table as its Delta log says (see [`LakeStore`]).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The store itself, every object visible (Delta logs, files no commit added).
    pub fn raw_store(&self) -> Arc<dyn ObjectStore> {
        self.store.inner().clone()
    }

    /// The lake's tables: where they live and their Delta logs as this process has loaded
    /// them (shared by every clone of the lake).
    pub fn tables(&self) -> &Arc<crate::delta::Tables> {
        self.store.tables()
    }

    /// The store path of `rel` (a `/`-separated path relative to the lake root).
    pub fn path(&self, rel: &str) -> Path {
        self.tables().path(rel)
    }

    /// The URL of `rel` as DataFusion sees it, ending in `/` (a directory).
    pub fn url(&self, rel: &str) -> String {
        self.tables().url(rel)
    }

    /// The store URL (`file:///` or `s3://bucket`) under which [`Lake::store`] is registered.
    pub fn store_url(&self) -> &Url {
        self.tables().store_url()
    }

    /// True when the lake lives in a local directory.
    pub fn is_local(&self) -> bool {
        self.store_url().scheme() == "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_file_urls_open_the_same_lake() {
        let dir = tempfile::tempdir().unwrap();
        let a = Lake::open(dir.path().to_str().unwrap(), &S3Config::default()).unwrap();
        let url = format!("file://{}", dir.path().display());
        let b = Lake::open(&url, &S3Config::default()).unwrap();
        assert_eq!(a.path("raw/streams"), b.path("raw/streams"));
        assert!(a.url("raw/streams").starts_with("file:///"));
        assert!(a.url("raw/streams").ends_with("/raw/streams/"));
    }

    #[test]
    fn s3_urls_keep_bucket_and_prefix() {
        let s3 = S3Config {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("garage".into()),
            access_key_id: Some("k".into()),
            secret_access_key: Some("very-secret".into()),
            allow_http: Some(true),
        };
        let lake = Lake::open("s3://bucket/some/prefix", &s3).unwrap();
        assert_eq!(lake.url("raw/x"), "s3://bucket/some/prefix/raw/x/");
        assert!(!format!("{s3:?}").contains("very-secret"));
    }

    #[test]
    fn bad_locations_are_user_errors() {
        let err = Lake::open("ftp://host/x", &S3Config::default()).unwrap_err();
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
        assert!(Lake::open("s3:///nobucket", &S3Config::default()).is_err());
        assert!(Lake::open("", &S3Config::default()).is_err());
    }
}
