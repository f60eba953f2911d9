//! `trustkeep prune`: applies a retention calendar ([`crate::retention`]) to a directory or
//! prefix of archives written by `backup -o DIR/`, with a plan naming the rule that keeps each
//! archive, and `--dry-run`.

use std::io::Write;

use crate::error::Result;
use crate::render::{self, OutputFormat, Table};
use crate::retention::{self, Decision, Rules};
use crate::store::Location;
use crate::world::World;

/// What to keep.
#[derive(Clone, Debug)]
pub struct Options {
    pub dir: Location,
    pub rules: Rules,
    pub dry_run: bool,
}

/// Decides and (unless dry-run) deletes.
pub async fn run(opts: &Options, world: &World) -> Result<Vec<Decision>> {
    retention::apply(
        &world.store,
        &opts.dir,
        &opts.rules,
        opts.dry_run,
        world.now,
    )
    .await
}

/// Prints the decisions.
pub fn render(
    out: &mut dyn Write,
    ds: &[Decision],
    dry_run: bool,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, &ds);
    }
    let mut t = Table::new(["ARCHIVE", "CLUSTER", "CREATED", "ACTION", "REASON"]);
    for d in ds {
        let action = match (d.keep, d.deleted) {
            (true, _) => "keep",
            (false, true) => "deleted",
            (false, false) => "delete",
        };
        t.row([
            d.archive.to_string(),
            d.cluster.clone(),
            d.created.format("%Y-%m-%d %H:%M").to_string(),
            action.to_string(),
            d.reason.clone(),
        ]);
    }
    if t.is_empty() {
        writeln!(out, "(no archives named <cluster>-<UTC time>.tar.gz.age)")?;
    } else {
        t.write(out)?;
    }
    let n = ds.iter().filter(|d| !d.keep).count();
    writeln!(
        out,
        "{} archive(s) {}",
        n,
        if dry_run {
            "would be deleted (dry run)"
        } else {
            "deleted"
        }
    )
}
