//! The `trustkeep` binary: parse, run one command, map the result to an exit status
//! (0 success, 1 problems found, 2 error) and print an error once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One TLS provider for kube's client and the sandbox's server.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = trustkeep::cli::Cli::parse();
    trustkeep::cli::init_logging(&cli);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match trustkeep::cli::run(cli, &mut out) {
        Ok(trustkeep::Outcome::Success) => ExitCode::SUCCESS,
        Ok(trustkeep::Outcome::Problems) => ExitCode::from(1),
        Ok(trustkeep::Outcome::Incomplete) => ExitCode::from(2),
        Err(e) => {
            trustkeep::cli::report_error(&e);
            ExitCode::from(e.exit_status())
        }
    }
}
