//! The one integration-test binary: topic modules over the `trustkeep` binary and library.
//! Tests that need an external program are `#[ignore = "needs X"]`; CI installs X and runs
//! them with `--include-ignored`.

mod util;

mod architecture;
mod archive_errors;
mod azure;
mod backup;
mod checks;
mod crash;
mod discover;
mod faults;
mod fleet;
mod fuzz;
mod gcs;
mod hostile;
mod image;
mod import;
mod interop;
mod limbo;
mod list;
mod live;
mod manifests;
mod metrics;
mod modes;
mod packaging;
mod pki;
mod plugin;
mod rbac;
mod rescue;
mod rewrap;
mod rotate;
mod roundtrip;
mod s3;
mod sandbox;
mod scale;
mod signing;
mod sources;
mod x509;
