//! The `trawl` command. See `trawl --help`.

fn main() -> std::process::ExitCode {
    trawl::cli::main()
}
