//! The `byzhost` command line.

use std::process::ExitCode;

use byzhost::ranks::{self, Ranks};
use clap::Parser;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`byzhost ... | head`) instead of failing on the write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = byzhost::cli::Cli::parse();
    // Held to the end of `main`: MPI is finalized after every rank has finished the command.
    let _mpi = ranks::start();
    let ranks = Ranks::world();
    match byzhost::cli::run(cli) {
        Ok(code) => code,
        Err(err) if ranks.size() > 1 && !ranks::is_agreed(&err) => {
            // This rank's error alone: the others would wait for it in their next
            // collective, so the job ends here.
            print_error(&format!("rank {}: ", ranks.rank()), &err);
            ranks.abort(1)
        }
        Err(err) => {
            if ranks.is_root() {
                print_error("", &err);
            }
            ExitCode::FAILURE
        }
    }
}

/// `error[CLASS]: …` (the class for policy faults, so scripts can tell them apart), then
/// every cause.
fn print_error(prefix: &str, err: &anyhow::Error) {
    let class = byzhost::sandbox::error_class(err).map(|c| format!("[{c}]")).unwrap_or_default();
    eprintln!("{prefix}error{class}: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
