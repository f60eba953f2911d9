//! The command line: what the user typed (clap structs) and turning it into what it means
//! (options, keys, sources), then calling one command and rendering its result.
//!
//! This is the only module that reads the clock, the environment or the terminal; everything
//! below it gets them as arguments.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use age::secrecy::SecretString;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::archive::{crypto, Encryption, Identities};
use crate::commands;
use crate::error::{Error, Result};
use crate::render::OutputFormat;
use crate::select::{ClusterKind, SelectOptions, DEFAULT_NAMESPACE};
use crate::source;
use crate::store::{Location, Store};
use crate::Outcome;

/// Environment variable holding a passphrase for `--passphrase` archives.
pub const PASSPHRASE_ENV: &str = "TRUSTKEEP_PASSPHRASE";

/// Keep a Gloo Mesh Enterprise trust setup recoverable: back up, verify and restore the relay
/// and root-trust secrets.
#[derive(Debug, Parser)]
#[command(name = "trustkeep", version, about, max_term_width = 100)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). Logs never contain secret values.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up a cluster's trust secrets into an encrypted archive.
    Backup(BackupArgs),
    /// Show what an archive holds, after checking its integrity.
    Inspect(InspectArgs),
    /// Write an archive's files to a directory (the only way to get plaintext on disk).
    Export(ExportArgs),
    /// Archive folders made by the manual backup procedure, checking their keys.
    Import(ImportArgs),
    /// Generate an age identity for encrypting archives.
    Keygen(KeygenArgs),
    /// Check archives: integrity, then every chain, key and expiry.
    Verify(VerifyArgs),
    /// Check the trust secrets of one or more clusters as they are now.
    Audit(AuditArgs),
    /// Restore secrets from an archive into a cluster, with a plan first.
    Restore(RestoreArgs),
    /// Serve a sandbox Kubernetes API (secrets, RootTrustPolicies) for tests and restore drills.
    Sandbox(commands::sandbox::SandboxArgs),
    /// Run the whole backup → loss → restore story on an embedded sandbox, in a few seconds.
    Demo(DemoArgs),
    /// Delete old archives of a backup directory, keeping the newest per cluster.
    Prune(PruneArgs),
    /// Print a shell completion script (e.g. `trustkeep completions bash > /etc/bash_completion.d/trustkeep`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The directory or `s3://bucket/prefix/` that `backup -o` writes to.
    #[arg(value_name = "DIR")]
    pub dir: String,
    /// Keep the newest N archives of each cluster (at least 1 is always kept).
    #[arg(long, value_name = "N")]
    pub keep_last: usize,
    /// Also keep every archive younger than DAYS days.
    #[arg(long, value_name = "DAYS")]
    pub keep_within: Option<u32>,
    /// Only this cluster's archives.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
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
}

impl ClusterArgs {
    fn target(&self) -> crate::cluster::Target {
        crate::cluster::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// Who can open the archive.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Encrypt to this age recipient (age1…) or SSH public key (ssh-ed25519, ssh-rsa). Repeatable.
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

/// Which keys can open an archive.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// An age identity file or unencrypted SSH private key. Repeatable.
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Management,
    Workload,
}

impl SelectArgs {
    fn options(&self) -> SelectOptions {
        SelectOptions {
            namespace: self.namespace.clone(),
            include: self.include.clone(),
            kind: self.cluster_kind.map(|k| match k {
                KindArg::Management => ClusterKind::Management,
                KindArg::Workload => ClusterKind::Workload,
            }),
        }
    }
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Read secrets from FILE, as printed by `kubectl get secret -o yaml|json` (`-` for stdin),
    /// instead of from the live cluster.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kubeconfig", "context"])]
    pub from: Option<String>,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// The cluster's name as Gloo Mesh knows it, recorded in the archive (default: the file's
    /// stem or the context).
    #[arg(long)]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    /// Archive file to write, or a directory (or `s3://bucket/prefix/`) to name it in
    /// (<cluster>-<UTC time>.tar.gz.age).
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub output: String,
    /// After a successful backup into a directory, delete this cluster's archives there
    /// beyond the newest N (see `trustkeep prune`).
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The archive: a file or `s3://bucket/key`.
    pub archive: String,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The archive: a file or `s3://bucket/key`.
    pub archive: String,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
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
    /// Archive file to write, or a directory (or `s3://bucket/prefix/`) to name it in.
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub output: String,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
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
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
    /// Warn about certificates expiring within this many days.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub warn_days: u32,
    /// Count warnings as errors for the exit status.
    #[arg(long)]
    pub strict: bool,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Archives, or directories / `s3://bucket/prefix/` of archives (*.age).
    #[arg(required = true, value_name = "ARCHIVE")]
    pub archives: Vec<String>,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
    /// Check the archives as one trust setup (one cluster each: management and workloads),
    /// adding the cross-cluster checks, instead of one by one.
    #[arg(long)]
    pub together: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A cluster's secrets: [NAME=]FILE as printed by kubectl get -o yaml|json. Repeatable;
    /// NAME (default: the file's stem) must be the cluster's registered name.
    #[arg(
        long = "from",
        value_name = "[NAME=]FILE",
        required_unless_present = "contexts"
    )]
    pub from: Vec<String>,
    /// A live cluster: [NAME=]CONTEXT of the kubeconfig. Repeatable; NAME defaults to the
    /// context.
    #[arg(long = "context", value_name = "[NAME=]CONTEXT")]
    pub contexts: Vec<String>,
    /// Kubeconfig file for --context.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

impl CheckArgs {
    fn options(&self, now: DateTime<Utc>) -> crate::checks::CheckOptions {
        crate::checks::CheckOptions {
            at: self.at.unwrap_or(now),
            warn_days: self.warn_days,
        }
    }
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive: a file or `s3://bucket/key`.
    pub archive: String,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
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
    /// Write the secrets as YAML manifests under DIR (files 0600) instead of into a cluster.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kubeconfig", "context", "replace"])]
    pub to_manifests: Option<PathBuf>,
    /// Report format.
    #[arg(long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// A tokio runtime for the commands that talk to clusters.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", "tokio", e))
}

fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time such as 2026-12-01T00:00:00Z ({e})"))
}

/// Reads a passphrase from the environment, or from the terminal when there is one.
fn passphrase_from_world(confirm: bool) -> Option<SecretString> {
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

fn encryption(args: &EncryptArgs) -> Result<Encryption> {
    if args.passphrase {
        let p = passphrase_from_world(true).ok_or_else(|| {
            Error::Usage(format!(
                "--passphrase needs {PASSPHRASE_ENV} set or a terminal to ask on"
            ))
        })?;
        return Ok(Encryption::Passphrase(p));
    }
    let mut rs = Vec::new();
    for r in &args.recipients {
        rs.push(crypto::parse_recipient(r)?);
    }
    for f in &args.recipients_files {
        rs.extend(crypto::read_recipients_file(f)?);
    }
    if rs.is_empty() {
        return Err(Error::Usage(
            "no recipient: pass -r KEY, -R FILE or --passphrase (archives are always encrypted; make a key with trustkeep keygen)".into(),
        ));
    }
    Ok(Encryption::Recipients(rs))
}

fn identities(args: &DecryptArgs) -> Result<Identities> {
    let mut ids = Identities::default();
    for p in &args.identities {
        crypto::load_identity(p, &mut ids)?;
    }
    for w in &ids.warnings {
        tracing::warn!("{w}");
        eprintln!("trustkeep: warning: {w}");
    }
    Ok(ids)
}

/// Runs the parsed command, writing reports to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome> {
    let now = Utc::now();
    let passphrase = || passphrase_from_world(false);
    let res: std::io::Result<Outcome> = match cli.command {
        Command::Backup(a) => {
            let enc = encryption(&a.encrypt)?;
            let inv = match &a.from {
                Some(f) => source::read_file(f, &a.select.namespace)?,
                None => {
                    let rt = runtime()?;
                    rt.block_on(async {
                        let c = crate::cluster::Cluster::connect(&a.cluster_args.target()).await?;
                        let inv = c.read_inventory(&a.select.options()).await;
                        tracing::info!(cluster = %c.name(), calls = c.calls().len(), "read the cluster");
                        for call in c.calls() {
                            tracing::debug!("API call: {} {}", call.verb, call.what);
                        }
                        inv
                    })?
                }
            };
            let opts = commands::backup::Options {
                select: a.select.options(),
                cluster: a.cluster,
                output: Location::parse(&a.output)?,
                armor: a.encrypt.armor,
            };
            if a.keep_last.is_some() && !opts.output.is_dir() {
                return Err(Error::Usage(format!(
                    "--keep-last needs -o to be a directory or prefix (ending in /), not the archive {}",
                    opts.output
                )));
            }
            let store = Store::new();
            let rt = runtime()?;
            let b = rt.block_on(commands::backup::run(&inv, &opts, &enc, &store, now))?;
            let rendered = commands::backup::render(out, &b, a.format);
            // Only after a complete backup: if secrets went missing, the older archives may be
            // the only good ones left.
            if let (Some(n), true) = (a.keep_last, b.ok) {
                let p = commands::prune::Options {
                    dir: b.archive.parent(),
                    keep_last: n,
                    keep_within: None,
                    cluster: Some(b.manifest.cluster.name.clone()),
                    dry_run: false,
                    protect: Some(b.archive.clone()),
                };
                for d in rt
                    .block_on(commands::prune::run(&p, &store, now))?
                    .iter()
                    .filter(|d| d.deleted)
                {
                    tracing::info!(archive = %d.archive, "pruned");
                    eprintln!("trustkeep: pruned {}", d.archive);
                }
            }
            rendered.map(|_| Outcome::from_ok(b.ok))
        }
        Command::Import(a) => {
            let enc = encryption(&a.encrypt)?;
            let opts = commands::import::Options {
                dirs: a.dirs,
                namespace: a.namespace,
                cluster: a.cluster,
                output: Location::parse(&a.output)?,
                armor: a.encrypt.armor,
            };
            let b = runtime()?.block_on(commands::import::run(&opts, &enc, &Store::new(), now))?;
            commands::backup::render(out, &b, a.format).map(|_| Outcome::from_ok(b.ok))
        }
        Command::Inspect(a) => {
            let ids = identities(&a.decrypt)?;
            let loc = Location::parse(&a.archive)?;
            let opened = runtime()?.block_on(Store::new().open(&loc, &ids, &passphrase))?;
            commands::inspect::render(out, &loc.to_string(), &opened, a.format)
                .map(|_| Outcome::Success)
        }
        Command::Export(a) => {
            let ids = identities(&a.decrypt)?;
            let loc = Location::parse(&a.archive)?;
            let opened = runtime()?.block_on(Store::new().open(&loc, &ids, &passphrase))?;
            let opts = commands::export::Options {
                dir: a.dir,
                force: a.force,
                only: a.only,
            };
            let written = commands::export::run(&opened, &opts)?;
            writeln!(
                out,
                "wrote {} files under {}",
                written.len(),
                opts.dir.display()
            )
            .map(|_| Outcome::Success)
        }
        Command::Keygen(a) => {
            let g = commands::keygen::generate(now);
            match &a.output {
                Some(path) => {
                    commands::keygen::write(path, &g)?;
                    eprintln!(
                        "trustkeep: wrote identity to {} (keep it secret; mode 0600)",
                        path.display()
                    );
                    writeln!(out, "{}", g.recipient)
                }
                None => out.write_all(g.text.as_bytes()),
            }
            .map(|_| Outcome::Success)
        }
        Command::Audit(a) => {
            let check = a.check.options(now);
            let mut sources = Vec::new();
            for spec in &a.from {
                let (name, path) = commands::audit::split_named(spec);
                let inv = source::read_file(&path, &a.select.namespace)?;
                sources.push((name.unwrap_or_else(|| inv.origin.short_name()), inv));
            }
            if !a.contexts.is_empty() {
                let rt = runtime()?;
                for spec in &a.contexts {
                    let (name, ctx) = commands::audit::split_named(spec);
                    let target = crate::cluster::Target {
                        kubeconfig: a.kubeconfig.clone(),
                        context: Some(ctx.clone()),
                    };
                    let inv = rt.block_on(async {
                        let c = crate::cluster::Cluster::connect(&target).await?;
                        let inv = c.read_inventory(&a.select.options()).await;
                        tracing::info!(cluster = %c.name(), calls = c.calls().len(), "read the cluster");
                        inv
                    })?;
                    sources.push((name.unwrap_or(ctx), inv));
                }
            }
            let snaps = commands::audit::snapshots(sources, &a.select.options(), check.at);
            let r = commands::audit::run(&snaps, &check, a.check.strict);
            commands::audit::render(out, &r, a.check.format).map(|_| Outcome::from_ok(r.ok))
        }
        Command::Restore(a) => {
            let ids = identities(&a.decrypt)?;
            let loc = Location::parse(&a.archive)?;
            let rt = runtime()?;
            let opened = rt.block_on(Store::new().open(&loc, &ids, &passphrase))?;
            let opts = commands::restore::Options {
                restore: crate::restore::Options {
                    only: a.only.clone(),
                    namespace_map: crate::restore::parse_namespace_map(&a.namespace_map)?,
                    replace: a.replace,
                },
                dry_run: a.dry_run,
                allow_invalid: a.allow_invalid,
                to_manifests: a.to_manifests.clone(),
            };
            let name = loc.file_name();
            let r = if opts.to_manifests.is_some() {
                rt.block_on(commands::restore::run(&opened, &name, None, &opts, now))?
            } else {
                rt.block_on(async {
                    let c = crate::cluster::Cluster::connect(&a.cluster_args.target()).await?;
                    commands::restore::run(&opened, &name, Some(&c), &opts, now).await
                })?
            };
            commands::restore::render(out, &r, a.format, cli.verbose > 0)
                .map(|_| Outcome::from_ok(r.ok))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "trustkeep", out);
            Ok(Outcome::Success)
        }
        Command::Prune(a) => {
            let opts = commands::prune::Options {
                dir: Location::parse(&a.dir)?,
                keep_last: a.keep_last,
                keep_within: a.keep_within.map(|d| chrono::Duration::days(d as i64)),
                cluster: a.cluster,
                dry_run: a.dry_run,
                protect: None,
            };
            let ds = runtime()?.block_on(commands::prune::run(&opts, &Store::new(), now))?;
            commands::prune::render(out, &ds, opts.dry_run, a.format).map(|_| Outcome::Success)
        }
        Command::Sandbox(a) => {
            commands::sandbox::run(a, out).map_err(|e| Error::Usage(e.to_string()))?;
            Ok(Outcome::Success)
        }
        Command::Demo(a) => {
            let opts = commands::demo::Options { dir: a.dir };
            let outcome = runtime()?.block_on(commands::demo::run(&opts, out, now))?;
            Ok(outcome)
        }
        Command::Verify(a) => {
            let check = a.check.options(now);
            let ids = identities(&a.decrypt)?;
            let archives = a
                .archives
                .iter()
                .map(|s| Location::parse(s))
                .collect::<Result<Vec<_>>>()?;
            let opts = commands::verify::Options {
                archives,
                together: a.together,
                strict: a.check.strict,
            };
            let r = runtime()?.block_on(commands::verify::run(
                &opts,
                &Store::new(),
                &ids,
                &passphrase,
                &check,
            ))?;
            let rendered = commands::verify::render(out, &r, a.check.format);
            if r.unreadable > 0 {
                eprintln!(
                    "trustkeep: error: {} archive(s) could not be read",
                    r.unreadable
                );
            }
            rendered.map(|_| {
                if r.unreadable > 0 {
                    Outcome::Incomplete
                } else {
                    Outcome::from_ok(r.ok)
                }
            })
        }
    };
    match res {
        Ok(o) => Ok(o),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Success),
        Err(e) => Err(Error::io("cannot write to", "standard output", e)),
    }
}

/// Sets up logging on stderr; `-v` raises the level, `RUST_LOG` overrides it.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("trustkeep={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("trustkeep").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn backup_flags() {
        let c = parse(&[
            "backup",
            "--from",
            "m.yaml",
            "-r",
            "age1x",
            "-r",
            "ssh-ed25519 y",
            "-o",
            "out/",
            "--include",
            "extra",
            "--armor",
        ])
        .unwrap();
        let Command::Backup(b) = c.command else {
            panic!()
        };
        assert_eq!(b.from.as_deref(), Some("m.yaml"));
        assert_eq!(b.encrypt.recipients.len(), 2);
        assert!(b.encrypt.armor);
        assert_eq!(b.select.namespace, "gloo-mesh");
        assert_eq!(b.select.include, ["extra"]);
        assert!(parse(&[
            "backup",
            "--from",
            "m",
            "-o",
            "x",
            "--passphrase",
            "-r",
            "age1x"
        ])
        .is_err());
        assert!(parse(&["backup", "--from", "m"]).is_err(), "-o is required");
        let file_and_cluster = [
            "backup",
            "--from",
            "m",
            "--context",
            "c",
            "-r",
            "age1x",
            "-o",
            "x",
        ];
        assert!(
            parse(&file_and_cluster).is_err(),
            "a file or a cluster, not both"
        );
        let c = parse(&[
            "backup",
            "--context",
            "mgmt",
            "--kubeconfig",
            "k",
            "-r",
            "age1x",
            "-o",
            "x",
        ])
        .unwrap();
        let Command::Backup(b) = c.command else {
            panic!()
        };
        assert_eq!(b.cluster_args.context.as_deref(), Some("mgmt"));
    }

    #[test]
    fn check_flags() {
        let c = parse(&[
            "audit",
            "--from",
            "mgmt=m.yaml",
            "--from",
            "c1.yaml",
            "--at",
            "2026-12-01T00:00:00Z",
            "--warn-days",
            "10",
            "--strict",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Audit(a) = c.command else {
            panic!()
        };
        assert_eq!(a.from.len(), 2);
        assert_eq!(a.check.warn_days, 10);
        assert!(a.check.strict);
        assert_eq!(a.check.format, OutputFormat::Json);
        assert_eq!(
            a.check.at.unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert!(parse(&["audit", "--from", "m", "--at", "yesterday"]).is_err());
        let c = parse(&["verify", "a.age", "b.age", "-i", "id.txt"]).unwrap();
        let Command::Verify(v) = c.command else {
            panic!()
        };
        assert_eq!(v.archives.len(), 2);
        assert_eq!(v.decrypt.identities.len(), 1);
    }

    #[test]
    fn the_packaged_cronjob_runs_a_valid_command() {
        let text = include_str!("../packaging/kubernetes/cronjob.yaml");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).unwrap();
        let job = docs.iter().find(|d| d["kind"] == "CronJob").unwrap();
        let args: Vec<&str> = job
            .pointer("/spec/jobTemplate/spec/template/spec/containers/0/args")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let c = parse(&args).unwrap();
        let Command::Backup(b) = c.command else {
            panic!("the CronJob must run backup")
        };
        assert!(
            b.from.is_none(),
            "reads the live cluster (in-cluster service account)"
        );
        assert_eq!(b.keep_last, Some(30));
        assert_eq!(
            b.encrypt.recipients_files,
            [PathBuf::from("/etc/trustkeep/recipients.txt")]
        );
        // The placeholder recipient is refused, so nobody runs it unedited.
        let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
        let line = cm["data"]["recipients.txt"]
            .as_str()
            .unwrap()
            .lines()
            .last()
            .unwrap();
        assert!(crypto::parse_recipient(line).is_err());
        let rbac: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(include_str!("../packaging/kubernetes/rbac.yaml")).unwrap();
        assert_eq!(rbac.len(), 7);
    }

    #[test]
    fn completions_cover_every_command() {
        let mut out = Vec::new();
        let c = parse(&["completions", "bash"]).unwrap();
        run(c, &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        for verb in ["backup", "restore", "verify", "audit", "prune", "sandbox"] {
            assert!(script.contains(verb), "{verb}");
        }
        assert!(script.contains("--namespace-map"));
    }

    #[test]
    fn restore_flags() {
        let c = parse(&[
            "restore",
            "a.age",
            "-i",
            "k",
            "--context",
            "mgmt",
            "--only",
            "relay-server-tls-secret",
            "--namespace-map",
            "gloo-mesh=drill",
            "--dry-run",
            "--replace",
            "--allow-invalid",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Restore(r) = c.command else {
            panic!()
        };
        assert!(r.dry_run && r.replace && r.allow_invalid);
        assert_eq!(r.namespace_map, ["gloo-mesh=drill"]);
        assert!(parse(&["restore", "a.age", "--to-manifests", "d", "--context", "c"]).is_err());
        assert!(parse(&["audit"]).is_err(), "--from or --context needed");
        assert!(parse(&["audit", "--context", "a=b", "--context", "c"]).is_ok());
    }

    #[test]
    fn other_flags() {
        assert!(
            parse(&["export", "a.age", "-i", "k", "--dir", "d", "--force", "--only", "x"]).is_ok()
        );
        assert!(
            parse(&["import", "-r", "age1x", "-o", "o"]).is_err(),
            "DIR is required"
        );
        assert!(parse(&["keygen", "-o", "k.txt"]).is_ok());
        assert!(parse(&["inspect", "a.age", "-i", "k", "--output", "json"]).is_ok());
    }
}
