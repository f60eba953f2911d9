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
pub(crate) mod pki;
pub(crate) mod prune;
pub(crate) mod restore;
pub(crate) mod sandbox;
pub mod verify;

use crate::archive::{Identities, Opened};
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
        self.open_at(&self.location, world).await
    }

    /// Opens the archive at `location` (found under this input's directory) with these keys.
    pub async fn open_at(&self, location: &Location, world: &World) -> Result<Opened> {
        (world.store)
            .open(location, &self.identities, world.passphrase())
            .await
    }
}
