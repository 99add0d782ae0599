//! Stream delivery for tvarr's `proxy` and `relay` modes.
//!
//! This crate owns what happens between a provider's stream and the players watching it:
//!
//! - [`ts`]: MPEG-TS packets: realignment of arbitrary bytes to packets, keyframes and the
//!   PAT/PMT a joining viewer needs first;
//! - [`hls`]: an HLS upstream (master or media playlist) collapsed into one continuous
//!   MPEG-TS;
//! - [`ffmpeg`]: the FFmpeg binary (detection, version, hardware acceleration), the arguments
//!   of a relay profile, and a running transcoder with its progress; [`Transcoding`] turns a
//!   stored relay profile into the delivery of a `relay`-mode session, whose upstream is read
//!   through FFmpeg;
//! - the [`Relay`]: one session per playing channel (and relay profile), its upstream read
//!   once into a bounded ring that every viewer of the channel reads, viewers admitted within
//!   their proxy's and account's stream limits, failover between a channel's upstreams, and a
//!   circuit breaker per upstream host.
//!
//! It is free of any web framework and any database: the HTTP API adapts it, and what it knows
//! of channels, proxies and profiles comes in as `tvarr-core` types.

mod breaker;
mod coalesce;
pub mod ffmpeg;
pub mod hls;
mod ring;
mod session;
mod transcode;
mod transcoding;
pub mod ts;

pub use breaker::{BreakerPolicy, BreakerState};
pub use session::{
    Delivery, Relay, RelayConfig, RelayError, RelayTotals, SessionReport, Upstream, ViewerInfo,
    ViewerReport, ViewerStream, Watch,
};
pub use transcoding::{Transcoding, TranscodingStatus};
