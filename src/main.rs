//! The `trustkeep` binary: parse, run one command, map the result to an exit status
//! (0 success, 1 problems found, 2 error) and print an error once.

use std::process::ExitCode;

use clap::Parser;

/// Every heap block is zeroed when freed. trustkeep's own secrets are in zeroizing types;
/// this reaches the copies it does not own: the API server's responses in hyper's and
/// serde's buffers, gzip's window over the tar, a `Vec`'s old buffer after it grew.
/// Measured at no cost: a backup 5.2 vs 5.6 ms, verify 2,216-2,233 vs 2,238-2,259 archives/s
/// (`BENCH_AGAINST`, `BENCH_BIN`; README, Performance).
#[global_allocator]
static ALLOC: Zeroing<std::alloc::System> = zeroizing_alloc::ZeroAlloc(std::alloc::System);

type Zeroing<A> = zeroizing_alloc::ZeroAlloc<A>;

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

#[cfg(test)]
mod tests {
    use super::Zeroing;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::Mutex;

    /// The system allocator, noting whether each block it is handed back is all zeros.
    struct Watch(Mutex<Vec<bool>>);

    unsafe impl GlobalAlloc for Watch {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            self.0.lock().unwrap().push(block.iter().all(|&b| b == 0));
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// What the binary's allocator promises: a freed block, and the old block of one that
    /// grew (a `Vec` pushed past its capacity), reach the system allocator zeroed, and the
    /// grown block keeps its bytes.
    #[test]
    fn freed_and_outgrown_blocks_are_zeroed() {
        let alloc: Zeroing<Watch> = zeroizing_alloc::ZeroAlloc(Watch(Mutex::new(Vec::new())));
        let secret = b"-----BEGIN PRIVATE KEY----- test-only";
        let layout = Layout::from_size_align(secret.len(), 1).unwrap();
        unsafe {
            let p = alloc.alloc(layout);
            std::ptr::copy_nonoverlapping(secret.as_ptr(), p, secret.len());
            let grown = alloc.realloc(p, layout, 4096);
            assert_eq!(std::slice::from_raw_parts(grown, secret.len()), secret);
            alloc.dealloc(grown, Layout::from_size_align(4096, 1).unwrap());
        }
        assert_eq!(*alloc.0 .0.lock().unwrap(), vec![true, true]);
    }
}
