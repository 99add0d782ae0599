//! HLS collapsing against a loopback provider: VOD, master playlists, live windows, byte
//! ranges, refusals, stalls, failed segments and cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tvarr_ingest::fetch::{FetchOptions, FetchRequest, HttpFetcher};
use tvarr_relay::hls::{HlsError, HlsOptions, HlsProgress, HlsStream, collapse, looks_like_hls};
use tvarr_testkit::{ProviderServer, Reply, Route};

const PACKET: usize = 188;
const HLS_TYPE: &str = "application/vnd.apple.mpegurl";
const TS_TYPE: &str = "video/mp2t";

fn test_stream() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/external/hls/tvarr-test-stream.ts"
    );
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len(), 2322 * PACKET);
    bytes
}

/// `bytes` cut into `n` parts on packet boundaries.
fn split(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    let packets = bytes.len() / PACKET;
    (0..n)
        .map(|i| bytes[i * packets / n * PACKET..(i + 1) * packets / n * PACKET].to_vec())
        .collect()
}

/// A small fake segment: two packets that say which segment they are.
fn fake_segment(k: usize) -> Vec<u8> {
    let mut bytes = vec![k as u8; 2 * PACKET];
    bytes[0] = 0x47;
    bytes[PACKET] = 0x47;
    bytes
}

fn media_playlist(target: u32, first: usize, uris: &[String], end: bool) -> String {
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
    );
    for uri in uris {
        text.push_str(&format!("#EXTINF:{target}.000,\n{uri}\n"));
    }
    if end {
        text.push_str("#EXT-X-ENDLIST\n");
    }
    text
}

fn fetcher() -> HttpFetcher {
    HttpFetcher::new(FetchOptions::default()).unwrap()
}

/// Opens `url` as the relay would, and collapses it.
async fn open(url: &str, options: HlsOptions) -> HlsStream {
    open_with(FetchRequest::new(url), options).await
}

async fn open_with(request: FetchRequest, options: HlsOptions) -> HlsStream {
    let fetcher = fetcher();
    let first = fetcher.open_live(&request).await.unwrap();
    assert!(looks_like_hls(
        first.content_type.as_deref(),
        &first.url,
        b""
    ));
    collapse(fetcher, request, first, options)
}

/// Everything the stream yields, the error it ends with, and its progress.
async fn drain(mut stream: HlsStream) -> (Vec<u8>, Option<HlsError>, HlsProgress) {
    let work = async {
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(error) => {
                    assert!(
                        stream.next().await.is_none(),
                        "the stream ends after an error"
                    );
                    return (out, Some(error), stream.progress());
                }
            }
        }
        (out, None, stream.progress())
    };
    tokio::time::timeout(Duration::from_secs(15), work)
        .await
        .expect("the stream ended in time")
}

/// Serves `parts` as `{dir}/seg{i}.ts` and a VOD playlist of them as `{dir}/index.m3u8`.
fn serve_vod(server: &ProviderServer, dir: &str, parts: &[Vec<u8>]) {
    let uris: Vec<String> = (0..parts.len()).map(|i| format!("seg{i}.ts")).collect();
    for (i, part) in parts.iter().enumerate() {
        server.route(
            &format!("{dir}/seg{i}.ts"),
            Route::ok(TS_TYPE, part.clone()),
        );
    }
    server.route(
        &format!("{dir}/index.m3u8"),
        Route::ok(HLS_TYPE, media_playlist(4, 0, &uris, true)),
    );
}

#[tokio::test]
async fn a_vod_playlist_collapses_to_the_whole_file_and_ends() {
    let file = test_stream();
    let parts = split(&file, 4);
    let server = ProviderServer::start().await.unwrap();
    serve_vod(&server, "/vod", &parts);

    let stream = open(&server.url("/vod/index.m3u8"), HlsOptions::default()).await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(out.len(), file.len());
    assert!(out == file, "the collapsed bytes differ from the file");
    for i in 0..4 {
        assert_eq!(server.hits(&format!("/vod/seg{i}.ts")), 1);
    }
    assert_eq!(
        server.hits("/vod/index.m3u8"),
        1,
        "a VOD playlist is not reloaded"
    );
    assert_eq!(progress.segments, 4);
    assert_eq!(progress.bytes, file.len() as u64);
    assert_eq!(progress.variant_bandwidth, None);
}

#[tokio::test]
async fn segment_bytes_are_yielded_as_they_arrive() {
    let segment = fake_segment(1).repeat(100); // 37,600 bytes, sent in 1 s
    let server = ProviderServer::start().await.unwrap();
    server.route(
        "/slow/seg0.ts",
        Route::new(
            Reply::ok(segment.clone())
                .header("Content-Type", TS_TYPE)
                .drip(3760, Duration::from_millis(100)),
        ),
    );
    server.route(
        "/slow/index.m3u8",
        Route::ok(HLS_TYPE, media_playlist(4, 0, &["seg0.ts".into()], true)),
    );
    let started = Instant::now();
    let mut stream = open(&server.url("/slow/index.m3u8"), HlsOptions::default()).await;
    let first = stream.next().await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_millis(700));
    assert!(
        first.len() < segment.len(),
        "the first chunk is not the whole segment"
    );
    let (rest, error, _) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!([&first[..], &rest[..]].concat(), segment);
}

fn serve_master(server: &ProviderServer) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let file = test_stream();
    let (lo, hi) = file.split_at(1161 * PACKET);
    let (lo, hi) = (split(lo, 2), split(hi, 2));
    serve_vod(server, "/m/lo", &lo);
    serve_vod(server, "/m/hi", &hi);
    serve_vod(server, "/m/iframe", &hi);
    server.route(
        "/m/master.m3u8",
        Route::ok(
            HLS_TYPE,
            "#EXTM3U\n\
             #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=320x240\nlo/index.m3u8\n\
             #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=9000000,URI=\"iframe/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720\nhi/index.m3u8\n",
        ),
    );
    // The channel URL redirects: the variants resolve against the master's own URL.
    server.route(
        "/channel/7",
        Route::new(
            Reply::status(302, "")
                .header("Location", "/m/master.m3u8")
                .header("Content-Type", "text/plain"),
        ),
    );
    (lo, hi)
}

#[tokio::test]
async fn a_master_playlist_plays_its_highest_variant() {
    let server = ProviderServer::start().await.unwrap();
    let (_, hi) = serve_master(&server);

    let stream = open(&server.url("/channel/7"), HlsOptions::default()).await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    assert!(out == hi.concat());
    assert_eq!(server.hits("/m/hi/seg"), 2);
    assert_eq!(server.hits("/m/lo/"), 0);
    assert_eq!(server.hits("/m/iframe/"), 0, "never an I-frame stream");
    assert_eq!(progress.variant_bandwidth, Some(3_000_000));
}

#[tokio::test]
async fn a_bandwidth_preference_picks_the_lower_variant() {
    let server = ProviderServer::start().await.unwrap();
    let (lo, _) = serve_master(&server);

    let options = HlsOptions {
        max_bandwidth: Some(1_000_000),
        ..HlsOptions::default()
    };
    let stream = open(&server.url("/channel/7"), options).await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    assert!(out == lo.concat());
    assert_eq!(server.hits("/m/lo/seg"), 2);
    assert_eq!(server.hits("/m/hi/"), 0);
    assert_eq!(progress.variant_bandwidth, Some(800_000));
}

#[tokio::test]
async fn a_live_window_is_followed_in_order_without_repeats() {
    let parts = Arc::new(split(&test_stream(), 8));
    let playlist_times = Arc::new(Mutex::new(Vec::new()));
    let (served, times) = (parts.clone(), playlist_times.clone());
    // Each load of the playlist moves a window of three segments on by two; the last one
    // ends the event.
    let server = ProviderServer::answering(move |request, previous| {
        let path = request.path_only();
        if path == "/live/index.m3u8" {
            times.lock().unwrap().push(Instant::now());
            let first = 2 * previous;
            let last = (first + 3).min(served.len());
            let uris: Vec<String> = (first..last).map(|k| format!("s{k}.ts")).collect();
            let body = media_playlist(1, first, &uris, last == served.len());
            return Reply::ok(body).header("Content-Type", HLS_TYPE);
        }
        let k: usize = path
            .strip_prefix("/live/s")
            .and_then(|p| p.strip_suffix(".ts"))
            .and_then(|k| k.parse().ok())
            .unwrap_or(usize::MAX);
        match served.get(k) {
            Some(part) => Reply::ok(part.clone()).header("Content-Type", TS_TYPE),
            None => Reply::status(404, "no"),
        }
    })
    .await
    .unwrap();

    let stream = open(&server.url("/live/index.m3u8"), HlsOptions::default()).await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    assert!(out == parts.concat(), "every segment once, in order");
    for k in 0..8 {
        assert_eq!(server.hits(&format!("/live/s{k}.ts")), 1, "segment {k}");
    }
    assert_eq!(progress.skipped_segments, 0);
    assert_eq!(progress.reloads, 3);
    let times = playlist_times.lock().unwrap();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        // A reload that found something new waits a whole target duration.
        assert!(pair[1] - pair[0] >= Duration::from_millis(950), "{times:?}");
    }
}

#[tokio::test]
async fn a_live_playlist_starts_at_the_edge_and_counts_a_gap() {
    // The first load lists 0..6; the next jumped to 10..13 and ended.
    let server = ProviderServer::answering(|request, previous| {
        let path = request.path_only();
        if path == "/gap/index.m3u8" {
            let (first, count, end) = if previous == 0 {
                (0, 6, false)
            } else {
                (10, 3, true)
            };
            let uris: Vec<String> = (first..first + count).map(|k| format!("s{k}.ts")).collect();
            return Reply::ok(media_playlist(1, first, &uris, end))
                .header("Content-Type", HLS_TYPE);
        }
        let k: usize = path
            .strip_prefix("/gap/s")
            .and_then(|p| p.strip_suffix(".ts"))
            .and_then(|k| k.parse().ok())
            .unwrap_or(0);
        Reply::ok(fake_segment(k)).header("Content-Type", TS_TYPE)
    })
    .await
    .unwrap();

    let stream = open(&server.url("/gap/index.m3u8"), HlsOptions::default()).await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    let expected: Vec<u8> = [3, 4, 5, 10, 11, 12]
        .into_iter()
        .flat_map(fake_segment)
        .collect();
    assert!(
        out == expected,
        "three segments from the end, then the new window"
    );
    assert_eq!(server.hits("/gap/s0.ts"), 0);
    assert_eq!(server.hits("/gap/s2.ts"), 0);
    assert_eq!(
        progress.skipped_segments, 4,
        "6, 7, 8 and 9 were never listed"
    );
}

#[tokio::test]
async fn a_live_playlist_that_never_changes_ends_as_stalled() {
    let server = ProviderServer::start().await.unwrap();
    let uris: Vec<String> = (0..3).map(|k| format!("s{k}.ts")).collect();
    for k in 0..3 {
        server.route(
            &format!("/stuck/s{k}.ts"),
            Route::ok(TS_TYPE, fake_segment(k)),
        );
    }
    server.route(
        "/stuck/index.m3u8",
        Route::ok(HLS_TYPE, media_playlist(1, 40, &uris, false)),
    );
    let options = HlsOptions {
        stall_target_durations: 2,
        ..HlsOptions::default()
    };
    let started = Instant::now();
    let stream = open(&server.url("/stuck/index.m3u8"), options).await;
    let (out, error, _) = drain(stream).await;
    let elapsed = started.elapsed();

    assert!(out == (0..3).flat_map(fake_segment).collect::<Vec<u8>>());
    let error = error.expect("a stall error");
    assert!(matches!(error, HlsError::Stalled { .. }), "{error}");
    assert!(error.to_string().contains("stalled"), "{error}");
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
    // Loads at 0, 1 (a whole target duration after a change), 1.5 and 2 s (half of one).
    assert_eq!(server.hits("/stuck/index.m3u8"), 4);
    for k in 0..3 {
        assert_eq!(server.hits(&format!("/stuck/s{k}.ts")), 1);
    }
}

#[tokio::test]
async fn byte_range_segments_are_requested_with_range_headers() {
    let file = Arc::new(test_stream());
    let parts = split(&file, 4);
    let lengths: Vec<usize> = parts.iter().map(Vec::len).collect();
    let offsets: Vec<usize> = lengths
        .iter()
        .scan(0, |at, len| {
            let start = *at;
            *at += len;
            Some(start)
        })
        .collect();
    // Offsets given for the first and third, left to follow the previous for the others.
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:4\n\
         #EXTINF:4,\n#EXT-X-BYTERANGE:{}@0\nall.ts\n\
         #EXTINF:4,\n#EXT-X-BYTERANGE:{}\nall.ts\n\
         #EXT-X-BYTERANGE:{}@{}\n#EXTINF:4,\nall.ts\n\
         #EXTINF:4,\n#EXT-X-BYTERANGE:{}\nall.ts\n#EXT-X-ENDLIST\n",
        lengths[0], lengths[1], lengths[2], offsets[2], lengths[3]
    );
    let served = file.clone();
    let server = ProviderServer::answering(move |request, _| {
        if request.path_only() == "/br/index.m3u8" {
            return Reply::ok(playlist.clone()).header("Content-Type", HLS_TYPE);
        }
        // A sloppy server: it honours where the range starts but sends the rest of the file.
        let start: usize = request
            .header("Range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Reply::status(206, served[start.min(served.len())..].to_vec())
            .header("Content-Type", TS_TYPE)
    })
    .await
    .unwrap();

    let stream = open(&server.url("/br/index.m3u8"), HlsOptions::default()).await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    assert!(out == *file, "the sub-ranges make up the file");
    assert_eq!(progress.segments, 4);
    let ranges: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path_only() == "/br/all.ts")
        .filter_map(|r| r.header("Range").map(str::to_owned))
        .collect();
    let expected: Vec<String> = offsets
        .iter()
        .zip(&lengths)
        .map(|(start, len)| format!("bytes={start}-{}", start + len - 1))
        .collect();
    assert_eq!(ranges, expected);
}

#[tokio::test]
async fn an_encrypted_playlist_is_refused_before_any_segment() {
    let server = ProviderServer::start().await.unwrap();
    server.route("/enc/s0.ts", Route::ok(TS_TYPE, fake_segment(0)));
    server.route(
        "/enc/index.m3u8",
        Route::ok(
            HLS_TYPE,
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k\",IV=0x1\n\
             #EXTINF:4,\ns0.ts\n#EXT-X-ENDLIST\n",
        ),
    );
    let stream = open(&server.url("/enc/index.m3u8"), HlsOptions::default()).await;
    let (out, error, _) = drain(stream).await;

    assert!(out.is_empty());
    let error = error.expect("refused");
    assert!(matches!(error, HlsError::Encrypted { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("AES-128"), "{message}");
    assert!(message.contains("use relay mode"), "{message}");
    assert_eq!(server.hits("/enc/s0.ts"), 0);
}

#[tokio::test]
async fn fragmented_mp4_is_refused() {
    let server = ProviderServer::start().await.unwrap();
    server.route(
        "/fmp4/index.m3u8",
        Route::ok(
            HLS_TYPE,
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:4,\ns0.m4s\n#EXT-X-ENDLIST\n",
        ),
    );
    // No EXT-X-MAP, but the segment is an MP4 fragment all the same.
    server.route(
        "/sneaky/index.m3u8",
        Route::ok(HLS_TYPE, media_playlist(4, 0, &["s0.ts".into()], true)),
    );
    server.route(
        "/sneaky/s0.ts",
        Route::ok(TS_TYPE, b"\0\0\0\x18styp msdh\0\0\0\0msdhmsix".to_vec()),
    );

    let (_, error, _) =
        drain(open(&server.url("/fmp4/index.m3u8"), HlsOptions::default()).await).await;
    let error = error.expect("refused");
    assert!(matches!(error, HlsError::FragmentedMp4 { .. }), "{error}");
    assert!(error.to_string().contains("use relay mode"), "{error}");

    let (out, error, _) =
        drain(open(&server.url("/sneaky/index.m3u8"), HlsOptions::default()).await).await;
    assert!(out.is_empty());
    let error = error.expect("refused");
    assert!(matches!(error, HlsError::FragmentedMp4 { .. }), "{error}");
    assert!(error.to_string().contains("/sneaky/s0.ts"), "{error}");
}

/// A VOD playlist of four fake segments under an Xtream-like path, `missing` of them 404.
fn serve_with_missing(server: &ProviderServer, missing: &[usize]) {
    let dir = "/live/bob/secret";
    let uris: Vec<String> = (0..4).map(|k| format!("{k}.ts")).collect();
    for k in 0..4 {
        if !missing.contains(&k) {
            server.route(
                &format!("{dir}/{k}.ts"),
                Route::ok(TS_TYPE, fake_segment(k)),
            );
        }
    }
    server.route(
        &format!("{dir}/index.m3u8"),
        Route::ok(HLS_TYPE, media_playlist(4, 0, &uris, true)),
    );
}

#[tokio::test]
async fn a_missing_segment_fails_the_stream_naming_it() {
    let server = ProviderServer::start().await.unwrap();
    serve_with_missing(&server, &[2]);
    let options = HlsOptions {
        skippable_segment_failures: 0,
        ..HlsOptions::default()
    };
    let stream = open(&server.url("/live/bob/secret/index.m3u8"), options).await;
    let (out, error, _) = drain(stream).await;

    assert!(out == [fake_segment(0), fake_segment(1)].concat());
    let error = error.expect("a segment error");
    let message = error.to_string();
    assert!(matches!(error, HlsError::Fetch { .. }), "{message}");
    assert!(message.contains("/live/***/***/2.ts"), "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(server.hits("/live/bob/secret/3.ts"), 0);
}

#[tokio::test]
async fn a_missing_segment_is_skipped_and_counted_by_default() {
    let server = ProviderServer::start().await.unwrap();
    serve_with_missing(&server, &[2]);
    let stream = open(
        &server.url("/live/bob/secret/index.m3u8"),
        HlsOptions::default(),
    )
    .await;
    let (out, error, progress) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    assert!(
        out == [0, 1, 3]
            .into_iter()
            .flat_map(fake_segment)
            .collect::<Vec<u8>>()
    );
    assert_eq!(progress.skipped_segments, 1);
    assert_eq!(progress.segments, 3);
}

#[tokio::test]
async fn too_many_missing_segments_in_a_row_fail_the_stream() {
    let server = ProviderServer::start().await.unwrap();
    serve_with_missing(&server, &[0, 1, 2, 3]);
    let stream = open(
        &server.url("/live/bob/secret/index.m3u8"),
        HlsOptions::default(),
    )
    .await;
    let (out, error, progress) = drain(stream).await;

    assert!(out.is_empty());
    let message = error.expect("a segment error").to_string();
    assert!(message.contains("/live/***/***/2.ts"), "{message}");
    assert_eq!(progress.skipped_segments, 2);
    assert_eq!(server.hits("/live/bob/secret/3.ts"), 0);
}

/// A live channel that never ends: a window of three moving on by one per load, each segment
/// dripped over 400 ms.
async fn endless_live_server() -> ProviderServer {
    ProviderServer::answering(|request, previous| {
        if request.path_only() == "/endless/index.m3u8" {
            let uris: Vec<String> = (previous..previous + 3)
                .map(|k| format!("s{k}.ts"))
                .collect();
            return Reply::ok(media_playlist(1, previous, &uris, false))
                .header("Content-Type", HLS_TYPE);
        }
        Reply::ok(fake_segment(1).repeat(4))
            .header("Content-Type", TS_TYPE)
            .drip(PACKET, Duration::from_millis(50))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn dropping_the_stream_stops_every_request() {
    let server = endless_live_server().await;
    let mut stream = open(&server.url("/endless/index.m3u8"), HlsOptions::default()).await;
    let mut received = 0;
    while received < 3 * fake_segment(1).len() {
        received += stream.next().await.unwrap().unwrap().len();
    }
    // Mid-way through a segment.
    drop(stream);
    let hits = server.hits("/");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(server.hits("/"), hits, "no request after the drop");
}

#[tokio::test]
async fn cancelling_the_request_ends_the_stream() {
    let server = endless_live_server().await;
    let request = FetchRequest::new(server.url("/endless/index.m3u8"));
    let cancel = request.cancel.clone();
    let mut stream = open_with(request, HlsOptions::default()).await;
    stream.next().await.unwrap().unwrap();
    let cancelled = Instant::now();
    cancel.cancel();
    let (_, error, _) = drain(stream).await;
    assert!(matches!(error, Some(HlsError::Cancelled)), "{error:?}");
    assert!(cancelled.elapsed() < Duration::from_millis(300));
    let hits = server.hits("/");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.hits("/"), hits);
}

#[tokio::test]
async fn a_playlist_over_the_limit_or_not_hls_is_refused() {
    let server = ProviderServer::start().await.unwrap();
    let uris: Vec<String> = (0..100).map(|k| format!("segment-{k}.ts")).collect();
    server.route(
        "/big/index.m3u8",
        Route::ok(HLS_TYPE, media_playlist(4, 0, &uris, true)),
    );
    server.route(
        "/page/index.m3u8",
        Route::ok(
            HLS_TYPE,
            "<html><body>Your subscription expired</body></html>",
        ),
    );
    let options = HlsOptions {
        max_playlist_bytes: 1000,
        ..HlsOptions::default()
    };
    let (_, error, _) = drain(open(&server.url("/big/index.m3u8"), options).await).await;
    assert!(
        matches!(error, Some(HlsError::PlaylistTooLarge { limit: 1000, .. })),
        "{error:?}"
    );
    let (_, error, _) =
        drain(open(&server.url("/page/index.m3u8"), HlsOptions::default()).await).await;
    assert!(matches!(error, Some(HlsError::NotHls { .. })), "{error:?}");
    assert_eq!(server.hits("/big/segment"), 0);
}

#[tokio::test]
async fn an_ended_playlist_without_segments_says_so() {
    let server = ProviderServer::start().await.unwrap();
    server.route(
        "/empty/index.m3u8",
        Route::ok(HLS_TYPE, media_playlist(4, 0, &[], true)),
    );
    let (_, error, _) =
        drain(open(&server.url("/empty/index.m3u8"), HlsOptions::default()).await).await;
    let message = error.expect("an error").to_string();
    assert!(message.contains("has no segments"), "{message}");
}

#[tokio::test]
async fn segments_carry_the_user_agent_and_credentials_stay_on_the_origin() {
    let cdn = ProviderServer::start().await.unwrap();
    cdn.route("/cdn/s1.ts", Route::ok(TS_TYPE, fake_segment(1)));
    let server = ProviderServer::start().await.unwrap();
    server.route("/own/s0.ts", Route::ok(TS_TYPE, fake_segment(0)));
    let uris = vec!["s0.ts".to_owned(), cdn.url("/cdn/s1.ts")];
    server.route(
        "/own/index.m3u8",
        Route::ok(HLS_TYPE, media_playlist(4, 0, &uris, true)),
    );
    let request = FetchRequest {
        user_agent: Some("TiviMate/5.0".to_owned()),
        headers: vec![
            ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
            ("X-Client".to_owned(), "tvarr".to_owned()),
        ],
        ..FetchRequest::new(server.url("/own/index.m3u8"))
    };
    let (out, error, _) = drain(open_with(request, HlsOptions::default()).await).await;
    assert!(error.is_none(), "{error:?}");
    assert!(out == [fake_segment(0), fake_segment(1)].concat());

    let own = server.requests();
    let own = own.iter().find(|r| r.path == "/own/s0.ts").unwrap();
    assert_eq!(own.header("User-Agent"), Some("TiviMate/5.0"));
    assert_eq!(own.header("Authorization"), Some("Bearer s3cret"));
    let other = cdn.requests();
    let other = other.first().unwrap();
    assert_eq!(other.header("User-Agent"), Some("TiviMate/5.0"));
    assert_eq!(other.header("X-Client"), Some("tvarr"));
    assert_eq!(other.header("Authorization"), None);
}
