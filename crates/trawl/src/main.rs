//! The `trawl` command. See `trawl --help`.
//!
//! mimalloc is the global allocator: every record becomes a few short-lived
//! allocations on one thread and is freed on another, which glibc's malloc handles with
//! locked per-thread arenas that it rarely returns to the system (benches/RESULTS.md).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    trawl::cli::main()
}
