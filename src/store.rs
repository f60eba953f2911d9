//! The store stage: where archives live. A [`Location`] is a local path or an object in
//! S3-compatible storage (`s3://bucket/key`); [`Store`] reads, writes (never over an existing
//! archive), lists and deletes either, so `backup`, `verify`, `inspect`, `export`, `restore` and
//! `prune` work the same on both.
//!
//! Local writes go to a temporary file in the same directory, are fsynced and renamed, so no
//! partial archive ever carries its final name; an S3 PUT is atomic by nature. S3 settings come
//! from the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for S3-compatible servers, `AWS_ALLOW_HTTP=true` for plain HTTP). This
//! module moves bytes; the archive format is [`crate::archive`]'s alone.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::archive::{self, crypto::PassphraseSource, ArchiveName, Identities, Opened};
use crate::error::{Error, Result};

/// Largest archive read (an archive of a whole trust set is a few hundred KiB).
pub(crate) const MAX_ARCHIVE_BYTES: u64 = 1024 * 1024 * 1024;

/// Where an archive (or a directory of archives) is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Local(PathBuf),
    /// `s3://bucket/key`; a key ending in `/` (or empty) is a prefix.
    S3 {
        bucket: String,
        key: String,
    },
}

impl Location {
    /// `s3://bucket/key` or a local path.
    pub fn parse(s: &str) -> Result<Location> {
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(Error::Usage(format!("{s}: expected s3://BUCKET/KEY")));
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            None => Ok(Location::Local(PathBuf::from(s))),
        }
    }

    /// True when this names a directory (or an S3 prefix) rather than one archive. S3 has no
    /// directories: a key that does not end in `.age` is taken as a prefix, so
    /// `-o s3://bucket/gloo` writes `gloo/<cluster>-<time>.tar.gz.age`, never an object `gloo`.
    pub(crate) fn is_dir(&self) -> bool {
        match self {
            Location::Local(p) => p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/'),
            Location::S3 { key, .. } => !archive::is_archive_file(key),
        }
    }

    /// A file inside this directory or prefix.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::S3 { bucket, key } => {
                let sep = if key.is_empty() || key.ends_with('/') {
                    ""
                } else {
                    "/"
                };
                Location::S3 {
                    bucket: bucket.clone(),
                    key: format!("{key}{sep}{name}"),
                }
            }
        }
    }

    /// The last path component.
    pub fn file_name(&self) -> String {
        match self {
            Location::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Location::S3 { key, .. } => key.rsplit('/').next().unwrap_or("").to_string(),
        }
    }

    /// The directory (or prefix) holding this file.
    pub fn parent(&self) -> Location {
        match self {
            Location::Local(p) => {
                Location::Local(p.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            Location::S3 { bucket, key } => {
                let prefix = key
                    .rsplit_once('/')
                    .map(|(p, _)| format!("{p}/"))
                    .unwrap_or_default();
                Location::S3 {
                    bucket: bucket.clone(),
                    key: prefix,
                }
            }
        }
    }

    /// `<archive>.sha256`.
    pub fn sidecar(&self) -> Location {
        match self {
            Location::Local(p) => Location::Local(archive::sidecar_path(p)),
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: archive::sidecar_of(key),
            },
        }
    }
}

impl Default for Location {
    /// The current directory.
    fn default() -> Self {
        Location::Local(PathBuf::from("."))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Reads and writes archives wherever they are. S3 clients are made on first use per bucket.
#[derive(Default)]
pub struct Store {
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// The object path of a key, taken as written (no second percent-encoding).
fn s3_path(loc: &Location, key: &str) -> Result<object_store::path::Path> {
    object_store::path::Path::parse(key.trim_end_matches('/')).map_err(|e| Error::Storage {
        location: loc.to_string(),
        message: format!("not a usable object key ({e})"),
    })
}

/// An object_store error as users see it: no credentials from URLs, no server body beyond
/// its error code, and the configuration hint only where credentials are the likely cause.
fn storage_err(loc: &Location, e: object_store::Error) -> Error {
    let auth = matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    );
    let mut message = redact_storage_message(&e.to_string());
    if auth {
        message.push_str("; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (and AWS_ENDPOINT_URL for S3-compatible servers)");
    } else if message.contains("error sending request") || message.contains("Connect") {
        message.push_str(
            "; is the endpoint reachable? (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for http://)",
        );
    }
    Error::Storage {
        location: loc.to_string(),
        message,
    }
}

/// Removes `user:password@` from URLs and keeps only `<Code>` of an XML error body.
fn redact_storage_message(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', ' ', '"']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    if let Some(i) = out.find("<?xml") {
        let code = out[i..]
            .split("<Code>")
            .nth(1)
            .and_then(|c| c.split("</Code>").next())
            .map(str::to_string);
        out.truncate(i);
        if let Some(code) = code {
            out.push_str(&code);
        }
    }
    out
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    fn bucket(&self, loc: &Location, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut map = self.buckets.lock().expect("store lock");
        if let Some(s) = map.get(bucket) {
            return Ok(s.clone());
        }
        // A backup job or an incident should fail in seconds, not retry for minutes.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(30),
            ..Default::default()
        };
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .build()
            .map_err(|e| storage_err(loc, e))?;
        let s3: Arc<dyn ObjectStore> = Arc::new(s3);
        map.insert(bucket.to_string(), s3.clone());
        Ok(s3)
    }

    /// The bytes at `loc`, or `None` when nothing is there.
    pub async fn get(&self, loc: &Location) -> Result<Option<Vec<u8>>> {
        match loc {
            Location::Local(p) => match std::fs::metadata(p) {
                Ok(m) if m.len() > MAX_ARCHIVE_BYTES => Err(Error::Corrupt {
                    archive: loc.to_string(),
                    message: "larger than 1 GiB; not a trustkeep archive".into(),
                }),
                Ok(_) => std::fs::read(p)
                    .map(Some)
                    .map_err(|e| Error::io("cannot read", p, e)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("cannot read", p, e)),
            },
            Location::S3 { bucket, key } => {
                let s = self.bucket(loc, bucket)?;
                match s.get(&s3_path(loc, key)?).await {
                    Ok(r) if r.meta.size > MAX_ARCHIVE_BYTES => Err(Error::Corrupt {
                        archive: loc.to_string(),
                        message: "larger than 1 GiB; not a trustkeep archive".into(),
                    }),
                    Ok(r) => r
                        .bytes()
                        .await
                        .map(|b| Some(b.to_vec()))
                        .map_err(|e| storage_err(loc, e)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(storage_err(loc, e)),
                }
            }
        }
    }

    /// Whether something is at `loc`.
    pub async fn exists(&self, loc: &Location) -> Result<bool> {
        match loc {
            Location::Local(p) => Ok(p.exists()),
            Location::S3 { bucket, key } => {
                let path = s3_path(loc, key)?;
                match self.bucket(loc, bucket)?.head(&path).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(storage_err(loc, e)),
                }
            }
        }
    }

    /// Writes `bytes` to `loc`, refusing to replace anything already there.
    pub(crate) async fn put_new(&self, loc: &Location, bytes: &[u8]) -> Result<()> {
        match loc {
            Location::Local(p) => write_atomic(p, bytes, false),
            Location::S3 { bucket, key } => {
                let s = self.bucket(loc, bucket)?;
                if self.exists(loc).await? {
                    return Err(refused(loc));
                }
                // Conditional create where the server supports it; the HEAD above covers the rest.
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                let path = s3_path(loc, key)?;
                match s
                    .put_opts(&path, PutPayload::from(bytes.to_vec()), opts)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(object_store::Error::AlreadyExists { .. }) => Err(refused(loc)),
                    Err(object_store::Error::NotImplemented { .. }) => s
                        .put(&path, PutPayload::from(bytes.to_vec()))
                        .await
                        .map(|_| ())
                        .map_err(|e| storage_err(loc, e)),
                    Err(e) => Err(storage_err(loc, e)),
                }
            }
        }
    }

    /// The files directly in a directory, or the objects under a prefix, sorted.
    pub async fn list(&self, dir: &Location) -> Result<Vec<Location>> {
        let mut out = match dir {
            Location::Local(p) => std::fs::read_dir(p)
                .map_err(|e| Error::io("cannot read directory", p, e))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| Location::Local(e.path()))
                .collect::<Vec<_>>(),
            Location::S3 { bucket, key } => {
                let s = self.bucket(dir, bucket)?;
                let prefix = match key.trim_end_matches('/') {
                    "" => None,
                    k => Some(s3_path(dir, k)?),
                };
                let listed = s
                    .list_with_delimiter(prefix.as_ref())
                    .await
                    .map_err(|e| storage_err(dir, e))?;
                listed
                    .objects
                    .into_iter()
                    .map(|o| Location::S3 {
                        bucket: bucket.clone(),
                        key: o.location.as_ref().to_string(),
                    })
                    .collect()
            }
        };
        out.sort();
        Ok(out)
    }

    /// Deletes `loc`.
    pub async fn delete(&self, loc: &Location) -> Result<()> {
        match loc {
            Location::Local(p) => {
                std::fs::remove_file(p).map_err(|e| Error::io("cannot delete", p, e))
            }
            Location::S3 { bucket, key } => self
                .bucket(loc, bucket)?
                .delete(&s3_path(loc, key)?)
                .await
                .map_err(|e| storage_err(loc, e)),
        }
    }

    /// Reads an archive and its `.sha256` sidecar (when there is one), and opens it.
    pub async fn open(
        &self,
        loc: &Location,
        ids: &Identities,
        passphrase: PassphraseSource<'_>,
    ) -> Result<Opened> {
        let name = loc.to_string();
        let bytes = self.get(loc).await?.ok_or_else(|| match loc {
            Location::Local(p) => Error::io(
                "cannot read archive",
                p,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ),
            Location::S3 { .. } => Error::Storage {
                location: name.clone(),
                message: "no such object".into(),
            },
        })?;
        let sidecar = loc.sidecar();
        let text = self
            .get(&sidecar)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        archive::open_checked(
            &bytes,
            text.as_deref().map(|t| (t, sidecar.to_string())),
            ids,
            passphrase,
            &name,
        )
    }
    /// Where a new archive goes: `output` itself, or `<output>/<ArchiveName>` when `output` is
    /// a directory or prefix (or ends with `/`), with the next free `.N` when that name is
    /// taken. A name is free only when neither the archive nor its sidecar exists. A local
    /// directory that does not exist yet is created.
    pub(crate) async fn allocate(&self, output: &Location, name: ArchiveName) -> Result<Location> {
        if !output.is_dir() {
            if let Location::Local(p) = output {
                create_parent(p)?;
            }
            return Ok(output.clone());
        }
        if let Location::Local(p) = output {
            std::fs::create_dir_all(p).map_err(|e| Error::io("cannot create directory", p, e))?;
        }
        for n in 0..100 {
            let candidate = output.join(&name.clone().with_n(n).to_string());
            if !self.exists(&candidate).await? && !self.exists(&candidate.sidecar()).await? {
                return Ok(candidate);
            }
        }
        Err(Error::Refused {
            path: PathBuf::from(output.to_string()),
            message: "holds 100 archives of this cluster for this second".into(),
        })
    }
}

fn create_parent(p: &Path) -> Result<()> {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.exists() => {
            std::fs::create_dir_all(d).map_err(|e| Error::io("cannot create directory", d, e))
        }
        _ => Ok(()),
    }
}

fn refused(loc: &Location) -> Error {
    Error::Refused {
        path: PathBuf::from(loc.to_string()),
        message: "already exists; refusing to overwrite it".into(),
    }
}

/// Opens a local archive file (checking its sidecar); for callers without an async runtime.
pub fn open_file(
    path: &Path,
    ids: &Identities,
    passphrase: PassphraseSource<'_>,
) -> Result<Opened> {
    let loc = Location::Local(path.to_path_buf());
    futures::executor::block_on(Store::new().open(&loc, ids, passphrase))
}

/// Writes bytes to `path` atomically: a temporary file (mode 0600) in the same directory,
/// fsync, rename. With `overwrite` false an existing file is never replaced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".trustkeep-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
    if overwrite {
        tmp.persist(path)
            .map_err(|e| Error::io("cannot rename into", path, e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Refused {
                    path: path.to_path_buf(),
                    message: "already exists; refusing to overwrite it".into(),
                }
            } else {
                Error::io("cannot rename into", path, e.error)
            }
        })?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_in_a_directory() {
        use chrono::TimeZone;
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 10, 5, 0)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new();
        let at = |o: &Location| {
            futures::executor::block_on(store.allocate(o, ArchiveName::new("a b", now))).unwrap()
        };
        let d = Location::Local(dir.path().to_path_buf());
        assert_eq!(at(&d), d.join("a_b-20261128T100500Z.tar.gz.age"));
        std::fs::write(dir.path().join("a_b-20261128T100500Z.tar.gz.age"), b"x").unwrap();
        assert_eq!(at(&d), d.join("a_b-20261128T100500Z.1.tar.gz.age"));
        let f = Location::Local(dir.path().join("new/x.age"));
        assert_eq!(at(&f), f);
        assert!(dir.path().join("new").is_dir(), "the parent is created");
    }

    #[test]
    fn locations() {
        let s = Location::parse("s3://backups/gloo/mgmt-20261128T000000Z.tar.gz.age").unwrap();
        assert_eq!(s.file_name(), "mgmt-20261128T000000Z.tar.gz.age");
        assert_eq!(s.parent().to_string(), "s3://backups/gloo/");
        assert_eq!(
            s.sidecar().to_string(),
            "s3://backups/gloo/mgmt-20261128T000000Z.tar.gz.age.sha256"
        );
        assert!(!s.is_dir());
        let d = Location::parse("s3://backups").unwrap();
        assert!(d.is_dir());
        assert_eq!(d.join("a.age").to_string(), "s3://backups/a.age");
        assert_eq!(
            Location::parse("s3://b/p").unwrap().join("x").to_string(),
            "s3://b/p/x"
        );
        assert!(Location::parse("s3:///k").is_err());
        assert_eq!(
            Location::parse("out/").unwrap(),
            Location::Local(PathBuf::from("out/"))
        );
        assert!(Location::parse("out/").unwrap().is_dir());
        let p = Location::parse("s3://b/gloo").unwrap();
        assert!(p.is_dir(), "an S3 key that is not an archive is a prefix");
        assert_eq!(p.join("m.age").to_string(), "s3://b/gloo/m.age");
    }

    #[test]
    fn storage_messages_lose_credentials_and_bodies() {
        let m = redact_storage_message("Error performing GET http://user:hunter2@127.0.0.1:9399/b/k in 2ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>x-amz-security-token:SECRET</CanonicalRequest></Error>");
        assert!(!m.contains("hunter2") && !m.contains("SECRET"), "{m}");
        assert!(
            m.contains("http://127.0.0.1:9399/b/k")
                && m.ends_with("403 Forbidden: SignatureDoesNotMatch"),
            "{m}"
        );
    }
}
