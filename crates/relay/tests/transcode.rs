//! `relay` mode end to end with the real FFmpeg: a session whose delivery is
//! [`Delivery::Transcode`] reads its upstream through FFmpeg (a `copy` remux and an H.264
//! software transcode of the fixture), its viewers receive MPEG-TS from the PAT on, and when the
//! session ends no FFmpeg process is left; an FFmpeg that cannot read its input fails the
//! session over like a broken upstream, with FFmpeg's words as the reason.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tvarr_core::{ChannelId, ProxyId, RelayProfileId, RelayProfileInput, VideoContainer};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_relay::ffmpeg::{Ffmpeg, TranscodeProfile};
use tvarr_relay::{Delivery, Relay, RelayConfig, RelayError, Upstream, ViewerInfo, Watch};
use tvarr_testkit::{ProviderServer, Reply, Route};

const PACKET: usize = 188;

/// The tests count this process's FFmpeg children: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/external/hls/tvarr-test-stream.ts"
    ))
    .unwrap()
}

fn profile(video: &str, max_height: Option<u32>) -> RelayProfileInput {
    RelayProfileInput {
        name: format!("test {video}"),
        video_codec: video.into(),
        audio_codec: "copy".into(),
        video_bitrate_kbps: None,
        audio_bitrate_kbps: None,
        max_height,
        hardware_acceleration: "none".into(),
        container: VideoContainer::MpegTs,
        preset: None,
        extra_args: Vec::new(),
    }
}

async fn relay() -> (Relay, Ffmpeg) {
    let ffmpeg = Ffmpeg::detect(None).await.expect("FFmpeg is installed");
    let relay = Relay::with_ffmpeg(
        HttpFetcher::new(FetchOptions::default()).unwrap(),
        RelayConfig {
            idle_grace: Duration::from_millis(200),
            start_timeout: Duration::from_secs(8),
            stall_timeout: Duration::from_secs(3),
            ..RelayConfig::default()
        },
        Some(ffmpeg.clone()),
    );
    (relay, ffmpeg)
}

fn watch(channel: u128, url: String, args: Vec<String>) -> Watch {
    Watch {
        channel: ChannelId::from_uuid(uuid::Uuid::from_u128(channel)),
        channel_name: "Transcoded".into(),
        proxy: ProxyId::from_uuid(uuid::Uuid::nil()),
        delivery: Delivery::Transcode {
            profile: RelayProfileId::from_uuid(uuid::Uuid::from_u128(7)),
            args,
        },
        upstreams: vec![Upstream::new(url)],
        viewer: ViewerInfo::default(),
        proxy_streams: None,
        account_streams: None,
    }
}

/// The FFmpeg processes that are children of this test process.
fn ffmpeg_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let comm = stat[..close].split_once('(').map(|(_, c)| c).unwrap_or("");
            let ppid = stat[close + 2..].split_whitespace().nth(1).unwrap_or("");
            comm == "ffmpeg" && ppid == me
        })
        .count()
}

async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_ts(bytes: &[u8]) {
    assert!(bytes.len() >= PACKET * 10, "only {} bytes", bytes.len());
    for (i, packet) in bytes.chunks_exact(PACKET).enumerate() {
        assert_eq!(packet[0], 0x47, "packet {i} is not aligned");
    }
    let pid = (u16::from(bytes[1] & 0x1f) << 8) | u16::from(bytes[2]);
    assert_eq!(pid, 0, "the viewer's first packet is not the PAT");
}

async fn transcodes(video: &str, max_height: Option<u32>, channel: u128) {
    let _serial = SERIAL.lock().await;
    let (relay, ffmpeg) = relay().await;
    let provider = ProviderServer::start().await.unwrap();
    // Faster than real time, so the test takes a second or two.
    provider.route(
        "/live.ts",
        Route::new(Reply::live_ts(fixture()).drip(40 * PACKET, Duration::from_millis(5))),
    );
    let args = TranscodeProfile::from_input(&profile(video, max_height), None, &[])
        .unwrap()
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut viewer = tokio::time::timeout(
        Duration::from_secs(15),
        relay.watch(watch(channel, provider.url("/live.ts"), args)),
    )
    .await
    .expect("watch answered")
    .expect("admitted");
    assert_eq!(ffmpeg_children(), 1, "one FFmpeg for the session");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), async {
        while got.len() < 200 * PACKET {
            match viewer.next().await {
                Some(Ok(chunk)) => got.extend_from_slice(&chunk),
                other => panic!("the stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("FFmpeg's output reached the viewer");
    check_ts(&got);
    let sessions = relay.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].mode, "relay");
    drop(viewer);
    until(Duration::from_secs(5), "the session ended", || {
        relay.sessions().is_empty()
    })
    .await;
    until(Duration::from_secs(5), "FFmpeg was reaped", || {
        ffmpeg_children() == 0
    })
    .await;
    until(Duration::from_secs(5), "the upstream closed", || {
        provider.open_connections() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_relay_remuxes_the_upstream_through_ffmpeg() {
    transcodes("copy", None, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_software_transcode_scales_the_upstream_down() {
    transcodes("h264", Some(144), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_that_cannot_read_its_input_fails_the_session_with_its_reason() {
    let _serial = SERIAL.lock().await;
    let (relay, ffmpeg) = relay().await;
    let provider = ProviderServer::start().await.unwrap();
    // TS packets full of nothing FFmpeg can decode: sync bytes, no PAT, no PMT.
    let mut junk = Vec::new();
    for i in 0..20_000u32 {
        let mut packet = vec![0xffu8; PACKET];
        packet[0] = 0x47;
        packet[1] = 0x1f;
        packet[2] = 0xff;
        packet[3] = 0x10 | (i % 16) as u8;
        junk.extend_from_slice(&packet);
    }
    provider.route(
        "/junk.ts",
        Route::new(Reply::ok(junk).header("Content-Type", "video/mp2t")),
    );
    let args = TranscodeProfile::from_input(&profile("copy", None), None, &[])
        .unwrap()
        .args(&ffmpeg, None, None)
        .unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        relay.watch(watch(3, provider.url("/junk.ts"), args)),
    )
    .await
    .expect("watch answered");
    match answer {
        Err(RelayError::Unavailable(reason)) => {
            assert!(reason.contains("FFmpeg"), "{reason}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a stream FFmpeg cannot read was delivered"),
    }
    until(Duration::from_secs(5), "FFmpeg was reaped", || {
        ffmpeg_children() == 0
    })
    .await;
}
