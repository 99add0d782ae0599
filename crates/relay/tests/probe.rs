//! What the relay learns and shows with the real FFmpeg: ffprobe's description of a session's
//! upstream (after a failover too), the last known media of a channel shown by its next
//! session at once, and the error slate a viewer sees when its channel's only upstream is
//! lost mid-stream, before its stream ends (and not without FFmpeg, nor when the slate is
//! turned off). Against a loopback provider serving
//! the MPEG-TS fixture (H.264 320x240 at 25 frames a second, mono AAC at 44.1 kHz) as a live
//! channel.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use support::*;
use tokio::task::JoinHandle;
use tvarr_core::{ChannelId, ProxyId};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_relay::ffmpeg::{Ffmpeg, MediaInfo};
use tvarr_relay::{Delivery, Relay, RelayConfig, Upstream, ViewerInfo, ViewerStream, Watch};
use tvarr_testkit::{ProviderServer, Reply, Route, SeenRequest};

fn fetcher() -> HttpFetcher {
    HttpFetcher::new(FetchOptions::default()).unwrap()
}

async fn ffmpeg() -> Ffmpeg {
    let ffmpeg = Ffmpeg::detect(None).await.expect("FFmpeg is installed");
    assert!(ffmpeg.ffprobe_path().is_some(), "ffprobe is installed");
    ffmpeg
}

async fn relay_with_ffmpeg(config: RelayConfig) -> Relay {
    Relay::with_ffmpeg(fetcher(), config, Some(ffmpeg().await))
}

fn request(channel: ChannelId, upstream: String) -> Watch {
    Watch {
        channel,
        channel_name: "Test".into(),
        proxy: ProxyId::from_uuid(uuid::Uuid::nil()),
        delivery: Delivery::Proxy,
        upstreams: vec![Upstream::new(upstream)],
        viewer: ViewerInfo::default(),
        proxy_streams: None,
        account_streams: None,
    }
}

/// Reads a viewer's stream and throws it away, until aborted (which drops the viewer).
fn drain(mut viewer: ViewerStream) -> JoinHandle<()> {
    tokio::spawn(async move { while viewer.next().await.is_some() {} })
}

/// Everything a viewer receives until its stream ends, which must be within `limit`.
async fn read_to_end(viewer: &mut ViewerStream, limit: Duration) -> Vec<u8> {
    tokio::time::timeout(limit, async {
        let mut got = Vec::new();
        while let Some(chunk) = viewer.next().await {
            got.extend_from_slice(&chunk.expect("no error"));
        }
        got
    })
    .await
    .expect("the viewer's stream ended")
}

/// Waits for the session to have media probed after `after` (any, when none), and returns it.
async fn probed(relay: &Relay, after: Option<DateTime<Utc>>) -> (MediaInfo, DateTime<Utc>) {
    until(Duration::from_secs(8), "the upstream was probed", || {
        let session = only_session(relay);
        session.media.is_some()
            && session
                .media_probed_at
                .is_some_and(|at| after.is_none_or(|after| at > after))
    })
    .await;
    let session = only_session(relay);
    (session.media.unwrap(), session.media_probed_at.unwrap())
}

/// What ffprobe says of the fixture.
fn is_the_fixture(media: &MediaInfo) {
    assert_eq!(media.video.len(), 1, "{media:?}");
    let video = &media.video[0];
    assert_eq!(video.codec, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(video.frame_rate, Some(25.0));
    assert_eq!(media.audio.len(), 1, "{media:?}");
    assert_eq!(media.audio[0].codec, "aac");
    assert_eq!(media.audio[0].channels, Some(1));
    assert_eq!(media.audio[0].sample_rate, Some(44100));
}

async fn ends_clean(relay: &Relay, servers: &[&ProviderServer]) {
    relay.end_all();
    until(Duration::from_secs(3), "every session ended", || {
        relay.sessions().is_empty()
    })
    .await;
    until(Duration::from_secs(3), "every upstream closed", || {
        servers.iter().all(|s| s.open_connections() == 0)
    })
    .await;
}

/// The PMT PID a PAT packet names (its first program).
fn pmt_pid_of(pat: &[u8]) -> u16 {
    let payload = &pat[4..];
    let section = &payload[1 + usize::from(payload[0])..];
    assert_eq!(section[0], 0, "a PAT");
    let entry = &section[8..12];
    (u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3])
}

/// Whole packets starting with the PAT, then its PMT.
fn starts_as_ts(bytes: &[u8]) {
    assert!(bytes.len() >= 10 * PACKET, "only {} bytes", bytes.len());
    assert_eq!(bytes.len() % PACKET, 0, "whole packets");
    for (i, packet) in bytes.chunks_exact(PACKET).enumerate() {
        assert_eq!(packet[0], 0x47, "packet {i} starts with the sync byte");
    }
    assert_eq!(pid(bytes), 0, "it starts with the PAT");
    assert_eq!(pid(&bytes[PACKET..]), pmt_pid_of(bytes), "then the PMT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_shows_what_ffprobe_found_in_its_upstream() {
    let server = start("/live.ts", live()).await;
    let relay = relay_with_ffmpeg(config()).await;
    let channel = ChannelId::new();
    let viewer = watch(&relay, request(channel, server.url("/live.ts"))).await;
    let reader = drain(viewer);
    let (media, at) = probed(&relay, None).await;
    is_the_fixture(&media);
    assert_eq!(media.format.as_deref(), Some("mpegts"));
    let session = only_session(&relay);
    assert!(at >= session.started_at, "probed during the session");
    // Kept for the channel, and only for it.
    assert_eq!(relay.last_media(channel), Some((media, at)));
    assert_eq!(relay.last_media(ChannelId::new()), None);
    assert_eq!(
        server.hits("/live.ts"),
        1,
        "the probe reads no stream of its own"
    );
    reader.abort();
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_shows_the_last_known_media_of_its_channel_before_its_own_probe() {
    let server = ProviderServer::start().await.unwrap();
    server.route("/fast.ts", Route::new(live()));
    // A 25th of the rate (120 kB/s, under 1 MiB in the 8 s `probed` waits): the sample of the
    // second session is what 2 s bring.
    server.route(
        "/slow.ts",
        Route::new(Reply::live_ts(fixture()).drip(PIECE, 25 * TICK)),
    );
    let relay = relay_with_ffmpeg(config()).await;
    let channel = ChannelId::new();
    let viewer = watch(&relay, request(channel, server.url("/fast.ts"))).await;
    let reader = drain(viewer);
    let (first, first_at) = probed(&relay, None).await;
    reader.abort();
    until(Duration::from_secs(3), "the first session ended", || {
        relay.sessions().is_empty()
    })
    .await;
    assert_eq!(relay.last_media(channel), Some((first.clone(), first_at)));

    let viewer = watch(&relay, request(channel, server.url("/slow.ts"))).await;
    let session = only_session(&relay);
    assert_eq!(server.hits("/slow.ts"), 1, "a new session");
    assert_eq!(
        session.media.as_ref(),
        Some(&first),
        "the last known media at once"
    );
    assert_eq!(session.media_probed_at, Some(first_at));
    assert!(session.media_probed_at < Some(session.started_at));
    let reader = drain(viewer);
    // Then its own probe takes over.
    let (own, own_at) = probed(&relay, Some(first_at)).await;
    is_the_fixture(&own);
    assert!(own_at > only_session(&relay).started_at);
    assert_eq!(relay.last_media(channel), Some((own, own_at)));
    reader.abort();
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_a_failover_brings_is_probed_again() {
    // 3 MiB, then the connection closes; the reconnection plays on.
    let server = ProviderServer::answering(|_: &SeenRequest, previous| {
        if previous == 0 {
            live().close_after(3 << 20)
        } else {
            live()
        }
    })
    .await
    .unwrap();
    let relay = relay_with_ffmpeg(config()).await;
    let viewer = watch(&relay, request(ChannelId::new(), server.url("/live.ts"))).await;
    let reader = drain(viewer);
    let (_, first_at) = probed(&relay, None).await;
    until(
        Duration::from_secs(5),
        "the upstream was reconnected",
        || only_session(&relay).failovers == 1,
    )
    .await;
    let reconnected = only_session(&relay).upstream_connected_at.unwrap();
    assert!(
        reconnected > first_at,
        "the first probe was of the first connection"
    );
    let (media, at) = probed(&relay, Some(reconnected)).await;
    is_the_fixture(&media);
    assert!(at > first_at);
    assert_eq!(server.hits("/live.ts"), 2);
    reader.abort();
    ends_clean(&relay, &[&server]).await;
}

/// A channel whose only upstream delivers one copy of the fixture, closes, and answers 404
/// from then on; returns everything its viewer received, until its stream ended.
async fn lost_mid_stream(relay: &Relay) -> Vec<u8> {
    let server = ProviderServer::answering(|_: &SeenRequest, previous| {
        if previous == 0 {
            live().close_after(copy_len())
        } else {
            Reply::status(404, "no such channel")
        }
    })
    .await
    .unwrap();
    let mut viewer = watch(relay, request(ChannelId::new(), server.url("/live.ts"))).await;
    let got = read_to_end(&mut viewer, Duration::from_secs(15)).await;
    assert_eq!(server.hits("/live.ts"), config().rounds as usize);
    assert!(relay.sessions().is_empty(), "the session ended");
    ends_clean(relay, &[&server]).await;
    got
}

/// What the viewer of [`lost_mid_stream`] gets from the upstream: the tables, then the
/// fixture from its first keyframe (packet 3) to its end.
fn from_the_upstream() -> usize {
    copy_len() - PACKET
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_whose_channel_is_lost_mid_stream_sees_the_slate_then_its_stream_ends() {
    let relay = relay_with_ffmpeg(config()).await;
    let got = lost_mid_stream(&relay).await;
    let split = from_the_upstream();
    assert!(
        got.len() > split + 10 * PACKET,
        "{} bytes: nothing after the {split} of the upstream",
        got.len()
    );
    starts_as_ts(&got[..split]);
    assert_eq!(
        &got[2 * PACKET..split],
        &fixture()[3 * PACKET..],
        "the upstream's bytes, as it sent them"
    );
    // Then the slate, from its PAT and PMT on: a picture of its own (1280x720, not the
    // channel's 320x240).
    let slate = &got[split..];
    starts_as_ts(slate);
    let media = ffmpeg()
        .await
        .probe(bytes::Bytes::copy_from_slice(slate))
        .await
        .expect("the slate is a stream ffprobe reads");
    assert_eq!(media.video.len(), 1, "{media:?}");
    assert_eq!(media.video[0].codec, "h264");
    assert_eq!(
        (media.video[0].width, media.video[0].height),
        (Some(1280), Some(720))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ffmpeg_the_stream_of_a_lost_channel_just_ends() {
    let relay = Relay::new(fetcher(), config());
    let got = lost_mid_stream(&relay).await;
    assert_eq!(got.len(), from_the_upstream(), "no slate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_slate_turned_off_the_stream_of_a_lost_channel_just_ends() {
    let relay = relay_with_ffmpeg(RelayConfig {
        error_slate: false,
        ..config()
    })
    .await;
    let got = lost_mid_stream(&relay).await;
    assert_eq!(got.len(), from_the_upstream(), "no slate");
}
