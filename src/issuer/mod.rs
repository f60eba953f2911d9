//! The issuer: makes keys and certificates for a Gloo Mesh trust setup and returns them as
//! [`SecretRecord`]s in [`Snapshot`]s, the form every other stage takes. A new setup
//! ([`init`]: the seed document's architectures × placements, [`design`]) or one certificate
//! issued again under the CA that issued it before ([`reissue`], the CA read from archives).
//!
//! It never writes anywhere itself: a snapshot reaches an archive through
//! [`crate::catalogue`] and a cluster or a directory through [`crate::restore::prepare`],
//! like any archive. `profiles.rs` is the one place each certificate profile is decided,
//! `keys.rs` makes and reads private keys, `ca.rs` signs, `records.rs` shapes the secrets as
//! Gloo Mesh and Istio read them, `birth.rs` makes a whole setup, `profile_of.rs` its
//! profiles, `reissue.rs` finds CAs in archives, `rescue.rs` keeps what the seed's manual
//! backup saved and makes the rest, `rotate.rs` rotates a root phase by phase (and an
//! intermediate in one step). Key material lives in zeroizing buffers and
//! is never logged or printed.

mod birth;
mod ca;
pub mod design;
mod keys;
mod profile_of;
mod profiles;
mod records;
mod reissue;
mod rescue;
mod rotate;

pub use birth::{init, Birth, Born, CaSummary, InitOptions, ROOT_TRUST_POLICY, ROOT_TRUST_SECRET};
pub use design::{Architecture, Design, Placement};
pub use keys::KeyType;
pub use profiles::Validity;
pub use reissue::{reissue, ReissueOptions, ReissueRole, Reissued, Restart};
pub use rescue::{rescue, Outcome, RescueOptions, Rescued, RESCUE_DESIGN};
pub use rotate::{rotate, ClusterChange, Phase, RotateOptions, Rotated, Rotation, Standing};

use crate::snapshot::Snapshot;

/// Why a key or certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// A key could not be generated or read back.
    #[error("{0}")]
    Key(String),
    /// A certificate could not be made as its profile says.
    #[error("{0}")]
    Profile(String),
    /// The design asked for does not make sense (names).
    #[error("{0}")]
    Design(String),
    /// The archives given hold no CA that can issue what was asked, or not the right one.
    #[error("{0}")]
    NoIssuer(String),
    /// What was made does not pass the audit it was made to pass (a bug; nothing is written).
    #[error("{0}")]
    SelfCheck(String),
    /// A rotation phase asked out of order (a switch before the add, a remove before every
    /// cluster switched): what is missing and the fix. Nothing is made or written.
    #[error("refused: {0}")]
    OutOfOrder(String),
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), IssueError> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| IssueError::Key("the system's random source failed".into()))
}

/// `snapshot` without its offline CA material: what goes into the cluster, and what the
/// audit of the cluster would see.
pub fn in_cluster(snapshot: &Snapshot) -> Snapshot {
    let mut s = snapshot.clone();
    s.secrets.retain(|x| !x.record.is_offline());
    s
}
