//! sea-orm entities of the tables edited one record at a time. The bulk tables (channels,
//! guide channels, programmes) and a proxy's link tables are read and written with
//! hand-written SQL instead: see `crate::bulk`.

pub(crate) mod api_key;
pub(crate) mod epg_source;
pub(crate) mod filter;
pub(crate) mod job;
pub(crate) mod logo;
pub(crate) mod mapping_rule;
pub(crate) mod proxy;
pub(crate) mod relay_profile;
pub(crate) mod session;
pub(crate) mod stream_source;
pub(crate) mod user;
