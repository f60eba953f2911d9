//! `trustkeep list STORE`: the archives of a directory or prefix, per cluster, newest first,
//! with time, size, sidecar status and signer; with identities, the verify verdict too; with
//! `--latest`, only the newest archive of each cluster (with identities or a trust policy:
//! the newest that verifies and whose origin is admitted, i.e. the last good backup; the
//! newer ones passed over are named with the reason). `restore DIR --latest` asks
//! [`catalogue::latest_good`] the same question. Only files named
//! `<cluster>-<UTC time>[.N].tar.gz.age` are listed; nothing is written.

use std::io::Write;

use crate::archive::Identities;
use crate::catalogue::{self, Entry, Judge, Scan};
use crate::checks::CheckOptions;
use crate::error::Result;
use crate::render::{self, OutputFormat, Table};
use crate::store::Location;
use crate::trust_policy::Trust;
use crate::world::World;

/// What to list.
#[derive(Debug)]
pub struct Options {
    /// A directory or an object prefix (`s3://`, `gs://`, `az://`).
    pub dir: Location,
    /// Only this cluster's archives (as it appears in file names).
    pub cluster: Option<String>,
    /// Only the newest archive per cluster (with identities: the newest that verifies).
    pub latest: bool,
    /// Open each archive and check it, like `verify`.
    pub identities: Option<Identities>,
    pub check: CheckOptions,
    /// Who may sign archives; archives the policy refuses are not good (and not decrypted).
    pub trust: Trust,
}

/// Lists (and with identities verifies) the archives.
pub async fn run(opts: &Options, world: &World) -> Result<Scan> {
    let judge = Judge {
        identities: opts.identities.as_ref(),
        check: &opts.check,
        passphrase: world.passphrase(),
        trust: &opts.trust,
        now: world.now,
    };
    let cluster = opts.cluster.as_deref();
    catalogue::scan(&world.store, &opts.dir, cluster, opts.latest, &judge).await
}

/// Prints the entries.
pub fn render(out: &mut dyn Write, es: &[Entry], format: OutputFormat) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, &es);
    }
    let verified = es.iter().any(|e| e.verdict.is_some());
    let mut header = vec!["CLUSTER", "CREATED", "SIZE", "SIDECAR", "SIGNER"];
    if verified {
        header.push("VERDICT");
    }
    header.push("ARCHIVE");
    let mut t = Table::new(header);
    for e in es {
        let mut row = vec![
            e.cluster.clone(),
            e.created.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.bytes.to_string(),
            e.sidecar.to_string(),
            e.origin.signer_cell(),
        ];
        if verified {
            row.push(e.verdict.clone().unwrap_or_default());
        }
        row.push(e.archive.to_string());
        t.row(row);
    }
    if t.is_empty() {
        writeln!(out, "(no archives named <cluster>-<UTC time>.tar.gz.age)")
    } else {
        t.write(out)
    }
}
