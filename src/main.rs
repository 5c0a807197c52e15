//! The `portcullis` binary: the command line of the library (`portcullis::cli`).

use std::process::ExitCode;

/// mimalloc, asked the cheapest way each layout allows (`portcullis::allocator`).
#[global_allocator]
static ALLOCATOR: portcullis::allocator::MiMalloc = portcullis::allocator::MiMalloc;

fn main() -> ExitCode {
    portcullis::cli::main()
}
