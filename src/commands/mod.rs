//! One module per verb, each owning its whole chain of stages (e.g. `backup`: source →
//! selection → snapshot → archive → store → retention). Each has an `Options` struct (what the
//! command means, after [`crate::cli`] has resolved the flags), `run(options, world)` (the
//! [`World`] carries the time, the store and the passphrase prompt) and a `render` that prints
//! the result as a table or JSON. None of them parses flags, reads the clock or exits. This
//! file holds what several verbs share: [`ArchiveInput`] and the table helpers.

pub mod audit;
pub(crate) mod backup;
pub(crate) mod demo;
pub mod discover;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod inspect;
pub(crate) mod keygen;
pub(crate) mod list;
pub(crate) mod prune;
pub(crate) mod restore;
pub(crate) mod sandbox;
pub mod verify;

use chrono::{DateTime, Utc};

use crate::archive::{manifest::Manifest, Identities, Opened};
use crate::error::Result;
use crate::store::Location;
use crate::world::World;

/// An archive to read and the keys to open it with (`inspect`, `export`, `restore`).
#[derive(Debug)]
pub(crate) struct ArchiveInput {
    pub location: Location,
    pub identities: Identities,
}

impl ArchiveInput {
    /// Reads the archive and its sidecar from the store, decrypts and checks it.
    pub async fn open(&self, world: &World) -> Result<Opened> {
        world
            .store
            .open(&self.location, &self.identities, world.passphrase())
            .await
    }
}

/// The earliest `not_after` of the certificates of one secret in a manifest, for tables.
pub(crate) fn earliest_expiry(
    manifest: &Manifest,
    namespace: &str,
    name: &str,
) -> Option<DateTime<Utc>> {
    manifest
        .secrets
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)?
        .data
        .iter()
        .flat_map(|d| d.certificates.iter().map(|c| c.not_after))
        .min()
}

/// A short date for tables.
pub(crate) fn short_date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".into())
}
