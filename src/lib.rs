//! trustkeep keeps a Gloo Mesh Enterprise trust setup recoverable: it backs up the relay and
//! root-trust secrets into age-encrypted archives, verifies archives and live trust setups,
//! and restores secrets exactly.
//!
//! The data flows source → selection → snapshot → archive → store, and back store → archive
//! → checks → restore plan → target. Each stage is a module: [`source`] reads secrets (files,
//! manual folders, live clusters) into an [`inventory::Inventory`], [`select`] picks the trust
//! set, [`snapshot`] freezes it, [`archive`] owns the file format and its names, [`signature`]
//! the `.sig` beside each archive and [`trust_policy`] which signers are trusted,
//! [`catalogue`] keeps archives with their sidecars in a [`store`] (disk or object storage),
//! [`checks`] produces [`findings`] named by [`check_id::CheckId`] and [`verdict`] the
//! reports, and `restore` prepares one plan and applies it to a target. [`gloo`] is the
//! vocabulary every stage shares. [`issuer`] makes keys and certificates (a new setup, a lost
//! certificate) as snapshots that take the same way. The verbs in [`commands`] stand on that
//! core over a [`world::World`] (time, store, passphrase) and never on each other; [`cli`]
//! parses flags, resolves them into typed options and dispatches; `main.rs` maps the outcome
//! to an exit status. The sandbox API server is its own crate, `trustkeep_sandbox`
//! (crates/trustkeep-sandbox), which depends on nothing here. See docs/architecture.md.

// The public surface is what the binary, the integration tests and the benchmarks use:
// reading and writing archives, the checks and the sources. The rest is crate-internal.
pub mod archive;
pub mod catalogue;
pub mod check_id;
pub mod checks;
pub mod cli;
pub(crate) mod cluster;
pub mod commands;
pub mod discover;
pub mod error;
pub mod findings;
pub mod gloo;
pub mod inventory;
pub mod issuer;
pub(crate) mod metrics;
pub mod pki;
pub(crate) mod present;
pub mod profile;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod restore;
pub mod retention;
pub mod rewrap;
pub mod sample;
pub mod secret;
pub mod select;
pub mod signature;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod trust_policy;
pub mod verdict;
pub mod workload;
pub mod world;

pub use error::{Error, Result};

/// How a command ended, when it did not fail: this decides the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: problems were found (failed checks, missing secrets, refused restore).
    Problems,
    /// Exit 2 after a report: some inputs could not be checked (e.g. unreadable archives).
    Incomplete,
}

impl Outcome {
    pub fn from_ok(ok: bool) -> Self {
        if ok {
            Outcome::Success
        } else {
            Outcome::Problems
        }
    }
}
