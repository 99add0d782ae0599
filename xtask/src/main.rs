//! `cargo xtask`: the developer tooling of tvarr, in Rust rather than shell scripts.
//!
//! - `cargo xtask ci`: formatting, lints, and the test suite on SQLite, PostgreSQL and MariaDB.
//! - `cargo xtask architecture [--check]`: the crate graph in docs/ARCHITECTURE.md, and the
//!   dependency rules.
//! - `cargo xtask test`: the test suite alone, on every database that answers.
//! - `cargo xtask schemathesis`: the API against its OpenAPI document, by schemathesis.
//! - `cargo xtask fuzz`: the parsers' fuzz targets for a bounded time.
//! - `cargo xtask bench-relay`: stream delivery under load: first byte, 200 viewers of one
//!   channel, concurrent FFmpeg relays.
#![allow(clippy::print_stdout)]

mod architecture;
mod bench_e2e;
mod bench_relay;
mod ci;
mod dbserver;
mod fuzz;
mod gen_fixtures;
mod schemathesis;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        print_usage();
        return Ok(());
    };
    let rest = &args[1..];
    match command.as_str() {
        "architecture" => architecture::run(rest),
        "ci" => ci::run(ci::Mode::Full, rest),
        "test" => ci::run(ci::Mode::TestsOnly, rest),
        "gen-fixtures" => gen_fixtures::run(rest),
        "bench-e2e" => bench_e2e::run(rest),
        "bench-relay" => bench_relay::run(rest),
        "schemathesis" => schemathesis::run(rest),
        "fuzz" => fuzz::run(rest),
        "help" | "--help" | "-h" => {
            print_usage();
            Ok(())
        }
        other => {
            print_usage();
            bail!("unknown command `{other}`")
        }
    }
}

fn print_usage() {
    println!(
        "usage: cargo xtask <command>\n\n\
         commands:\n  \
         architecture [--check]\n          \
                 write (or check) the crate graph in docs/ARCHITECTURE.md; fail on a\n          \
                 forbidden dependency or a missing path the page names\n  \
         ci      cargo fmt --check, cargo clippy -D warnings, a release check of the binaries,\n          \
                 cargo deny (if installed),\n          \
                 and the tests on SQLite, PostgreSQL and MariaDB\n  \
         test    the tests on every database that answers\n  \
         gen-fixtures [--out DIR]\n          \
                 deterministic large inputs: 100k-channel M3U, 1M-programme XMLTV, Xtream JSON\n  \
         bench-e2e [--database-url URL] [--only m3u|xmltv]\n          \
                 ingest the generated inputs through the release server; time, peak RSS, API latency\n  \
         bench-relay [--viewers N] [--seconds S] [--ffmpeg-relays N] [--repeats N] [--build]\n          \
                 stream delivery through the release server: first byte, N viewers of one\n          \
                 channel (MPEG-TS verified, CPU, RSS), concurrent FFmpeg relays\n  \
         schemathesis [--binary PATH] [--max-examples N] [--seed N]\n          \
                 the OpenAPI document tested by schemathesis against the running server,\n          \
                 with and without credentials\n  \
         fuzz [--seconds N]\n          \
                 every parser fuzz target for N seconds (cargo-fuzz, libFuzzer)"
    );
}
