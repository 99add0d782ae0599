//! What a source may make the server read: local files only below the import directory,
//! HTTP only to destinations the outbound policy allows, and a cancel that stops a fetch
//! wherever it is.
#![cfg(feature = "fetch")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{MemoryChannels, gzip, read_all, stream_source};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tvarr_core::StreamSourceType;
use tvarr_ingest::fetch::{FetchOptions, FetchRequest, Fetcher, HttpFetcher, from_io};
use tvarr_ingest::{IngestError, IngestProgress, IngestSettings, ProgressSnapshot};
use tvarr_testkit::{ProviderServer, Reply};

fn options() -> FetchOptions {
    FetchOptions {
        retries: 0,
        retry_min_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        connect_timeout: Duration::from_secs(10),
        read_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    }
}

/// A temporary directory with `imports/` inside, and a fetcher that reads only from there.
struct Imports {
    dir: tempfile::TempDir,
    fetcher: HttpFetcher,
}

impl Imports {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("imports")).unwrap();
        let fetcher = HttpFetcher::new(FetchOptions {
            import_dir: Some(dir.path().join("imports")),
            ..options()
        })
        .unwrap();
        Self { dir, fetcher }
    }

    fn imports(&self) -> std::path::PathBuf {
        self.dir.path().join("imports")
    }
}

fn assert_local_refused(result: Result<Vec<u8>, IngestError>, what: &str) {
    match result {
        Err(IngestError::LocalFileRefused { .. }) => {}
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn local_files_outside_the_import_dir_are_refused() {
    let imports = Imports::new();
    let outside = imports.dir.path().join("secret.m3u");
    std::fs::write(&outside, "#EXTM3U\n#EXTINF:-1,secret\nhttp://h/s.ts\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", imports.imports().join("passwd.m3u")).unwrap();
    std::os::unix::fs::symlink(&outside, imports.imports().join("secret.m3u")).unwrap();
    std::os::unix::fs::symlink(imports.dir.path(), imports.imports().join("up")).unwrap();
    let escape = format!("{}/../secret.m3u", imports.imports().display());
    let through_link = format!("{}/up/secret.m3u", imports.imports().display());
    let link_to_passwd = imports.imports().join("passwd.m3u");
    let link_to_secret = imports.imports().join("secret.m3u");
    for location in [
        "/etc/passwd",
        "file:///etc/passwd",
        "/proc/self/environ",
        "file:///proc/self/environ",
        "/sys/kernel/hostname",
        "file:///dev/zero",
        "/dev/zero",
        "../../../../../../etc/passwd",
        escape.as_str(),
        through_link.as_str(),
        link_to_passwd.to_str().unwrap(),
        link_to_secret.to_str().unwrap(),
    ] {
        let started = Instant::now();
        let result =
            tokio::time::timeout(Duration::from_secs(5), read_all(&imports.fetcher, location))
                .await
                .unwrap_or_else(|_| panic!("{location}: still reading after 5 s"));
        assert_local_refused(result, location);
        assert!(started.elapsed() < Duration::from_secs(1), "{location}");
    }
    // The message says what to do, and is the same for a missing file outside: nothing
    // tells what exists there.
    let message = read_all(&imports.fetcher, "/etc/passwd")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("outside the import directory"),
        "{message}"
    );
    assert!(message.contains("import_dir"), "{message}");
    let missing = read_all(&imports.fetcher, "/etc/no-such-file-here")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        missing.replace("/etc/no-such-file-here", "X"),
        message.replace("/etc/passwd", "X")
    );
}

#[tokio::test]
async fn a_fifo_or_a_directory_in_the_import_dir_is_refused_without_hanging() {
    let imports = Imports::new();
    let fifo = imports.imports().join("pipe.m3u");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir(imports.imports().join("folder")).unwrap();
    for path in [fifo.clone(), imports.imports().join("folder")] {
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            read_all(&imports.fetcher, path.to_str().unwrap()),
        )
        .await
        .expect("opening a FIFO must not wait for a writer");
        assert_local_refused(result, &path.display().to_string());
    }
    let message = read_all(&imports.fetcher, fifo.to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("not a regular file"), "{message}");
}

#[tokio::test]
async fn an_import_dir_under_proc_sys_or_dev_reads_nothing_there() {
    for dir in ["/proc", "/proc/self", "/sys", "/dev"] {
        let fetcher = HttpFetcher::new(FetchOptions {
            import_dir: Some(dir.into()),
            ..options()
        })
        .unwrap();
        for location in ["/proc/self/environ", "/sys/kernel/hostname", "/dev/zero"] {
            assert_local_refused(
                read_all(&fetcher, location).await,
                &format!("{location} with import_dir {dir}"),
            );
        }
    }
    // Even with the whole file system as the import directory.
    let fetcher = HttpFetcher::new(FetchOptions {
        import_dir: Some("/".into()),
        ..options()
    })
    .unwrap();
    for location in [
        "/proc/self/environ",
        "file:///dev/zero",
        "/sys/kernel/hostname",
    ] {
        assert_local_refused(read_all(&fetcher, location).await, location);
    }
}

#[tokio::test]
async fn without_an_import_dir_no_local_file_is_read() {
    let fetcher = HttpFetcher::new(options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.m3u");
    std::fs::write(&file, "#EXTM3U\n").unwrap();
    let err = read_all(&fetcher, file.to_str().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::LocalFileRefused { .. }), "{err}");
    assert!(err.to_string().contains("no import directory"), "{err}");
}

#[tokio::test]
async fn a_regular_file_inside_the_import_dir_is_fetched() {
    let imports = Imports::new();
    let body = b"#EXTM3U\n#EXTINF:-1,A\nhttp://h/a.ts\n".to_vec();
    std::fs::create_dir(imports.imports().join("sub")).unwrap();
    let file = imports.imports().join("sub").join("a.m3u");
    std::fs::write(&file, &body).unwrap();
    std::fs::write(imports.imports().join("a.m3u.gz"), gzip(&body)).unwrap();
    // A symlink that stays inside is fine.
    std::os::unix::fs::symlink(&file, imports.imports().join("link.m3u")).unwrap();
    let url = url::Url::from_file_path(file.canonicalize().unwrap()).unwrap();
    let dotted = format!("{}/sub/../sub/./a.m3u", imports.imports().display());
    for location in [
        file.to_str().unwrap(),
        url.as_str(),
        dotted.as_str(),
        imports.imports().join("a.m3u.gz").to_str().unwrap(),
        imports.imports().join("link.m3u").to_str().unwrap(),
    ] {
        assert_eq!(
            read_all(&imports.fetcher, location).await.unwrap(),
            body,
            "{location}"
        );
    }
    // A missing file inside says so.
    let err = read_all(
        &imports.fetcher,
        imports.imports().join("none.m3u").to_str().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("No such file"), "{err}");
}

fn assert_destination_refused(result: Result<Vec<u8>, IngestError>, what: &str) -> String {
    match result {
        Err(e @ IngestError::DestinationRefused { .. }) => e.to_string(),
        other => panic!("{what}: expected a refused destination, got {other:?}"),
    }
}

#[tokio::test]
async fn a_redirect_to_a_forbidden_address_is_refused() {
    let own = ProviderServer::answering(|_, _| Reply::ok("# metrics\n"))
        .await
        .unwrap();
    let own_url = own.url("/metrics");
    let server = ProviderServer::answering(move |request, _| {
        let target = match request.path.as_str() {
            "/to-metadata" => "http://169.254.169.254/latest/meta-data/".to_owned(),
            "/to-metadata-v6" => "http://[fd00:ec2::254]/latest/".to_owned(),
            "/to-zero" => "http://0.0.0.0:80/".to_owned(),
            _ => own_url.clone(),
        };
        Reply::status(302, "").header("Location", &target)
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        own_addresses: vec![own.addr()],
        ..options()
    })
    .unwrap();
    for path in ["/to-metadata", "/to-metadata-v6", "/to-zero", "/to-own"] {
        let started = Instant::now();
        let message = assert_destination_refused(read_all(&fetcher, &server.url(path)).await, path);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: refused before connecting, not after a connect timeout"
        );
        assert!(message.contains("outbound policy"), "{message}");
    }
    assert_eq!(
        own.hits("/"),
        0,
        "the server's own address was never reached"
    );
}

#[tokio::test]
async fn the_servers_own_address_is_refused_even_with_private_networks_allowed() {
    let own = ProviderServer::answering(|_, _| Reply::ok("# metrics\n"))
        .await
        .unwrap();
    let port = own.addr().port();
    let other = ProviderServer::answering(|_, _| Reply::ok("#EXTM3U\n"))
        .await
        .unwrap();
    for listen in [own.addr(), SocketAddr::from(([0, 0, 0, 0], port))] {
        let fetcher = HttpFetcher::new(FetchOptions {
            allow_private_networks: true,
            own_addresses: vec![listen],
            ..options()
        })
        .unwrap();
        let mut urls = vec![format!("http://127.0.0.1:{port}/metrics")];
        if listen.ip().is_unspecified() {
            // By name: judged after DNS, by the resolver. (With the server on 127.0.0.1
            // only, `localhost`'s ::1 is not the server, and would just be refused by the
            // kernel.)
            urls.push(format!("http://localhost:{port}/metrics"));
        }
        for url in urls {
            let message = assert_destination_refused(read_all(&fetcher, &url).await, &url);
            assert!(message.contains("own listen address"), "{message}");
        }
        // Another port of the same host is a provider like any other.
        assert_eq!(
            read_all(&fetcher, &other.url("/a.m3u")).await.unwrap(),
            b"#EXTM3U\n"
        );
    }
    assert_eq!(own.hits("/"), 0);
}

#[tokio::test]
async fn with_private_networks_disallowed_loopback_is_refused() {
    let server = ProviderServer::answering(|_, _| Reply::ok("#EXTM3U\n"))
        .await
        .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        allow_private_networks: false,
        ..options()
    })
    .unwrap();
    let port = server.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}/a.m3u"),
        format!("http://localhost:{port}/a.m3u"),
        format!("http://[::1]:{port}/a.m3u"),
        format!("http://[::ffff:127.0.0.1]:{port}/a.m3u"),
        "http://10.0.0.1/a.m3u".to_owned(),
        "http://192.168.1.1/a.m3u".to_owned(),
    ] {
        let started = Instant::now();
        let message = assert_destination_refused(read_all(&fetcher, &url).await, &url);
        assert!(message.contains("private"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1), "{url}");
    }
    assert_eq!(server.hits("/"), 0);
    // The same fetcher with private networks allowed reaches it.
    let open = HttpFetcher::new(options()).unwrap();
    assert_eq!(
        read_all(&open, &server.url("/a.m3u")).await.unwrap(),
        b"#EXTM3U\n"
    );
}

#[tokio::test]
async fn metadata_addresses_are_refused_without_connecting() {
    // With a long connect timeout, only a refusal before connecting answers fast.
    let fetcher = HttpFetcher::new(FetchOptions {
        connect_timeout: Duration::from_secs(30),
        retries: 3,
        ..options()
    })
    .unwrap();
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/",
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/metrics",
        "http://[::]:8080/metrics",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        // Another spelling of 169.254.169.254.
        "http://2852039166/latest/",
    ] {
        let started = Instant::now();
        let message = assert_destination_refused(read_all(&fetcher, url).await, url);
        assert!(started.elapsed() < Duration::from_millis(500), "{url}");
        assert!(!message.contains("timed out"), "{message}");
    }
}

#[tokio::test]
async fn refused_destinations_all_fail_alike_whatever_listens_there() {
    // A closed port, a 404 and an HTML page: told apart when allowed, never when refused.
    let not_found = ProviderServer::answering(|_, _| Reply::status(404, "nope"))
        .await
        .unwrap();
    let html = ProviderServer::answering(|_, _| {
        Reply::ok("<html><body>router login</body></html>").header("Content-Type", "text/html")
    })
    .await
    .unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let targets = [
        format!("http://{}/x", not_found.addr()),
        format!("http://{}/x", html.addr()),
        format!("http://{closed}/x"),
    ];
    let closed_fetcher = HttpFetcher::new(FetchOptions {
        allow_private_networks: false,
        ..options()
    })
    .unwrap();
    let messages: Vec<String> = futures::future::join_all(targets.iter().map(|url| {
        let fetcher = &closed_fetcher;
        async move {
            let message = assert_destination_refused(read_all(fetcher, url).await, url);
            message.replace(url.as_str(), "URL")
        }
    }))
    .await;
    assert_eq!(messages[0], messages[1]);
    assert_eq!(messages[1], messages[2]);
    assert_eq!(not_found.hits("/") + html.hits("/"), 0);
    // Allowed, the useful errors stay.
    let open = HttpFetcher::new(options()).unwrap();
    let err = read_all(&open, &targets[0]).await.unwrap_err();
    assert!(
        matches!(err, IngestError::HttpStatus { status: 404, .. }),
        "{err}"
    );
    let err = read_all(&open, &targets[2]).await.unwrap_err();
    assert!(matches!(err, IngestError::Fetch { .. }), "{err}");
}

#[tokio::test]
async fn redirects_are_followed_and_credentials_stay_with_the_first_origin() {
    let target = ProviderServer::answering(|_, _| Reply::ok("#EXTM3U\n"))
        .await
        .unwrap();
    let to = target.url("/final.m3u");
    let server = ProviderServer::answering(move |request, _| match request.path.as_str() {
        "/start" => Reply::status(301, "").header("Location", "/same-origin"),
        _ => Reply::status(307, "").header("Location", &to),
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(options()).unwrap();
    let request = FetchRequest {
        location: server.url("/start"),
        headers: vec![
            ("Authorization".into(), "Bearer s3cret".into()),
            ("X-Plain".into(), "kept".into()),
        ],
        ..FetchRequest::default()
    };
    let mut download = fetcher.fetch(&request).await.unwrap();
    let mut body = Vec::new();
    download.body.read_to_end(&mut body).await.unwrap();
    assert_eq!(body, b"#EXTM3U\n");
    let same = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/same-origin")
        .unwrap();
    assert_eq!(same.header("authorization"), Some("Bearer s3cret"));
    let other = &target.requests()[0];
    assert_eq!(other.header("authorization"), None, "another origin");
    assert_eq!(other.header("x-plain"), Some("kept"));
}

/// A request whose token fires after `after`.
fn cancelled_after(location: String, after: Duration) -> FetchRequest {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        trigger.cancel();
    });
    FetchRequest {
        location,
        cancel,
        ..FetchRequest::default()
    }
}

#[tokio::test]
async fn cancel_interrupts_waiting_for_the_response_headers() {
    // Accepts the connection, reads the request, and answers in ten minutes.
    let server = ProviderServer::answering(|_, _| {
        let mut reply = Reply::ok("#EXTM3U\n");
        reply.delay = Duration::from_secs(600);
        reply
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        read_timeout: Duration::from_secs(60),
        retries: 3,
        ..options()
    })
    .unwrap();
    let started = Instant::now();
    let request = cancelled_after(server.url("/hang.m3u"), Duration::from_millis(200));
    let err = fetcher.fetch(&request).await.unwrap_err();
    assert!(matches!(err, IngestError::Cancelled), "{err}");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(200));
}

#[tokio::test]
async fn cancel_interrupts_the_sleep_between_retries() {
    let server = ProviderServer::answering(|_, _| Reply::status(503, "busy"))
        .await
        .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        retries: 3,
        retry_min_delay: Duration::from_secs(30),
        retry_max_delay: Duration::from_secs(60),
        ..options()
    })
    .unwrap();
    let started = Instant::now();
    let request = cancelled_after(server.url("/busy"), Duration::from_millis(200));
    let err = fetcher.fetch(&request).await.unwrap_err();
    assert!(matches!(err, IngestError::Cancelled), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.hits("/busy"), 1, "no retry after the cancel");
}

#[tokio::test]
async fn cancel_interrupts_reading_the_body() {
    // Headers at once, then a byte every 100 ms for 1,000 s.
    let server = ProviderServer::answering(|_, _| {
        Reply::ok(vec![b'#'; 10_000]).drip(1, Duration::from_millis(100))
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(options()).unwrap();
    let request = cancelled_after(server.url("/drip.m3u"), Duration::from_millis(300));
    let mut download = fetcher.fetch(&request).await.unwrap();
    let started = Instant::now();
    let mut body = Vec::new();
    let err = download.body.read_to_end(&mut body).await.unwrap_err();
    assert!(matches!(from_io(err), IngestError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn cancel_interrupts_a_local_file_read() {
    let imports = Imports::new();
    let path = imports.imports().join("a.m3u");
    std::fs::write(&path, "#EXTM3U\n").unwrap();
    let request = FetchRequest::new(path.to_str().unwrap());
    request.cancel.cancel();
    let err = imports.fetcher.fetch(&request).await.unwrap_err();
    assert!(matches!(err, IngestError::Cancelled), "{err}");
}

/// Progress that asks to stop once `stop` is set.
#[derive(Default)]
struct StopWhenTold {
    stop: Arc<AtomicBool>,
}

impl IngestProgress for StopWhenTold {
    fn report(&self, _progress: &ProgressSnapshot) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn an_ingest_cancelled_before_the_headers_arrive_ends_cancelled_within_a_second() {
    let server = ProviderServer::answering(|_, _| {
        let mut reply = Reply::ok("#EXTM3U\n");
        reply.delay = Duration::from_secs(600);
        reply
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        read_timeout: Duration::from_secs(60),
        retries: 3,
        ..options()
    })
    .unwrap();
    let progress = StopWhenTold::default();
    let stop = progress.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
    });
    let repo = MemoryChannels::default();
    let started = Instant::now();
    let report = tvarr_ingest::ingest_stream_source(
        &stream_source(server.url("/hang.m3u"), StreamSourceType::M3u),
        &fetcher,
        &repo,
        &progress,
        &IngestSettings::default(),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(report.cancelled, "{:?}", report.outcome);
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(*repo.commits.lock().unwrap(), 0);
}
