//! Key rotation over a store: every archive of some directories or prefixes encrypted again
//! for a new set of recipients (someone left; a key was lost), with a plan first and
//! `--dry-run`, as [`crate::retention`] does for deletions. The plaintext never reaches the
//! disk: each archive is decrypted into memory and encrypted again there
//! ([`crate::archive`]), and its replacement (archive, sidecar, `.sig`, in an order that
//! survives a crash) is [`crate::catalogue::replace`]'s.
//!
//! It owns no format, no transport and no trust decision; it never renders.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::{crypto::PassphraseSource, Encryption, Identities};
use crate::catalogue::{self, Resumed};
use crate::error::Result;
use crate::signature::SigningKey;
use crate::store::{Location, Store};
use crate::trust_policy::Trust;

/// The keys of a rotation: who opens the archives now, who will, who signs.
#[derive(Debug)]
pub struct Keys {
    /// Identities that open the archives as they are.
    pub identities: Identities,
    /// The new recipients.
    pub encryption: Encryption,
    /// The header stanzas of an archive already encrypted for exactly the new recipients,
    /// sorted, when the header can tell (all of them SSH keys): such archives are skipped.
    /// Never for X25519 or age plugin recipients, whose stanzas do not name the recipient:
    /// those archives are always rewrapped.
    pub stanzas: Option<Vec<(String, String)>>,
    /// Signs each re-encrypted archive (a new `<archive>.sig`).
    pub sign: Option<SigningKey>,
    /// Archives whose origin this refuses are not touched.
    pub trust: Trust,
}

/// What happens (or happened) to one archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Will be re-encrypted (dry run).
    Rewrap,
    /// Left as it is: already encrypted for exactly these recipients.
    Skip,
    /// Was re-encrypted and replaced.
    Rewrapped,
    /// An interrupted earlier run had replaced it; its sidecar and `.sig` were written now.
    Completed,
    /// Not touched: its origin is refused, or its signature could not be renewed.
    Refused,
    /// Not touched: it could not be read, opened or written.
    Failed,
}

/// One archive of the plan.
#[derive(Debug, Serialize)]
pub struct Item {
    pub archive: Location,
    pub action: Action,
    pub reason: String,
}

/// The archives to rotate: every `*.age` of each directory or prefix, and each archive named.
pub async fn archives(store: &Store, inputs: &[Location]) -> Result<Vec<Location>> {
    catalogue::archive_files(store, inputs).await
}

/// Plans and (unless `dry_run`) re-encrypts every archive, one after the other, so at most
/// one archive's plaintext is in memory at a time. An archive that fails is reported and the
/// others go on.
pub async fn apply(
    store: &Store,
    archives: &[Location],
    keys: &Keys,
    passphrase: PassphraseSource<'_>,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Vec<Item> {
    let mut out = Vec::new();
    for a in archives {
        let (action, reason) = match one(store, a, keys, passphrase, dry_run, now).await {
            Ok(r) => r,
            Err(e) => (Action::Failed, format!("{e:#}")),
        };
        out.push(Item {
            archive: a.clone(),
            action,
            reason,
        });
    }
    out
}

async fn one(
    store: &Store,
    location: &Location,
    keys: &Keys,
    passphrase: PassphraseSource<'_>,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<(Action, String)> {
    if !dry_run {
        match catalogue::resume(store, location, keys.sign.as_ref()).await? {
            Resumed::Completed => {
                let why =
                    "an interrupted rewrap had replaced it; its sidecar (and .sig) are written now";
                return Ok((Action::Completed, why.into()));
            }
            Resumed::Discarded | Resumed::Nothing => {}
        }
    }
    let fetched = catalogue::fetch(store, location, &keys.trust, now).await?;
    if !fetched.provenance.admitted() {
        let why = format!("origin refused: {}", fetched.provenance.detail);
        return Ok((Action::Refused, why));
    }
    if fetched.is_signed() && keys.sign.is_none() {
        let why = "signed, and no --sign-key to sign it again (its .sig would no longer match)";
        return Ok((Action::Refused, why.into()));
    }
    if keys.stanzas.is_some() && fetched.stanzas() == keys.stanzas {
        let why = "already encrypted for exactly these recipients (its header's SSH key tags)";
        return Ok((Action::Skip, why.into()));
    }
    let cipher = fetched.rewrap(&keys.identities, passphrase, &keys.encryption)?;
    let to = match &keys.encryption {
        Encryption::Recipients(r) => format!("{} recipient(s)", r.len()),
        Encryption::Passphrase(_) => "a passphrase".to_string(),
    };
    let signed = if keys.sign.is_some() { ", signed" } else { "" };
    if dry_run {
        return Ok((Action::Rewrap, format!("would encrypt for {to}{signed}")));
    }
    catalogue::replace(store, location, &cipher, keys.sign.as_ref()).await?;
    Ok((Action::Rewrapped, format!("encrypted for {to}{signed}")))
}
