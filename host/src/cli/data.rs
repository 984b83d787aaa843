//! `byzhost data fetch`: downloads the canonical Fashion-MNIST files from their publisher
//! and verifies the published MD5 checksums. Each file is downloaded to `NAME.part` and
//! renamed only once its checksum matches, so a failed or partial download never leaves a
//! file that looks complete.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use md5::{Digest, Md5};

use crate::sandbox::hex;

/// Zalando Research's published location and checksums of Fashion-MNIST.
pub const DEFAULT_BASE_URL: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
pub const FILES: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
];

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download the canonical Fashion-MNIST IDX files and verify their checksums.
    Fetch(FetchArgs),
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Directory to store the four files in (created if missing); use it as `--data DIR`.
    #[arg(long, default_value = "data/fashion-mnist")]
    pub dir: PathBuf,
    /// Base URL to download from, for a mirror holding the same files.
    #[arg(long, default_value = DEFAULT_BASE_URL)]
    pub url: String,
}

pub fn run(cmd: DataCommand) -> Result<std::process::ExitCode> {
    let DataCommand::Fetch(args) = cmd;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("--dir: cannot create {}", args.dir.display()))?;
    for (name, md5) in FILES {
        let dest = args.dir.join(name);
        if dest.is_file() && file_md5(&dest)? == md5 {
            eprintln!("{name}: present, checksum ok");
            continue;
        }
        let url = format!("{}/{name}", args.url.trim_end_matches('/'));
        fetch_one(&url, &dest, md5).with_context(|| format!("downloading {url}"))?;
        eprintln!("{name}: downloaded, checksum ok");
    }
    println!("Fashion-MNIST is in {}; use it with --data {0} (or BYZHOST_DATA)", args.dir.display());
    Ok(std::process::ExitCode::SUCCESS)
}

fn fetch_one(url: &str, dest: &Path, expected_md5: &str) -> Result<()> {
    let part = dest.with_extension("gz.part");
    let result = (|| -> Result<()> {
        let response = ureq::get(url).call().context("the request failed (no network, or the server refused)")?;
        let mut body = Vec::new();
        response.into_body().into_with_config().limit(64 << 20).reader().read_to_end(&mut body).context("the download was interrupted")?;
        let got = hex(&Md5::digest(&body));
        if got != expected_md5 {
            bail!("checksum mismatch: MD5 {got}, expected {expected_md5} (corrupt download or a different file)");
        }
        std::fs::write(&part, &body).with_context(|| format!("writing {}", part.display()))?;
        std::fs::rename(&part, dest).with_context(|| format!("renaming {} to {}", part.display(), dest.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

fn file_md5(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&Md5::digest(&bytes)))
}
