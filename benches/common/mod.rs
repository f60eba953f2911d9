//! What the benchmarks share.

use std::path::PathBuf;

/// The trustkeep binary a benchmark runs: `BENCH_BIN` when set (e.g.
/// `target/x86_64-unknown-linux-gnu/dist/trustkeep`, the build that ships: `cargo dist`,
/// static), else the one `cargo bench` built
/// (the bench profile: release with symbols). Printed, so a figure says what it measured.
pub fn trustkeep_bin() -> PathBuf {
    let bin = std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_trustkeep")));
    assert!(bin.is_file(), "BENCH_BIN {} is not a file", bin.display());
    bin
}
