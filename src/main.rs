//! The `strata` command: one binary for every Strata role.
//!
//! Today: the demo, the built-in batch jobs (embedded), and data generators. Run
//! `strata --help` or `strata <command> --help` for the details of each.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    strata::common::logging::init("warn");
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
