//! What the relay's integration tests share: the fixture as a live channel of the loopback
//! provider, a relay configuration with short timeouts, and waiting helpers.
#![allow(dead_code)] // Each test file uses its part.

use std::time::Duration;

use tokio::time::Instant;
use tvarr_relay::hls::HlsOptions;
use tvarr_relay::{BreakerPolicy, Relay, RelayConfig, SessionReport, ViewerStream, Watch};
use tvarr_testkit::{ProviderServer, Reply, Route};

pub const PACKET: usize = 188;
/// The drip of a live channel: 80 packets every 5 ms (about 3 MB/s, a fixture's worth, and
/// so a keyframe, every 0.15 s).
pub const PIECE: usize = 80 * PACKET;
pub const TICK: Duration = Duration::from_millis(5);

pub fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/external/hls/tvarr-test-stream.ts"
    );
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len() % PACKET, 0);
    bytes
}

/// One fixture's length: the distance between two keyframes of the live channel.
pub fn copy_len() -> usize {
    fixture().len()
}

/// A live channel: the fixture over and over, counters carried on, at the test rate.
pub fn live() -> Reply {
    Reply::live_ts(fixture()).drip(PIECE, TICK)
}

pub fn config() -> RelayConfig {
    RelayConfig {
        ring_bytes: 2 << 20,
        idle_grace: Duration::from_millis(300),
        start_timeout: Duration::from_millis(500),
        stall_timeout: Duration::from_millis(300),
        max_skips: 8,
        max_garbage_bytes: 64 * 1024,
        rounds: 2,
        breaker: BreakerPolicy::default(),
        hls: HlsOptions::default(),
        error_slate: true,
        coalesce: Duration::from_millis(20),
    }
}

pub async fn start(route: &str, reply: Reply) -> ProviderServer {
    let server = ProviderServer::start().await.unwrap();
    server.route(route, Route::new(reply));
    server
}

pub async fn watch(relay: &Relay, request: Watch) -> ViewerStream {
    match tokio::time::timeout(Duration::from_secs(5), relay.watch(request)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => panic!("not admitted: {error}"),
        Err(_) => panic!("watch did not answer"),
    }
}

/// Waits until `done` holds, polling every 10 ms, for at most `limit`.
pub async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn only_session(relay: &Relay) -> SessionReport {
    let sessions = relay.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    sessions.into_iter().next().unwrap()
}

pub fn pid(packet: &[u8]) -> u16 {
    (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
}
