//! `cargo +nightly fuzz run m3u` (from `crates/ingest/fuzz`): any bytes through the M3U parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvarr_ingest::m3u::{M3uOptions, M3uReader};

fuzz_target!(|data: &[u8]| {
    let base = url::Url::parse("http://fuzz.test/list.m3u").ok();
    let reader = M3uReader::new(data, M3uOptions {
        base_url: base,
        ..M3uOptions::default()
    });
    for channel in reader {
        let _ = channel;
    }
});
