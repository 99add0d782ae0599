//! The fetcher against a loopback HTTP server and local files.
#![cfg(feature = "fetch")]

mod support;

use std::time::Duration;

use support::{fixture, gzip, read_all};
use tokio::io::AsyncReadExt;
use tvarr_ingest::IngestError;
use tvarr_ingest::fetch::{FetchOptions, FetchRequest, Fetcher, HttpFetcher};
use tvarr_testkit::{ProviderServer, Reply};

fn fast_options() -> FetchOptions {
    FetchOptions {
        retries: 3,
        retry_min_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        ..FetchOptions::default()
    }
}

#[tokio::test]
async fn retries_on_503_then_succeeds() {
    let server = ProviderServer::answering(|_, previous| {
        if previous < 2 {
            Reply::status(503, "busy")
        } else {
            Reply::ok("#EXTM3U\n")
        }
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let body = read_all(&fetcher, &server.url("/list.m3u")).await.unwrap();
    assert_eq!(body, b"#EXTM3U\n");
    assert_eq!(server.hits("/list.m3u"), 3);
}

#[tokio::test]
async fn gives_up_after_the_configured_retries() {
    let server = ProviderServer::answering(|_, _| Reply::status(502, "bad gateway"))
        .await
        .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let err = read_all(&fetcher, &server.url("/x")).await.unwrap_err();
    assert!(
        matches!(err, IngestError::HttpStatus { status: 502, .. }),
        "{err}"
    );
    assert_eq!(server.hits("/x"), 4);
}

#[tokio::test]
async fn does_not_retry_on_404() {
    let server = ProviderServer::answering(|_, _| Reply::status(404, "nope"))
        .await
        .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let err = read_all(&fetcher, &server.url("/missing.m3u"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IngestError::HttpStatus { status: 404, .. }),
        "{err}"
    );
    assert_eq!(server.hits("/missing.m3u"), 1);
}

#[tokio::test]
async fn retries_timeouts() {
    let server = ProviderServer::answering(|_, previous| {
        let mut reply = Reply::ok("late");
        if previous == 0 {
            reply.delay = Duration::from_millis(800);
        }
        reply
    })
    .await
    .unwrap();
    let options = FetchOptions {
        read_timeout: Duration::from_millis(200),
        ..fast_options()
    };
    let fetcher = HttpFetcher::new(options).unwrap();
    let body = read_all(&fetcher, &server.url("/slow")).await.unwrap();
    assert_eq!(body, b"late");
    assert_eq!(server.hits("/slow"), 2);
}

#[tokio::test]
async fn decodes_gzip_content_encoding() {
    let server = ProviderServer::answering(|_, _| {
        Reply::ok(gzip(b"#EXTM3U\n#EXTINF:-1,A\nhttp://h/a\n")).header("Content-Encoding", "gzip")
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let body = read_all(&fetcher, &server.url("/list.m3u")).await.unwrap();
    assert_eq!(body, b"#EXTM3U\n#EXTINF:-1,A\nhttp://h/a\n");
    let request = &server.requests()[0];
    assert!(request.header("accept-encoding").unwrap().contains("gzip"));
}

#[tokio::test]
async fn decompresses_a_gz_file_by_its_magic_bytes() {
    let guide = std::fs::read(fixture("xmltv/xmltv-project/test.xml")).unwrap();
    let compressed = gzip(&guide);
    let server = ProviderServer::answering(move |_, _| {
        Reply::ok(compressed.clone()).header("Content-Type", "application/gzip")
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let body = read_all(&fetcher, &server.url("/guide.xml.gz"))
        .await
        .unwrap();
    assert_eq!(body, guide);
}

#[tokio::test]
async fn a_truncated_body_is_an_error() {
    let server = ProviderServer::answering(|_, _| {
        let mut reply = Reply::ok(vec![b'x'; 500]);
        reply.announced_length = Some(1000);
        reply
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let err = read_all(&fetcher, &server.url("/cut")).await.unwrap_err();
    assert!(
        matches!(err, IngestError::Truncated { .. } | IngestError::Io(_)),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_a_body_larger_than_the_limit() {
    let server = ProviderServer::answering(|request, _| {
        let mut reply = Reply::ok(vec![b'x'; 50_000]);
        reply.close_delimited = request.path == "/unannounced";
        reply
    })
    .await
    .unwrap();
    let options = FetchOptions {
        max_bytes: 10_000,
        ..fast_options()
    };
    let fetcher = HttpFetcher::new(options).unwrap();
    let err = read_all(&fetcher, &server.url("/announced"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IngestError::TooLarge { limit: 10_000 }),
        "{err}"
    );
    let err = read_all(&fetcher, &server.url("/unannounced"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IngestError::TooLarge { limit: 10_000 }),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_a_gzip_bomb() {
    let bomb = gzip(&vec![0u8; 5_000_000]);
    assert!(bomb.len() < 100_000);
    let server = ProviderServer::answering(move |_, _| Reply::ok(bomb.clone()))
        .await
        .unwrap();
    let options = FetchOptions {
        max_bytes: 1_000_000,
        ..fast_options()
    };
    let fetcher = HttpFetcher::new(options).unwrap();
    let err = read_all(&fetcher, &server.url("/bomb.gz"))
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn sends_the_source_user_agent_and_headers() {
    let server = ProviderServer::answering(|_, _| Reply::ok("ok"))
        .await
        .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let request = FetchRequest {
        location: server.url("/p"),
        user_agent: Some("VLC/3.0".into()),
        headers: vec![("X-Token-Header".into(), "abc".into())],
        ..FetchRequest::default()
    };
    let mut download = fetcher.fetch(&request).await.unwrap();
    let mut body = Vec::new();
    download.body.read_to_end(&mut body).await.unwrap();
    assert_eq!(download.received.get(), 2);
    let seen = &server.requests()[0];
    assert_eq!(seen.header("user-agent"), Some("VLC/3.0"));
    assert_eq!(seen.header("x-token-header"), Some("abc"));
    // Without a source user agent, tvarr's own.
    let _ = fetcher
        .fetch(&FetchRequest::new(server.url("/q")))
        .await
        .unwrap();
    let seen = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/q")
        .unwrap();
    assert!(seen.header("user-agent").unwrap().starts_with("tvarr/"));
}

#[tokio::test]
async fn limits_redirects() {
    let server = ProviderServer::answering(|request, _| {
        let n: u32 = request.path.trim_start_matches("/r").parse().unwrap_or(0);
        Reply::status(302, "").header("Location", &format!("/r{}", n + 1))
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let err = read_all(&fetcher, &server.url("/r0")).await.unwrap_err();
    assert!(matches!(err, IngestError::Fetch { .. }), "{err}");
    assert_eq!(server.hits("/r"), 6, "the first request and 5 redirects");
}

#[tokio::test]
async fn errors_never_show_credentials() {
    let server = ProviderServer::answering(|_, _| Reply::status(403, ""))
        .await
        .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let url = format!(
        "http://bob:hunter2@{}/player_api.php?username=bob&password=hunter2",
        server.addr()
    );
    let err = read_all(&fetcher, &url).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // A refused connection too.
    let closed = "http://127.0.0.1:9/live/bob/hunter2/1.ts?token=hunter2";
    let err = read_all(&fetcher, closed).await.unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn reads_local_files_by_path_and_file_url_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        import_dir: Some(dir.path().to_path_buf()),
        ..fast_options()
    })
    .unwrap();
    let expected = std::fs::read(fixture("m3u/iptv-playlist-parser/pipe.m3u")).unwrap();
    let path = dir.path().join("pipe.m3u");
    std::fs::write(&path, &expected).unwrap();
    assert_eq!(
        read_all(&fetcher, path.to_str().unwrap()).await.unwrap(),
        expected
    );
    let url = url::Url::from_file_path(path.canonicalize().unwrap()).unwrap();
    assert_eq!(read_all(&fetcher, url.as_str()).await.unwrap(), expected);
    let gz = dir.path().join("pipe.m3u.gz");
    std::fs::write(&gz, gzip(&expected)).unwrap();
    assert_eq!(
        read_all(&fetcher, gz.to_str().unwrap()).await.unwrap(),
        expected
    );
    let err = read_all(&fetcher, dir.path().join("none.m3u").to_str().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::Fetch { .. }), "{err}");
    let err = read_all(&fetcher, "/nonexistent/tvarr/list.m3u")
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::LocalFileRefused { .. }), "{err}");
}

#[tokio::test]
async fn the_deadline_cuts_off_a_server_that_drips_its_body() {
    // A byte every 20 ms never trips the read timeout, but 4 KB would take 80 s.
    let server = ProviderServer::answering(|_, _| {
        Reply::ok(vec![b'#'; 4096]).drip(1, Duration::from_millis(20))
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        deadline: Duration::from_millis(700),
        ..fast_options()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let err = read_all(&fetcher, &server.url("/slow.m3u"))
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::DeadlineExceeded { .. }), "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_deadline_covers_waiting_for_the_answer_and_retries() {
    let server = ProviderServer::answering(|_, _| {
        let mut reply = Reply::status(503, "busy");
        reply.delay = Duration::from_millis(300);
        reply
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        deadline: Duration::from_millis(500),
        retries: 10,
        ..fast_options()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let err = read_all(&fetcher, &server.url("/busy")).await.unwrap_err();
    assert!(matches!(err, IngestError::DeadlineExceeded { .. }), "{err}");
    assert!(server.hits("/busy") < 11, "retries stop at the deadline");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn reports_the_announced_content_type() {
    let server = ProviderServer::answering(|_, _| {
        Reply::ok("#EXTM3U\n").header("Content-Type", "audio/x-mpegurl; charset=utf-8")
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(fast_options()).unwrap();
    let download = fetcher
        .fetch(&FetchRequest::new(server.url("/a.m3u")))
        .await
        .unwrap();
    assert_eq!(
        download.content_type.as_deref(),
        Some("audio/x-mpegurl; charset=utf-8")
    );
}
