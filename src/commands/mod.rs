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
pub(crate) mod rewrap;
pub(crate) mod sandbox;
pub mod verify;

use crate::archive::{Identities, Opened};
use crate::catalogue;
use crate::error::Result;
use crate::store::Location;
use crate::trust_policy::{Provenance, Trust};
use crate::world::World;

/// An archive to read, the keys to open it with and the signers to trust (`inspect`,
/// `export`, `restore`).
#[derive(Debug)]
pub(crate) struct ArchiveInput {
    pub location: Location,
    pub identities: Identities,
    pub trust: Trust,
}

impl ArchiveInput {
    /// Reads the archive, its sidecar and signature from the store, refuses it when the trust
    /// policy does, else decrypts and checks it.
    pub async fn open(&self, world: &World) -> Result<(Opened, Provenance)> {
        self.open_at(&self.location, world).await
    }

    /// Opens the archive at `location` (found under this input's directory) with these keys.
    pub async fn open_at(
        &self,
        location: &Location,
        world: &World,
    ) -> Result<(Opened, Provenance)> {
        let ids = &self.identities;
        let pass = world.passphrase();
        catalogue::open(&world.store, location, ids, pass, &self.trust, world.now).await
    }
}
