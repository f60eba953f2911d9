//! `trustkeep rewrap`: encrypts the archives of a store again for a new set of recipients
//! ([`crate::rewrap`]), with a plan (rewrap / refused / failed, and why) and `--dry-run`.

use std::io::Write;

use crate::error::Result;
use crate::render::{self, OutputFormat, Table};
use crate::rewrap::{self, Action, Item, Keys};
use crate::store::Location;
use crate::world::World;
use crate::Outcome;

/// Which archives, and the keys of the rotation.
#[derive(Debug)]
pub struct Options {
    /// Archives, or directories and prefixes of archives.
    pub inputs: Vec<Location>,
    pub keys: Keys,
    pub dry_run: bool,
}

/// Plans and (unless dry-run) re-encrypts.
pub async fn run(opts: &Options, world: &World) -> Result<Vec<Item>> {
    let archives = rewrap::archives(&world.store, &opts.inputs).await?;
    Ok(rewrap::apply(
        &world.store,
        &archives,
        &opts.keys,
        world.passphrase(),
        opts.dry_run,
        world.now,
    )
    .await)
}

/// Exit 0 when every archive is (or would be) re-encrypted, 1 when some were refused, 2 when
/// some failed.
pub fn outcome(items: &[Item]) -> Outcome {
    if items.iter().any(|i| i.action == Action::Failed) {
        Outcome::Incomplete
    } else if items.iter().any(|i| i.action == Action::Refused) {
        Outcome::Problems
    } else {
        Outcome::Success
    }
}

/// Prints the plan or what was done.
pub fn render(
    out: &mut dyn Write,
    items: &[Item],
    dry_run: bool,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, &items);
    }
    let mut t = Table::new(["ARCHIVE", "ACTION", "REASON"]);
    for i in items {
        let action = serde_json::to_value(i.action).unwrap_or_default();
        t.row([
            i.archive.to_string(),
            action.as_str().unwrap_or_default().to_string(),
            i.reason.clone(),
        ]);
    }
    t.write(out)?;
    let done = items
        .iter()
        .filter(|i| {
            matches!(
                i.action,
                Action::Rewrap | Action::Rewrapped | Action::Completed
            )
        })
        .count();
    let refused = items.iter().filter(|i| i.action == Action::Refused).count();
    let skipped = items.iter().filter(|i| i.action == Action::Skip).count();
    let failed = items.iter().filter(|i| i.action == Action::Failed).count();
    let verb = if dry_run {
        "would be re-encrypted (dry run)"
    } else {
        "re-encrypted"
    };
    writeln!(
        out,
        "{done} archive(s) {verb}, {skipped} already for these recipients, {refused} refused, {failed} failed"
    )
}
