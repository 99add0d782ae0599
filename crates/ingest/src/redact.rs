//! Keeping credentials out of logs and errors: the rules live in `tvarr-core`, so the API
//! masks what it shows with the same ones.

pub use tvarr_core::redact_url;
