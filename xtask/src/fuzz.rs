//! `cargo xtask fuzz [--seconds N]`: every fuzz target of the parsers for a bounded time.
//!
//! The targets live in `crates/ingest/fuzz` (M3U, XMLTV) and `crates/expr/fuzz` (expressions).
//! They are built by cargo-fuzz with libFuzzer and AddressSanitizer, which need nightly
//! compiler features; the machine's stable toolchain provides them with `RUSTC_BOOTSTRAP=1`.
//! Each run starts from the real-world fixtures as its seed corpus (read, never written: the
//! corpus grown during the run goes to a temporary directory) and stops after `--seconds`
//! (default 45) per target. A crash, a leak, an over-limit allocation (512 MB) or a time-out
//! of a single input fails the run; libFuzzer leaves the input in the fuzz folder's
//! `artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// (crate folder, target, seed corpus folders under `fixtures/external`).
const TARGETS: &[(&str, &str, &[&str])] = &[
    ("crates/ingest", "m3u", &["m3u"]),
    ("crates/ingest", "xmltv", &["xmltv"]),
    ("crates/expr", "parse_and_evaluate", &[]),
];

/// Whether cargo-fuzz is installed.
pub fn installed() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every regular file below `dir`, flattened into `into` (libFuzzer reads one folder level).
fn flatten(dir: &Path, into: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            flatten(&path, into)?;
        } else if entry.file_type()?.is_file() {
            let name = path
                .strip_prefix("fixtures/external")
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('/', "_");
            std::fs::copy(&path, into.join(name))?;
        }
    }
    Ok(())
}

/// Runs every target for `--seconds` each.
pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 45u64;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .context("--seconds needs a value")?
                    .parse()
                    .context("--seconds")?
            }
            other => bail!("unknown option `{other}` (--seconds N)"),
        }
    }
    if !installed() {
        bail!("cargo-fuzz is not installed (cargo install cargo-fuzz --locked)");
    }
    let work = std::env::temp_dir().join(format!("tvarr-fuzz-{}", std::process::id()));
    for (folder, target, seeds) in TARGETS {
        let started = Instant::now();
        let corpus = work.join(target);
        let seed = work.join(format!("{target}-seed"));
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&seed)?;
        for name in *seeds {
            flatten(&PathBuf::from("fixtures/external").join(name), &seed)?;
        }
        let root = std::env::current_dir()?;
        println!("==> fuzz {target} for {seconds}s");
        let status = Command::new("cargo")
            .current_dir(root.join(folder))
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", target])
            .arg(&corpus)
            .arg(&seed)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=512",
                "-timeout=10",
                "-print_final_stats=1",
            ])
            .status()
            .context("running cargo fuzz")?;
        println!("    ({:.1}s)", started.elapsed().as_secs_f64());
        if !status.success() {
            let _ = std::fs::remove_dir_all(&work);
            bail!("fuzz target {target} failed (its input is in {folder}/fuzz/artifacts/{target})");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
