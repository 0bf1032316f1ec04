//! S3 and S3-compatible servers as a [`Store`], through the `object_store` crate.
//!
//! `s3://bucket/key`: credentials, region and endpoint come from the usual `AWS_*`
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for MinIO, moto or Ceph; an `http://` endpoint is allowed as given).
//! One client per bucket per process. `object_store` is async: its calls run on one small
//! I/O runtime of the storage layer's, and callers (engine threads) block on them.
//!
//! A single PUT is atomic on S3 (readers see the old object or the new one whole), so `put`
//! needs no rename. Directories do not exist: a "directory" is a key prefix.

use crate::{
    FileMeta, Listing, RangeReader, Ranged, Result, SUCCESS, StorageError, Store, hidden_name,
};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

fn block<F: std::future::Future>(f: F) -> F::Output {
    crate::io_runtime().block_on(f)
}

/// One bucket.
#[derive(Debug)]
pub struct S3Store {
    bucket: String,
    settings: Vec<(String, String)>,
    s3: AmazonS3,
}

fn remote(bucket: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { path, .. } => {
            StorageError::NotFound(format!("s3://{bucket}/{path}"))
        }
        e => StorageError::Remote(format!("s3://{bucket}: {e}")),
    }
}

impl S3Store {
    /// The process's client for `bucket`, configured from the environment and then
    /// `settings` (`object_store`'s keys: `aws_endpoint`, `aws_access_key_id`, ...).
    pub fn shared(bucket: &str, settings: &[(String, String)]) -> Result<Arc<S3Store>> {
        type Key = (String, Vec<(String, String)>);
        static STORES: OnceLock<Mutex<HashMap<Key, Arc<S3Store>>>> = OnceLock::new();
        let stores = STORES.get_or_init(Default::default);
        let id = (bucket.to_string(), settings.to_vec());
        if let Some(s) = stores.lock().get(&id) {
            return Ok(s.clone());
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        let mut region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok();
        for (k, v) in settings {
            let key = k
                .parse()
                .map_err(|e| StorageError::BadUrl(format!("s3 setting {k}: {e}")))?;
            b = b.with_config(key, v);
            match k.as_str() {
                "aws_endpoint" | "aws_endpoint_url" | "endpoint" => endpoint = Some(v.clone()),
                "aws_region" | "region" => region = Some(v.clone()),
                _ => {}
            }
        }
        if let Some(e) = endpoint {
            b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
        }
        if region.is_none() {
            b = b.with_region("us-east-1");
        }
        let s3 = b.build().map_err(|e| {
            StorageError::BadUrl(format!(
                "s3://{bucket}: {e} (set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, \
                 and AWS_ENDPOINT_URL for an S3-compatible server)"
            ))
        })?;
        let store = Arc::new(S3Store {
            bucket: bucket.to_string(),
            settings: settings.to_vec(),
            s3,
        });
        Ok(stores.lock().entry(id).or_insert(store).clone())
    }

    fn key(&self, path: &str) -> Result<Path> {
        let k = path.trim_matches('/');
        Path::parse(k)
            .map_err(|e| StorageError::BadUrl(format!("s3://{}/{k}: bad key: {e}", self.bucket)))
    }

    fn err(&self, e: object_store::Error) -> StorageError {
        remote(&self.bucket, e)
    }

    fn objects_under(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>> {
        block(self.s3.list(Some(prefix)).try_collect::<Vec<_>>()).map_err(|e| self.err(e))
    }
}

impl Store for S3Store {
    fn scheme(&self) -> &'static str {
        "s3"
    }

    fn list(&self, path: &str) -> Result<Listing> {
        let key = self.key(path)?;
        let mut out = Listing::default();
        if !key.as_ref().is_empty()
            && let Ok(m) = block(self.s3.head(&key))
        {
            out.files.push(FileMeta {
                url: self.url(key.as_ref()),
                size: m.size,
            });
            return Ok(out);
        }
        let objects = self.objects_under(&key)?;
        if objects.is_empty() {
            return Err(StorageError::NotFound(self.url(key.as_ref())));
        }
        let base: Vec<String> = key.parts().map(|p| p.as_ref().to_string()).collect();
        let mut hidden: HashMap<String, u64> = HashMap::new();
        for o in objects {
            let parts: Vec<String> = o.location.parts().map(|p| p.as_ref().to_string()).collect();
            let rel = &parts[base.len().min(parts.len())..];
            match rel.iter().position(|c| hidden_name(c)) {
                Some(_) if rel.last().is_some_and(|l| l == SUCCESS) => {}
                Some(i) => {
                    let h = parts[..base.len() + i + 1].join("/");
                    *hidden.entry(self.url(&h)).or_default() += 1;
                }
                None => out.files.push(FileMeta {
                    url: self.url(o.location.as_ref()),
                    size: o.size,
                }),
            }
        }
        out.files.sort_by(|a, b| a.url.cmp(&b.url));
        out.hidden = hidden.into_iter().collect();
        out.hidden.sort();
        Ok(out)
    }

    fn size(&self, path: &str) -> Result<u64> {
        let key = self.key(path)?;
        Ok(block(self.s3.head(&key)).map_err(|e| self.err(e))?.size)
    }

    fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let key = self.key(path)?;
        let b = block(self.s3.get_range(&key, range)).map_err(|e| self.err(e))?;
        Ok(b.to_vec())
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(RangeReader::new(self.open_ranged(path)?)))
    }

    fn put(&self, path: &str, data: &[u8]) -> Result<()> {
        let key = self.key(path)?;
        block(self.s3.put(&key, data.to_vec().into())).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool> {
        // A conditional PUT (If-None-Match: *): the server refuses it when the key exists.
        let key = self.key(path)?;
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match block(self.s3.put_opts(&key, data.to_vec().into(), opts)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    fn delete(&self, path: &str) -> Result<()> {
        let key = self.key(path)?;
        // The object itself, and everything under it as a prefix.
        let mut keys: Vec<Path> = self
            .objects_under(&key)?
            .into_iter()
            .map(|o| o.location)
            .collect();
        keys.push(key);
        for k in keys {
            match block(self.s3.delete(&k)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("s3://{}/{}", self.bucket, path.trim_start_matches('/'))
    }

    fn open_ranged(&self, path: &str) -> Result<Arc<dyn Ranged>> {
        let len = self.size(path)?;
        Ok(Arc::new(S3Object {
            store: S3Store::shared(&self.bucket, &self.settings)?,
            path: path.to_string(),
            len,
        }))
    }
}

/// An object open for ranged reads (each a GET with a Range header).
#[derive(Debug)]
struct S3Object {
    store: Arc<S3Store>,
    path: String,
    len: u64,
}

impl Ranged for S3Object {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<u8>> {
        self.store.read_range(&self.path, range)
    }
}
