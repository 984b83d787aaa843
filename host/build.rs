//! Embeds libtorch's library directory as an rpath, so `byzhost` runs without
//! LD_LIBRARY_PATH. The directory comes from `LIBTORCH` or, with `LIBTORCH_USE_PYTORCH`,
//! from the Python that tch's own build script uses (see scripts/env.sh).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    let lib = if let Ok(dir) = std::env::var("LIBTORCH") {
        Some(PathBuf::from(dir).join("lib"))
    } else if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
        Command::new(python)
            .args(["-c", "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    } else {
        None
    };
    if let Some(lib) = lib.filter(|l| l.is_dir()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
