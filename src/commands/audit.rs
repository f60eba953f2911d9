//! `trustkeep audit`: checks the trust secrets of one or more clusters as they are now.
//!
//! Each source is one cluster (a `--from` file or a live context, read through the same
//! [`Source`]); the checks see them together, so cross-cluster trust (shared relay root,
//! federated Istio root, agent names) is verified too.

use std::io::Write;
use std::path::PathBuf;

use futures::StreamExt;

use crate::checks::CheckOptions;
use crate::error::Result;
use crate::present;
use crate::render::{self, OutputFormat};
use crate::report;
use crate::select::SelectOptions;
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::verdict::{self, AuditReport, Unreadable};
use crate::world::World;

/// What to audit.
#[derive(Debug)]
pub struct Options {
    /// One source per cluster, with the cluster's name in Gloo Mesh (default: the file's stem
    /// or the context).
    pub sources: Vec<(Option<String>, Source)>,
    pub select: SelectOptions,
    pub check: CheckOptions,
    /// Warnings count as errors for `ok`.
    pub strict: bool,
    /// How many sources are read at the same time.
    pub parallel: usize,
    /// Where to write the auditor's report (`.html` or `.md`), if anywhere.
    pub report: Option<PathBuf>,
}

/// Reads every source (at most `parallel` at a time), then checks them as one setup. A file
/// that cannot be read stops the audit (the command line is wrong); a cluster that cannot be
/// read is reported in [`AuditReport::unreadable`] and the rest are audited.
pub async fn run(opts: &Options, world: &World) -> Result<AuditReport> {
    let reads = opts.sources.iter().map(|(name, source)| async move {
        let read = source.read(&opts.select).await;
        (name, source, read)
    });
    let results: Vec<_> = futures::stream::iter(reads)
        .buffered(opts.parallel.max(1))
        .collect()
        .await;
    let mut named = Vec::new();
    let mut unreadable = Vec::new();
    for (name, source, read) in results {
        let label = || name.clone().or_else(|| source.default_name());
        match (read, source) {
            (Ok(inv), _) => {
                let name = label().unwrap_or_else(|| inv.origin.short_name());
                named.push((name, inv));
            }
            (Err(e), Source::Cluster(_)) => unreadable.push(Unreadable {
                cluster: label().unwrap_or_else(|| "current context".into()),
                error: e.to_string(),
            }),
            (Err(e), _) => return Err(e),
        }
    }
    let snaps: Vec<Snapshot> = named
        .iter()
        .map(|(name, inv)| Snapshot::take(inv, &opts.select, Some(name), opts.check.at))
        .collect();
    let mut r = verdict::check(&snaps, &opts.check, opts.strict);
    r.ok &= unreadable.is_empty();
    r.unreadable = unreadable;
    if let Some(path) = &opts.report {
        let evidence = report::Evidence::new("audit", world.now, opts.check.at, &snaps, &r);
        report::write(path, &evidence)?;
    }
    Ok(r)
}

/// Prints the report.
pub(crate) fn render(
    out: &mut dyn Write,
    r: &AuditReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    present::audit_report(out, r)
}
