//! `trustkeep import`: folders left by the seed document's manual backup procedure (read by
//! [`Source::ManualFolders`]) → snapshot → archive → store, reporting for each folder whether
//! its private key matches a certificate in it.
//!
//! The manual procedure saves the root CA's `ca.crt` next to the server's `tls.key` and drops
//! `tls.crt`; its restore command then fails. This command names that mismatch for each
//! secret, so the operator knows before an incident which manual backups cannot be restored.
//! Everything the folders lack is a warning here, not an error: they hold what was saved.

use std::path::PathBuf;

use crate::catalogue::{self, ArchiveOutput, Backup};
use crate::check_id::CheckId;
use crate::error::Result;
use crate::findings::Severity;
use crate::select::SelectOptions;
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::world::World;

/// What to import and where.
pub struct Options {
    /// Secret folders, or folders of them.
    pub dirs: Vec<PathBuf>,
    /// Namespace the secrets belong to.
    pub namespace: String,
    /// The cluster's name, recorded in the archive.
    pub cluster: String,
    pub output: ArchiveOutput,
}

/// Reads the folders, checks their keys, and writes an archive whose manifest records the
/// same findings as the report.
pub async fn run(opts: &Options, world: &World) -> Result<Backup> {
    let folders = SelectOptions {
        namespace: opts.namespace.clone(),
        ..SelectOptions::default()
    };
    let inv = Source::ManualFolders(opts.dirs.clone())
        .read(&folders)
        .await?;
    let select = SelectOptions {
        include: inv.secrets.iter().map(|s| s.id.to_string()).collect(),
        ..folders
    };
    let mut snap = Snapshot::take(&inv, &select, Some(&opts.cluster), world.now);
    // The folders hold what the manual procedure saved: a secret it did not save is worth a
    // warning, not a failed import, and there are no RootTrustPolicies to list.
    snap.findings
        .retain(|f| f.check != CheckId::SelectionPoliciesUnknown);
    for f in &mut snap.findings {
        if f.check == CheckId::SelectionMissing {
            f.severity = Severity::Warning;
        }
    }
    let cluster = snap.cluster.clone();
    snap.findings
        .extend(inv.notes.into_iter().map(|f| f.cluster(cluster.clone())));
    catalogue::write(&snap, &opts.output, &world.store, world.now).await
}
