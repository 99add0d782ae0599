//! `cargo +nightly fuzz run xmltv` (from `crates/ingest/fuzz`): any bytes through the XMLTV
//! parser, draining it after errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvarr_ingest::xmltv::{XmltvOptions, XmltvReader};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = XmltvReader::new(data, XmltvOptions::default()) else {
        return;
    };
    let mut errors = 0;
    loop {
        match reader.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                errors += 1;
                assert!(errors < 2, "a reader reports at most one error");
            }
        }
    }
});
