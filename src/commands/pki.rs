//! `trustkeep pki`: rebuild trust that was not saved.
//!
//! `pki init` has the issuer ([`crate::issuer::init`]) make a whole setup of the seed's
//! architectures × placements, audits what it made (the audit must name the same design),
//! plans each cluster's secrets into its target with [`restore::prepare`] (create, never
//! clobber: one conflict anywhere and nothing is written), writes each cluster's birth archive
//! and profile, then applies the plans. `pki reissue` has the issuer issue one lost certificate
//! again under the CA an archive holds, and plans and applies it the same way. `pki rescue`
//! reads the seed's manual backup folders, has the issuer keep what they saved whole
//! ([`issuer::rescue`]) and lands the setup as `pki init` does. Nothing here
//! makes a key or a certificate; the plan is [`restore`]'s, the archives [`catalogue`]'s.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::archive::{self, Identities, Opened};
use crate::catalogue::{self, ArchiveOutput};
use crate::checks::{self, CheckOptions, Setup};
use crate::cluster::ClusterRef;
use crate::error::{Error, Result};
use crate::findings::{Finding, Severity};
use crate::gloo::ClusterKind;
use crate::issuer::{self, Born, CaSummary, Design, KeyType, Validity};
use crate::present;
use crate::render::{self, OutputFormat};
use crate::restore::{self, Item, Plan, Target, TargetRef};
use crate::snapshot::Snapshot;
use crate::store::Location;
use crate::trust_policy::Trust;
use crate::world::World;

/// Where `pki` puts what it makes, besides the birth archives.
#[derive(Debug)]
pub enum Targets {
    /// Nothing: the birth archives only (restore them later).
    None,
    /// `DIR/<cluster>/<namespace>/<name>.yaml`.
    Manifests(PathBuf),
    /// Cluster name → its kubeconfig context.
    Clusters(BTreeMap<String, ClusterRef>),
}

/// `pki init`.
#[derive(Debug)]
pub struct InitOptions {
    pub issue: issuer::InitOptions,
    /// The directory (or prefix) the birth archives and profiles go to.
    pub output: ArchiveOutput,
    pub targets: Targets,
    /// Create missing namespaces in the target clusters.
    pub create_namespaces: bool,
    /// Plan only: nothing is written anywhere.
    pub dry_run: bool,
    /// Then restart what reads the secrets written (`--context` targets only).
    pub restart: bool,
}

/// One cluster of a new setup: where its archive and profile went, its plan.
#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub kind: ClusterKind,
    /// The birth archive (the one it would be, with `--dry-run`).
    pub archive: Location,
    pub profile: Location,
    /// Where its secrets went: `manifests DIR` or `cluster CONTEXT`; none without a target.
    pub target: Option<String>,
    pub plan: Vec<Item>,
    pub policies: Vec<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_not_restored: Option<String>,
    /// With `--restart`: each Deployment restarted and how it went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<restore::Restart>,
}

/// What `pki init` made and did.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub design: Design,
    pub key_type: KeyType,
    pub validity: Validity,
    pub dry_run: bool,
    /// Whether the birth archives and profiles were written (not for a dry run or a refusal).
    pub written: bool,
    /// True when every plan was (or, with `--dry-run`, would be) carried out.
    pub ok: bool,
    pub cas: Vec<CaSummary>,
    pub clusters: Vec<ClusterReport>,
    /// The audit's reading of what was made.
    pub setup: Option<Setup>,
    /// The audit's warnings about it (the management-cluster placement's root keys).
    pub findings: Vec<Finding>,
    /// Errors and warnings of the plans' pre-restore checks.
    pub plan_findings: Vec<Finding>,
}

/// Makes a new setup, audits it, plans it, writes the birth archives and profiles, applies.
pub async fn init(o: &InitOptions, world: &World) -> Result<InitReport> {
    let birth = issuer::init(&o.issue, world.now)?;
    land(o, birth, world).await
}

/// Audits a new setup, plans it, writes the birth archives and profiles, applies the plans:
/// what `pki init` and `pki rescue` do with the setup the issuer made.
async fn land(o: &InitOptions, birth: issuer::Birth, world: &World) -> Result<InitReport> {
    let (setup, findings) = self_audit(&birth.design, &birth.clusters, world)?;
    let clusters: Vec<&str> = birth.clusters.iter().map(|b| b.name.as_str()).collect();
    let mut names = allocate(&o.output, &o.targets, o.dry_run, &clusters, true, world).await?;
    let mut plans = Vec::new();
    for (b, (archive, _)) in birth.clusters.iter().zip(&names) {
        let opened = archive::reopen(&b.snapshot, &archive.file_name())?;
        let plan = match target_of(&o.targets, &b.name) {
            Some(t) => {
                Some(plan(&opened, &archive.file_name(), t.connect().await?, o, world).await?)
            }
            None => None,
        };
        plans.push(plan);
    }
    let refused = plans.iter().flatten().any(|p| !p.ok(true));
    let written = !o.dry_run && !refused;
    if written {
        let made: Vec<(&Snapshot, Option<String>)> = (birth.clusters.iter())
            .map(|b| (&b.snapshot, Some(b.profile.to_yaml())))
            .collect();
        write_archives(&o.output, &made, &mut names, world).await?;
        apply(&o.targets, &clusters, &mut plans).await?;
        if o.restart {
            for p in plans.iter_mut().flatten() {
                p.restart(world.now).await;
            }
        }
    }
    let ok = !refused
        && (plans.iter().flatten())
            .all(|p| p.ok(o.dry_run) && p.restarts.iter().all(restore::Restart::ok));
    let mut plan_findings = Vec::new();
    let clusters = (birth.clusters.iter().zip(names).zip(plans))
        .map(|((b, (archive, profile)), plan)| {
            let target = plan.as_ref().map(|p| match p.cluster_name() {
                Some(c) => format!("cluster {c}"),
                None => format!("manifests {}", manifests_dir(&o.targets, &b.name).display()),
            });
            let (plan, policies, offline_not_restored, restarted) = match plan {
                Some(p) => {
                    plan_findings.extend(p.findings);
                    let done = (p.restarts.into_iter())
                        .filter(|x| x.result.is_some())
                        .collect();
                    (p.secrets, p.policies, p.offline_not_restored, done)
                }
                None => (Vec::new(), Vec::new(), None, Vec::new()),
            };
            ClusterReport {
                cluster: b.name.clone(),
                kind: b.kind,
                archive,
                profile,
                target,
                plan,
                policies,
                offline_not_restored,
                restarted,
            }
        })
        .collect();
    Ok(InitReport {
        design: birth.design,
        key_type: o.issue.key_type,
        validity: o.issue.validity,
        dry_run: o.dry_run,
        written,
        ok,
        cas: birth.cas,
        clusters,
        setup,
        findings,
        plan_findings,
    })
}

/// Audits what was made, as `audit` would read it from the clusters: errors stop everything
/// (nothing is written), and the audit must name the design asked for.
fn self_audit(
    design: &Design,
    clusters: &[Born],
    world: &World,
) -> Result<(Option<Setup>, Vec<Finding>)> {
    let snaps: Vec<_> = clusters
        .iter()
        .map(|b| {
            let mut s = issuer::in_cluster(&b.snapshot);
            s.relay_mode = Some(design.relay_mode());
            s
        })
        .collect();
    let r = checks::check(&snaps, &CheckOptions::at(world.now));
    let findings: Vec<Finding> = r
        .report
        .findings
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    if let Some(e) = findings.iter().find(|f| f.severity == Severity::Error) {
        return Err(Error::from(issuer::IssueError::SelfCheck(format!(
            "what trustkeep made fails the audit, so nothing was written (a bug: please report it): {e}"
        ))));
    }
    if let Some(s) = &r.setup {
        if !design.is_seen_in(s) {
            return Err(Error::from(issuer::IssueError::SelfCheck(format!(
                "what trustkeep made for {} is read by the audit as {}; nothing was written (a bug: please report it)",
                design.describe(),
                s.summary()
            ))));
        }
    }
    Ok((r.setup, findings))
}

/// Where each cluster's birth archive and profile go, checked free before anything is made
/// (and without making anything: a local directory is created only when written to);
/// `DIR/<cluster>` of `--to-manifests` must not exist either (all or nothing). `profiles`:
/// whether each cluster also gets a profile (a new setup), which must not exist.
async fn allocate(
    output: &ArchiveOutput,
    targets: &Targets,
    dry_run: bool,
    clusters: &[&str],
    profiles: bool,
    world: &World,
) -> Result<Vec<(Location, Location)>> {
    let dir = &output.location;
    let profile_of = |c: &str| dir.join(&format!("{c}.profile.yaml"));
    for c in clusters {
        if profiles && world.store.exists(&profile_of(c)).await? {
            let message = "already exists; refusing to overwrite a profile (nothing was written)";
            return Err(refused(&profile_of(c), message));
        }
        if let Targets::Manifests(_) = targets {
            let d = manifests_dir(targets, c);
            if std::fs::symlink_metadata(&d).is_ok() {
                return Err(Error::Refused {
                    path: d,
                    message: "already exists; what pki writes goes into a new directory (nothing was written)".into(),
                });
            }
        }
    }
    let absent = matches!(dir, Location::Local(p) if !p.exists());
    let mut out = Vec::new();
    for c in clusters {
        let name = archive::ArchiveName::new(c, world.now);
        let path = match dry_run || absent {
            true => dir.join(&name.to_string()),
            false => world.store.allocate(dir, name).await?,
        };
        out.push((path, profile_of(c)));
    }
    Ok(out)
}

fn refused(l: &Location, message: &str) -> Error {
    Error::Refused {
        path: PathBuf::from(l.to_string()),
        message: message.to_string(),
    }
}

fn manifests_dir(targets: &Targets, cluster: &str) -> PathBuf {
    match targets {
        Targets::Manifests(d) => d.join(cluster),
        _ => PathBuf::new(),
    }
}

/// The target of cluster `name`, if it has one.
fn target_of(targets: &Targets, name: &str) -> Option<TargetRef> {
    match targets {
        Targets::None => None,
        Targets::Manifests(_) => Some(TargetRef::Manifests(manifests_dir(targets, name))),
        Targets::Clusters(m) => m.get(name).map(|c| TargetRef::Cluster(c.clone())),
    }
}

/// The plan of one cluster's birth: every secret and the RootTrustPolicy created (never over
/// anything), Gloo-managed ones included (a new setup starts with them), offline material
/// left out.
async fn plan(
    opened: &Opened,
    name: &str,
    target: Target,
    o: &InitOptions,
    world: &World,
) -> Result<Plan> {
    let opts = restore::Options {
        include_managed: true,
        include_policies: true,
        create_namespaces: o.create_namespaces,
        ..restore::Options::default()
    };
    let mut p = restore::prepare(opened, name, target, &opts, world.now).await?;
    // A new setup starts with the secrets a controller keeps up to date afterwards.
    for i in p.secrets.iter_mut().filter(|i| i.managed_by.is_some()) {
        let base = i.reason.split("; managed by").next().unwrap_or_default();
        i.reason = format!("{base}; Gloo Mesh's cert-agent keeps it up to date from here");
    }
    Ok(p)
}

/// Writes each archive (with its sidecar and signature) and profile, if it has one; on a
/// failure, takes back what this run wrote. Each archive lands on the name [`allocate`] found
/// free (the names the plans record as provenance), unless another writer took it meanwhile.
async fn write_archives(
    output: &ArchiveOutput,
    made: &[(&Snapshot, Option<String>)],
    names: &mut [(Location, Location)],
    world: &World,
) -> Result<()> {
    let mut written: Vec<Location> = Vec::new();
    for ((snapshot, profile_yaml), (archive, profile)) in made.iter().zip(names.iter_mut()) {
        let r = async {
            let done = catalogue::write(snapshot, output, &world.store, world.now).await?;
            written.push(done.archive.clone());
            written.push(done.sidecar.clone());
            *archive = done.archive;
            if let Some(yaml) = profile_yaml {
                world.store.put_new(profile, yaml.as_bytes()).await?;
                written.push(profile.clone());
            }
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = r {
            for l in &written {
                let _ = world.store.delete(l).await;
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Applies every plan; a manifests target is all or nothing across clusters.
async fn apply(targets: &Targets, clusters: &[&str], plans: &mut [Option<Plan>]) -> Result<()> {
    let mut done: Vec<PathBuf> = Vec::new();
    for (c, plan) in clusters.iter().zip(plans.iter_mut()) {
        let Some(plan) = plan else { continue };
        if let Err(e) = plan.apply().await {
            for d in &done {
                let _ = std::fs::remove_dir_all(d);
            }
            return Err(e);
        }
        if let Targets::Manifests(_) = targets {
            done.push(manifests_dir(targets, c));
        }
    }
    Ok(())
}

/// Prints what `pki init` made: the design, the CAs and where their keys are, each cluster's
/// archive, profile and plan, the audit's reading, and what to do next.
pub fn render_init(
    out: &mut dyn Write,
    r: &InitReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    writeln!(
        out,
        "pki init: {}; keys {}{}",
        r.design.describe(),
        r.key_type.as_str(),
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    )?;
    if let Some(s) = &r.setup {
        writeln!(out, "audit reads it as: {}", render::escape(&s.summary()))?;
    }
    writeln!(out)?;
    let mut t = render::Table::new(["CA", "SUBJECT", "EXPIRES", "PRIVATE KEY IN"]);
    for c in &r.cas {
        t.row([
            c.what.clone(),
            c.subject.clone(),
            c.not_after.format("%Y-%m-%d").to_string(),
            c.key_in.join("; "),
        ]);
    }
    t.write(out)?;
    for c in &r.clusters {
        writeln!(out)?;
        writeln!(
            out,
            "cluster {} ({}): birth archive {}, profile {}{}",
            c.cluster,
            c.kind.as_str(),
            c.archive,
            c.profile,
            if r.written { "" } else { " (not written)" }
        )?;
        match &c.target {
            None => writeln!(out, "  no target: restore the birth archive later (trustkeep restore ARCHIVE --include-managed --include-policies)")?,
            Some(t) => {
                writeln!(out, "  -> {t}")?;
                present::write_plan(out, &c.plan, &c.policies)?;
            }
        }
        if let Some(why) = &c.offline_not_restored {
            writeln!(out, "  {why}")?;
        }
        present::write_restarts(out, &c.restarted)?;
    }
    present::write_findings(out, &r.findings)?;
    present::write_findings(out, &r.plan_findings)?;
    writeln!(out)?;
    let verdict = match (r.ok, r.dry_run, r.written) {
        (true, true, _) => "ok: dry run",
        (true, false, _) => "ok: keep the birth archives safe (the management cluster's holds the offline CA keys); back the clusters up once Gloo Mesh runs",
        (false, _, false) => "REFUSED: a target already holds some of these secrets, or they fail the checks (see the plans); nothing was written",
        (false, _, true) => "INCOMPLETE: the birth archives are written, some secrets are not (see the plans): restore the birth archive of each such cluster once the cause is fixed",
    };
    writeln!(out, "{verdict}")
}

/// `pki rescue`: `init`'s options (the design is [`issuer::RESCUE_DESIGN`]) and the folders.
#[derive(Debug)]
pub struct RescueOptions {
    pub init: InitOptions,
    /// The folders the seed's manual procedure left (what `import` reads).
    pub folders: Vec<PathBuf>,
}

/// What `pki rescue` kept, found, re-issued and replaced, and the setup it made.
#[derive(Debug, Serialize)]
pub struct RescueReport {
    pub rescued: Vec<issuer::Rescued>,
    /// What the manual folders' reader said of them (keys that do not match, files missing).
    pub folder_notes: Vec<Finding>,
    #[serde(flatten)]
    pub setup: InitReport,
}

/// Reads the manual backup's folders, has the issuer keep what is whole and make the rest,
/// then lands the setup as `pki init` does.
pub async fn rescue(o: &RescueOptions, world: &World) -> Result<RescueReport> {
    let source = crate::source::Source::ManualFolders(o.folders.clone());
    let inv = source.read(&Default::default()).await?;
    let i = &o.init.issue;
    let ro = issuer::RescueOptions {
        management: i.management.clone(),
        workloads: i.workloads.clone(),
        key_type: i.key_type,
        validity: i.validity,
    };
    let (birth, rescued) = issuer::rescue(&ro, &inv, world.now)?;
    let setup = land(&o.init, birth, world).await?;
    let folder_notes = inv
        .notes
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    Ok(RescueReport {
        rescued,
        folder_notes,
        setup,
    })
}

/// Prints what became of each CA and certificate, and why, then the setup as `pki init` does.
pub fn render_rescue(
    out: &mut dyn Write,
    r: &RescueReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    writeln!(
        out,
        "pki rescue: what the manual backup saved, and what was made"
    )?;
    let mut t = render::Table::new(["WHAT", "OUTCOME", "WHY"]);
    for x in &r.rescued {
        t.row([
            x.what.clone(),
            x.outcome.as_str().to_string(),
            render::escape(&x.why).into_owned(),
        ]);
    }
    t.write(out)?;
    if !r.folder_notes.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "the folders as saved (why they could not be restored as they are):"
        )?;
        present::write_findings(out, &r.folder_notes)?;
    }
    writeln!(out)?;
    render_init(out, &r.setup, format)
}

/// `pki reissue`.
#[derive(Debug)]
pub struct ReissueOptions {
    pub reissue: issuer::ReissueOptions,
    /// The archives holding the CA (and the old certificate, if one does).
    pub archives: Vec<Location>,
    pub identities: Identities,
    /// Which signers' archives are opened (`--trusted-signers`): the CA must come from one.
    pub trust: Trust,
    /// A cluster, or `DIR` (written to `DIR/<cluster>/`).
    pub target: TargetRef,
    /// Replace the secret if it exists.
    pub replace: bool,
    /// Restart the Deployment that reads it, after writing it.
    pub restart: bool,
    pub dry_run: bool,
}

/// What `pki reissue` issued and did.
#[derive(Debug, Serialize)]
pub struct ReissueReport {
    #[serde(flatten)]
    pub reissued: issuer::Reissued,
    pub dry_run: bool,
    pub ok: bool,
    /// `cluster CONTEXT` or `manifests DIR`.
    pub target: String,
    pub plan: Vec<Item>,
    pub findings: Vec<Finding>,
    /// The Deployment that reads the new secret, with the result of `--restart`.
    pub restarts: Vec<restore::Restart>,
}

/// Opens the archives, issues the certificate again, plans and (unless dry-run) applies it.
pub async fn reissue(o: &ReissueOptions, world: &World) -> Result<ReissueReport> {
    let mut opened = Vec::new();
    for l in &o.archives {
        let (store, ids, ask) = (&world.store, &o.identities, world.passphrase());
        let (a, _) = catalogue::open(store, l, ids, ask, &o.trust, world.now).await?;
        opened.push((l.file_name(), a));
    }
    let r = issuer::reissue(&o.reissue, &opened, world.now)?;
    let name = format!("trustkeep pki reissue {}", r.role.as_str());
    let archive = archive::reopen(&r.snapshot, &name)?;
    let target = match &o.target {
        TargetRef::Manifests(d) => TargetRef::Manifests(d.join(&r.cluster)),
        t => t.clone(),
    };
    let opts = restore::Options {
        replace: o.replace,
        include_managed: true,
        ..restore::Options::default()
    };
    let mut plan =
        restore::prepare(&archive, &name, target.connect().await?, &opts, world.now).await?;
    if !o.dry_run {
        plan.apply().await?;
        if o.restart {
            plan.restart(world.now).await;
        }
    }
    let target = match (&target, plan.cluster_name()) {
        (_, Some(c)) => format!("cluster {c}"),
        (TargetRef::Manifests(d), None) => format!("manifests {}", d.display()),
        _ => String::new(),
    };
    Ok(ReissueReport {
        ok: plan.ok(o.dry_run) && plan.restarts.iter().all(restore::Restart::ok),
        restarts: plan.restarts.clone(),
        dry_run: o.dry_run,
        target,
        findings: plan.findings.clone(),
        plan: plan.secrets,
        reissued: r,
    })
}

/// Prints what was issued, what it replaces, the plan, and who must restart.
pub fn render_reissue(
    out: &mut dyn Write,
    r: &ReissueReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    let i = &r.reissued;
    let c = &i.certificate;
    writeln!(
        out,
        "pki reissue {} of cluster {}{}",
        i.role.as_str(),
        i.cluster,
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "new:      {} (serial {}, {}, DNS {}) valid to {}",
        c.subject,
        c.serial,
        c.key,
        c.dns_names.join(", "),
        c.not_after.format("%Y-%m-%d")
    )?;
    writeln!(out, "issuer:   {}", i.issuer)?;
    writeln!(
        out,
        "replaces: {}",
        i.replaces
            .as_deref()
            .unwrap_or("(no archive held the old certificate: the profile's subject and names)")
    )?;
    writeln!(out, "roots:    unchanged: {}", i.roots.join(", "))?;
    writeln!(out)?;
    writeln!(out, "-> {}", r.target)?;
    present::write_plan(out, &r.plan, &[])?;
    present::write_findings(out, &r.findings)?;
    let s = &i.restart;
    if r.restarts.iter().any(|x| x.result.is_some()) {
        present::write_restarts(out, &r.restarts)?;
    } else {
        writeln!(out)?;
        let (c, ns, d) = (&s.cluster, &s.namespace, &s.deployment);
        writeln!(
            out,
            "restart: deployment {ns}/{d} in cluster {c}: {}",
            s.why
        )?;
        writeln!(
            out,
            "  kubectl --context {c} -n {ns} rollout restart deployment/{d} (or --restart)"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        match (r.ok, r.dry_run) {
            (true, true) => "ok: dry run",
            (true, false) => "ok: back the cluster up now (the new key is in no archive yet)",
            (false, _) => "REFUSED: see the plan",
        }
    )
}

/// `pki rotate`.
#[derive(Debug)]
pub struct RotateOptions {
    pub rotate: issuer::RotateOptions,
    /// Archives (or directories of them): each cluster's newest is its state; the management
    /// cluster's birth archive (or an earlier phase's archive) holds the offline CA keys.
    pub archives: Vec<Location>,
    pub identities: Identities,
    /// Which signers' archives are opened (`--trusted-signers`).
    pub trust: Trust,
    /// Where each changed cluster's new archive goes (the management cluster's holds the new
    /// CA keys kept offline), and who opens it.
    pub output: ArchiveOutput,
    pub targets: Targets,
    /// Restart what reads the secrets written (cluster targets).
    pub restart: bool,
    pub dry_run: bool,
}

/// One cluster of a phase: what changes, its new archive, its plan.
#[derive(Debug, Serialize)]
pub struct RotateClusterReport {
    #[serde(flatten)]
    pub change: issuer::ClusterChange,
    /// The cluster's archive after the phase (the one it would be, with `--dry-run`).
    pub archive: Location,
    /// `manifests DIR` or `cluster CONTEXT`; none without a target.
    pub target: Option<String>,
    pub plan: Vec<Item>,
    pub policies: Vec<Item>,
    /// With `--restart`: each Deployment restarted and how it went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<restore::Restart>,
}

/// What a phase of `pki rotate` made and did.
#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub rotation: issuer::Rotation,
    pub phase: Option<issuer::Phase>,
    pub old_root: Option<String>,
    pub new_root: Option<String>,
    pub dry_run: bool,
    /// Whether the archives were written and the plans applied.
    pub written: bool,
    pub ok: bool,
    pub clusters: Vec<RotateClusterReport>,
    /// Where each cluster stands after the phase.
    pub standings: Vec<issuer::Standing>,
    pub next: String,
    /// The audit's warnings about the clusters as the phase leaves them.
    pub findings: Vec<Finding>,
    /// Errors and warnings of the plans' pre-restore checks.
    pub plan_findings: Vec<Finding>,
}

/// Opens the archives, has the issuer make the phase, audits the clusters as it leaves them,
/// plans each changed cluster's secrets (replacing what the phase changes), then (unless a
/// dry run or a refusal) writes each changed cluster's archive and applies the plans.
pub async fn rotate(o: &RotateOptions, world: &World) -> Result<RotateReport> {
    let files = catalogue::archive_files_together(&world.store, &o.archives).await?;
    let mut opened = Vec::new();
    for l in &files {
        let (store, ids, ask) = (&world.store, &o.identities, world.passphrase());
        let (a, _) = catalogue::open(store, l, ids, ask, &o.trust, world.now).await?;
        opened.push((l.file_name(), a));
    }
    let r = issuer::rotate(&o.rotate, &opened, world.now)?;
    let findings = rotation_self_audit(&r.fleet_after, world)?;
    let clusters: Vec<&str> = r.clusters.iter().map(|c| c.cluster.as_str()).collect();
    let mut names = allocate(&o.output, &o.targets, o.dry_run, &clusters, false, world).await?;
    let mut plans = Vec::new();
    for (c, (archive, _)) in r.clusters.iter().zip(&names) {
        let plan = match target_of(&o.targets, &c.cluster) {
            Some(t) => {
                Some(rotation_plan(c, &archive.file_name(), t.connect().await?, world).await?)
            }
            None => None,
        };
        plans.push(plan);
    }
    let refused = plans.iter().flatten().any(|p| !p.ok(true));
    let written = !o.dry_run && !refused;
    if written {
        let made: Vec<(&Snapshot, Option<String>)> =
            r.clusters.iter().map(|c| (&c.after, None)).collect();
        write_archives(&o.output, &made, &mut names, world).await?;
        apply(&o.targets, &clusters, &mut plans).await?;
        if o.restart {
            for p in plans.iter_mut().flatten() {
                p.restart(world.now).await;
            }
        }
    }
    let ok = !refused && plans.iter().flatten().all(|p| p.ok(o.dry_run));
    let mut plan_findings = Vec::new();
    let reports = (r.clusters.into_iter().zip(names).zip(plans))
        .map(|((change, (archive, _)), plan)| {
            let target = plan.as_ref().map(|p| match p.cluster_name() {
                Some(c) => format!("cluster {c}"),
                None => format!(
                    "manifests {}",
                    manifests_dir(&o.targets, &change.cluster).display()
                ),
            });
            let (plan, policies, restarted) = match plan {
                Some(p) => {
                    plan_findings.extend(p.findings);
                    let done = p
                        .restarts
                        .into_iter()
                        .filter(|x| x.result.is_some())
                        .collect();
                    (p.secrets, p.policies, done)
                }
                None => (Vec::new(), Vec::new(), Vec::new()),
            };
            RotateClusterReport {
                change,
                archive,
                target,
                plan,
                policies,
                restarted,
            }
        })
        .collect();
    Ok(RotateReport {
        rotation: r.rotation,
        phase: r.phase,
        old_root: r.old_root,
        new_root: r.new_root,
        dry_run: o.dry_run,
        written,
        ok,
        clusters: reports,
        standings: r.standings,
        next: r.next,
        findings,
        plan_findings,
    })
}

/// The audit of every cluster as the phase leaves it: an error stops everything (nothing is
/// written; a phase must never leave a broken setup); the warnings are reported.
fn rotation_self_audit(after: &[Snapshot], world: &World) -> Result<Vec<Finding>> {
    let r = checks::check(after, &CheckOptions::at(world.now));
    let findings: Vec<Finding> = (r.report.findings.into_iter())
        .filter(|f| f.severity >= Severity::Warning || f.check == "trust.rotation")
        .collect();
    if let Some(e) = findings.iter().find(|f| f.severity == Severity::Error) {
        return Err(Error::from(issuer::IssueError::SelfCheck(format!(
            "the clusters as this phase would leave them fail the audit, so nothing was written: {e}; run trustkeep audit on the clusters (or their archives) and fix that first"
        ))));
    }
    Ok(findings)
}

/// The plan of one cluster's phase: what the phase changes replaces what is there (Gloo's
/// cert-agent's secrets and the RootTrustPolicy included), never the offline material.
async fn rotation_plan(
    c: &issuer::ClusterChange,
    name: &str,
    target: Target,
    world: &World,
) -> Result<Plan> {
    let opened = archive::reopen(&c.writes, name)?;
    let opts = restore::Options {
        replace: true,
        include_managed: true,
        include_policies: true,
        allow_rollback: c.rollback_on_purpose,
        ..restore::Options::default()
    };
    restore::prepare(&opened, name, target, &opts, world.now).await
}

/// Prints the phase: the roots, each changed cluster's changes, archive and plan, what to
/// delete and restart, where each cluster stands, and what comes next.
pub fn render_rotate(
    out: &mut dyn Write,
    r: &RotateReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    let phase = r
        .phase
        .map(|p| format!(" --phase {}", p.as_str()))
        .unwrap_or_default();
    let dry = if r.dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    writeln!(out, "pki rotate {}{phase}{dry}", r.rotation.as_str())?;
    for (what, root) in [("old root", &r.old_root), ("new root", &r.new_root)] {
        if let Some(x) = root {
            writeln!(out, "{what}: {x}")?;
        }
    }
    for c in &r.clusters {
        render_rotate_cluster(out, c, r.written)?;
    }
    present::write_findings(out, &r.plan_findings)?;
    writeln!(out)?;
    let mut t = render::Table::new(["CLUSTER", "STANDS"]);
    for s in &r.standings {
        t.row([s.cluster.clone(), s.stands.clone()]);
    }
    t.write(out)?;
    let warnings: Vec<Finding> = r
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .cloned()
        .collect();
    present::write_findings(out, &warnings)?;
    writeln!(out)?;
    writeln!(out, "next: {}", r.next)?;
    let verdict = match (r.ok, r.dry_run, r.written) {
        (true, true, _) => "ok: dry run",
        (true, false, _) => "ok: check with trustkeep audit before the next phase; the archives written are this phase's rollback point and the next phase's input",
        (false, _, false) => "REFUSED: a plan could not be carried out (see the plans); nothing was written",
        (false, _, true) => "INCOMPLETE: the archives are written, some secrets are not (see the plans): restore them once the cause is fixed",
    };
    writeln!(out, "{verdict}")
}

fn render_rotate_cluster(
    out: &mut dyn Write,
    c: &RotateClusterReport,
    written: bool,
) -> std::io::Result<()> {
    let ch = &c.change;
    writeln!(out)?;
    let note = if written { "" } else { " (not written)" };
    writeln!(
        out,
        "cluster {} ({}): archive {}{note}",
        ch.cluster,
        ch.kind.as_str(),
        c.archive
    )?;
    for x in &ch.changes {
        writeln!(out, "  {}", render::escape(x))?;
    }
    match &c.target {
        None => writeln!(out, "  no target: apply later with trustkeep restore ARCHIVE --replace --include-managed --include-policies")?,
        Some(t) => {
            writeln!(out, "  -> {t}")?;
            present::write_plan(out, &c.plan, &c.policies)?;
        }
    }
    for d in &ch.delete {
        writeln!(out, "  delete: {}", render::escape(d))?;
    }
    if !c.restarted.is_empty() {
        present::write_restarts(out, &c.restarted)?;
    } else {
        for s in &ch.restarts {
            writeln!(
                out,
                "  restart: deployment {}/{} in cluster {}: {}",
                s.namespace, s.deployment, s.cluster, s.why
            )?;
        }
    }
    Ok(())
}
