//! Link-time layout of the statically linked binary (`cargo static`, `cargo dist`: see
//! .cargo/config.toml): the functions a backup and a verify run are laid out together at the
//! start of the code, in the order `packaging/dist.order` lists them, so a short run maps a
//! few contiguous pages of code instead of pages spread over the whole binary (each first
//! touch of a page is a page fault; README, Performance, has the figures).
//! `packaging/order-symbols.sh` writes that file; a name it lists that a build no longer has
//! is skipped. Only where the linker is lld: Rust 1.90 or newer on x86_64 Linux, with no
//! linker of the user's choosing; other builds link as before.
//!
//! `TRUSTKEEP_LINK_MAP=PATH` also writes the linker's map of the binary there (the ordering
//! script reads it to name the code a run executes).

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=packaging/dist.order");
    println!("cargo:rerun-if-env-changed=TRUSTKEEP_LINK_MAP");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let is = |var: &str, value: &str| env::var(var).is_ok_and(|v| v.split(',').any(|x| x == value));
    let static_x86_64_linux = is("CARGO_CFG_TARGET_FEATURE", "crt-static")
        && is("CARGO_CFG_TARGET_OS", "linux")
        && is("CARGO_CFG_TARGET_ARCH", "x86_64");
    if !static_x86_64_linux || env::var_os("RUSTC_LINKER").is_some() || !rustc_links_with_lld() {
        return;
    }
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/dist.order");
    println!(
        "cargo:rustc-link-arg-bin=trustkeep=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bin=trustkeep=-Wl,--no-warn-symbol-ordering");
    if let Ok(map) = env::var("TRUSTKEEP_LINK_MAP") {
        // Mangled, as the ordering file names them.
        println!("cargo:rustc-link-arg-bin=trustkeep=-Wl,-Map={map},--no-demangle");
    }
}

/// Whether rustc links x86_64 Linux binaries with its own lld by default: from 1.90 on.
fn rustc_links_with_lld() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-V").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
