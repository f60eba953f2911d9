//! What the user typed → what it means: each verb's clap struct becomes that command's typed
//! `Options` (keys and passphrases read, sources and targets built, `[NAME=]X` specs and
//! namespace maps parsed). Flags that do not make sense together are refused here with a
//! [`FlagError`], before any command runs. This is the one place that reads the environment
//! or asks on the terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use age::secrecy::SecretString;
use chrono::{DateTime, Utc};

use super::args::{
    ArchitectureArg, KeyTypeArg, PhaseArg, PkiInitArgs, PkiReissueArgs, PkiRescueArgs,
    PkiRotateArgs, PkiTargetArgs, PlacementArg, ReissueRoleArg, RotationArg,
};
use super::args::{
    AuditArgs, BackupArgs, CheckArgs, ClusterArgs, DecryptArgs, DiscoverArgs, EncryptArgs,
    ExportArgs, FleetArgs, FormatArg, ImportArgs, KindArg, ListArgs, MetricsArgs, PatienceArgs,
    PruneArgs, ReportArgs, RestoreArgs, RetentionArgs, RewrapArgs, SandboxArgs, SelectArgs,
    SignArgs, TrustArgs, VerifyArgs,
};
use crate::archive::{crypto, Encryption, Identities, PluginPrompt, PluginUi};
use crate::catalogue::ArchiveOutput;
use crate::checks::CheckOptions;
use crate::cluster::{ClusterRef, Patience, SharedKubeconfig};
use crate::commands::{self, ArchiveInput};
use crate::error::{Error, Result};
use crate::gloo::ClusterKind;
use crate::metrics::MetricsOptions;
use crate::render::OutputFormat;
use crate::restore::TargetRef;
use crate::retention;
use crate::secret::valid_object_name;
use crate::select::SelectOptions;
use crate::signature::SigningKey;
use crate::source::Source;
use crate::store::Location;
use crate::trust_policy::{AllowedSigners, Trust};

/// Environment variable holding a passphrase for `--passphrase` archives.
pub const PASSPHRASE_ENV: &str = "TRUSTKEEP_PASSPHRASE";

/// Flags that cannot be resolved into options.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("--passphrase needs {PASSPHRASE_ENV} set or a terminal to ask on")]
    NoPassphrase,
    #[error("no recipient: pass -r KEY, -R FILE or --passphrase (archives are always encrypted; make a key with trustkeep keygen)")]
    NoRecipient,
    #[error("--keep-* needs -o to be a directory or prefix (ending in /), not the archive {0}")]
    KeepLastNeedsDirectory(Location),
    #[error("--namespace-map {0}: expected FROM=TO, two namespace names")]
    NamespaceMap(String),
    #[error("--all-contexts: the kubeconfig has no contexts")]
    NoContexts,
    #[error("several clusters write one archive each: -o must be a directory or prefix (ending in /), not the archive {0}")]
    FleetNeedsDirectory(Location),
    #[error("--cluster names one cluster; for several, name each as --context NAME=CONTEXT")]
    ClusterForFleet,
    #[error("--pushgateway {0}: expected the gateway's http:// or https:// base URL, e.g. http://pushgateway:9091")]
    Pushgateway(String),
    #[error("--report {}: name it FILE.html (self-contained page) or FILE.md (Markdown with a Mermaid diagram)", .0.display())]
    ReportFormat(std::path::PathBuf),
    #[error("rewrap needs the new recipients: pass -r KEY or -R FILE (the archives are encrypted to them instead)")]
    RewrapNoRecipient,
    #[error("no retention rule: pass --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly or --keep-within (nothing was deleted)")]
    NoRetentionRule,
    #[error("--allow-unsigned admits unsigned archives into a --trusted-signers policy; without one (or TRUSTKEEP_TRUSTED_SIGNERS) nothing is refused")]
    AllowUnsignedWithoutPolicy,
    #[error("--context {0}: NAME must be the management cluster or a workload cluster of this setup (--management, --workload)")]
    PkiContext(String),
}

impl From<FlagError> for Error {
    fn from(e: FlagError) -> Self {
        Error::Usage(e.to_string())
    }
}

/// `--at`: an RFC 3339 time.
pub fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time such as 2026-12-01T00:00:00Z ({e})"))
}

/// Reads a passphrase from the environment, or from the terminal when there is one.
pub fn passphrase_from_world(confirm: bool) -> Option<SecretString> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Some(SecretString::from(p));
    }
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let p = zeroize::Zeroizing::new(rpassword::prompt_password("passphrase: ").ok()?);
    if confirm {
        let again =
            zeroize::Zeroizing::new(rpassword::prompt_password("passphrase (again): ").ok()?);
        if *again != *p {
            eprintln!("trustkeep: passphrases differ");
            return None;
        }
    }
    (!p.is_empty()).then(|| SecretString::from(p.to_string()))
}

/// Answers age plugins' requests (a PIN, a confirmation) on the terminal, as the passphrase
/// is asked; without a terminal (a CronJob, a pipe) nothing is asked, and the request fails
/// at once with an error naming the plugin and what it asked for. Plugin messages ("touch
/// your key") go to stderr, their control characters neutralised. Answers are never kept: a
/// wrong PIN repeated for every archive would lock a token.
struct TerminalPrompt;

/// One question on the terminal at a time (`verify` opens several archives at once).
static TERMINAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl TerminalPrompt {
    /// Whether there is a terminal to ask on; while the guard lives, nobody else asks.
    fn interactive() -> Option<std::sync::MutexGuard<'static, ()>> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        Some(TERMINAL.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn read_line(prompt: &str) -> Option<String> {
        use std::io::Write;
        eprint!("{prompt}");
        std::io::stderr().flush().ok()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok()?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

impl PluginPrompt for TerminalPrompt {
    fn message(&self, binary: &str, text: &str) {
        super::notice(false, &format!("{binary}: {text}"));
    }
    fn confirm(&self, binary: &str, text: &str, yes: &str, no: Option<&str>) -> Option<bool> {
        let _one_at_a_time = Self::interactive()?;
        let (text, yes) = (crate::render::escape(text), crate::render::escape(yes));
        let no = crate::render::escape(no.unwrap_or("no")).into_owned();
        let answer = Self::read_line(&format!("{binary}: {text} [{yes}/{no}]: "))?;
        Some(answer.trim() == yes.trim() || answer.trim().eq_ignore_ascii_case("y"))
    }
    fn public(&self, binary: &str, text: &str) -> Option<String> {
        let _one_at_a_time = Self::interactive()?;
        Self::read_line(&format!("{binary}: {}: ", crate::render::escape(text)))
    }
    fn secret(&self, binary: &str, text: &str) -> Option<SecretString> {
        let _one_at_a_time = Self::interactive()?;
        let prompt = format!("{binary}: {}: ", crate::render::escape(text));
        let p = zeroize::Zeroizing::new(rpassword::prompt_password(prompt).ok()?);
        Some(SecretString::from(p.to_string()))
    }
}

/// Who answers age plugins' requests in this run: the terminal, when there is one.
fn plugin_ui() -> PluginUi {
    PluginUi::new(TerminalPrompt)
}

/// `--output`.
pub fn format(f: FormatArg) -> OutputFormat {
    match f {
        FormatArg::Table => OutputFormat::Table,
        FormatArg::Json => OutputFormat::Json,
    }
}

/// `-r`, `-R`, `--passphrase`.
pub fn encryption(args: &EncryptArgs) -> Result<Encryption> {
    if args.passphrase {
        let p = passphrase_from_world(true).ok_or(FlagError::NoPassphrase)?;
        return Ok(Encryption::Passphrase(p));
    }
    let mut rs = Vec::new();
    for r in &args.recipients {
        rs.push(crypto::parse_recipient_with(r, &plugin_ui())?);
    }
    for f in &args.recipients_files {
        rs.extend(crypto::read_recipients_file(f, &plugin_ui())?);
    }
    if rs.is_empty() {
        return Err(FlagError::NoRecipient.into());
    }
    Ok(Encryption::Recipients(rs))
}

fn output(location: &str, args: &EncryptArgs, sign: &SignArgs) -> Result<ArchiveOutput> {
    Ok(ArchiveOutput {
        location: Location::parse(location)?,
        encryption: encryption(args)?,
        armor: args.armor,
        sign: sign_key(sign)?,
    })
}

/// `--sign-key FILE`; warns about a key file others can read.
fn sign_key(args: &SignArgs) -> Result<Option<SigningKey>> {
    let Some(path) = &args.sign_key else {
        return Ok(None);
    };
    let key = SigningKey::read(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            // Group read is how a Kubernetes Secret volume reaches a non-root pod (fsGroup);
            // read by others is what no key file should allow.
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o007 != 0 {
                let w = format!(
                    "signing key {} is readable by others (mode {mode:o}); run chmod 600 on it",
                    path.display()
                );
                tracing::warn!("{w}");
                eprintln!("trustkeep: warning: {w}");
            }
        }
    }
    Ok(Some(key))
}

/// `--trusted-signers FILE` (or TRUSTKEEP_TRUSTED_SIGNERS) and `--allow-unsigned`. Times
/// without `Z` in the file are local, as `ssh-keygen` reads them.
pub fn trust(args: &TrustArgs) -> Result<Trust> {
    let signers = match &args.trusted_signers {
        Some(p) if !p.as_os_str().is_empty() => Some(AllowedSigners::read(p, &chrono::Local)?),
        _ => None,
    };
    if args.allow_unsigned && signers.is_none() {
        return Err(FlagError::AllowUnsignedWithoutPolicy.into());
    }
    Ok(Trust {
        signers,
        allow_unsigned: args.allow_unsigned,
    })
}

/// `-i` files; warns about identity files others can read.
pub fn identities(args: &DecryptArgs) -> Result<Identities> {
    let mut ids = Identities::default();
    for p in &args.identities {
        crypto::load_identity_with(p, &mut ids, &plugin_ui())?;
    }
    for w in &ids.warnings {
        tracing::warn!("{w}");
        eprintln!("trustkeep: warning: {w}");
    }
    Ok(ids)
}

fn archive(location: &str, args: &DecryptArgs, t: &TrustArgs) -> Result<ArchiveInput> {
    Ok(ArchiveInput {
        identities: identities(args)?,
        location: Location::parse(location)?,
        trust: trust(t)?,
    })
}

fn cluster(args: &ClusterArgs) -> ClusterRef {
    ClusterRef {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        patience: patience(&args.patience),
        loaded: Default::default(),
    }
}

fn patience(args: &PatienceArgs) -> Patience {
    Patience {
        request_timeout: args.request_timeout,
        total: args.timeout,
        ..Patience::default()
    }
}

fn select(args: &SelectArgs) -> Result<SelectOptions> {
    let profile = profile(args.profile.as_deref())?;
    Ok(SelectOptions {
        profile,
        namespace: args.namespace.clone(),
        include: args.include.clone(),
        kind: args.cluster_kind.map(|k| match k {
            KindArg::Management => ClusterKind::Management,
            KindArg::Workload => ClusterKind::Workload,
        }),
    })
}

/// `--profile FILE`, read once.
fn profile(
    path: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<crate::profile::Profile>>> {
    path.map(|p| crate::profile::Profile::read(p).map(std::sync::Arc::new))
        .transpose()
}

/// The relay authority of `--profile` when `--relay-authority` named none.
fn with_authority(
    mut check: CheckOptions,
    profile: Option<&crate::profile::Profile>,
) -> CheckOptions {
    if check.relay_authority.is_none() {
        check.relay_authority = profile.and_then(|p| p.relay_authority.clone());
    }
    check
}

fn check(args: &CheckArgs, now: DateTime<Utc>) -> CheckOptions {
    CheckOptions {
        at: args.at.unwrap_or(now),
        warn_days: args.warn_days,
        max_leaf_validity_days: args.max_leaf_validity_days,
        accept: args.accept.clone(),
        relay_authority: args.relay_authority.clone(),
    }
}

/// `--accept`: a check id of docs/checks.md.
pub fn parse_check_id(s: &str) -> std::result::Result<crate::check_id::CheckId, String> {
    crate::check_id::CheckId::parse(s).ok_or_else(|| {
        format!(
            "no check id {s:?}; the ids are listed in docs/checks.md, e.g. setup.generated-root"
        )
    })
}

/// `[NAME=]X`: the cluster's name, if given, and the file or context.
pub fn named(spec: &str) -> (Option<String>, String) {
    match spec.split_once('=') {
        Some((name, rest)) if !name.is_empty() && !name.contains('/') => {
            (Some(name.to_string()), rest.to_string())
        }
        _ => (None, spec.to_string()),
    }
}

/// `--namespace-map FROM=TO` values.
pub fn namespace_map(specs: &[String]) -> Result<BTreeMap<String, String>, FlagError> {
    let mut m = BTreeMap::new();
    for s in specs {
        match s.split_once('=') {
            Some((a, b)) if valid_object_name(a) && valid_object_name(b) => {
                m.insert(a.to_string(), b.to_string());
            }
            _ => return Err(FlagError::NamespaceMap(s.clone())),
        }
    }
    Ok(m)
}

/// `--from FILE`, else the fleet flags, else the current context: one source per cluster.
pub fn backup(a: &BackupArgs) -> Result<commands::backup::Options> {
    let output = output(&a.output, &a.encrypt, &a.sign)?;
    let retention = retention(&a.retention);
    if !retention.is_empty() && !output.location.is_dir() {
        return Err(FlagError::KeepLastNeedsDirectory(output.location).into());
    }
    let mut sources = match &a.from {
        Some(f) => vec![(None, file_source(f))],
        None => fleet(&a.contexts, &a.fleet)?,
    };
    if sources.is_empty() {
        sources.push((None, Source::Cluster(current_context(&a.fleet))));
    }
    if sources.len() > 1 {
        if a.cluster.is_some() {
            return Err(FlagError::ClusterForFleet.into());
        }
        if !output.location.is_dir() {
            return Err(FlagError::FleetNeedsDirectory(output.location).into());
        }
    } else if let (Some(name), [(given, _)]) = (&a.cluster, sources.as_mut_slice()) {
        *given = Some(name.clone());
    }
    Ok(commands::backup::Options {
        sources,
        parallel: usize::from(a.fleet.parallel),
        select: select(&a.select)?,
        output,
        retention,
    })
}

/// `--report FILE.html|FILE.md`, refused before anything runs when named otherwise.
fn report_path(a: &ReportArgs) -> Result<Option<std::path::PathBuf>, FlagError> {
    match &a.report {
        Some(p) if crate::report::Format::of(p).is_none() => {
            Err(FlagError::ReportFormat(p.clone()))
        }
        other => Ok(other.clone()),
    }
}

/// The `--keep-*` flags as a retention policy.
fn retention(a: &RetentionArgs) -> retention::Policy {
    retention::Policy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within: a.keep_within,
    }
}

/// `--from FILE`, else `--context`/`--kubeconfig` (default: the current context);
/// `--service-account NAMESPACE/NAME` when `--emit-role`.
pub fn discover(a: &DiscoverArgs) -> Result<commands::discover::Options> {
    let source = match &a.from {
        Some(f) => Source::File(f.clone()),
        None => Source::Cluster(cluster(&a.cluster)),
    };
    let emit_role = if a.emit_role {
        match a.service_account.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Some((ns.to_string(), name.to_string()))
            }
            _ => {
                return Err(Error::Usage(format!(
                    "--service-account {:?}: expected NAMESPACE/NAME, e.g. gloo-mesh/trustkeep",
                    a.service_account
                )))
            }
        }
    } else {
        None
    };
    Ok(commands::discover::Options {
        source,
        namespace: a.namespace.clone(),
        output: a.out.clone(),
        force: a.force,
        emit_role,
    })
}

pub fn import(a: &ImportArgs) -> Result<commands::import::Options> {
    Ok(commands::import::Options {
        dirs: a.dirs.clone(),
        namespace: a.namespace.clone(),
        cluster: a.cluster.clone(),
        output: output(&a.output, &a.encrypt, &a.sign)?,
    })
}

/// `--from PATH`: kubectl's output in a file (`-`: standard input), or a directory of PEM
/// files, a folder per role or secret (a bring-your-own set before it becomes Secrets).
fn file_source(path: &str) -> Source {
    if path != "-" && std::path::Path::new(path).is_dir() {
        Source::PemDir(path.into())
    } else {
        Source::File(path.to_string())
    }
}

/// `--from [NAME=]FILE`, then `--context [NAME=]CONTEXT`, `--contexts-file` and
/// `--all-contexts`, in that order; a cluster named twice is read once. With none of them,
/// the current context (the in-cluster service account in a pod), as `backup` does.
pub fn audit(a: &AuditArgs, now: DateTime<Utc>) -> Result<commands::audit::Options> {
    let files = a.from.iter().map(|spec| {
        let (name, path) = named(spec);
        (name, file_source(&path))
    });
    let contexts = fleet(&a.contexts, &a.fleet)?;
    let mut sources: Vec<_> = files.chain(contexts).collect();
    if sources.is_empty() {
        sources.push((None, Source::Cluster(current_context(&a.fleet))));
    }
    match (&a.cluster, sources.as_mut_slice()) {
        (None, _) => {}
        (Some(name), [(given, _)]) => *given = Some(name.clone()),
        (Some(_), _) => return Err(FlagError::ClusterForFleet.into()),
    }
    let select = select(&a.select)?;
    let check = with_authority(check(&a.check, now), select.profile.as_deref());
    Ok(commands::audit::Options {
        sources,
        select,
        check,
        strict: a.check.strict,
        parallel: usize::from(a.fleet.parallel),
        report: report_path(&a.report)?,
    })
}

/// The kubeconfig's current context, else the in-cluster service account: the cluster a
/// verb reads when no `--from` nor context flag names one.
fn current_context(a: &FleetArgs) -> ClusterRef {
    ClusterRef {
        kubeconfig: a.kubeconfig.clone(),
        context: None,
        patience: patience(&a.patience),
        loaded: Default::default(),
    }
}

/// The live clusters of `--context [NAME=]CONTEXT`, `--contexts-file` and `--all-contexts`,
/// in that order, each cluster once (by its name, which defaults to the context).
fn fleet(contexts: &[String], a: &FleetArgs) -> Result<Vec<(Option<String>, Source)>> {
    let mut specs = contexts.to_vec();
    if let Some(path) = &a.contexts_file {
        specs.extend(contexts_file(path)?);
    }
    // Every cluster of the fleet shares one reading of the kubeconfig.
    let mut loaded = SharedKubeconfig::default();
    if a.all_contexts {
        let kc = read_kubeconfig(a.kubeconfig.as_deref())?;
        specs.extend(all_contexts(&kc)?);
        loaded = SharedKubeconfig::with(a.kubeconfig.clone(), kc);
    }
    let mut seen = std::collections::BTreeSet::new();
    Ok(specs
        .iter()
        .map(|spec| named(spec))
        .filter(|(name, context)| seen.insert(name.clone().unwrap_or_else(|| context.clone())))
        .map(|(name, context)| {
            let target = ClusterRef {
                kubeconfig: a.kubeconfig.clone(),
                context: Some(context),
                patience: patience(&a.patience),
                loaded: loaded.clone(),
            };
            (name, Source::Cluster(target))
        })
        .collect())
}

/// `--contexts-file`: one `[NAME=]CONTEXT` per line; blank lines and `#` comments skipped.
fn contexts_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io("cannot read", path.to_path_buf(), e))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The kubeconfig `--all-contexts` lists (or `KUBECONFIG`'s files).
fn read_kubeconfig(kubeconfig: Option<&std::path::Path>) -> Result<kube::config::Kubeconfig> {
    match kubeconfig {
        Some(p) => kube::config::Kubeconfig::read_from(p),
        None => kube::config::Kubeconfig::read(),
    }
    .map_err(|e| Error::Usage(format!("--all-contexts: cannot read the kubeconfig ({e})")))
}

/// `--all-contexts`: every context of the kubeconfig.
fn all_contexts(kc: &kube::config::Kubeconfig) -> Result<Vec<String>> {
    let names: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    if names.is_empty() {
        return Err(FlagError::NoContexts.into());
    }
    Ok(names)
}

/// Archive locations as typed (files, directories, `s3://…`, `gs://…`, `az://…`).
fn locations(typed: &[String]) -> Result<Vec<Location>> {
    typed.iter().map(|s| Location::parse(s)).collect()
}

pub fn verify(a: &VerifyArgs, now: DateTime<Utc>) -> Result<commands::verify::Options> {
    let profile = profile(a.profile.as_deref())?;
    let check = with_authority(check(&a.check, now), profile.as_deref());
    Ok(commands::verify::Options {
        identities: identities(&a.decrypt)?,
        trust: trust(&a.trust)?,
        archives: locations(&a.archives)?,
        together: a.together,
        profile,
        check,
        strict: a.check.strict,
        report: report_path(&a.report)?,
    })
}

pub fn restore(a: &RestoreArgs) -> Result<commands::restore::Options> {
    let archive = archive(&a.archive, &a.decrypt, &a.trust)?;
    if a.latest && !archive.location.is_dir() {
        return Err(Error::Usage(format!(
            "--latest needs a directory or prefix (ending in /), not the archive {}",
            archive.location
        )));
    }
    let restore = crate::restore::Options {
        only: a.only.clone(),
        namespace_map: namespace_map(&a.namespace_map)?,
        replace: a.replace,
        allow_rollback: a.allow_rollback,
        include_managed: a.include_managed,
        create_namespaces: a.create_namespaces,
        include_policies: a.include_policies,
        allow_invalid: a.allow_invalid,
    };
    let target = match &a.to_manifests {
        Some(dir) => TargetRef::Manifests(dir.clone()),
        None => TargetRef::Cluster(cluster(&a.cluster_args)),
    };
    Ok(commands::restore::Options {
        archive,
        target,
        restore,
        dry_run: a.dry_run,
        latest: a.latest.then(|| commands::restore::Latest {
            cluster: a.latest_cluster.clone(),
        }),
        restart: a.restart,
    })
}

pub fn list(a: &ListArgs, now: DateTime<Utc>) -> Result<commands::list::Options> {
    let identities = if a.decrypt.identities.is_empty() {
        None
    } else {
        Some(identities(&a.decrypt)?)
    };
    Ok(commands::list::Options {
        dir: Location::parse(&a.dir)?,
        cluster: a.cluster.clone(),
        latest: a.latest,
        identities,
        check: CheckOptions::at(now),
        trust: trust(&a.trust)?,
    })
}

pub fn inspect(archive_spec: &str, decrypt: &DecryptArgs, t: &TrustArgs) -> Result<ArchiveInput> {
    archive(archive_spec, decrypt, t)
}

pub fn export(a: &ExportArgs) -> Result<commands::export::Options> {
    Ok(commands::export::Options {
        archive: archive(&a.archive, &a.decrypt, &a.trust)?,
        dir: a.dir.clone(),
        force: a.force,
        only: a.only.clone(),
    })
}

pub fn prune(a: &PruneArgs) -> Result<commands::prune::Options> {
    let dir = Location::parse(&a.dir)?;
    let policy = retention(&a.retention);
    if policy.is_empty() {
        return Err(FlagError::NoRetentionRule.into());
    }
    Ok(commands::prune::Options {
        dir,
        rules: retention::Rules {
            policy,
            cluster: a.cluster.clone(),
            protect: None,
        },
        dry_run: a.dry_run,
    })
}

pub fn rewrap(a: &RewrapArgs) -> Result<commands::rewrap::Options> {
    let inputs = locations(&a.inputs)?;
    let mut lines = a.recipients.clone();
    for f in &a.recipients_files {
        lines.extend(crypto::recipient_lines(f)?);
    }
    if a.recipients.is_empty() && a.recipients_files.is_empty() {
        return Err(FlagError::RewrapNoRecipient.into());
    }
    let to = EncryptArgs {
        recipients: a.recipients.clone(),
        recipients_files: a.recipients_files.clone(),
        passphrase: false,
        armor: false,
    };
    Ok(commands::rewrap::Options {
        inputs,
        keys: crate::rewrap::Keys {
            identities: identities(&a.decrypt)?,
            encryption: encryption(&to)?,
            stanzas: crypto::expected_stanzas(&lines),
            sign: sign_key(&a.sign)?,
            trust: trust(&a.trust)?,
        },
        dry_run: a.dry_run,
    })
}

/// `--metrics-file` and `--pushgateway`.
pub fn metrics(a: &MetricsArgs) -> Result<MetricsOptions, FlagError> {
    let pushgateway = match &a.pushgateway {
        None => None,
        Some(u) => match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            // Never echo a URL that may hold credentials: only say what was expected.
            _ => return Err(FlagError::Pushgateway(redact_userinfo(u))),
        },
    };
    Ok(MetricsOptions {
        file: a.metrics_file.clone(),
        pushgateway,
    })
}

/// `scheme://user:pass@host` → `scheme://…@host`, for messages.
fn redact_userinfo(u: &str) -> String {
    match (u.find("://"), u.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}…{}", &u[..s + 3], &u[at..]),
        _ => u.to_string(),
    }
}

pub fn sandbox(a: SandboxArgs) -> commands::sandbox::ServeOptions {
    commands::sandbox::ServeOptions {
        load: a.load,
        listen: a.listen,
        kubeconfig_out: a.kubeconfig_out,
        force: a.force,
        context: a.context,
        token: a.token,
        forbid: a.forbid,
        without_crd: a.without_crd,
        faults: a.faults,
        fault_seed: a.fault_seed,
    }
}

/// `pki init`: the design, the birth archives' directory and who opens them, the targets.
pub fn pki_init(a: &PkiInitArgs) -> Result<commands::pki::InitOptions> {
    use crate::issuer::{Architecture, Design, Placement};
    let design = Design {
        architecture: match a.architecture {
            ArchitectureArg::SharedRootSharedIntermediate => {
                Architecture::SharedRootSharedIntermediate
            }
            ArchitectureArg::SharedRootSeparateIntermediates => {
                Architecture::SharedRootSeparateIntermediates
            }
            ArchitectureArg::SeparateRoots => Architecture::SeparateRoots,
        },
        placement: match a.placement {
            PlacementArg::ManagementCluster => Placement::ManagementCluster,
            PlacementArg::Hybrid => Placement::Hybrid,
            PlacementArg::External => Placement::External,
        },
    };
    let clusters: Vec<&String> = std::iter::once(&a.management).chain(&a.workloads).collect();
    let targets = pki_targets(Some(&clusters), &a.target)?;
    // -o is a directory (or prefix) even when it does not exist yet.
    let dir = format!("{}/", a.output.trim_end_matches('/'));
    Ok(commands::pki::InitOptions {
        issue: crate::issuer::InitOptions {
            design,
            management: a.management.clone(),
            workloads: a.workloads.clone(),
            key_type: key_type(a.key_type),
            validity: crate::issuer::Validity {
                root_days: a.root_days,
                intermediate_days: a.intermediate_days,
                cluster_ca_days: a.cluster_ca_days,
                leaf_days: a.leaf_days,
            },
        },
        output: output(&dir, &a.encrypt, &a.sign)?,
        targets,
        create_namespaces: a.create_namespaces,
        dry_run: a.target.dry_run,
        restart: a.target.restart,
    })
}

/// Where `pki init`, `pki rescue` and `pki rotate` put each cluster's secrets; `clusters`: the
/// names a `--context NAME=` may take, when they are known from the flags.
fn pki_targets(clusters: Option<&[&String]>, t: &PkiTargetArgs) -> Result<commands::pki::Targets> {
    let (contexts, kubeconfig) = (&t.contexts, &t.kubeconfig);
    Ok(match (&t.to_manifests, contexts.is_empty()) {
        (Some(dir), _) => commands::pki::Targets::Manifests(dir.clone()),
        (None, true) => commands::pki::Targets::None,
        (None, false) => {
            let mut m = BTreeMap::new();
            let loaded = SharedKubeconfig::default();
            for spec in contexts {
                let (name, context) = named(spec);
                let name = name.unwrap_or_else(|| context.clone());
                if clusters.is_some_and(|c| !c.contains(&&name)) {
                    return Err(FlagError::PkiContext(spec.clone()).into());
                }
                let c = ClusterRef {
                    kubeconfig: kubeconfig.clone(),
                    context: Some(context),
                    patience: patience(&t.patience),
                    loaded: loaded.clone(),
                };
                m.insert(name, c);
            }
            commands::pki::Targets::Clusters(m)
        }
    })
}

/// `pki rescue`: `pki init`'s options for the rescue's design, and the folders.
pub fn pki_rescue(a: &PkiRescueArgs) -> Result<commands::pki::RescueOptions> {
    let clusters: Vec<&String> = std::iter::once(&a.management).chain(&a.workloads).collect();
    let targets = pki_targets(Some(&clusters), &a.target)?;
    let dir = format!("{}/", a.output.trim_end_matches('/'));
    Ok(commands::pki::RescueOptions {
        init: commands::pki::InitOptions {
            issue: crate::issuer::InitOptions {
                design: crate::issuer::RESCUE_DESIGN,
                management: a.management.clone(),
                workloads: a.workloads.clone(),
                key_type: key_type(a.key_type),
                validity: crate::issuer::Validity::default(),
            },
            output: output(&dir, &a.encrypt, &a.sign)?,
            targets,
            create_namespaces: a.create_namespaces,
            dry_run: a.target.dry_run,
            restart: a.target.restart,
        },
        folders: a.folders.clone(),
    })
}

fn key_type(k: KeyTypeArg) -> crate::issuer::KeyType {
    use crate::issuer::KeyType;
    match k {
        KeyTypeArg::P256 => KeyType::P256,
        KeyTypeArg::P384 => KeyType::P384,
        KeyTypeArg::Rsa2048 => KeyType::Rsa2048,
        KeyTypeArg::Rsa4096 => KeyType::Rsa4096,
    }
}

/// `pki rotate`: what and which phase, the archives and keys, the new archives, the targets.
pub fn pki_rotate(a: &PkiRotateArgs) -> Result<commands::pki::RotateOptions> {
    use crate::issuer::{Phase, Rotation};
    let targets = pki_targets(None, &a.target)?;
    let dir = format!("{}/", a.output.trim_end_matches('/'));
    Ok(commands::pki::RotateOptions {
        rotate: crate::issuer::RotateOptions {
            rotation: match a.rotation {
                RotationArg::IstioRoot => Rotation::IstioRoot,
                RotationArg::RelayRoot => Rotation::RelayRoot,
                RotationArg::IstioIntermediate => Rotation::IstioIntermediate,
                RotationArg::RelaySigning => Rotation::RelaySigning,
            },
            phase: a.phase.map(|p| match p {
                PhaseArg::Add => Phase::Add,
                PhaseArg::Switch => Phase::Switch,
                PhaseArg::Remove => Phase::Remove,
            }),
            clusters: a.clusters.clone(),
            key_type: a.key_type.map(key_type),
            validity: crate::issuer::Validity {
                root_days: a.root_days,
                intermediate_days: a.intermediate_days,
                cluster_ca_days: a.cluster_ca_days,
                leaf_days: a.leaf_days,
            },
        },
        archives: locations(&a.from)?,
        identities: identities(&a.decrypt)?,
        trust: trust(&a.trust)?,
        output: output(&dir, &a.encrypt, &a.sign)?,
        targets,
        restart: a.target.restart,
        dry_run: a.target.dry_run,
    })
}

/// `pki reissue`: the role, the archives and keys, the target (a cluster, or DIR/<cluster>).
pub fn pki_reissue(a: &PkiReissueArgs) -> Result<commands::pki::ReissueOptions> {
    use crate::issuer::ReissueRole;
    let role = match a.role {
        ReissueRoleArg::RelayServer => ReissueRole::RelayServer,
        ReissueRoleArg::RelayClient => ReissueRole::RelayClient,
        ReissueRoleArg::IstioCacerts => ReissueRole::IstioCacerts,
    };
    let validity = crate::issuer::Validity {
        cluster_ca_days: a.days,
        leaf_days: a.days,
        ..Default::default()
    };
    let target = match &a.to_manifests {
        Some(dir) => TargetRef::Manifests(dir.clone()),
        None => TargetRef::Cluster(cluster(&a.cluster_args)),
    };
    Ok(commands::pki::ReissueOptions {
        reissue: crate::issuer::ReissueOptions {
            role,
            cluster: a.cluster.clone(),
            key_type: a.key_type.map(key_type),
            validity,
        },
        archives: locations(&a.from)?,
        identities: identities(&a.decrypt)?,
        trust: trust(&a.trust)?,
        target,
        replace: a.replace,
        restart: a.restart,
        dry_run: a.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("trustkeep").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
    }

    /// The live cluster of a source, if it is one: its kubeconfig and context.
    fn live(source: &Source) -> Option<(Option<std::path::PathBuf>, Option<String>)> {
        match source {
            Source::Cluster(c) => Some((c.kubeconfig.clone(), c.context.clone())),
            _ => None,
        }
    }

    /// Every verb that reads a cluster reads the current context (in a pod: the in-cluster
    /// service account) when no flag names one, as the CronJob's `backup` does.
    #[test]
    fn verbs_without_a_cluster_flag_read_the_current_context() {
        let current = Some((None, None));
        let now = Utc::now();
        let Command::Audit(a) = parse(&["audit"]) else {
            panic!()
        };
        let sources = audit(&a, now).unwrap().sources;
        assert_eq!(sources.len(), 1);
        assert_eq!(
            (sources[0].0.clone(), live(&sources[0].1)),
            (None, current.clone())
        );
        let Command::Audit(a) = parse(&["audit", "--kubeconfig", "k", "--cluster", "cluster-1"])
        else {
            panic!()
        };
        let sources = audit(&a, now).unwrap().sources;
        assert_eq!(sources[0].0.as_deref(), Some("cluster-1"));
        assert_eq!(live(&sources[0].1), Some((Some("k".into()), None)));
        // --cluster names one cluster, a file's as well; never several.
        let Command::Audit(a) = parse(&["audit", "--from", "m.yaml", "--cluster", "mgmt"]) else {
            panic!()
        };
        let sources = audit(&a, now).unwrap().sources;
        assert_eq!(sources.len(), 1, "a file given: no live cluster added");
        assert_eq!(sources[0].0.as_deref(), Some("mgmt"));
        let Command::Audit(a) = parse(&[
            "audit",
            "--from",
            "a.yaml",
            "--from",
            "b.yaml",
            "--cluster",
            "x",
        ]) else {
            panic!()
        };
        let e = audit(&a, now).unwrap_err().to_string();
        assert!(e.contains("--cluster names one cluster"), "{e}");
        let Command::Discover(d) = parse(&["discover"]) else {
            panic!()
        };
        assert_eq!(live(&discover(&d).unwrap().source), current);
        let id = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/identities/test-only-age-identity.txt"
        );
        let Command::Restore(r) = parse(&["restore", "a.age", "-i", id, "--dry-run"]) else {
            panic!()
        };
        match restore(&r).unwrap().target {
            TargetRef::Cluster(c) => assert_eq!((c.kubeconfig, c.context), (None, None)),
            TargetRef::Manifests(d) => panic!("{d:?}"),
        }
        let recipient = include_str!("../../fixtures/identities/test-only-age-recipient.txt");
        let Command::Backup(b) = parse(&["backup", "-r", recipient.trim(), "-o", "out/"]) else {
            panic!()
        };
        let sources = backup(&b).unwrap().sources;
        assert_eq!(sources.len(), 1);
        assert_eq!(live(&sources[0].1), current);
    }

    #[test]
    fn named_specs_and_namespace_maps() {
        assert_eq!(named("mgmt=m.yaml"), (Some("mgmt".into()), "m.yaml".into()));
        assert_eq!(named("m.yaml"), (None, "m.yaml".into()));
        assert_eq!(named("dir/a=b.yaml"), (None, "dir/a=b.yaml".into()));
        let m = namespace_map(&["gloo-mesh=drill".into()]).unwrap();
        assert_eq!(m["gloo-mesh"], "drill");
        assert!(namespace_map(&["x".into()]).is_err());
        assert_eq!(
            Error::from(namespace_map(&["A=b".into()]).unwrap_err()).to_string(),
            "--namespace-map A=b: expected FROM=TO, two namespace names"
        );
    }
}
