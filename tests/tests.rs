//! The one integration-test binary: topic modules over the `trustkeep` binary and library.
//! Tests that need an external program are `#[ignore = "needs X"]`; CI installs X and runs
//! them with `--include-ignored`.

mod util;

mod archive_errors;
mod backup;
mod checks;
mod import;
mod interop;
mod live;
mod s3;
mod sandbox;
mod sources;
mod x509;
