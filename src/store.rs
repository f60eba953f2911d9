//! The store stage: where archives live. A [`Location`] is a local path or an object in object
//! storage: S3 or S3-compatible (`s3://bucket/key`), Google Cloud Storage (`gs://bucket/key`) or
//! Azure Blob Storage (`az://container/key`). [`Store`] reads, writes (never over an existing
//! archive), lists and deletes all of them through one code path, so `backup`, `verify`,
//! `inspect`, `export`, `restore` and `prune` work the same everywhere.
//!
//! Local writes go to a temporary file in the same directory, are fsynced and renamed, so no
//! partial archive ever carries its final name; an object PUT is atomic by nature. Settings come
//! from each service's usual variables, read by object_store's builders: `AWS_*` for S3
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`), `GOOGLE_*` for GCS (`GOOGLE_APPLICATION_CREDENTIALS`,
//! `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_KEY`, `GOOGLE_BASE_URL`), `AZURE_*` for
//! Azure (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_TOKEN`,
//! `AZURE_STORAGE_ENDPOINT`, `AZURE_STORAGE_USE_EMULATOR`). This module moves bytes; the archive
//! format is [`crate::archive`]'s alone. What object storage refuses is a [`StoreError`], whose
//! message never carries credentials or server bodies.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::archive::{self, ArchiveName};
use crate::error::{Error, Result};

/// Largest archive read (an archive of a whole trust set is a few hundred KiB).
pub(crate) const MAX_ARCHIVE_BYTES: u64 = 1024 * 1024 * 1024;

/// The object storage services a [`Location`] can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// `s3://`: Amazon S3 and S3-compatible servers.
    S3,
    /// `gs://`: Google Cloud Storage.
    Gcs,
    /// `az://`: Azure Blob Storage (the "bucket" is a container).
    Azure,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [Scheme::S3, Scheme::Gcs, Scheme::Azure];

    /// `s3://`, `gs://` or `az://`.
    pub fn prefix(self) -> &'static str {
        match self {
            Scheme::S3 => "s3://",
            Scheme::Gcs => "gs://",
            Scheme::Azure => "az://",
        }
    }

    /// What the first path component is called by that service.
    fn bucket_word(self) -> &'static str {
        match self {
            Scheme::S3 | Scheme::Gcs => "BUCKET",
            Scheme::Azure => "CONTAINER",
        }
    }

    /// Where credentials come from, for an error that looks like missing or wrong ones.
    fn credentials_hint(self) -> &'static str {
        match self {
            Scheme::S3 => "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (and AWS_ENDPOINT_URL for S3-compatible servers)",
            Scheme::Gcs => "check GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT / GOOGLE_SERVICE_ACCOUNT_KEY: a service-account JSON file or its text)",
            Scheme::Azure => "check AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_TOKEN, or AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID)",
        }
    }

    /// Where the endpoint comes from, for an error that looks like an unreachable one.
    fn endpoint_hint(self) -> &'static str {
        match self {
            Scheme::S3 => "is the endpoint reachable? (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for http://)",
            Scheme::Gcs => "is the endpoint reachable? (GOOGLE_BASE_URL for an emulator, GOOGLE_ALLOW_HTTP=true for http://)",
            Scheme::Azure => "is the endpoint reachable? (AZURE_STORAGE_ENDPOINT, or AZURE_STORAGE_USE_EMULATOR=true with AZURITE_BLOB_STORAGE_URL for Azurite)",
        }
    }
}

/// Where an archive (or a directory of archives) is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Local(PathBuf),
    Object(ObjectLocation),
}

/// `s3://bucket/key`, `gs://bucket/key` or `az://container/key`; a key that does not end in
/// `.age` (or is empty) is a prefix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectLocation {
    pub scheme: Scheme,
    /// The bucket (Azure: the container).
    pub bucket: String,
    pub key: String,
}

impl ObjectLocation {
    /// The same service and bucket, another key.
    fn with_key(&self, key: String) -> ObjectLocation {
        ObjectLocation {
            scheme: self.scheme,
            bucket: self.bucket.clone(),
            key,
        }
    }

    /// "no such bucket BUCKET" (or container).
    fn no_bucket(&self) -> String {
        format!(
            "no such {} {}",
            self.scheme.bucket_word().to_ascii_lowercase(),
            self.bucket
        )
    }
}

impl std::fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}/{}", self.scheme.prefix(), self.bucket, self.key)
    }
}

impl Location {
    /// `s3://bucket/key`, `gs://bucket/key`, `az://container/key` or a local path. Any other
    /// `scheme://` is refused rather than taken as a local directory of that name.
    pub fn parse(s: &str) -> Result<Location> {
        for scheme in Scheme::ALL {
            if let Some(rest) = s.strip_prefix(scheme.prefix()) {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(Error::from(StoreError::BadLocation(format!(
                        "{s}: expected {}{}/KEY",
                        scheme.prefix(),
                        scheme.bucket_word()
                    ))));
                }
                return Ok(Location::Object(ObjectLocation {
                    scheme,
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                }));
            }
        }
        if let Some((scheme, _)) = s.split_once("://") {
            let looks_like_scheme = !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if looks_like_scheme {
                return Err(Error::from(StoreError::BadLocation(format!(
                    "{s}: unsupported storage scheme {scheme}://; use s3://, gs:// or az:// (or a local path)"
                ))));
            }
        }
        Ok(Location::Local(PathBuf::from(s)))
    }

    /// True when this names a directory (or an object prefix) rather than one archive. Object
    /// storage has no directories: a key that does not end in `.age` is taken as a prefix, so
    /// `-o s3://bucket/gloo` writes `gloo/<cluster>-<time>.tar.gz.age`, never an object `gloo`.
    pub(crate) fn is_dir(&self) -> bool {
        match self {
            Location::Local(p) => p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/'),
            Location::Object(o) => !archive::is_archive_file(&o.key),
        }
    }

    /// A file inside this directory or prefix.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::Object(o) => {
                let sep = if o.key.is_empty() || o.key.ends_with('/') {
                    ""
                } else {
                    "/"
                };
                Location::Object(o.with_key(format!("{}{sep}{name}", o.key)))
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
            Location::Object(o) => o.key.rsplit('/').next().unwrap_or("").to_string(),
        }
    }

    /// The directory (or prefix) holding this file.
    pub fn parent(&self) -> Location {
        match self {
            Location::Local(p) => {
                Location::Local(p.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            Location::Object(o) => Location::Object(
                o.with_key(
                    o.key
                        .rsplit_once('/')
                        .map(|(p, _)| format!("{p}/"))
                        .unwrap_or_default(),
                ),
            ),
        }
    }

    /// `<archive>.sha256`.
    pub fn sidecar(&self) -> Location {
        match self {
            Location::Local(p) => Location::Local(archive::sidecar_path(p)),
            Location::Object(o) => Location::Object(o.with_key(archive::sidecar_of(&o.key))),
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
            Location::Object(o) => o.fmt(f),
        }
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Reads and writes archives wherever they are. Object storage clients are made on first use,
/// one per service and bucket.
#[derive(Default)]
pub struct Store {
    buckets: Mutex<HashMap<(Scheme, String), Arc<dyn ObjectStore>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// Why object storage could not do what was asked. Each message names the object, says what
/// went wrong in the service's words, redacted (see `service_message`), and ends with a hint
/// where one helps. The object_store error it came from is kept, unredacted, as the
/// [`source`](std::error::Error::source), so callers can tell its kind; its words are already
/// in the message, so a printer shows this error's `Display` (as `cli::report_error` does) and
/// does not print the source again. `Debug` shows the redacted message only.
#[derive(thiserror::Error)]
pub enum StoreError {
    /// The service refused or could not answer, or its client could not be configured.
    #[error("{location}: {}", service_message(.location.scheme, .source))]
    Service {
        location: ObjectLocation,
        #[source]
        source: object_store::Error,
    },
    /// A PUT found no bucket (or container) to create the object in.
    #[error("{location}: {}; create it first", .location.no_bucket())]
    NoBucket {
        location: ObjectLocation,
        #[source]
        source: object_store::Error,
    },
    /// Nothing is at the location of an archive to open.
    #[error("{location}: no such object")]
    NoObject { location: ObjectLocation },
    /// A location as typed is not one trustkeep can use.
    #[error("{0}")]
    BadLocation(String),
    /// The key is not one object_store can use as an object path.
    #[error("{location}: not a usable object key ({source})")]
    Key {
        location: ObjectLocation,
        #[source]
        source: object_store::path::Error,
    },
}

impl std::fmt::Debug for StoreError {
    /// The message only: the source may hold credentials from URLs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreError")
            .field(&self.to_string())
            .finish()
    }
}

/// The object path of a key, taken as written (no second percent-encoding).
fn object_path(loc: &ObjectLocation) -> Result<object_store::path::Path> {
    object_store::path::Path::parse(loc.key.trim_end_matches('/')).map_err(|source| {
        Error::from(StoreError::Key {
            location: loc.clone(),
            source,
        })
    })
}

/// `e` from the service of `loc`, as a [`StoreError::Service`].
fn storage_err(loc: &ObjectLocation, e: object_store::Error) -> Error {
    Error::from(StoreError::Service {
        location: loc.clone(),
        source: e,
    })
}

/// An object_store error as users see it: no credentials from URLs, no server body beyond
/// its error code, and the configuration hint of that service only where credentials (or the
/// endpoint) are the likely cause.
fn service_message(scheme: Scheme, e: &object_store::Error) -> String {
    let auth = matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    );
    let mut message = redact_storage_message(&e.to_string());
    // GCS and Azure fetch a token before the request (service account, managed identity,
    // metadata server); failing to get one is a credentials problem too.
    let token = message.contains("token request")
        || message.contains("token response")
        || message.contains("service account")
        || message.contains("Account must be specified");
    if auth || token {
        message.push_str("; ");
        message.push_str(scheme.credentials_hint());
    } else if message.contains("error sending request") || message.contains("Connect") {
        message.push_str("; ");
        message.push_str(scheme.endpoint_hint());
    }
    message
}

/// Removes `user:password@` from URLs and keeps only `<Code>` of an XML error body. (object_store
/// itself leaves the URL out of errors of requests signed with an Azure SAS token.)
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

/// A client for one bucket (or container) of one service, configured from the environment.
fn client(scheme: Scheme, bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    // A backup job or an incident should fail in seconds, not retry for minutes.
    let retry = object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    Ok(match scheme {
        Scheme::S3 => Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .build()?,
        ),
        Scheme::Gcs => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .build()?,
        ),
        Scheme::Azure => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .with_retry(retry)
                .build()?,
        ),
    })
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// The client and object path of an object location.
    fn object(
        &self,
        loc: &ObjectLocation,
    ) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
        let path = object_path(loc)?;
        let mut map = self.buckets.lock().expect("store lock");
        let id = (loc.scheme, loc.bucket.clone());
        if let Some(s) = map.get(&id) {
            return Ok((s.clone(), path));
        }
        let s = client(loc.scheme, &loc.bucket).map_err(|e| storage_err(loc, e))?;
        map.insert(id, s.clone());
        Ok((s, path))
    }

    /// The bytes at `loc`, or `None` when nothing is there.
    pub async fn get(&self, loc: &Location) -> Result<Option<Vec<u8>>> {
        match loc {
            Location::Local(p) => match std::fs::metadata(p) {
                Ok(m) if m.len() > MAX_ARCHIVE_BYTES => Err(too_large(loc)),
                Ok(_) => std::fs::read(p)
                    .map(Some)
                    .map_err(|e| Error::io("cannot read", p, e)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("cannot read", p, e)),
            },
            Location::Object(o) => self.get_object(o).await,
        }
    }

    async fn get_object(&self, loc: &ObjectLocation) -> Result<Option<Vec<u8>>> {
        let (s, path) = self.object(loc)?;
        match s.get(&path).await {
            Ok(r) if r.meta.size > MAX_ARCHIVE_BYTES => Err(too_large(loc)),
            Ok(r) => r
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| storage_err(loc, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_err(loc, e)),
        }
    }

    /// Whether something is at `loc`.
    pub async fn exists(&self, loc: &Location) -> Result<bool> {
        match loc {
            Location::Local(p) => Ok(p.exists()),
            Location::Object(o) => self.object_exists(o).await,
        }
    }

    async fn object_exists(&self, loc: &ObjectLocation) -> Result<bool> {
        let (s, path) = self.object(loc)?;
        match s.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage_err(loc, e)),
        }
    }

    /// Writes `bytes` to `loc`, refusing to replace anything already there.
    pub(crate) async fn put_new(&self, loc: &Location, bytes: &[u8]) -> Result<()> {
        match loc {
            Location::Local(p) => blocking(|| write_atomic(p, bytes, false)),
            Location::Object(o) => self.put_new_object(o, bytes).await,
        }
    }

    /// Writes every file, none over an existing one, all or nothing: on a failure what this
    /// call wrote is taken back, so an archive never stays without its sidecar or signature.
    /// Files of one local directory share one directory sync.
    pub(crate) async fn put_new_all(&self, files: &[(Location, &[u8])]) -> Result<()> {
        let local: Option<Vec<(&Path, &[u8])>> = files
            .iter()
            .map(|(loc, b)| match loc {
                Location::Local(p) => Some((p.as_path(), *b)),
                Location::Object(_) => None,
            })
            .collect();
        if let Some(local) = local {
            let mut dirs = local.iter().map(|(p, _)| parent_dir(p));
            let first = dirs.next();
            if dirs.all(|d| Some(d) == first) {
                return write_all_new_off_thread(local).await;
            }
        }
        for (i, (loc, bytes)) in files.iter().enumerate() {
            if let Err(e) = self.put_new(loc, bytes).await {
                for (written, _) in files[..i].iter().rev() {
                    let _ = self.delete(written).await;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn put_new_object(&self, loc: &ObjectLocation, bytes: &[u8]) -> Result<()> {
        let (s, path) = self.object(loc)?;
        if self.object_exists(loc).await? {
            return Err(refused(loc));
        }
        // Conditional create where the server supports it (S3 and Azure: If-None-Match: *,
        // GCS: x-goog-if-generation-match: 0); the HEAD above covers the rest.
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match s
            .put_opts(&path, PutPayload::from(bytes.to_vec()), opts)
            .await
        {
            Ok(_) => Ok(()),
            // Created by someone else between the look and the write.
            Err(object_store::Error::AlreadyExists { .. }) => Err(Error::Refused {
                path: PathBuf::from(loc.to_string()),
                message: "was created meanwhile (the server refused a second create); refusing to overwrite it".into(),
            }),
            // A PUT has nothing to miss but the bucket (or container) itself.
            Err(source @ object_store::Error::NotFound { .. }) => Err(StoreError::NoBucket {
                location: loc.clone(),
                source,
            }
            .into()),
            Err(object_store::Error::NotImplemented { .. }) => s
                .put(&path, PutPayload::from(bytes.to_vec()))
                .await
                .map(|_| ())
                .map_err(|e| storage_err(loc, e)),
            Err(e) => Err(storage_err(loc, e)),
        }
    }

    /// Writes `bytes` to `loc`, replacing what is there in one step: a local file through a
    /// temporary file and a rename, an object with one PUT (readers see the old object or
    /// the new one, never a mix).
    pub(crate) async fn replace(&self, loc: &Location, bytes: &[u8]) -> Result<()> {
        match loc {
            Location::Local(p) => blocking(|| write_atomic(p, bytes, true)),
            Location::Object(o) => {
                let (s, path) = self.object(o)?;
                s.put(&path, PutPayload::from(bytes.to_vec()))
                    .await
                    .map(|_| ())
                    .map_err(|e| storage_err(o, e))
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
            Location::Object(o) => self.list_objects(o).await?,
        };
        out.sort();
        Ok(out)
    }

    async fn list_objects(&self, dir: &ObjectLocation) -> Result<Vec<Location>> {
        let (s, prefix) = self.object(dir)?;
        let prefix = (!dir.key.trim_end_matches('/').is_empty()).then_some(prefix);
        let listed = s
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(|e| storage_err(dir, e))?;
        Ok(listed
            .objects
            .into_iter()
            .map(|o| Location::Object(dir.with_key(o.location.as_ref().to_string())))
            .collect())
    }

    /// Deletes `loc`.
    pub async fn delete(&self, loc: &Location) -> Result<()> {
        match loc {
            Location::Local(p) => {
                std::fs::remove_file(p).map_err(|e| Error::io("cannot delete", p, e))
            }
            Location::Object(o) => {
                let (s, path) = self.object(o)?;
                s.delete(&path).await.map_err(|e| storage_err(o, e))
            }
        }
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

fn refused(loc: &ObjectLocation) -> Error {
    Error::Refused {
        path: PathBuf::from(loc.to_string()),
        message: "already exists; refusing to overwrite it".into(),
    }
}

/// A file or object too large to be an archive.
fn too_large(loc: &impl std::fmt::Display) -> Error {
    Error::from(crate::archive::ArchiveError::Corrupt {
        archive: loc.to_string(),
        message: "larger than 1 GiB; not a trustkeep archive".into(),
    })
}

/// Writes bytes to `path` atomically: a temporary file (mode 0600) in the same directory,
/// fsync, rename. With `overwrite` false an existing file is never replaced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let staged = stage(path, bytes)?;
    sync(&staged)?;
    commit(staged, path, overwrite)?;
    sync_dir(parent_dir(path));
    Ok(())
}

/// Writes several new files of one directory, none over an existing one, all or nothing:
/// each into a temporary file first, all of them synced (every file's writeback started
/// before the first sync waits, so the device takes them together; README, Performance, has
/// the figures), then renamed in order (on a refusal the ones already renamed are removed),
/// then the directory synced once.
fn write_all_new(files: &[(&Path, &[u8])]) -> Result<()> {
    let staged = files
        .iter()
        .map(|(p, b)| stage(p, b))
        .collect::<Result<Vec<_>>>()?;
    for tmp in &staged {
        start_writeback(tmp.as_file());
    }
    for tmp in &staged {
        sync(tmp)?;
    }
    for (i, (tmp, (path, _))) in staged.into_iter().zip(files).enumerate() {
        if let Err(e) = commit(tmp, path, false) {
            for (done, _) in &files[..i] {
                let _ = std::fs::remove_file(done);
            }
            return Err(e);
        }
    }
    if let Some((first, _)) = files.first() {
        sync_dir(parent_dir(first));
    }
    Ok(())
}

/// Runs file work that waits for the disk (fsync) without stalling the other tasks of a
/// multi-thread runtime: the worker hands them on first.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if on_multi_thread_runtime() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Whether this runs on a multi-thread tokio runtime (a fleet's, see `cli::fans_out`).
fn on_multi_thread_runtime() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

/// [`write_all_new`] on the blocking pool when a multi-thread runtime runs this, so the syncs
/// of a fleet's archives overlap on the device instead of taking turns on the two workers: a
/// backup of 100 clusters into one directory measured 3.0-3.7x one cluster with the syncs on
/// the workers, 1.6-2.2x with them here (`FLEET_SIZES=1,100 cargo bench --bench fleet`; the
/// goal is 3x).
async fn write_all_new_off_thread(files: Vec<(&Path, &[u8])>) -> Result<()> {
    if !on_multi_thread_runtime() {
        return write_all_new(&files);
    }
    // Ciphertext and sidecars only: nothing here is plaintext.
    let owned: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|(p, b)| (p.to_path_buf(), b.to_vec()))
        .collect();
    let first = owned.first().map(|(p, _)| p.clone()).unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let borrowed: Vec<(&Path, &[u8])> = owned
            .iter()
            .map(|(p, b)| (p.as_path(), b.as_slice()))
            .collect();
        write_all_new(&borrowed)
    })
    .await
    .map_err(|e| Error::io("cannot write", first, std::io::Error::other(e)))?
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `bytes` in a temporary file (mode 0600) beside `path`, removed if dropped; not yet synced
/// ([`sync`]).
fn stage(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".trustkeep-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
    Ok(tmp)
}

/// Waits until a staged file is on the disk.
fn sync(tmp: &tempfile::NamedTempFile) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))
}

/// Asks the kernel to start writing a file's dirty pages without waiting for them
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Only a head start: [`sync`] is what makes the
/// file durable, and reports any error, so a failure here is ignored.
#[cfg(target_os = "linux")]
fn start_writeback(f: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a file descriptor this function borrows for its duration.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &std::fs::File) {}

/// Renames a staged file to `path`; without `overwrite`, never over an existing file.
fn commit(tmp: tempfile::NamedTempFile, path: &Path, overwrite: bool) -> Result<()> {
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
    Ok(())
}

/// Makes a directory's entries (a rename) durable; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The object location `s` names.
    fn object(s: &str) -> ObjectLocation {
        match Location::parse(s).unwrap() {
            Location::Object(o) => o,
            other => panic!("{other} is not an object location"),
        }
    }

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
    fn every_scheme_shares_the_object_rules() {
        for (scheme, word) in [
            (Scheme::S3, "BUCKET"),
            (Scheme::Gcs, "BUCKET"),
            (Scheme::Azure, "CONTAINER"),
        ] {
            let p = scheme.prefix();
            let s = Location::parse(&format!("{p}b/gloo/m-20261128T000000Z.tar.gz.age")).unwrap();
            assert_eq!(
                s,
                Location::Object(ObjectLocation {
                    scheme,
                    bucket: "b".into(),
                    key: "gloo/m-20261128T000000Z.tar.gz.age".into()
                })
            );
            // Display round-trips, and derived locations keep the service.
            assert_eq!(Location::parse(&s.to_string()).unwrap(), s);
            assert_eq!(s.parent().to_string(), format!("{p}b/gloo/"));
            assert_eq!(
                s.sidecar().to_string(),
                format!("{p}b/gloo/m-20261128T000000Z.tar.gz.age.sha256")
            );
            assert!(!s.is_dir());
            let d = Location::parse(&format!("{p}b/gloo")).unwrap();
            assert!(d.is_dir(), "{p}: a key that is not an archive is a prefix");
            assert_eq!(d.join("x.age").to_string(), format!("{p}b/gloo/x.age"));
            assert!(Location::parse(&format!("{p}b")).unwrap().is_dir());
            let e = Location::parse(&format!("{p}/k")).unwrap_err().to_string();
            assert!(e.contains(&format!("expected {p}{word}/KEY")), "{e}");
        }
        // Same bucket name, different services: different locations.
        assert_ne!(
            Location::parse("s3://b/k.age").unwrap(),
            Location::parse("gs://b/k.age").unwrap()
        );
    }

    #[test]
    fn unknown_schemes_are_refused_not_taken_as_directories() {
        for s in [
            "gcs://b/k",
            "azure://c/k",
            "https://acct.blob.core.windows.net/c/k",
        ] {
            let e = Location::parse(s).unwrap_err().to_string();
            assert!(
                e.contains("unsupported storage scheme") && e.contains("s3://, gs:// or az://"),
                "{s}: {e}"
            );
        }
        // Not a scheme: still a local path.
        assert!(matches!(
            Location::parse("./odd://name").unwrap(),
            Location::Local(_)
        ));
    }

    #[test]
    fn errors_hint_at_the_variables_of_their_service() {
        let denied = || object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "403 Forbidden".into(),
        };
        for (loc, var) in [
            ("s3://b/k.age", "AWS_ACCESS_KEY_ID"),
            ("gs://b/k.age", "GOOGLE_APPLICATION_CREDENTIALS"),
            ("az://c/k.age", "AZURE_STORAGE_ACCOUNT_KEY"),
        ] {
            let l = object(loc);
            let m = storage_err(&l, denied()).to_string();
            assert!(m.starts_with(&format!("{loc}: ")) && m.contains(var), "{m}");
        }
        // Azure without an account: the builder's error, named and with the variables.
        let l = object("az://c/k.age");
        let e = MicrosoftAzureBuilder::new()
            .with_container_name("c")
            .build()
            .expect_err("no account");
        let m = storage_err(&l, e).to_string();
        assert!(
            m.starts_with("az://c/k.age: ") && m.contains("AZURE_STORAGE_ACCOUNT_NAME"),
            "{m}"
        );
    }

    /// The messages users see (the crate error's `Display`, all `cli::report_error` prints)
    /// are those of the `Error::Storage { location, message }` this type replaced, written
    /// down before the change; the object_store error is the source and its words are in the
    /// message once.
    #[test]
    fn store_errors_read_as_before_and_keep_their_cause_once() {
        use std::error::Error as _;
        let denied = || object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "403 Forbidden".into(),
        };
        let e = storage_err(&object("s3://b/k.age"), denied());
        let m = e.to_string();
        assert_eq!(m, "s3://b/k.age: The operation lacked the necessary privileges to complete for path k: 403 Forbidden; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (and AWS_ENDPOINT_URL for S3-compatible servers)");
        assert_eq!(m.matches(&denied().to_string()).count(), 1, "{m}");
        let source = e.source().expect("the object_store error is the source");
        assert!(matches!(
            source.downcast_ref::<object_store::Error>(),
            Some(object_store::Error::PermissionDenied { .. })
        ));
        assert_eq!(source.to_string(), denied().to_string());

        let conn = object_store::Error::Generic {
            store: "S3",
            source: "error sending request for url (http://user:pw@127.0.0.1:1/b/k)".into(),
        };
        let e = storage_err(&object("s3://b/k.age"), conn);
        assert_eq!(e.to_string(), "s3://b/k.age: Generic S3 error: error sending request for url (http://127.0.0.1:1/b/k); is the endpoint reachable? (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for http://)");
        assert!(!format!("{e:?}").contains("user:pw"), "{e:?}");

        let nf = || object_store::Error::NotFound {
            path: "k".into(),
            source: "404".into(),
        };
        let e = storage_err(&object("gs://b/k.age"), nf());
        assert_eq!(
            e.to_string(),
            "gs://b/k.age: Object at location k not found: 404"
        );
        let e = Error::from(StoreError::NoBucket {
            location: object("gs://b/k.age"),
            source: nf(),
        });
        assert_eq!(
            e.to_string(),
            "gs://b/k.age: no such bucket b; create it first"
        );
        assert!(e.source().is_some());
        let e = Error::from(StoreError::NoObject {
            location: object("az://c/gloo/k.age"),
        });
        assert_eq!(e.to_string(), "az://c/gloo/k.age: no such object");

        let e = object_path(&object("s3://b/a//b.age")).unwrap_err();
        assert_eq!(e.to_string(), "s3://b/a//b.age: not a usable object key (Path \"a//b.age\" contained empty path segment)");
        assert!(e.source().is_some());
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
