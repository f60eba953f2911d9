//! The command line in three parts: [`args`] (what the user typed: clap structs), [`resolve`]
//! (what it means: typed options per verb) and this dispatcher, which builds the [`World`]
//! (the clock, the store, the passphrase prompt), starts the one async runtime, runs one
//! command and renders its result. Logging is set up here too.

mod args;
mod observe;
mod resolve;

use std::io::{IsTerminal, Write};

use chrono::Utc;

pub use args::Cli;
use args::Command;
use resolve::format;

use crate::commands;
use crate::error::{Error, Result};
use crate::world::World;
use crate::Outcome;

/// Runs the parsed command, writing reports to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome> {
    let world = World::new(Utc::now()).with_passphrase(|| resolve::passphrase_from_world(false));
    let runtime = if fans_out(&cli.command) {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .map_err(|e| Error::io("cannot start the async runtime", "tokio", e))?;
    let verbose = cli.verbose > 0;
    let rendered = runtime.block_on(dispatch(cli.command, &world, verbose, out))?;
    match rendered {
        Ok(o) => Ok(o),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Success),
        Err(e) => Err(Error::io("cannot write to", "standard output", e)),
    }
}

/// Whether a command may read or write several clusters at once, or serves while it
/// runs: those get a runtime with a worker per core. Everything else (one cluster, one
/// archive: the CronJob's backup, a restore, an audit of one context) runs on this thread:
/// starting worker threads and handing each wake-up between them took a one-cluster backup
/// from 6.2 to 9.3 ms (`perf stat -r 40`, 4.8 against 7.0 ms of CPU). `verify` spreads its
/// archives over its own threads either way.
fn fans_out(command: &Command) -> bool {
    let fleet = |contexts: &[String], f: &args::FleetArgs| {
        contexts.len() > 1 || f.all_contexts || f.contexts_file.is_some()
    };
    match command {
        Command::Backup(a) => fleet(&a.contexts, &a.fleet),
        Command::Audit(a) => fleet(&a.contexts, &a.fleet) || a.from.len() > 1,
        Command::Sandbox(_) | Command::Demo(_) => true,
        Command::Pki(args::PkiCommand::Init(a)) => a.target.contexts.len() > 1,
        Command::Pki(args::PkiCommand::Rescue(a)) => a.target.contexts.len() > 1,
        Command::Pki(args::PkiCommand::Rotate(a)) => a.target.contexts.len() > 1,
        _ => false,
    }
}

/// Resolves, runs and renders one command. The outer error is the command's; the inner one
/// is from writing its report.
async fn dispatch(
    command: Command,
    world: &World,
    verbose: bool,
    out: &mut dyn Write,
) -> Result<std::io::Result<Outcome>> {
    use commands::*;
    Ok(match command {
        Command::Backup(a) => observe::backup(&a, world, out).await?,
        Command::Import(a) => {
            let b = import::run(&resolve::import(&a)?, world).await?;
            backup::render(out, &b, format(a.format)).map(|_| Outcome::from_ok(b.ok))
        }
        Command::Inspect(a) => {
            let input = resolve::inspect(&a.archive, &a.decrypt, &a.trust)?;
            let opened = inspect::run(&input, world).await?;
            let name = input.location.to_string();
            inspect::render(out, &name, &opened, format(a.format)).map(|_| Outcome::Success)
        }
        Command::Export(a) => {
            let opts = resolve::export(&a)?;
            let written = export::run(&opts, world).await?;
            let dir = opts.dir.display();
            writeln!(out, "wrote {} files under {dir}", written.len()).map(|_| Outcome::Success)
        }
        Command::Keygen(a) => {
            let g = keygen::run(a.output.as_deref(), world.now)?;
            keygen::render(out, &g, a.output.as_deref()).map(|_| Outcome::Success)
        }
        Command::Discover(a) => {
            let opts = resolve::discover(&a)?;
            let p = discover::run(&opts).await?;
            discover::render(out, &p, &opts, format(a.format)).map(|_| Outcome::Success)
        }
        Command::Audit(a) => observe::audit(&a, world, out).await?,
        Command::Verify(a) => observe::verify(&a, world, out).await?,
        Command::Restore(a) => {
            let r = restore::run(&resolve::restore(&a)?, world).await?;
            restore::render(out, &r, format(a.format), verbose).map(|_| Outcome::from_ok(r.ok))
        }
        Command::Prune(a) => {
            let opts = resolve::prune(&a)?;
            let ds = prune::run(&opts, world).await?;
            prune::render(out, &ds, opts.dry_run, format(a.format)).map(|_| Outcome::Success)
        }
        Command::Rewrap(a) => {
            let opts = resolve::rewrap(&a)?;
            let items = rewrap::run(&opts, world).await?;
            let outcome = rewrap::outcome(&items);
            rewrap::render(out, &items, opts.dry_run, format(a.format)).map(|_| outcome)
        }
        Command::List(a) => {
            let scan = list::run(&resolve::list(&a, world.now)?, world).await?;
            for e in &scan.passed_over {
                let why = e.why_not_good().unwrap_or_default();
                notice(false, &format!("passed over {}: {why}", e.archive));
            }
            let es = scan.entries;
            let ok = es.iter().all(|e| e.good);
            list::render(out, &es, format(a.format)).map(|_| Outcome::from_ok(ok))
        }
        Command::Pki(args::PkiCommand::Init(a)) => {
            let r = pki::init(&resolve::pki_init(&a)?, world).await?;
            pki::render_init(out, &r, format(a.format)).map(|_| Outcome::from_ok(r.ok))
        }
        Command::Pki(args::PkiCommand::Rescue(a)) => {
            let r = pki::rescue(&resolve::pki_rescue(&a)?, world).await?;
            pki::render_rescue(out, &r, format(a.format)).map(|_| Outcome::from_ok(r.setup.ok))
        }
        Command::Pki(args::PkiCommand::Rotate(a)) => {
            let r = pki::rotate(&resolve::pki_rotate(&a)?, world).await?;
            pki::render_rotate(out, &r, format(a.format)).map(|_| Outcome::from_ok(r.ok))
        }
        Command::Pki(args::PkiCommand::Reissue(a)) => {
            let r = pki::reissue(&resolve::pki_reissue(&a)?, world).await?;
            pki::render_reissue(out, &r, format(a.format)).map(|_| Outcome::from_ok(r.ok))
        }
        Command::Sandbox(a) => {
            sandbox::run(resolve::sandbox(a.into_inner()), out)
                .await
                .map_err(|e| Error::Usage(e.to_string()))?;
            Ok(Outcome::Success)
        }
        Command::Demo(a) => {
            let opts = demo::Options {
                dir: a.into_inner().dir,
            };
            Ok(demo::run(&opts, out, world).await?)
        }
        Command::Man => man(out).map(|_| Outcome::Success),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "trustkeep", out);
            Ok(Outcome::Success)
        }
    })
}

/// The manual page (roff), whole: every subcommand's flags are declared only when the
/// command is built (`args::Lazy`), so it is built first.
fn man(out: &mut dyn Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    clap_mangen::Man::new(cmd).render(out)
}

/// Sets up logging on stderr; `-v` raises the level, `RUST_LOG` overrides it. JSON logs are
/// one object per line and never coloured; text logs are coloured only on a terminal without
/// NO_COLOR.
pub fn init_logging(cli: &Cli) {
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("trustkeep={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let json = json_logs(cli);
    JSON_LOGS.store(json, std::sync::atomic::Ordering::Relaxed);
    let _ = if json {
        builder.json().with_ansi(false).try_init()
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(colour).without_time().try_init()
    };
}

/// Set by [`init_logging`]: stderr carries JSON lines only.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A line for the operator on stderr: `trustkeep: <msg>`, or a JSON log event with
/// `--log-format json`.
pub(crate) fn notice(error: bool, msg: &str) {
    // Messages carry names from clusters, archives and files: no escape sequence of theirs
    // reaches the terminal.
    let msg = crate::render::escape(msg);
    match (JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed), error) {
        (true, true) => tracing::error!("{msg}"),
        (true, false) => tracing::info!("{msg}"),
        (false, true) => eprintln!("trustkeep: error: {msg}"),
        (false, false) => eprintln!("trustkeep: {msg}"),
    }
}

/// Prints the error that ended the run, once: a JSON log line with `--log-format json`, else
/// `trustkeep: error: …` with any control or escape character of the message neutralised.
pub fn report_error(e: &crate::Error) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        // A log collector gets the error as one more JSON line (JSON escapes it).
        tracing::error!(error = %e, "trustkeep failed");
    } else {
        notice(true, &e.to_string());
    }
}

/// Whether logs (and the final error) are JSON lines.
pub fn json_logs(cli: &Cli) -> bool {
    cli.log.log_format == args::LogFormatArg::Json
}

#[cfg(test)]
mod tests {
    use super::args::*;
    use super::*;
    use crate::archive::crypto;
    use clap::Parser;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("trustkeep").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// One cluster runs on the calling thread; fleets and servers get worker threads.
    #[test]
    fn only_fleets_and_servers_start_worker_threads() {
        let runs = |args: &[&str]| fans_out(&parse(args).unwrap().command);
        assert!(!runs(&[
            "backup",
            "--context",
            "a",
            "-r",
            "age1x",
            "-o",
            "d/"
        ]));
        assert!(!runs(&["audit", "--context", "a"]));
        assert!(!runs(&["verify", "d/"]));
        assert!(runs(&[
            "backup",
            "--context",
            "a",
            "--context",
            "b",
            "-r",
            "age1x",
            "-o",
            "d/"
        ]));
        assert!(runs(&["audit", "--all-contexts"]));
        assert!(runs(&["audit", "--from", "a.yaml", "--from", "b.yaml"]));
        assert!(runs(&["sandbox"]));
    }

    /// Subcommands' flags are declared lazily (`args::Lazy`): help, completions and the
    /// manual page still hold them.
    #[test]
    fn lazily_declared_flags_reach_help_and_completions() {
        use clap::CommandFactory;
        let help = parse(&["backup", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("--all-contexts"), "{help}");
        let help = parse(&["pki", "rotate", "--help"]).unwrap_err().to_string();
        assert!(help.contains("--phase"), "{help}");
        let mut out = Vec::new();
        let mut cmd = Cli::command();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "trustkeep", &mut out);
        let bash = String::from_utf8(out).unwrap();
        assert!(bash.contains("--all-contexts") && bash.contains("--phase"));
        let typo = parse(&["backup", "--all-context"]).unwrap_err().to_string();
        assert!(typo.contains("--all-contexts"), "a suggestion: {typo}");
    }

    #[test]
    fn discover_flags() {
        let c = parse(&["discover", "--from", "m.yaml", "--emit-role"]).unwrap();
        let Command::Discover(d) = c.command else {
            panic!()
        };
        assert!(d.emit_role);
        assert_eq!(d.service_account, "gloo-mesh/trustkeep");
        let opts = resolve::discover(&d).unwrap();
        assert_eq!(
            opts.emit_role,
            Some(("gloo-mesh".to_string(), "trustkeep".to_string()))
        );
        let c = parse(&["discover", "--emit-role", "--service-account", "a/b/c"]).unwrap();
        let Command::Discover(d) = c.command else {
            panic!()
        };
        assert!(resolve::discover(&d).is_err(), "NAMESPACE/NAME only");
        assert!(
            parse(&["discover", "--service-account", "a/b"]).is_err(),
            "--service-account needs --emit-role"
        );
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
        assert_eq!(b.contexts, ["mgmt"]);
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
        assert_eq!(a.check.format, FormatArg::Json);
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
        let text = include_str!("../../packaging/kubernetes/base/cronjob.yaml");
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
        assert_eq!(b.retention.keep_daily, Some(14));
        assert_eq!(b.retention.keep_monthly, Some(12));
        assert_eq!(
            b.encrypt.recipients_files,
            [PathBuf::from("/etc/trustkeep/recipients.txt")]
        );
        // Archives are signed with the key of an optional Secret mounted read-only.
        let key = b
            .sign
            .sign_key
            .clone()
            .expect("the CronJob signs its archives");
        let pod = job.pointer("/spec/jobTemplate/spec/template/spec").unwrap();
        let mount = pod["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| key.starts_with(m["mountPath"].as_str().unwrap()))
            .expect("the signing key is mounted");
        assert_eq!(mount["readOnly"], true);
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(volume["secret"]["secretName"], "trustkeep-signing-key");
        assert_eq!(volume["secret"]["optional"], true);
        // The placeholder recipient is refused, so nobody runs it unedited.
        let cm: serde_json::Value = serde_saphyr::from_str(include_str!(
            "../../packaging/kubernetes/base/recipients.yaml"
        ))
        .unwrap();
        let line = cm["data"]["recipients.txt"]
            .as_str()
            .unwrap()
            .lines()
            .last()
            .unwrap();
        assert!(crypto::parse_recipient(line).is_err());
        let rbac: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(include_str!("../../packaging/kubernetes/base/rbac.yaml"))
                .unwrap();
        assert_eq!(
            rbac.len(),
            4,
            "Role, RoleBinding, ClusterRole, ClusterRoleBinding"
        );
    }

    #[test]
    fn metrics_and_log_flags() {
        for verb in [
            &["backup", "--from", "m", "-r", "age1x", "-o", "o/"][..],
            &["verify", "a.age"],
            &["audit", "--from", "m.yaml"],
        ] {
            let mut args = verb.to_vec();
            args.extend([
                "--metrics-file",
                "t.prom",
                "--pushgateway",
                "http://gw:9091",
            ]);
            args.extend(["--log-format", "json"]);
            let c = parse(&args).unwrap();
            assert_eq!(c.log.log_format, LogFormatArg::Json);
            let m = match c.command {
                Command::Backup(a) => a.into_inner().metrics,
                Command::Verify(a) => a.into_inner().metrics,
                Command::Audit(a) => a.into_inner().metrics,
                _ => panic!(),
            };
            assert_eq!(m.metrics_file, Some(PathBuf::from("t.prom")));
            let o = resolve::metrics(&m).unwrap();
            assert_eq!(o.pushgateway.unwrap().as_str(), "http://gw:9091/");
        }
        let bad = MetricsArgs {
            metrics_file: None,
            pushgateway: Some("gw:9091".into()),
        };
        assert!(resolve::metrics(&bad).is_err(), "a scheme is needed");
        assert!(parse(&["--log-format", "xml", "keygen"]).is_err());
        assert!(parse(&["restore", "a.age", "--metrics-file", "x"]).is_err());
    }

    #[test]
    fn rewrap_flags() {
        let fx = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/identities/");
        let id = format!("{fx}test-only-age-identity.txt");
        let r = include_str!("../../fixtures/identities/test-only-age-recipient.txt").trim();
        let ssh = format!("{fx}test-only-ssh-ed25519.pub");
        let c = parse(&[
            "rewrap",
            "d/",
            "a.age",
            "-i",
            &id,
            "-r",
            r,
            "-R",
            &ssh,
            "--sign-key",
            "k",
            "--trusted-signers",
            "s",
            "--dry-run",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Rewrap(a) = c.command else {
            panic!()
        };
        assert_eq!(a.inputs, ["d/", "a.age"]);
        assert_eq!((a.recipients.len(), a.recipients_files.len()), (1, 1));
        assert_eq!(a.sign.sign_key.as_deref(), Some(std::path::Path::new("k")));
        assert!(a.trust.trusted_signers.is_some() && a.dry_run);
        assert!(matches!(a.format, args::FormatArg::Json));
        // Resolved: an age1 recipient among them, so the header cannot tell.
        let c = parse(&["rewrap", "d/", "-i", &id, "-r", r, "-R", &ssh]).unwrap();
        let Command::Rewrap(a) = c.command else {
            panic!()
        };
        let o = resolve::rewrap(&a).unwrap();
        assert!(o.keys.stanzas.is_none() && !o.dry_run);
        let c = parse(&["rewrap", "d/", "-i", &id, "-R", &ssh]).unwrap();
        let Command::Rewrap(a) = c.command else {
            panic!()
        };
        assert_eq!(resolve::rewrap(&a).unwrap().keys.stanzas.unwrap().len(), 1);
        // No input, or no new recipient: refused.
        assert!(parse(&["rewrap", "-i", &id, "-r", r]).is_err());
        let c = parse(&["rewrap", "d/", "-i", &id]).unwrap();
        let Command::Rewrap(a) = c.command else {
            panic!()
        };
        let refused = resolve::rewrap(&a).unwrap_err().to_string();
        assert!(
            refused.starts_with("rewrap needs the new recipients")
                && !refused.contains("--passphrase"),
            "{refused}"
        );
    }

    #[test]
    fn retention_flags() {
        let c = parse(&[
            "prune",
            "d/",
            "--keep-last",
            "3",
            "--keep-hourly",
            "24",
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--keep-monthly",
            "12",
            "--keep-yearly",
            "2",
            "--keep-within",
            "1y6m",
            "--dry-run",
        ])
        .unwrap();
        let Command::Prune(p) = c.command else {
            panic!()
        };
        let o = resolve::prune(&p).unwrap().rules;
        assert_eq!(
            (
                o.policy.last,
                o.policy.hourly,
                o.policy.daily,
                o.policy.weekly
            ),
            (Some(3), Some(24), Some(7), Some(4))
        );
        assert_eq!((o.policy.monthly, o.policy.yearly), (Some(12), Some(2)));
        assert_eq!(o.policy.within.unwrap().to_string(), "1y6m");
        assert!(parse(&["prune", "d/", "--keep-within", "soon"]).is_err());
        let c = parse(&["prune", "d/"]).unwrap();
        let Command::Prune(p) = c.command else {
            panic!()
        };
        let refused = resolve::prune(&p).unwrap_err().to_string();
        assert!(refused.starts_with("no retention rule"), "{refused}");
        let r = include_str!("../../fixtures/identities/test-only-age-recipient.txt").trim();
        let c = parse(&[
            "backup",
            "--from",
            "m",
            "-r",
            r,
            "-o",
            "a.age",
            "--keep-daily",
            "7",
        ]);
        let Command::Backup(b) = c.unwrap().command else {
            panic!()
        };
        let e = resolve::backup(&b).unwrap_err().to_string();
        assert!(e.contains("--keep-* needs -o to be a directory"), "{e}");
    }

    #[test]
    fn list_and_restore_latest_flags() {
        let c = parse(&[
            "list",
            "s3://b/p/",
            "-i",
            "id",
            "--latest",
            "--cluster",
            "m",
        ])
        .unwrap();
        let Command::List(l) = c.command else {
            panic!()
        };
        assert!(l.latest && l.cluster.as_deref() == Some("m"));
        assert_eq!(l.decrypt.identities.len(), 1);
        assert!(parse(&["list"]).is_err(), "STORE is required");
        let c = parse(&["restore", "d/", "-i", "k", "--latest", "--cluster", "m"]).unwrap();
        let Command::Restore(r) = c.command else {
            panic!()
        };
        assert!(r.latest && r.latest_cluster.as_deref() == Some("m"));
        assert!(
            parse(&["restore", "d/", "--cluster", "m"]).is_err(),
            "--cluster needs --latest"
        );
    }

    #[test]
    fn the_manual_page_covers_every_command() {
        let mut out = Vec::new();
        run(parse(&["man"]).unwrap(), &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH trustkeep"),
            "{page}"
        );
        for verb in ["backup", "restore", "verify", "audit", "prune", "list"] {
            assert!(page.contains(verb), "{verb}");
        }
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
    fn signing_and_trust_flags() {
        let c = parse(&[
            "backup",
            "--from",
            "m",
            "-r",
            "age1x",
            "-o",
            "o/",
            "--sign-key",
            "k",
        ]);
        let Command::Backup(b) = c.unwrap().command else {
            panic!()
        };
        assert_eq!(b.sign.sign_key, Some(PathBuf::from("k")));
        let c = parse(&["import", "d", "-r", "age1x", "-o", "o/", "--sign-key", "k"]).unwrap();
        let Command::Import(i) = c.command else {
            panic!()
        };
        assert_eq!(i.sign.sign_key, Some(PathBuf::from("k")));
        let policy = ["--trusted-signers", "allowed", "--allow-unsigned"];
        for verb in [
            &["verify", "a.age"][..],
            &["inspect", "a.age"],
            &["export", "a.age", "--dir", "d"],
            &["list", "d/"],
            &["restore", "a.age", "--to-manifests", "m"],
        ] {
            let mut args = verb.to_vec();
            args.extend(policy);
            let t = match parse(&args).unwrap().command {
                Command::Verify(a) => a.into_inner().trust,
                Command::Inspect(a) => a.into_inner().trust,
                Command::Export(a) => a.into_inner().trust,
                Command::List(a) => a.into_inner().trust,
                Command::Restore(a) => a.into_inner().trust,
                _ => panic!(),
            };
            assert_eq!(
                t.trusted_signers,
                Some(PathBuf::from("allowed")),
                "{verb:?}"
            );
            assert!(t.allow_unsigned);
        }
        assert!(parse(&[
            "backup",
            "--from",
            "m",
            "-o",
            "o/",
            "--trusted-signers",
            "x"
        ])
        .is_err());
        assert!(parse(&["verify", "a.age", "--sign-key", "k"]).is_err());
        let lone = TrustArgs {
            trusted_signers: None,
            allow_unsigned: true,
        };
        let e = resolve::trust(&lone).unwrap_err().to_string();
        assert!(e.starts_with("--allow-unsigned admits"), "{e}");
        let missing = TrustArgs {
            trusted_signers: Some(PathBuf::from("/nonexistent/allowed_signers")),
            allow_unsigned: false,
        };
        let e = resolve::trust(&missing).unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/allowed_signers: cannot read it"),
            "{e}"
        );
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
        assert!(parse(&["audit"]).is_ok(), "no flag: the current context");
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

    #[test]
    fn pki_rescue_flags() {
        let recipient = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/identities/test-only-age-recipient.txt"
        ))
        .unwrap();
        let base = [
            "pki",
            "rescue",
            "saved",
            "--management",
            "mgmt",
            "--workload",
            "c1",
            "-r",
            recipient.trim(),
            "-o",
            "birth",
        ];
        let c = parse(&[&base[..], &["--context", "mgmt=m", "--dry-run"]].concat()).unwrap();
        let Command::Pki(args::PkiCommand::Rescue(a)) = c.command else {
            panic!()
        };
        assert_eq!(a.folders, [std::path::PathBuf::from("saved")]);
        assert!(a.target.dry_run);
        let o = match resolve::pki_rescue(&a) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert!(matches!(
            o.init.targets,
            commands::pki::Targets::Clusters(_)
        ));
        assert_eq!(o.init.issue.design, crate::issuer::RESCUE_DESIGN);
        assert_eq!(o.init.output.location.to_string(), "birth/");
        assert!(parse(&base[..2]).is_err(), "SEED_DIR is required");
        let both = [&base[..], &["--to-manifests", "m", "--context", "mgmt=x"]].concat();
        assert!(parse(&both).is_err(), "manifests or clusters");
        let c = parse(&[&base[..], &["--context", "nope=ctx"]].concat()).unwrap();
        let Command::Pki(args::PkiCommand::Rescue(a)) = c.command else {
            panic!()
        };
        let e = resolve::pki_rescue(&a).unwrap_err().to_string();
        assert!(e.contains("--context nope=ctx: NAME must be"), "{e}");
    }

    #[test]
    fn pki_flags() {
        let recipient = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/identities/test-only-age-recipient.txt"
        ))
        .unwrap();
        let base = [
            "pki",
            "init",
            "--architecture",
            "separate-roots",
            "--placement",
            "hybrid",
            "--management",
            "mgmt",
            "--workload",
            "c1",
            "--workload",
            "c2",
            "-r",
            recipient.trim(),
            "-o",
            "birth",
        ];
        let c = parse(&[&base[..], &["--to-manifests", "m", "--key-type", "rsa2048"]].concat())
            .unwrap();
        let Command::Pki(args::PkiCommand::Init(a)) = c.command else {
            panic!()
        };
        assert_eq!(a.workloads, ["c1", "c2"]);
        assert_eq!(a.key_type, KeyTypeArg::Rsa2048);
        assert_eq!(
            (
                a.root_days,
                a.intermediate_days,
                a.cluster_ca_days,
                a.leaf_days
            ),
            (3650, 1825, 365, 365)
        );
        let o = match resolve::pki_init(&a) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert!(matches!(o.targets, commands::pki::Targets::Manifests(_)));
        assert_eq!(o.output.location.to_string(), "birth/", "-o is a directory");
        let both = [&base[..], &["--to-manifests", "m", "--context", "mgmt=x"]].concat();
        assert!(parse(&both).is_err(), "manifests or clusters");
        assert!(
            parse(&base[..base.len() - 6]).is_err(),
            "--workload is required"
        );
        let c = parse(&[&base[..], &["--context", "nope=ctx"]].concat()).unwrap();
        let Command::Pki(args::PkiCommand::Init(a)) = c.command else {
            panic!()
        };
        let e = resolve::pki_init(&a).unwrap_err().to_string();
        assert!(e.contains("--context nope=ctx: NAME must be"), "{e}");
        let c = parse(&[
            "pki",
            "reissue",
            "istio-cacerts",
            "--cluster",
            "c1",
            "--from",
            "a.age",
            "--from",
            "b.age",
            "-i",
            "k",
            "--context",
            "ctx",
            "--restart",
        ])
        .unwrap();
        let Command::Pki(args::PkiCommand::Reissue(a)) = c.command else {
            panic!()
        };
        assert_eq!(
            (a.role, a.from.len(), a.restart),
            (ReissueRoleArg::IstioCacerts, 2, true)
        );
        assert!(
            parse(&["pki", "reissue", "relay-server", "--cluster", "m"]).is_err(),
            "--from is required"
        );
        let manifests_restart = [
            "pki",
            "reissue",
            "relay-client",
            "--cluster",
            "c",
            "--from",
            "a",
            "--to-manifests",
            "d",
            "--restart",
        ];
        assert!(
            parse(&manifests_restart).is_err(),
            "no restart without a cluster"
        );
        assert!(parse(&["restore", "a.age", "--to-manifests", "d", "--restart"]).is_err());
        assert!(parse(&["restore", "a.age", "--restart"]).is_ok());
    }

    #[test]
    fn pki_rotate_flags() {
        let c = parse(&[
            "pki",
            "rotate",
            "istio-root",
            "--phase",
            "switch",
            "--cluster",
            "c1",
            "--from",
            "birth/",
            "--from",
            "p.age",
            "-i",
            "k",
            "-r",
            "age1x",
            "-o",
            "rot",
            "--sign-key",
            "s",
            "--context",
            "c1=ctx",
            "--restart",
        ])
        .unwrap();
        let Command::Pki(args::PkiCommand::Rotate(a)) = c.command else {
            panic!()
        };
        assert_eq!(
            (
                a.rotation,
                a.phase,
                a.clusters.len(),
                a.from.len(),
                a.target.restart
            ),
            (
                args::RotationArg::IstioRoot,
                Some(args::PhaseArg::Switch),
                1,
                2,
                true
            )
        );
        assert!(a.sign.sign_key.is_some());
        // Resolved: without the files -i and --sign-key name, with a real recipient.
        let recipient = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/identities/test-only-age-recipient.txt"
        ))
        .unwrap();
        let c = parse(&[
            "pki",
            "rotate",
            "istio-root",
            "--phase",
            "switch",
            "--from",
            "birth/",
            "-r",
            recipient.trim(),
            "-o",
            "rot",
            "--context",
            "c1=ctx",
        ])
        .unwrap();
        let Command::Pki(args::PkiCommand::Rotate(a)) = c.command else {
            panic!()
        };
        let o = match resolve::pki_rotate(&a) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(o.output.location.to_string(), "rot/", "-o is a directory");
        assert!(
            matches!(o.targets, commands::pki::Targets::Clusters(ref m) if m.contains_key("c1"))
        );
        assert_eq!(o.rotate.phase, Some(crate::issuer::Phase::Switch));
        let base = [
            "pki",
            "rotate",
            "relay-root",
            "--phase",
            "add",
            "--from",
            "a",
            "-o",
            "o",
        ];
        assert!(parse(&base).is_ok());
        assert!(parse(&base[..base.len() - 2]).is_err(), "-o is required");
        assert!(parse(&[&base[..], &["--phase", "drop"]].concat()).is_err());
        let m = [&base[..], &["--to-manifests", "d", "--restart"]].concat();
        assert!(parse(&m).is_err(), "no restart without a cluster");
        let m = [&base[..], &["--to-manifests", "d", "--context", "a=b"]].concat();
        assert!(parse(&m).is_err(), "manifests or clusters");
    }
}
