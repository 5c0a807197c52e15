//! The `portcullis` binary: the command line of the library (`portcullis::cli`).

use std::process::ExitCode;

/// glibc's allocator costs a tenth of the proxy's CPU under load (bench/compare.sh); mimalloc's
/// thread-local free lists take most of that back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    portcullis::cli::main()
}
