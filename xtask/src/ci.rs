//! `cargo xtask ci` and `cargo xtask test`.
//!
//! The test suite runs once per database. The database-backed tests read
//! `TVARR_TEST_DATABASE_URL`; each run sets it. PostgreSQL and MariaDB are found at their usual
//! local addresses (override with `TVARR_TEST_POSTGRES_URL` / `TVARR_TEST_MYSQL_URL`). When one
//! does not answer, its run is skipped with a notice, except under `CI=true`, where a skipped
//! database fails the run.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Formatting, lints, licences and tests.
    Full,
    /// Tests only.
    TestsOnly,
}

/// Packages whose tests read `TVARR_TEST_DATABASE_URL`.
const DATABASE_PACKAGES: &[&str] = &["tvarr-storage", "tvarr-jobs", "tvarr-api", "tvarr-server"];

struct Database {
    name: &'static str,
    url: String,
}

fn databases() -> Vec<Database> {
    let postgres = std::env::var("TVARR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mysql = std::env::var("TVARR_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_string());
    vec![
        Database {
            name: "sqlite",
            url: "sqlite::memory:".to_string(),
        },
        Database {
            name: "postgres",
            url: postgres,
        },
        Database {
            name: "mariadb",
            url: mysql,
        },
    ]
}

/// Whether something listens at the host and port of `url`.
fn reachable(url: &str) -> bool {
    let Some(rest) = url.split("://").nth(1) else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let Ok(mut addrs) = host_port.to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let started = Instant::now();
    println!("==> cargo {}", args.join(" "));
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    let status = command.status().context("running cargo")?;
    println!("    ({:.1}s)", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

/// Runs the checks for `mode`; `extra` is passed to `cargo test`.
pub fn run(mode: Mode, extra: &[String]) -> Result<()> {
    let started = Instant::now();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if mode == Mode::Full {
        cargo(&["fmt", "--all", "--", "--check"], &[])?;
        // The crate graph in docs/ARCHITECTURE.md is current and every dependency rule holds.
        println!("==> cargo xtask architecture --check");
        crate::architecture::check()?;
        cargo(
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )?;
        // The binaries as the README runs them: a release build once failed where every debug
        // build passed (rustc's query depth overflowed laying out `main`'s future).
        cargo(
            &[
                "check",
                "--release",
                "--locked",
                "-p",
                "tvarr-server",
                "-p",
                "tvarr-worker",
            ],
            &[],
        )?;
        // tvarr-ingest for embedders: the parsers without the `fetch` feature (no tokio,
        // reqwest), and their doctests as an embedder would run them.
        let parsers_only = ["-p", "tvarr-ingest", "--no-default-features", "--locked"];
        cargo(&[&["check"][..], &parsers_only].concat(), &[])?;
        cargo(&[&["test"][..], &parsers_only, &["--doc"]].concat(), &[])?;
        let has_deny = Command::new("cargo")
            .args(["deny", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if has_deny {
            // Not `--offline`: `cargo metadata` underneath needs the crates of every target
            // platform, which a build for this one never downloads. Licences, bans and sources
            // need only crates.io; the advisory database (unreachable here) is not checked.
            cargo(&["deny", "check", "licenses", "bans", "sources"], &[])?;
        } else if in_ci {
            bail!(
                "cargo-deny is not installed: CI must run the licence checks (cargo install cargo-deny)"
            );
        } else {
            println!(
                "==> cargo-deny is not installed: licence checks skipped (cargo install cargo-deny)"
            );
        }
    }
    // Build the tests once; each database run below reuses the build.
    cargo(&["test", "--workspace", "--locked", "--no-run"], &[])?;
    let mut skipped = Vec::new();
    for db in databases() {
        if db.name != "sqlite" && !reachable(&db.url) {
            println!(
                "==> {} does not answer at {}: its tests are skipped",
                db.name, db.url
            );
            skipped.push(db.name);
            continue;
        }
        println!("==> tests on {}", db.name);
        if db.name != "sqlite" {
            crate::dbserver::reset(&db.url);
        }
        // Every test runs on SQLite; the crates whose tests use the main database run again on
        // PostgreSQL and MariaDB.
        let mut args = if db.name == "sqlite" {
            vec!["test", "--workspace", "--locked"]
        } else {
            let mut args = vec!["test", "--locked"];
            for package in DATABASE_PACKAGES {
                args.extend(["-p", package]);
            }
            args
        };
        args.extend(extra.iter().map(String::as_str));
        cargo(
            &args,
            &[
                ("TVARR_TEST_DATABASE_URL", db.url.as_str()),
                ("TVARR_TEST_DATABASE", db.name),
            ],
        )?;
    }
    // The API against its own OpenAPI document, by a tool nobody here wrote. The debug server
    // binary exists: the end-to-end tests above built it.
    if crate::schemathesis::installed() {
        crate::schemathesis::run(&[])?;
    } else if in_ci {
        bail!(
            "schemathesis is not installed: CI must run it (pip install schemathesis=={})",
            crate::schemathesis::VERSION
        );
    } else {
        println!(
            "==> schemathesis is not installed: the OpenAPI conformance run is skipped (pip install schemathesis=={})",
            crate::schemathesis::VERSION
        );
    }
    // The parsers' fuzz targets, a bounded time each.
    if mode == Mode::Full {
        if crate::fuzz::installed() {
            crate::fuzz::run(&[])?;
        } else if in_ci {
            bail!(
                "cargo-fuzz is not installed: CI must run the fuzz targets (cargo install cargo-fuzz --locked)"
            );
        } else {
            println!(
                "==> cargo-fuzz is not installed: the fuzz targets are skipped (cargo install cargo-fuzz --locked)"
            );
        }
    }
    println!("==> done in {:.0}s", started.elapsed().as_secs_f64());
    if !skipped.is_empty() {
        if in_ci {
            bail!("databases skipped under CI: {}", skipped.join(", "));
        }
        println!("WARNING: tests did not run on {}", skipped.join(", "));
    }
    Ok(())
}
