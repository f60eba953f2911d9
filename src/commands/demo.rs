//! `trustkeep demo`: the whole disaster-recovery story on an embedded sandbox API server, in
//! a few seconds: generate a sample trust setup, keygen, back up the live (sandbox) cluster,
//! delete the relay server and root-trust secrets, audit, plan the restore, restore, restore
//! again (all unchanged), audit. Each step prints what a user would see.
//!
//! It uses the same code paths as the real commands (cluster source, backup, checks, restore);
//! only the cluster is a sandbox.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use trustkeep_sandbox::{self as sandbox, Sandbox};

use super::ArchiveInput;
use crate::archive::{crypto, Encryption, Identities};
use crate::catalogue::{self, ArchiveOutput};
use crate::checks::CheckOptions;
use crate::cluster::{Cluster, ClusterRef};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::render::OutputFormat;
use crate::restore::{Action, TargetRef};
use crate::secret::{SecretId, SecretRecord};
use crate::select::SelectOptions;
use crate::snapshot::Snapshot;
use crate::store::Location;
use crate::verdict::{self, AuditReport};
use crate::world::World;
use crate::Outcome;

/// Where the demo keeps its files.
#[derive(Debug, Default)]
pub struct Options {
    /// Keep the identity, kubeconfig and archive here (default: a temporary directory).
    pub dir: Option<PathBuf>,
}

const CONTEXT: &str = "trustkeep-demo";

fn step(out: &mut dyn Write, n: u32, what: &str) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== {n}. {what}")
}

fn io(e: std::io::Error) -> Error {
    Error::io("cannot write to", "standard output", e)
}

/// Runs the demo, printing each step to `out`.
pub async fn run(opts: &Options, out: &mut dyn Write, world: &World) -> Result<Outcome> {
    let now = world.now;
    let tmp;
    let dir: &Path = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::io("cannot create", d, e))?;
            d
        }
        None => {
            tmp = tempfile::tempdir().map_err(|e| {
                Error::io(
                    "cannot create a temporary directory",
                    std::env::temp_dir(),
                    e,
                )
            })?;
            tmp.path()
        }
    };

    step(out, 1, "a management cluster with Gloo Mesh trust secrets (generated, fresh ECDSA keys), served by an embedded sandbox API server").map_err(io)?;
    let setup = crate::sample::generate(now, 1);
    let sb = Sandbox::start(sandbox::Options {
        objects: setup.mgmt.clone(),
        ..Default::default()
    })
    .await
    .map_err(|e| Error::Sandbox(e.to_string()))?;
    let kubeconfig = dir.join("sandbox.kubeconfig");
    crate::store::write_atomic(&kubeconfig, sb.kubeconfig(CONTEXT).as_bytes(), true)?;
    writeln!(
        out,
        "sandbox: {} (kubeconfig {}, context {CONTEXT})",
        sb.url(),
        kubeconfig.display()
    )
    .map_err(io)?;
    let target = ClusterRef {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some(CONTEXT.into()),
        ..ClusterRef::default()
    };
    let result = story(out, dir, &target, world).await;
    sb.shutdown().await;
    result
}

async fn story(
    out: &mut dyn Write,
    dir: &Path,
    target: &ClusterRef,
    world: &World,
) -> Result<Outcome> {
    let cluster = Cluster::connect(target).await?;
    let select = SelectOptions::default();
    let (archive, identity, originals) = keygen_and_backup(out, dir, &cluster, world).await?;
    // The audit must find the loss.
    let mut ok = accident(out, &cluster, &select, world).await?;
    ok &= restores(out, &archive, &identity, target, world).await?;
    ok &= healthy_again(out, &cluster, &select, &originals, world).await?;
    writeln!(out).map_err(io)?;
    writeln!(
        out,
        "{}",
        if ok {
            "demo complete: backup, loss, plan, restore and audit all behaved"
        } else {
            "demo FAILED: see above"
        }
    )
    .map_err(io)?;
    Ok(Outcome::from_ok(ok))
}

/// Audits one inventory as the cluster `mgmt`.
fn audit_mgmt(inv: Inventory, select: &SelectOptions, now: DateTime<Utc>) -> AuditReport {
    let check = CheckOptions::at(now);
    let snap = Snapshot::take(&inv, select, Some("mgmt"), now);
    verdict::check(std::slice::from_ref(&snap), &check, false)
}

/// Steps 2 and 3: an identity, then a backup of the live cluster. Returns the archive, the
/// identity file and the secrets as they were.
async fn keygen_and_backup(
    out: &mut dyn Write,
    dir: &Path,
    cluster: &Cluster,
    world: &World,
) -> Result<(Location, PathBuf, Vec<SecretRecord>)> {
    let now = world.now;
    let select = SelectOptions::default();
    step(out, 2, "trustkeep keygen -o identity.txt").map_err(io)?;
    let g = super::keygen::generate(now);
    let identity = dir.join("identity.txt");
    let _ = std::fs::remove_file(&identity);
    super::keygen::write(&identity, &g)?;
    writeln!(out, "recipient: {}", g.recipient).map_err(io)?;

    step(
        out,
        3,
        &format!(
            "trustkeep backup --context {CONTEXT} -r {} -o {}/",
            g.recipient,
            dir.display()
        ),
    )
    .map_err(io)?;
    let inv = cluster.read_inventory(&select).await?;
    let calls = cluster.calls().len();
    let output = ArchiveOutput {
        location: Location::Local(dir.to_path_buf()),
        encryption: Encryption::Recipients(vec![crypto::parse_recipient(&g.recipient)?]),
        armor: false,
        sign: None,
    };
    let snap = Snapshot::take(&inv, &select, Some("mgmt"), now);
    let b = catalogue::write(&snap, &output, &world.store, now).await?;
    super::backup::render(out, &b, OutputFormat::Table).map_err(io)?;
    writeln!(out, "({calls} API calls to read the cluster)").map_err(io)?;
    Ok((b.archive, identity, inv.secrets))
}

/// Steps 4 and 5: two secrets are deleted, and the audit says what broke. True when the audit
/// failed, as it must.
async fn accident(
    out: &mut dyn Write,
    cluster: &Cluster,
    select: &SelectOptions,
    world: &World,
) -> Result<bool> {
    step(
        out,
        4,
        "the accident: relay-server-tls-secret and the root-trust secret are deleted",
    )
    .map_err(io)?;
    for name in ["relay-server-tls-secret", "root-trust-policy.gloo-mesh"] {
        let id = SecretId::new("gloo-mesh", name);
        cluster.delete_secret(&id).await?;
        writeln!(out, "kubectl delete secret -n gloo-mesh {name}   # deleted").map_err(io)?;
    }

    step(
        out,
        5,
        &format!("trustkeep audit --context {CONTEXT}   # what is broken now"),
    )
    .map_err(io)?;
    let before = audit_mgmt(cluster.read_inventory(select).await?, select, world.now);
    super::audit::render(out, &before, OutputFormat::Table).map_err(io)?;

    Ok(!before.ok)
}

/// Steps 6 to 8: the plan, the restore, the same restore again. True when each did what it
/// should (two creates planned and made, then nothing to do).
async fn restores(
    out: &mut dyn Write,
    archive: &Location,
    identity: &Path,
    target: &ClusterRef,
    world: &World,
) -> Result<bool> {
    let mut ok = true;

    for (n, dry_run, title) in [
        (
            6,
            true,
            "trustkeep restore ARCHIVE -i identity.txt --context trustkeep-demo --dry-run",
        ),
        (
            7,
            false,
            "trustkeep restore ARCHIVE -i identity.txt --context trustkeep-demo",
        ),
        (8, false, "the same restore again: nothing to do"),
    ] {
        step(out, n, title).map_err(io)?;
        let mut identities = Identities::default();
        crypto::load_identity(identity, &mut identities)?;
        let ropts = super::restore::Options {
            archive: ArchiveInput {
                location: archive.clone(),
                identities,
                trust: Default::default(),
            },
            target: TargetRef::Cluster(target.clone()),
            restore: Default::default(),
            dry_run,
            latest: None,
            restart: false,
        };
        let r = super::restore::run(&ropts, world).await?;
        super::restore::render(out, &r, OutputFormat::Table, false).map_err(io)?;
        let expect = match n {
            6 | 7 => vec![Action::Create, Action::Create],
            _ => vec![],
        };
        let created: Vec<Action> = r
            .plan
            .iter()
            .map(|i| i.action)
            .filter(|a| *a == Action::Create)
            .collect();
        ok &= r.ok && created == expect;
    }

    Ok(ok)
}

/// Step 9: the audit passes again and every secret is as it was.
async fn healthy_again(
    out: &mut dyn Write,
    cluster: &Cluster,
    select: &SelectOptions,
    originals: &[SecretRecord],
    world: &World,
) -> Result<bool> {
    step(
        out,
        9,
        &format!("trustkeep audit --context {CONTEXT}   # healthy again, byte for byte"),
    )
    .map_err(io)?;
    let after_inv = cluster.read_inventory(select).await?;
    let after = audit_mgmt(after_inv.clone(), select, world.now);
    super::audit::render(out, &after, OutputFormat::Table).map_err(io)?;
    let identical = originals.iter().all(|o| {
        after_inv.secrets.iter().any(|a| {
            let mut a = a.clone();
            a.annotations.remove(crate::secret::PROVENANCE_ANNOTATION);
            a.identical(o)
        })
    });
    writeln!(
        out,
        "restored secrets identical to the originals (type, data, labels, annotations): {}",
        if identical { "yes" } else { "NO" }
    )
    .map_err(io)?;
    Ok(after.ok && identical)
}
