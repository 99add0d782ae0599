//! `tvarr-server`: reads the settings, wires the crates together, and serves the API, the
//! outputs and (unless `--workers 0`) the background workers in one process.

use std::process::ExitCode;

/// mimalloc (without transparent huge pages): a million-programme ingest takes 7.1 s and
/// 92 MiB with it, 11.3 to 12.2 s with glibc's allocator (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before the runtime starts its threads (see the function's docs).
    tvarr_app::limit_c_allocator_arenas();
    run()
}

#[tokio::main]
async fn run() -> ExitCode {
    let settings = match tvarr_app::Settings::from_process() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("tvarr-server: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = tvarr_app::telemetry::init_tracing(&settings, "tvarr-server");
    match tvarr_app::run_server(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tvarr-server: {e}");
            ExitCode::FAILURE
        }
    }
}
