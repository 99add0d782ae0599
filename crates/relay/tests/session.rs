//! The relay end to end against a loopback provider serving the MPEG-TS fixture as a live
//! channel (the file over and over, its continuity counters carried on, dripped faster than
//! real time): one upstream for many viewers, joining at a keyframe, failover, refusals,
//! the idle grace, the stream limits, slow viewers, ending sessions, circuit breakers and an
//! HLS upstream. Every test ends with no session left and no provider connection open.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use support::*;
use tokio::time::Instant;
use tvarr_core::{ChannelId, ProxyId, StreamSourceId};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_relay::hls::HlsOptions;
use tvarr_relay::{
    BreakerPolicy, BreakerState, Delivery, Relay, RelayConfig, RelayError, Upstream, ViewerInfo,
    ViewerStream, Watch,
};
use tvarr_testkit::{ProviderServer, Reply, Route, SeenRequest};

const PAT_PID: u16 = 0;

/// The same channel as a provider serves it to a client that connects mid-stream: from
/// packet `at` of the file on, in the middle of a group of pictures.
fn live_from(at: usize) -> Reply {
    let ts = fixture();
    let mut body = ts[at * PACKET..].to_vec();
    body.extend_from_slice(&Reply::ts_copy(&ts, 1)[..at * PACKET]);
    Reply::live_ts(body).drip(PIECE, TICK)
}

fn fetcher() -> HttpFetcher {
    // Loopback is a private address, which the default options allow.
    HttpFetcher::new(FetchOptions::default()).unwrap()
}

fn request(channel: ChannelId, upstreams: Vec<Upstream>) -> Watch {
    Watch {
        channel,
        channel_name: "Test".into(),
        proxy: ProxyId::from_uuid(uuid::Uuid::nil()),
        delivery: Delivery::Proxy,
        upstreams,
        viewer: ViewerInfo::default(),
        proxy_streams: None,
        account_streams: None,
    }
}

fn up(server: &ProviderServer, path: &str) -> Upstream {
    Upstream::new(server.url(path))
}

/// At least `n` bytes of a viewer's stream (whole chunks), failing when it ends first.
async fn read(stream: &mut ViewerStream, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let work = async {
        while out.len() < n {
            match stream.next().await {
                Some(Ok(chunk)) => out.extend_from_slice(&chunk),
                Some(Err(error)) => panic!("the stream failed: {error}"),
                None => panic!("the stream ended after {} of {n} bytes", out.len()),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("the viewer received its bytes in time");
    out
}

/// Ends every session and checks that nothing is left: no session, and no connection open at
/// any provider.
async fn ends_clean(relay: &Relay, servers: &[&ProviderServer]) {
    relay.end_all();
    let grace = config().idle_grace;
    until(
        grace + Duration::from_secs(2),
        "every session ended",
        || relay.sessions().is_empty(),
    )
    .await;
    until(
        grace + Duration::from_secs(2),
        "every upstream closed",
        || servers.iter().all(|s| s.open_connections() == 0),
    )
    .await;
    assert_eq!(relay.totals().sessions, 0);
    assert_eq!(relay.totals().viewers, 0);
}

fn pusi(packet: &[u8]) -> bool {
    packet[1] & 0x40 != 0
}

fn has_payload(packet: &[u8]) -> bool {
    packet[3] & 0x10 != 0
}

fn random_access(packet: &[u8]) -> bool {
    packet[3] & 0x20 != 0 && packet[4] > 0 && packet[5] & 0x40 != 0
}

fn payload(packet: &[u8]) -> &[u8] {
    let start = if packet[3] & 0x20 != 0 {
        5 + usize::from(packet[4])
    } else {
        4
    };
    packet.get(start..).unwrap_or(&[])
}

/// The section a table packet starts, after its pointer field.
fn section(packet: &[u8]) -> &[u8] {
    let payload = payload(packet);
    &payload[1 + usize::from(payload[0])..]
}

/// The PMT PID a PAT packet names (its first program).
fn pmt_pid_of(pat: &[u8]) -> u16 {
    let section = section(pat);
    assert_eq!(section[0], 0, "a PAT");
    let entry = &section[8..12];
    (u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3])
}

/// The H.264 video PID a PMT packet names.
fn video_pid_of(pmt: &[u8]) -> u16 {
    let section = section(pmt);
    assert_eq!(section[0], 2, "a PMT");
    let length = (usize::from(section[1] & 0x0f) << 8) | usize::from(section[2]);
    let info = (usize::from(section[10] & 0x0f) << 8) | usize::from(section[11]);
    let mut rest = &section[12 + info..3 + length - 4];
    while rest.len() >= 5 {
        let pid = (u16::from(rest[1] & 0x1f) << 8) | u16::from(rest[2]);
        if rest[0] == 0x1b {
            return pid;
        }
        let es_info = (usize::from(rest[3] & 0x0f) << 8) | usize::from(rest[4]);
        rest = &rest[5 + es_info..];
    }
    panic!("the PMT names no H.264 stream")
}

/// Whether a video packet starts a keyframe: the random access indicator, or an IDR NAL unit
/// in the PES it starts.
fn keyframe(packet: &[u8]) -> bool {
    if random_access(packet) {
        return true;
    }
    let pes = payload(packet);
    if !pusi(packet) || pes.len() < 9 || pes[..3] != [0, 0, 1] {
        return false;
    }
    pes[9 + usize::from(pes[8])..]
        .windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

/// What a viewer's bytes are, as MPEG-TS.
#[derive(Debug)]
struct TsReport {
    packets: usize,
    /// Continuity counter breaks per PID.
    gaps: HashMap<u16, usize>,
}

impl TsReport {
    fn total_gaps(&self) -> usize {
        self.gaps.values().sum()
    }
}

/// Checks that `bytes` are whole packets that start as a player needs: PAT, then its PMT,
/// and the first video packet a keyframe; counts continuity breaks per PID. Every break of
/// the video PID (a failover) must come as a clean start: right after a PAT and a PMT, at a
/// keyframe.
fn check_ts(bytes: &[u8]) -> TsReport {
    assert!(bytes.len() >= 3 * PACKET, "only {} bytes", bytes.len());
    assert_eq!(bytes.len() % PACKET, 0, "whole packets");
    let packets: Vec<&[u8]> = bytes.chunks_exact(PACKET).collect();
    for (i, packet) in packets.iter().enumerate() {
        assert_eq!(packet[0], 0x47, "packet {i} starts with the sync byte");
    }
    assert_eq!(pid(packets[0]), PAT_PID, "the stream starts with the PAT");
    let pmt_pid = pmt_pid_of(packets[0]);
    assert_eq!(pid(packets[1]), pmt_pid, "then the PMT");
    let video = video_pid_of(packets[1]);
    let first_video = packets
        .iter()
        .position(|p| pid(p) == video)
        .expect("a video packet");
    assert!(
        keyframe(packets[first_video]),
        "the first video packet starts a keyframe"
    );
    let mut counters: HashMap<u16, u8> = HashMap::new();
    let mut gaps: HashMap<u16, usize> = HashMap::new();
    for (i, packet) in packets.iter().enumerate() {
        if !has_payload(packet) {
            continue;
        }
        let counter = packet[3] & 0x0f;
        if let Some(previous) = counters.insert(pid(packet), counter)
            && counter != (previous + 1) & 0x0f
        {
            *gaps.entry(pid(packet)).or_default() += 1;
            if pid(packet) == video {
                assert!(
                    i >= 2
                        && pid(packets[i - 2]) == PAT_PID
                        && pid(packets[i - 1]) == pmt_pid
                        && keyframe(packet),
                    "the video resumes at packet {i} after the PAT and PMT, at a keyframe"
                );
            }
        }
    }
    TsReport {
        packets: packets.len(),
        gaps,
    }
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn two_viewers_share_one_upstream_and_both_get_valid_ts() {
    let server = start("/live/1.ts", live()).await;
    let relay = Relay::new(fetcher(), config());
    let channel = ChannelId::new();
    let upstreams = vec![up(&server, "/live/1.ts")];
    let mut a = watch(&relay, request(channel, upstreams.clone())).await;
    let mut b = watch(&relay, request(channel, upstreams)).await;
    let n = 2 * copy_len();
    let (got_a, got_b) = tokio::join!(read(&mut a, n), read(&mut b, n));
    assert_eq!(server.hits("/live/1.ts"), 1, "one upstream request");
    assert_eq!(server.open_connections(), 1);
    for got in [&got_a, &got_b] {
        let report = check_ts(got);
        assert_eq!(report.total_gaps(), 0, "{report:?}");
    }
    let session = only_session(&relay);
    assert_eq!(session.viewers.len(), 2);
    assert_eq!(session.upstream_index, 0);
    assert_eq!(session.failovers, 0);
    assert_eq!(session.breaker, BreakerState::Closed);
    assert!(session.upstream_connected_at.is_some());
    assert!(session.bytes_in >= n as u64);
    assert!(session.viewers.iter().all(|v| v.bytes >= n as u64));
    assert_eq!(relay.totals().viewers, 2);
    drop((a, b));
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn a_late_viewer_starts_at_a_recent_keyframe() {
    let server = start("/live/1.ts", live()).await;
    let relay = Relay::new(fetcher(), config());
    let channel = ChannelId::new();
    let upstreams = vec![up(&server, "/live/1.ts")];
    let copy = copy_len();
    let mut a = watch(&relay, request(channel, upstreams.clone())).await;
    // The first viewer reads everything from the session's first keyframe on.
    let first = tokio::spawn(async move { read(&mut a, 7 * copy).await });
    until(Duration::from_secs(5), "three keyframes went by", || {
        only_session(&relay).bytes_in > 3 * copy as u64 + 4 * PIECE as u64
    })
    .await;
    let live_edge = only_session(&relay).bytes_in as usize;
    let mut b = watch(&relay, request(channel, upstreams)).await;
    let got_b = read(&mut b, copy).await;
    assert_eq!(check_ts(&got_b).total_gaps(), 0);
    let got_a = first.await.unwrap();
    assert_eq!(check_ts(&got_a).total_gaps(), 0);
    // Where the late viewer's first keyframe is in the first viewer's stream.
    let keyframe_at = 2 * PACKET;
    let at = find(&got_a, &got_b[keyframe_at..keyframe_at + 64 * PACKET])
        .expect("the late viewer sees the same stream");
    assert!(
        at + copy + 8 * PIECE >= live_edge,
        "joined at byte {at}, the live edge was at {live_edge}: not the newest keyframe"
    );
    assert!(at >= 2 * copy, "not at the ring's oldest bytes ({at})");
    assert_eq!(server.hits("/live/1.ts"), 1);
    drop(b);
    ends_clean(&relay, &[&server]).await;
}

/// How the first of two upstreams misbehaves.
enum Bad {
    Status404,
    Refused,
    HtmlPage,
    HtmlWithoutItsType,
    Garbage,
    SilentAfterHeaders,
    StallsMidStream,
    ResetMidStream,
    EndsMidStream,
}

/// The first upstream misbehaves, the second is fine: the viewer gets one continuous TS from
/// one `watch`, and the session shows the failover and why.
async fn fails_over(bad: Bad, error_says: &str) {
    let copy = copy_len();
    let mid = copy + copy / 2;
    let reply = match bad {
        Bad::Status404 => Some(Reply::status(404, "no such channel")),
        Bad::Refused => None,
        Bad::HtmlPage => Some(
            Reply::ok("<!DOCTYPE html><html><body>Offline</body></html>")
                .header("Content-Type", "text/html; charset=utf-8"),
        ),
        Bad::HtmlWithoutItsType => Some(
            Reply::ok("\n<html><body>Your subscription expired</body></html>")
                .header("Content-Type", "video/mp2t"),
        ),
        Bad::Garbage => Some(
            Reply::ok(b"this is no transport stream; ".repeat(10_000))
                .header("Content-Type", "video/mp2t")
                .drip(4096, Duration::from_millis(1)),
        ),
        Bad::SilentAfterHeaders => Some(live().stall_after(0)),
        Bad::StallsMidStream => Some(live().stall_after(mid)),
        Bad::ResetMidStream => Some(live().reset_after(mid)),
        Bad::EndsMidStream => Some(live().close_after(mid)),
    };
    let delivers_first = matches!(
        bad,
        Bad::StallsMidStream | Bad::ResetMidStream | Bad::EndsMidStream
    );
    let first = match reply {
        Some(reply) => Some(start("/bad.ts", reply).await),
        None => None,
    };
    let first_url = match &first {
        Some(server) => server.url("/bad.ts"),
        None => format!("http://127.0.0.1:{}/bad.ts", tvarr_testkit::free_port()),
    };
    // The second answers from the middle of a group of pictures, as a provider does.
    let second = start("/good.ts", live_from(1000)).await;
    let relay = Relay::new(fetcher(), config());
    let upstreams = vec![Upstream::new(first_url), up(&second, "/good.ts")];
    let mut viewer = watch(&relay, request(ChannelId::new(), upstreams)).await;
    let n = if delivers_first {
        mid + 2 * copy
    } else {
        2 * copy
    };
    let got = read(&mut viewer, n).await;
    let report = check_ts(&got);
    if delivers_first {
        // One break per PID at the switch, no more.
        assert!(report.gaps.values().all(|&g| g <= 1), "{report:?}");
    } else {
        assert_eq!(report.total_gaps(), 0, "{report:?}");
    }
    let session = only_session(&relay);
    assert_eq!(session.upstream_index, 1, "the second upstream took over");
    assert_eq!(session.failovers, 1);
    assert_eq!(relay.totals().failovers, 1);
    let error = session.last_error.clone().unwrap_or_default();
    assert!(
        error.to_lowercase().contains(error_says),
        "the last error {error:?} says {error_says:?}"
    );
    assert_eq!(second.hits("/good.ts"), 1);
    if let Some(first) = &first {
        assert_eq!(first.hits("/bad.ts"), 1, "tried once: the second works");
    }
    drop(viewer);
    let servers: Vec<&ProviderServer> = first.iter().chain([&second]).collect();
    ends_clean(&relay, &servers).await;
    assert!(report.packets > 0);
}

#[tokio::test]
async fn a_404_fails_over() {
    fails_over(Bad::Status404, "404").await;
}

#[tokio::test]
async fn a_refused_connection_fails_over() {
    fails_over(Bad::Refused, "refused").await;
}

#[tokio::test]
async fn a_web_page_fails_over() {
    fails_over(Bad::HtmlPage, "web page").await;
}

#[tokio::test]
async fn a_web_page_labelled_as_video_fails_over() {
    fails_over(Bad::HtmlWithoutItsType, "web page").await;
}

#[tokio::test]
async fn bytes_that_are_not_ts_fail_over() {
    fails_over(Bad::Garbage, "not mpeg-ts").await;
}

#[tokio::test]
async fn an_upstream_silent_after_its_headers_fails_over() {
    fails_over(Bad::SilentAfterHeaders, "sent no data within 500 ms").await;
}

#[tokio::test]
async fn a_stall_mid_stream_fails_over_inside_the_viewers_stream() {
    fails_over(Bad::StallsMidStream, "sent nothing for 300 ms").await;
}

#[tokio::test]
async fn a_reset_mid_stream_fails_over_inside_the_viewers_stream() {
    fails_over(Bad::ResetMidStream, "reading").await;
}

#[tokio::test]
async fn an_upstream_that_ends_fails_over_inside_the_viewers_stream() {
    fails_over(Bad::EndsMidStream, "ended the stream").await;
}

#[tokio::test]
async fn a_lone_upstream_that_drops_is_reconnected() {
    let server = ProviderServer::answering(|_: &SeenRequest, previous| {
        if previous == 0 {
            live().close_after(copy_len() + copy_len() / 2)
        } else {
            live_from(1000)
        }
    })
    .await
    .unwrap();
    let relay = Relay::new(fetcher(), config());
    let mut viewer = watch(
        &relay,
        request(ChannelId::new(), vec![up(&server, "/live.ts")]),
    )
    .await;
    let got = read(&mut viewer, 4 * copy_len()).await;
    let report = check_ts(&got);
    assert!(report.gaps.values().all(|&g| g <= 1), "{report:?}");
    assert_eq!(server.hits("/live.ts"), 2);
    let session = only_session(&relay);
    assert_eq!(session.failovers, 1, "a reconnection counts");
    assert_eq!(session.upstream_index, 0);
    drop(viewer);
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn a_session_whose_upstream_is_gone_ends_its_viewers() {
    // Delivers a while, then the channel is gone for good.
    let server = ProviderServer::answering(|_: &SeenRequest, previous| {
        if previous == 0 {
            live().close_after(copy_len())
        } else {
            Reply::status(404, "no such channel")
        }
    })
    .await
    .unwrap();
    let relay = Relay::new(fetcher(), config());
    let mut viewer = watch(
        &relay,
        request(ChannelId::new(), vec![up(&server, "/live.ts")]),
    )
    .await;
    let got = tokio::time::timeout(Duration::from_secs(3), async {
        let mut got = Vec::new();
        while let Some(chunk) = viewer.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        got
    })
    .await
    .expect("the viewer's stream ended");
    // Everything the upstream sent from its first keyframe on, then the end.
    assert_eq!(
        got.len(),
        copy_len() - PACKET,
        "the tables, then packets 3 to the end"
    );
    assert_eq!(check_ts(&got).total_gaps(), 0);
    // Asked again `rounds` times in all, then given up.
    assert_eq!(server.hits("/live.ts"), config().rounds as usize);
    assert!(relay.sessions().is_empty());
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn when_nothing_works_watch_says_why_at_once() {
    let missing = start("/other.ts", live()).await;
    let failing = start("/down.ts", Reply::status(503, "maintenance")).await;
    let refused = format!("http://127.0.0.1:{}/live.ts", tvarr_testkit::free_port());
    let relay = Relay::new(fetcher(), config());
    let upstreams = vec![
        up(&missing, "/gone.ts"),
        Upstream::new(refused),
        up(&failing, "/down.ts"),
    ];
    let began = Instant::now();
    let error = relay
        .watch(request(ChannelId::new(), upstreams))
        .await
        .expect_err("nothing plays");
    let took = began.elapsed();
    let RelayError::Unavailable(reason) = error else {
        panic!("{error:?}");
    };
    let reason = reason.to_lowercase();
    for cause in ["404", "refused", "503"] {
        assert!(reason.contains(cause), "{reason:?} names {cause}");
    }
    assert!(
        took < config().start_timeout,
        "answered in {took:?}: no timeout was waited for"
    );
    assert_eq!(missing.hits("/"), 1);
    assert_eq!(failing.hits("/"), 1);
    ends_clean(&relay, &[&missing, &failing]).await;
}

#[tokio::test]
async fn an_upstream_that_never_sends_costs_one_start_timeout() {
    let silent = start("/live.ts", live().stall_after(0)).await;
    let hanging = start(
        "/live.ts",
        Reply {
            delay: Duration::from_secs(60),
            ..live()
        },
    )
    .await;
    let relay = Relay::new(
        fetcher(),
        RelayConfig {
            start_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    for server in [&silent, &hanging] {
        let began = Instant::now();
        let error = relay
            .watch(request(ChannelId::new(), vec![up(server, "/live.ts")]))
            .await
            .expect_err("nothing plays");
        let took = began.elapsed();
        assert!(
            matches!(&error, RelayError::Unavailable(r) if r.contains("within 300 ms")),
            "{error:?}"
        );
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(900),
            "{took:?}"
        );
    }
    ends_clean(&relay, &[&silent, &hanging]).await;
}

#[tokio::test]
async fn the_session_outlives_its_last_viewer_by_the_grace_only() {
    let server = start("/live.ts", live()).await;
    let relay = Relay::new(fetcher(), config());
    let grace = config().idle_grace;
    let watch_it = || {
        request(
            ChannelId::from_uuid(uuid::Uuid::from_u128(7)),
            vec![up(&server, "/live.ts")],
        )
    };
    let mut a = watch(&relay, watch_it()).await;
    read(&mut a, PIECE).await;
    let id = only_session(&relay).id;
    drop(a);
    // Back within the grace: the same session, no second request.
    tokio::time::sleep(grace * 2 / 3).await;
    let mut b = watch(&relay, watch_it()).await;
    // Gone again before the first grace would have run out.
    read(&mut b, PIECE).await;
    assert_eq!(only_session(&relay).id, id);
    assert_eq!(server.hits("/live.ts"), 1);
    // The grace starts over when the returning viewer leaves.
    drop(b);
    let left = Instant::now();
    tokio::time::sleep(grace * 2 / 3).await;
    assert_eq!(only_session(&relay).id, id, "still in its grace");
    assert_eq!(only_session(&relay).viewers.len(), 0);
    until(grace * 2, "the session ended after its grace", || {
        relay.sessions().is_empty()
    })
    .await;
    assert!(left.elapsed() >= grace, "ended after {:?}", left.elapsed());
    until(Duration::from_secs(1), "the upstream closed", || {
        server.open_connections() == 0
    })
    .await;
    // A viewer after the grace starts a new session.
    let mut c = watch(&relay, watch_it()).await;
    read(&mut c, PIECE).await;
    assert_ne!(only_session(&relay).id, id);
    assert_eq!(server.hits("/live.ts"), 2);
    drop(c);
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn the_tuner_count_limits_channels_and_the_account_limit_viewers() {
    let server = ProviderServer::start().await.unwrap();
    for path in ["/1.ts", "/2.ts"] {
        server.route(path, Route::new(live()));
    }
    let relay = Relay::new(fetcher(), config());
    let (one, two) = (ChannelId::new(), ChannelId::new());
    let proxy = ProxyId::new();
    let other_proxy = ProxyId::new();
    let viewer = |channel, path: &str, proxy, account: Option<&str>| Watch {
        proxy,
        viewer: ViewerInfo {
            account: account.map(str::to_owned),
            ..ViewerInfo::default()
        },
        proxy_streams: Some(1),
        account_streams: Some(2),
        ..request(channel, vec![up(&server, path)])
    };
    let _a = watch(&relay, viewer(one, "/1.ts", proxy, Some("alice"))).await;
    // The proxy's one tuner is taken by channel one.
    let error = relay
        .watch(viewer(two, "/2.ts", proxy, Some("bob")))
        .await
        .unwrap_err();
    assert_eq!(error, RelayError::ProxyFull { proxy, limit: 1 });
    assert_eq!(
        server.hits("/2.ts"),
        0,
        "a refusal never reaches the provider"
    );
    // Another viewer of channel one through the same proxy shares its tuner.
    let _b = watch(&relay, viewer(one, "/1.ts", proxy, Some("alice"))).await;
    assert_eq!(server.hits("/1.ts"), 1, "and its provider connection");
    // Alice watches her two streams (the same channel counts twice for an account).
    let error = relay
        .watch(viewer(two, "/2.ts", other_proxy, Some("alice")))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RelayError::AccountFull {
            account: "alice".into(),
            limit: 2
        }
    );
    // Another proxy has its own tuner, and bob his own streams.
    let _c = watch(&relay, viewer(two, "/2.ts", other_proxy, Some("bob"))).await;
    // A viewer of channel one through the other proxy takes that proxy's tuner: full.
    let error = relay
        .watch(viewer(one, "/1.ts", other_proxy, None))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RelayError::ProxyFull {
            proxy: other_proxy,
            limit: 1
        }
    );
    assert_eq!(server.hits("/2.ts"), 1);
    // The refused viewers left nothing behind.
    assert_eq!(relay.sessions().len(), 2);
    assert_eq!(relay.totals().viewers, 3);
    drop((_a, _b, _c));
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn a_source_limit_counts_provider_connections_not_viewers() {
    let limited = ProviderServer::start().await.unwrap();
    let other = ProviderServer::start().await.unwrap();
    for path in ["/1.ts", "/2.ts", "/3.ts"] {
        limited.route(path, Route::new(live()));
        other.route(path, Route::new(live()));
    }
    let relay = Relay::new(fetcher(), config());
    let source = StreamSourceId::new();
    let of_source = |path: &str| Upstream {
        source_id: Some(source),
        max_connections: Some(1),
        ..up(&limited, path)
    };
    let (one, two, three) = (ChannelId::new(), ChannelId::new(), ChannelId::new());
    let mut a = watch(&relay, request(one, vec![of_source("/1.ts")])).await;
    // The one connection is channel one's; its viewers share it.
    let mut b = watch(&relay, request(one, vec![of_source("/1.ts")])).await;
    let error = relay
        .watch(request(two, vec![of_source("/2.ts")]))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RelayError::SourceFull {
            source_id: source,
            limit: 1
        }
    );
    assert_eq!(limited.hits("/2.ts"), 0);
    // A channel with a stream on another source starts there.
    let mut c = watch(
        &relay,
        request(three, vec![of_source("/3.ts"), up(&other, "/3.ts")]),
    )
    .await;
    let session = relay
        .sessions()
        .into_iter()
        .find(|s| s.channel_id == three)
        .unwrap();
    assert_eq!(session.upstream_index, 1);
    assert_eq!(limited.hits("/3.ts"), 0);
    let (got_a, got_b, got_c) = tokio::join!(
        read(&mut a, copy_len()),
        read(&mut b, copy_len()),
        read(&mut c, copy_len())
    );
    for got in [got_a, got_b, got_c] {
        assert_eq!(check_ts(&got).total_gaps(), 0);
    }
    assert_eq!(limited.hits("/1.ts"), 1);
    assert_eq!(limited.open_connections(), 1);
    // A failover skips a stream on the full source, without asking it.
    let gone = start("/gone.ts", Reply::status(404, "no such channel")).await;
    let error = relay
        .watch(request(
            ChannelId::new(),
            vec![up(&gone, "/gone.ts"), of_source("/2.ts")],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RelayError::Unavailable(r)
            if r.contains("404") && r.contains("source already has its 1")),
        "{error:?}"
    );
    assert_eq!(limited.hits("/2.ts"), 0);
    // Zapping: channel one's viewers leave, and channel two takes the connection its idle
    // session holds, at once (not after the grace).
    drop((a, b));
    let mut d = watch(&relay, request(two, vec![of_source("/2.ts")])).await;
    read(&mut d, PIECE).await;
    assert!(
        relay.sessions().iter().all(|s| s.channel_id != one),
        "channel one's idle session gave way"
    );
    until(
        Duration::from_secs(1),
        "one connection to the source",
        || limited.open_connections() == 1,
    )
    .await;
    drop((c, d));
    ends_clean(&relay, &[&limited, &other, &gone]).await;
}

#[tokio::test]
async fn a_viewer_that_does_not_read_costs_no_memory_and_is_dropped_at_last() {
    let ring_bytes = 1 << 20;
    let server = start(
        "/live.ts",
        Reply::live_ts(fixture()).drip(200 * PACKET, TICK),
    )
    .await;
    let relay = Relay::new(
        fetcher(),
        RelayConfig {
            ring_bytes,
            max_skips: 2,
            ..config()
        },
    );
    let channel = ChannelId::new();
    let upstreams = vec![up(&server, "/live.ts")];
    let mut slow = watch(&relay, request(channel, upstreams.clone())).await;
    let mut fast = watch(&relay, request(channel, upstreams)).await;
    let reader = tokio::spawn(async move {
        let got = read(&mut fast, 10 * copy_len()).await;
        (got, fast)
    });
    // The slow viewer's tables, sent first; then it stops reading.
    let tables = slow.next().await.unwrap().unwrap();
    assert_eq!(tables.len(), 2 * PACKET);
    let ring_wraps = async || {
        let from = only_session(&relay).bytes_in;
        until(Duration::from_secs(5), "the ring went round", || {
            let session = only_session(&relay);
            assert!(
                session.buffered_bytes <= ring_bytes + 256 * 1024,
                "the ring holds {} bytes",
                session.buffered_bytes
            );
            session.bytes_in > from + ring_bytes as u64 + 256 * 1024
        })
        .await;
    };
    for skip in 1..=2 {
        ring_wraps().await;
        // Behind: it skips ahead to the newest keyframe, with the tables.
        let mut got = Vec::new();
        while got.len() < copy_len() / 2 {
            got.extend_from_slice(&slow.next().await.unwrap().unwrap());
        }
        assert_eq!(check_ts(&got).total_gaps(), 0);
        let session = only_session(&relay);
        let skips: Vec<u64> = session.viewers.iter().map(|v| v.skips).collect();
        assert!(skips.contains(&skip), "{skips:?}");
    }
    ring_wraps().await;
    assert!(slow.next().await.is_none(), "dropped after its third skip");
    drop(slow);
    assert_eq!(only_session(&relay).viewers.len(), 1);
    let (got, fast) = reader.await.unwrap();
    assert_eq!(check_ts(&got).total_gaps(), 0, "the other viewer kept up");
    assert_eq!(only_session(&relay).viewers[0].skips, 0);
    assert_eq!(server.hits("/live.ts"), 1);
    drop(fast);
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn ending_a_session_ends_its_viewers_and_its_upstream() {
    let server = start("/live.ts", live()).await;
    let relay = Relay::new(fetcher(), config());
    let channel = ChannelId::new();
    let upstreams = vec![up(&server, "/live.ts")];
    let mut a = watch(&relay, request(channel, upstreams.clone())).await;
    let mut b = watch(&relay, request(channel, upstreams)).await;
    read(&mut a, PIECE).await;
    // More arrives that neither reads.
    let before = only_session(&relay).bytes_in;
    until(Duration::from_secs(2), "the stream went on", || {
        only_session(&relay).bytes_in > before + copy_len() as u64 / 2
    })
    .await;
    let id = only_session(&relay).id;
    assert!(relay.end_session(id));
    for viewer in [&mut a, &mut b] {
        let rest = tokio::time::timeout(Duration::from_millis(500), async {
            let mut rest = 0;
            while let Some(chunk) = viewer.next().await {
                rest += chunk.unwrap().len();
            }
            rest
        })
        .await
        .expect("the viewer's stream ended");
        assert_eq!(
            rest, 0,
            "disconnected at once, not after what the ring holds"
        );
    }
    until(Duration::from_secs(1), "the session is gone", || {
        relay.sessions().is_empty()
    })
    .await;
    until(Duration::from_secs(1), "the upstream closed", || {
        server.open_connections() == 0
    })
    .await;
    assert!(!relay.end_session(id), "no such session any more");
    assert_eq!(relay.totals().viewers, 0);
    drop((a, b));
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn a_failing_host_is_not_asked_again_while_its_breaker_is_open() {
    let open_for = Duration::from_millis(600);
    let host = ProviderServer::start().await.unwrap();
    host.route("/live.ts", Route::new(live()));
    host.route("/down.ts", Route::new(Reply::status(503, "overloaded")));
    host.route(
        "/gone.ts",
        Route::new(Reply::status(404, "no such channel")),
    );
    let spare = start("/live.ts", live()).await;
    let relay = Relay::new(
        fetcher(),
        RelayConfig {
            breaker: BreakerPolicy {
                failures: 2,
                open_for,
            },
            ..config()
        },
    );
    let watching = watch(
        &relay,
        request(ChannelId::new(), vec![up(&host, "/live.ts")]),
    )
    .await;
    // A channel the host does not have is no failure of the host.
    for _ in 0..3 {
        let error = relay
            .watch(request(ChannelId::new(), vec![up(&host, "/gone.ts")]))
            .await
            .unwrap_err();
        assert!(matches!(&error, RelayError::Unavailable(r) if r.contains("404")));
    }
    assert_eq!(relay.totals().open_breakers, 0);
    let down = ChannelId::new();
    for _ in 0..2 {
        let error = relay
            .watch(request(down, vec![up(&host, "/down.ts")]))
            .await
            .unwrap_err();
        assert!(matches!(&error, RelayError::Unavailable(r) if r.contains("503")));
    }
    assert_eq!(host.hits("/down.ts"), 2);
    assert_eq!(relay.totals().open_breakers, 1);
    assert_eq!(only_session(&relay).breaker, BreakerState::Open);
    // Refused at once, the host not asked.
    let began = Instant::now();
    let error = relay
        .watch(request(down, vec![up(&host, "/down.ts")]))
        .await
        .unwrap_err();
    assert!(began.elapsed() < Duration::from_millis(100));
    assert!(
        matches!(&error, RelayError::Unavailable(r) if r.contains("circuit breaker")),
        "{error:?}"
    );
    assert_eq!(host.hits("/down.ts"), 2);
    // A channel with another host plays from there at once.
    let mut other = watch(
        &relay,
        request(
            ChannelId::new(),
            vec![up(&host, "/down.ts"), up(&spare, "/live.ts")],
        ),
    )
    .await;
    read(&mut other, PIECE).await;
    assert_eq!(host.hits("/down.ts"), 2);
    drop(other);
    // After its time, one probe goes through; the host works again and the breaker closes.
    tokio::time::sleep(open_for).await;
    host.route("/down.ts", Route::new(live()));
    let mut back = watch(&relay, request(down, vec![up(&host, "/down.ts")])).await;
    read(&mut back, PIECE).await;
    assert_eq!(host.hits("/down.ts"), 3);
    assert_eq!(relay.totals().open_breakers, 0);
    assert!(
        relay
            .sessions()
            .iter()
            .all(|s| s.breaker == BreakerState::Closed)
    );
    drop((watching, back));
    ends_clean(&relay, &[&host, &spare]).await;
}

#[tokio::test]
async fn an_hls_upstream_is_delivered_as_one_continuous_ts() {
    let ts = fixture();
    // The live channel as segments: each copy of the file cut in two on a packet boundary.
    let half = ts.len() / PACKET / 2 * PACKET;
    let segment = move |n: usize| {
        let copy = Reply::ts_copy(&ts, n / 2);
        if n.is_multiple_of(2) {
            copy[..half].to_vec()
        } else {
            copy[half..].to_vec()
        }
    };
    // Each reload moves the window on by one copy (two segments).
    let server = ProviderServer::answering(move |request: &SeenRequest, previous| {
        let path = request.path_only();
        if path == "/hls/index.m3u8" {
            let first = 2 * previous;
            let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n");
            text.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n"));
            for n in first..first + 4 {
                text.push_str(&format!("#EXTINF:1.0,\nseg{n}.ts\n"));
            }
            return Reply::ok(text).header("Content-Type", "application/vnd.apple.mpegurl");
        }
        match path
            .strip_prefix("/hls/seg")
            .and_then(|p| p.strip_suffix(".ts"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => Reply::ok(segment(n)).header("Content-Type", "video/mp2t"),
            None => Reply::status(404, "not found"),
        }
    })
    .await
    .unwrap();
    let relay = Relay::new(
        fetcher(),
        RelayConfig {
            hls: HlsOptions {
                live_edge_segments: 4,
                ..HlsOptions::default()
            },
            ..config()
        },
    );
    let mut viewer = watch(
        &relay,
        request(ChannelId::new(), vec![up(&server, "/hls/index.m3u8")]),
    )
    .await;
    // Past the segments of the first load, into those of the next.
    let got = read(&mut viewer, 5 * half).await;
    let report = check_ts(&got);
    assert_eq!(report.total_gaps(), 0, "{report:?}");
    for n in 0..5 {
        assert_eq!(server.hits(&format!("/hls/seg{n}.ts")), 1, "segment {n}");
    }
    let session = only_session(&relay);
    assert_eq!(session.failovers, 0);
    assert_eq!(session.last_error, None);
    drop(viewer);
    ends_clean(&relay, &[&server]).await;
}

#[tokio::test]
async fn nothing_is_left_running_after_end_all() {
    let server = ProviderServer::start().await.unwrap();
    for path in ["/1.ts", "/2.ts", "/3.ts"] {
        server.route(path, Route::new(live()));
    }
    let relay = Relay::new(fetcher(), config());
    let mut viewers = Vec::new();
    for path in ["/1.ts", "/2.ts", "/3.ts"] {
        let mut viewer = watch(&relay, request(ChannelId::new(), vec![up(&server, path)])).await;
        read(&mut viewer, PIECE).await;
        viewers.push(viewer);
    }
    assert_eq!(server.open_connections(), 3);
    assert_eq!(relay.totals().sessions, 3);
    // The viewers are still held: ending every session ends them too.
    ends_clean(&relay, &[&server]).await;
    for viewer in &mut viewers {
        assert!(viewer.next().await.is_none());
    }
}
