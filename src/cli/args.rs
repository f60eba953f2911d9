//! What the user typed: the clap structs of every command and flag, and nothing else. Their
//! meaning (keys read, sources and targets built, conflicts refused) is [`super::resolve`]'s.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use trustkeep_sandbox::Forbid;

use crate::checks::DEFAULT_WARN_DAYS;
use crate::gloo::DEFAULT_NAMESPACE;

/// Keep a Gloo Mesh Enterprise trust setup recoverable: back up, verify and restore the relay
/// and root-trust secrets.
#[derive(Debug, Parser)]
#[command(name = "trustkeep", version, about, max_term_width = 100)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). Logs never contain secret values.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand's arguments, declared to clap only when that subcommand is the one given:
/// building every flag of every command took half a millisecond of each run
/// (`trustkeep backup` is a CronJob's whole job; see the README's Performance). Reads as
/// the arguments themselves.
#[derive(Debug)]
pub struct Lazy<T>(T);

impl<T> Lazy<T> {
    /// The arguments, by value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }
    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up a cluster's trust secrets into an encrypted archive.
    Backup(Lazy<Box<BackupArgs>>),
    /// Show what an archive holds, after checking its integrity.
    Inspect(Lazy<InspectArgs>),
    /// Write an archive's files to a directory (the only way to get plaintext on disk).
    Export(Lazy<ExportArgs>),
    /// Archive folders made by the manual backup procedure, checking their keys.
    Import(Lazy<ImportArgs>),
    /// Generate an age identity for encrypting archives.
    Keygen(Lazy<KeygenArgs>),
    /// Check archives: integrity, then every chain, key and expiry.
    Verify(Lazy<VerifyArgs>),
    /// Check the trust secrets of one or more clusters as they are now.
    Audit(Lazy<AuditArgs>),
    /// Learn a setup's secret names and relay mode from its Helm release, Deployments and
    /// Certificates: print a profile (or, with --emit-role, the Role that backs it up).
    Discover(Lazy<DiscoverArgs>),
    /// Restore secrets from an archive into a cluster, with a plan first.
    Restore(Lazy<RestoreArgs>),
    /// Serve a sandbox Kubernetes API (secrets, RootTrustPolicies, Deployments, Certificates)
    /// for tests and restore drills.
    Sandbox(Lazy<SandboxArgs>),
    /// Run the whole backup → loss → restore story on an embedded sandbox, in under a second.
    Demo(Lazy<DemoArgs>),
    /// Delete old archives of a backup directory, keeping the newest per cluster.
    Prune(Lazy<PruneArgs>),
    /// List the archives of a directory or prefix per cluster (with -i: which verify).
    List(Lazy<ListArgs>),
    /// Encrypt archives again for new recipients (a key was lost, someone left), in memory,
    /// replacing each with its sidecar and signature; with a plan first.
    Rewrap(Lazy<RewrapArgs>),
    /// Rebuild trust that was not saved: make every key and certificate of a new setup
    /// (init), or issue one lost certificate again under the CA that issued it (reissue).
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Print the manual page (roff), e.g. `trustkeep man > /usr/local/share/man/man1/trustkeep.1`.
    Man,
    /// Print a shell completion script (e.g. `trustkeep completions bash > /etc/bash_completion.d/trustkeep`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The directory or object prefix (`s3://bucket/prefix/`, `gs://…`, `az://container/…`)
    /// that `backup -o` writes to.
    #[arg(value_name = "DIR")]
    pub dir: String,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Only this cluster's archives.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct RewrapArgs {
    /// Archives, or directories and object prefixes (`s3://bucket/prefix/`, `gs://…`,
    /// `az://container/…`) whose every `*.age` is re-encrypted.
    #[arg(value_name = "DIR|ARCHIVE", required = true)]
    pub inputs: Vec<String>,
    /// The keys that open the archives now.
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    /// The new recipient: an age recipient (age1…), an age plugin's (age1yubikey1…: a key held
    /// in hardware, age-plugin-NAME on PATH) or SSH public key. Repeatable.
    #[arg(short = 'r', long = "recipient", value_name = "KEY")]
    pub recipients: Vec<String>,
    /// Every new recipient listed in FILE (one per line). Repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
    #[command(flatten)]
    pub sign: SignArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The directory or object prefix (`s3://bucket/prefix/`, `gs://…`, `az://container/…`)
    /// that `backup -o` writes to.
    #[arg(value_name = "STORE")]
    pub dir: String,
    /// Also open and check each archive (the verify verdict).
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Only the newest archive of each cluster; with -i (or --trusted-signers), the newest
    /// that verifies (whose origin is trusted).
    #[arg(long)]
    pub latest: bool,
    /// Only this cluster's archives.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

/// Retention rules, as restic `forget` defines them (per cluster; the newest archive of a
/// cluster is always kept).
#[derive(Debug, Args, Default)]
pub struct RetentionArgs {
    /// Keep the newest N archives.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep the newest archive of each of the last N hours (UTC) that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<usize>,
    /// Keep the newest archive of each of the last N days that have one.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,
    /// Keep the newest archive of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,
    /// Keep the newest archive of each of the last N months that have one.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<usize>,
    /// Keep the newest archive of each of the last N years that have one.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<usize>,
    /// Keep every archive younger than DURATION (1y6m, 30d, 48h; a bare number is days),
    /// counted from the cluster's newest archive.
    #[arg(long, value_name = "DURATION", value_parser = crate::retention::Within::parse)]
    pub keep_within: Option<crate::retention::Within>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's identity, kubeconfig and archive in DIR (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Which live cluster to use.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, then the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    #[command(flatten)]
    pub patience: PatienceArgs,
}

/// How long to wait for a cluster.
#[derive(Debug, Args)]
pub struct PatienceArgs {
    /// Give up on one API request after DURATION (500ms, 30s, 2m). Reads that time out, are
    /// cut off or are answered 429 or 5xx are tried again with backoff, 4 attempts in all;
    /// a write whose outcome is unknown is read back first.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,
    /// Give up on a cluster after DURATION in all (default: no limit).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// Who can open the archive.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Encrypt to this age recipient (age1…), age plugin recipient (age1yubikey1…: a key held in
    /// hardware, age-plugin-NAME on PATH) or SSH public key (ssh-ed25519, ssh-rsa). Repeatable.
    #[arg(short = 'r', long = "recipient", value_name = "KEY")]
    pub recipients: Vec<String>,
    /// Encrypt to every recipient listed in FILE (one per line). Repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
    /// Encrypt with a passphrase, read from TRUSTKEEP_PASSPHRASE or asked on the terminal.
    #[arg(long, conflicts_with_all = ["recipients", "recipients_files"])]
    pub passphrase: bool,
    /// Write ASCII-armored age output.
    #[arg(short, long)]
    pub armor: bool,
}

/// Which signers to trust (every verb that opens an archive).
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Trust only archives signed (`<archive>.sig`, namespace trustkeep) by a key this
    /// OpenSSH allowed_signers FILE lists for now: any other archive (unsigned, signed by
    /// another key, in another namespace, outside the key's valid-after/valid-before, or over
    /// other bytes) is refused before it is decrypted. Without it, nothing is refused and the
    /// origin is reported unverified.
    #[arg(long, value_name = "FILE", env = "TRUSTKEEP_TRUSTED_SIGNERS")]
    pub trusted_signers: Option<PathBuf>,
    /// With --trusted-signers: also admit archives that have no signature at all (one whose
    /// signature fails is still refused).
    #[arg(long)]
    pub allow_unsigned: bool,
}

/// Which key signs new archives.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sign each archive with this OpenSSH Ed25519 private key (unencrypted:
    /// `ssh-keygen -t ed25519 -N '' -f FILE`), writing `<archive>.sig` beside it, which
    /// `ssh-keygen -Y verify -n trustkeep` and `--trusted-signers` check.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
}

/// Which keys can open an archive.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// An age identity file (AGE-SECRET-KEY-1… or, held in hardware, AGE-PLUGIN-NAME-1… lines
    /// with age-plugin-NAME on PATH) or unencrypted SSH private key. Repeatable.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
}

/// Which secrets to take from a source.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Namespace of the Gloo Mesh relay secrets.
    #[arg(short, long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Also take this secret: NAME (in --namespace) or NAMESPACE/NAME. Repeatable.
    #[arg(long, value_name = "SECRET")]
    pub include: Vec<String>,
    /// The cluster's side, instead of inferring it from the secrets found.
    #[arg(long, value_enum)]
    pub cluster_kind: Option<KindArg>,
    /// Select the secrets a profile names (made by `trustkeep discover`) instead of the
    /// default names; roles it marks absent by design are not missing.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Read the setup from FILE, as printed by `kubectl get
    /// secret,roottrustpolicy,deployment,certificates.cert-manager.io -o yaml` (`-` for
    /// stdin), instead of from the live cluster.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kubeconfig", "context"])]
    pub from: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace of the Gloo Helm releases and relay secrets.
    #[arg(short, long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Write the profile to FILE (mode 0600) instead of standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Output format: YAML (table) or JSON.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
    /// Print (or write with -o) the Roles and RoleBindings granting exactly the profile's
    /// rbac to --service-account, as YAML for `kubectl apply -f -`, instead of the profile.
    #[arg(long)]
    pub emit_role: bool,
    /// The ServiceAccount --emit-role binds: NAMESPACE/NAME (the packaged one by default).
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "gloo-mesh/trustkeep",
        requires = "emit_role"
    )]
    pub service_account: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Management,
    Workload,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Read secrets from FILE, as printed by `kubectl get secret -o yaml|json` (`-` for stdin),
    /// instead of from the live cluster.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["kubeconfig", "contexts", "all_contexts", "contexts_file"]
    )]
    pub from: Option<String>,
    /// A live cluster: [NAME=]CONTEXT of the kubeconfig (default: the current context).
    /// Repeatable: several clusters are read concurrently, one archive each, into the
    /// directory or prefix of -o; NAME (default: the context) is recorded as with --cluster.
    #[arg(long = "context", value_name = "[NAME=]CONTEXT")]
    pub contexts: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// The cluster's name as Gloo Mesh knows it, recorded in the archive (default: the file's
    /// stem or the context). One cluster only.
    #[arg(long)]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    #[command(flatten)]
    pub sign: SignArgs,
    /// Archive file to write, or a directory (or an `s3://`, `gs://` or `az://` prefix) to
    /// name it in (<cluster>-<UTC time>.tar.gz.age).
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub output: String,
    /// After a complete backup into a directory, prune this cluster's archives there with
    /// these rules (see `trustkeep prune`).
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The archive: a file or `s3://bucket/key` (or `gs://bucket/key`, `az://container/key`).
    pub archive: String,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The archive: a file or `s3://bucket/key` (or `gs://bucket/key`, `az://container/key`).
    pub archive: String,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Directory to write into (created 0700 if absent).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Write into a non-empty directory, overwriting files of the same name.
    #[arg(long)]
    pub force: bool,
    /// Only this secret (NAME or NAMESPACE/NAME). Repeatable.
    #[arg(long, value_name = "SECRET")]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Folders made by the manual procedure: one secret's folder, or a folder of them.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Namespace the secrets belong to.
    #[arg(short, long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The cluster's name, recorded in the archive.
    #[arg(long, default_value = "import")]
    pub cluster: String,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    #[command(flatten)]
    pub sign: SignArgs,
    /// Archive file to write, or a directory (or an `s3://`, `gs://` or `az://` prefix) to name
    /// it in.
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub output: String,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the identity to FILE (mode 0600; never overwritten). Default: standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Options shared by the checking commands.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check as of this time (RFC 3339), e.g. to ask what breaks next month. Default: now.
    #[arg(long, value_name = "RFC3339", value_parser = super::resolve::parse_time)]
    pub at: Option<DateTime<Utc>>,
    /// Warn about certificates expiring within this many days.
    #[arg(long, default_value_t = DEFAULT_WARN_DAYS, value_name = "DAYS")]
    pub warn_days: u32,
    /// Count warnings as errors for the exit status.
    #[arg(long)]
    pub strict: bool,
    /// Warn about leaf certificates valid for longer than this many days (lint.validity-too-long).
    #[arg(long, value_name = "DAYS")]
    pub max_leaf_validity_days: Option<u32>,
    /// Accept the warnings of this check id (repeatable), e.g. setup.generated-root for a
    /// setup that keeps Gloo's generated roots on purpose: they are reported as info and no
    /// longer fail --strict. Errors are never accepted.
    #[arg(long, value_name = "CHECK", value_parser = super::resolve::parse_check_id)]
    pub accept: Vec<crate::check_id::CheckId>,
    /// The name agents dial the relay server by (the agent chart's relay.authority): the
    /// relay server's certificate must be valid for it, as Go's TLS client checks (default:
    /// the --profile's, else gloo-mesh-mgmt-server.gloo-mesh).
    #[arg(long, value_name = "NAME")]
    pub relay_authority: Option<String>,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Archives, or directories / object prefixes (`s3://`, `gs://`, `az://`) of archives (*.age).
    #[arg(required = true, value_name = "ARCHIVE")]
    pub archives: Vec<String>,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Check the archives as one trust setup (one cluster each: management and workloads),
    /// adding the cross-cluster checks, instead of one by one.
    #[arg(long)]
    pub together: bool,
    /// The cluster's profile (made by `trustkeep discover`): the report names its relay mode,
    /// and each secret it names that an archive lacks is `profile.drift`. A profile describes
    /// one cluster: verify that cluster's archives with it.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A cluster's secrets: [NAME=]FILE as printed by kubectl get -o yaml|json, or
    /// [NAME=]DIR of PEM files, a folder per role (relay-server/tls.crt, istio-cacerts/ca-cert.pem,
    /// ...) to check a bring-your-own set before it becomes Secrets. Repeatable; NAME
    /// (default: the file's or directory's name) must be the cluster's registered name.
    #[arg(long = "from", value_name = "[NAME=]FILE|DIR")]
    pub from: Vec<String>,
    /// A live cluster: [NAME=]CONTEXT of the kubeconfig. Repeatable; NAME defaults to the
    /// context. With no --from nor any context flag: the current context (in a pod, the
    /// in-cluster service account).
    #[arg(long = "context", value_name = "[NAME=]CONTEXT")]
    pub contexts: Vec<String>,
    /// The cluster's name as Gloo Mesh knows it (default: the file's stem or the context).
    /// One cluster only.
    #[arg(long)]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Many live clusters at once.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, then the in-cluster service
    /// account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Every context of the kubeconfig, each named after its context.
    #[arg(long)]
    pub all_contexts: bool,
    /// The contexts listed in FILE, one `[NAME=]CONTEXT` per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub contexts_file: Option<PathBuf>,
    #[command(flatten)]
    pub patience: PatienceArgs,
    /// Read at most N clusters at the same time.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
}

/// The auditor's evidence.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Also write a self-contained report: FILE.html (trust graph, expiry timeline,
    /// findings, inventory) or FILE.md (the same as Markdown, with a Mermaid diagram).
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive: a file or `s3://bucket/key` (or `gs://bucket/key`, `az://container/key`).
    pub archive: String,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// Only this secret (NAME or NAMESPACE/NAME, as archived). Repeatable.
    #[arg(long, value_name = "SECRET")]
    pub only: Vec<String>,
    /// Restore secrets of namespace FROM into namespace TO. Repeatable.
    #[arg(long, value_name = "FROM=TO")]
    pub namespace_map: Vec<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite secrets that exist and differ (delete and create when the type differs).
    #[arg(long)]
    pub replace: bool,
    /// Restore even if the archived secrets fail the checks.
    #[arg(long)]
    pub allow_invalid: bool,
    /// With --replace, put archived certificates even over newer live ones (undoing a
    /// rotation: agents and workloads that already trust the new certificates break).
    #[arg(long, requires = "replace")]
    pub allow_rollback: bool,
    /// Also restore secrets a controller keeps up to date (cert-manager Certificates, Gloo's
    /// cert-agent for istio-system/cacerts); without it they are planned as `managed` and
    /// left to that controller.
    #[arg(long)]
    pub include_managed: bool,
    /// Create target namespaces that do not exist (restoring into a cluster rebuilt from
    /// nothing, before Gloo Mesh is installed); without it a missing namespace is refused.
    #[arg(long, conflicts_with = "to_manifests")]
    pub create_namespaces: bool,
    /// Also restore the archive's RootTrustPolicies (created, or replaced with --replace);
    /// without it the plan only says how many the archive holds (usually GitOps config).
    #[arg(long)]
    pub include_policies: bool,
    /// Write the secrets as YAML manifests under DIR (files 0600) instead of into a cluster.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kubeconfig", "context", "replace"])]
    pub to_manifests: Option<PathBuf>,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
    /// ARCHIVE is a directory or prefix: restore its newest archive that verifies.
    #[arg(long)]
    pub latest: bool,
    /// With --latest: the cluster whose archive to take (as in archive names), when the
    /// directory holds several.
    #[arg(long = "cluster", value_name = "NAME", requires = "latest")]
    pub latest_cluster: Option<String>,
    /// After restoring, restart the Deployments that read the secrets written, in order:
    /// gloo-mesh-mgmt-server (relay and root-trust secrets), gloo-mesh-agent (an agent's),
    /// istiod (cacerts); as `kubectl rollout restart` does.
    #[arg(long, conflicts_with = "to_manifests")]
    pub restart: bool,
}

/// How logs look on stderr.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log format: `text` for people, `json` (one JSON object per line) for log collectors.
    /// Colour only when stderr is a terminal and NO_COLOR is unset.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub log_format: LogFormatArg,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    #[default]
    Text,
    Json,
}

/// Where `backup`, `verify` and `audit` report metrics.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Write Prometheus metrics to FILE, atomically (for node-exporter's textfile collector:
    /// FILE ends in .prom and lies in its directory; one file per command).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Push Prometheus metrics to the Pushgateway at URL (e.g. http://pushgateway:9091),
    /// job "trustkeep", grouped by command (and cluster, for backup).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
}

/// `--output` of reporting commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Human-readable tables.
    #[default]
    Table,
    /// One JSON document on standard output.
    Json,
}

/// Run a local, in-memory Kubernetes API server (HTTPS) holding trust secrets, for demos and
/// restore drills.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Serve the objects in FILE: YAML or JSON Secrets, Namespaces, RootTrustPolicies,
    /// Deployments, cert-manager Certificates or Lists of them. Repeatable.
    #[arg(long = "load", value_name = "FILE")]
    pub load: Vec<PathBuf>,
    /// Listen on ADDR (port 0 picks a free port). An address other than loopback makes the
    /// sandbox reachable from the network (a warning is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write a kubeconfig for the sandbox to PATH (mode 0600), which must not exist unless
    /// --force is given; default: a temporary file removed on exit.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Replace the --kubeconfig-out file if it exists (a symlink is replaced, not followed).
    #[arg(long, requires = "kubeconfig_out")]
    pub force: bool,
    /// Name of the kubeconfig's cluster, user and context.
    #[arg(long, value_name = "NAME", default_value = "trustkeep-sandbox")]
    pub context: String,
    /// Bearer token clients must present; random by default.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRUSTKEEP_SANDBOX_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Answer 403 to matching requests: VERB:RESOURCE[:NAMESPACE[/NAME]], e.g. list:secrets
    /// or get:secrets:gloo-mesh/relay-server-tls-secret. Repeatable.
    #[arg(long = "forbid", value_name = "RULE")]
    pub forbid: Vec<Forbid>,
    /// Serve no admin.gloo.solo.io or cert-manager.io API group, like a cluster without the
    /// Gloo Mesh and cert-manager CRDs.
    #[arg(long)]
    pub without_crd: bool,
    /// Inject a fault: SCOPE=ACTION[xTIMES][@PROBABILITY], SCOPE as for --forbid, ACTION one
    /// of 500, 502, 503, 504, 409, 429[+SECONDS] (Retry-After), delay+MS, reset (cut the
    /// response off halfway), timeout (never answer). E.g. list:secrets=503x2,
    /// create:secrets=reset@0.3. Repeatable; the first rule that fires wins.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<trustkeep_sandbox::Fault>,
    /// Seed of the draws of --fault rules with a probability (the same seed and order of
    /// requests give the same faults).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_seed: u64,
}

/// `trustkeep pki`.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Make every CA, key and certificate of a new setup (one of the seed document's
    /// architectures and placements), write each cluster's birth archive and profile, and put
    /// the secrets in place (--to-manifests or --context; created, never over anything).
    Init(Lazy<Box<PkiInitArgs>>),
    /// Issue a lost certificate again (relay-server, relay-client or istio-cacerts) under the
    /// CA an archive holds, with the same subject and DNS names, so nothing else must change.
    Reissue(Lazy<Box<PkiReissueArgs>>),
    /// Rebuild a working setup from the seed document's manual backup folders: keep what was
    /// saved whole (the Istio root), find a saved key's certificate elsewhere in the folders,
    /// re-issue what a saved CA can, replace what cannot be recovered (the relay PKI), and
    /// write birth archives as pki init does.
    Rescue(Lazy<Box<PkiRescueArgs>>),
    /// Rotate a root without an outage, one phase at a time (add: trust both roots; switch:
    /// issue from the new one, cluster by cluster; remove: drop the old one), or an Istio
    /// intermediate in one step; each phase a plan applied as a restore is, with a new archive
    /// of each cluster it changes.
    Rotate(Lazy<Box<PkiRotateArgs>>),
}

/// What `pki rotate` rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RotationArg {
    /// The Istio root (every cacerts root-cert.pem, the RootTrustPolicy's CAs).
    IstioRoot,
    /// The relay root (every relay ca.crt, the server and signing CA, the agents).
    RelayRoot,
    /// Workload clusters' Istio intermediates, under the same root (--cluster; no phase).
    IstioIntermediate,
    /// The relay signing CA and the server certificate, under the same root (no phase).
    RelaySigning,
}

/// A phase of a root rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    /// Trust the new root beside the old one in every bundle.
    Add,
    /// Issue from the new root (--cluster: these clusters only).
    Switch,
    /// Drop the old root everywhere (once every cluster has switched).
    Remove,
}

/// The seed's certificate architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchitectureArg {
    /// One root and one intermediate CA for the relay and Istio.
    SharedRootSharedIntermediate,
    /// One root, separate intermediate CAs for the relay and Istio.
    SharedRootSeparateIntermediates,
    /// Separate roots (and intermediates) for the relay and Istio.
    SeparateRoots,
}

/// The seed's placements of the CAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlacementArg {
    /// Roots and intermediates in the management cluster (the seed: "such as for demo setups").
    ManagementCluster,
    /// Roots outside, intermediates in the management cluster: Gloo Mesh keeps issuing.
    Hybrid,
    /// Every CA outside the clusters: Gloo Mesh issues nothing.
    External,
}

/// Key types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyTypeArg {
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
    /// RSA 2048.
    Rsa2048,
    /// RSA 4096 (the seed document's; slow to generate).
    Rsa4096,
}

/// What `pki reissue` issues again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReissueRoleArg {
    /// The management server's relay-server-tls-secret.
    RelayServer,
    /// A workload cluster agent's relay-client-tls-secret.
    RelayClient,
    /// A workload cluster's Istio intermediate, istio-system/cacerts.
    IstioCacerts,
}

/// Where `pki init`, `pki rescue` and `pki rotate` put the secrets they make: manifests, or
/// live clusters (then optionally restarted); a dry run writes nothing.
#[derive(Debug, Args)]
pub struct PkiTargetArgs {
    /// Write each cluster's secrets as YAML manifests under DIR/<cluster>/ (files 0600; all
    /// clusters or none).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["contexts", "kubeconfig", "restart"])]
    pub to_manifests: Option<PathBuf>,
    /// Write each cluster's secrets into a live cluster: NAME=CONTEXT of the kubeconfig, NAME
    /// a cluster of the setup (--management, --workload, or the archives'). Repeatable.
    #[arg(long = "context", value_name = "NAME=CONTEXT")]
    pub contexts: Vec<String>,
    /// Kubeconfig file for --context.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    pub patience: PatienceArgs,
    /// Then restart what reads the secrets written (gloo-mesh-mgmt-server, gloo-mesh-agent,
    /// istiod), as `kubectl rollout restart` does.
    #[arg(long)]
    pub restart: bool,
    /// Make and plan everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PkiInitArgs {
    /// How many roots and intermediates (the seed's "Certificate setup architectures").
    #[arg(long, value_enum)]
    pub architecture: ArchitectureArg,
    /// Where the CAs' private keys are kept.
    #[arg(long, value_enum)]
    pub placement: PlacementArg,
    /// The management cluster's name as registered in Gloo Mesh.
    #[arg(long, value_name = "NAME")]
    pub management: String,
    /// A workload cluster's name as registered in Gloo Mesh (its agent certificate's DNS
    /// name). Repeatable; at least one.
    #[arg(long = "workload", value_name = "NAME", required = true)]
    pub workloads: Vec<String>,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    #[command(flatten)]
    pub sign: SignArgs,
    /// Directory (or `s3://`, `gs://`, `az://` prefix) for the birth archives and profiles.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub output: String,
    #[command(flatten)]
    pub target: PkiTargetArgs,
    /// Create namespaces missing in the target clusters (gloo-mesh, istio-system).
    #[arg(long, conflicts_with = "to_manifests")]
    pub create_namespaces: bool,
    /// Key type of every key.
    #[arg(long, value_enum, default_value = "p256")]
    pub key_type: KeyTypeArg,
    /// Validity of the root CAs, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 3650)]
    pub root_days: u32,
    /// Validity of the intermediate CAs that issue (relay signing CA, Istio issuing CA), in days.
    #[arg(long, value_name = "DAYS", default_value_t = 1825)]
    pub intermediate_days: u32,
    /// Validity of each workload cluster's Istio intermediate (cacerts), in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub cluster_ca_days: u32,
    /// Validity of the relay server and agent certificates, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub leaf_days: u32,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct PkiRescueArgs {
    /// The folders the manual procedure left: a folder of secret folders, or secret folders
    /// (relay-server-tls-secret/, relay-tls-signing-secret/, root-trust.<policy>/).
    #[arg(value_name = "SEED_DIR", required = true)]
    pub folders: Vec<PathBuf>,
    /// The management cluster's name as registered in Gloo Mesh.
    #[arg(long, value_name = "NAME")]
    pub management: String,
    /// A workload cluster's name as registered in Gloo Mesh. Repeatable; at least one.
    #[arg(long = "workload", value_name = "NAME", required = true)]
    pub workloads: Vec<String>,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    #[command(flatten)]
    pub sign: SignArgs,
    /// Directory (or `s3://`, `gs://`, `az://` prefix) for the birth archives and profiles.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub output: String,
    #[command(flatten)]
    pub target: PkiTargetArgs,
    /// Create namespaces missing in the target clusters (gloo-mesh, istio-system).
    #[arg(long, conflicts_with = "to_manifests")]
    pub create_namespaces: bool,
    /// Key type of every new key (kept keys keep theirs).
    #[arg(long, value_enum, default_value = "p256")]
    pub key_type: KeyTypeArg,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct PkiReissueArgs {
    /// The certificate to issue again.
    #[arg(value_enum)]
    pub role: ReissueRoleArg,
    /// The cluster it belongs to, as registered in Gloo Mesh.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// An archive holding the CA with its key (the management cluster's birth archive, or a
    /// backup of it), and optionally one holding the old certificate. Repeatable.
    #[arg(long = "from", value_name = "ARCHIVE", required = true)]
    pub from: Vec<String>,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// Write the secret as a YAML manifest under DIR/<cluster>/ instead of into a cluster.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kubeconfig", "context", "replace"])]
    pub to_manifests: Option<PathBuf>,
    /// The new key's type (default: the old certificate's, else the CA's).
    #[arg(long, value_enum)]
    pub key_type: Option<KeyTypeArg>,
    /// Validity of the new certificate, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub days: u32,
    /// Replace the secret if the cluster still has one.
    #[arg(long)]
    pub replace: bool,
    /// Then restart the Deployment that reads it (gloo-mesh-mgmt-server, gloo-mesh-agent or
    /// istiod), as `kubectl rollout restart` does.
    #[arg(long, conflicts_with = "to_manifests")]
    pub restart: bool,
    /// Issue and plan, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct PkiRotateArgs {
    /// What to rotate.
    #[arg(value_enum)]
    pub rotation: RotationArg,
    /// The phase (roots only).
    #[arg(long, value_enum)]
    pub phase: Option<PhaseArg>,
    /// Switch (or, for istio-intermediate, re-issue) only this cluster, as registered in Gloo
    /// Mesh. Repeatable; default: every cluster still to switch.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Archives (or directories of them) of the clusters: each cluster's newest is its state;
    /// the management cluster's birth archive (or the previous phase's) holds the offline CA
    /// keys. Repeatable.
    #[arg(long = "from", value_name = "ARCHIVE", required = true)]
    pub from: Vec<String>,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    #[command(flatten)]
    pub sign: SignArgs,
    /// Directory (or `s3://`, `gs://`, `az://` prefix) for each changed cluster's new archive.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub output: String,
    #[command(flatten)]
    pub target: PkiTargetArgs,
    /// The new keys' type (default: the old root's).
    #[arg(long, value_enum)]
    pub key_type: Option<KeyTypeArg>,
    /// Validity of a new root, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 3650)]
    pub root_days: u32,
    /// Validity of a new issuing intermediate (relay signing CA, Istio issuing CA), in days.
    #[arg(long, value_name = "DAYS", default_value_t = 1825)]
    pub intermediate_days: u32,
    /// Validity of a workload cluster's new Istio intermediate, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub cluster_ca_days: u32,
    /// Validity of a new relay server or agent certificate, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub leaf_days: u32,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: FormatArg,
}
