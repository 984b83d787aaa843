//! The `byzhost` command line.

use std::process::ExitCode;

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
    match byzhost::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `error[CLASS]` for policy faults, so scripts can tell them apart.
            let class = err
                .chain()
                .find_map(|e| {
                    if let Some(p) = e.downcast_ref::<byzhost::sandbox::PolicyError>() {
                        Some(p.kind.class())
                    } else {
                        e.downcast_ref::<byzhost::sandbox::IncompatibleVersion>().map(|_| "incompatible-version")
                    }
                })
                .map(|c| format!("[{c}]"))
                .unwrap_or_default();
            eprintln!("error{class}: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
