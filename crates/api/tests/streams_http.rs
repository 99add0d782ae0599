//! Stream delivery over HTTP in `proxy` mode, against a real provider server serving the
//! fixture MPEG-TS: the answer is the channel's TS from the PAT on; viewers of one channel
//! share one provider connection; the tuner count refuses a channel beyond it with a 503
//! problem; a channel whose stream cannot be opened is a 502 problem; a failing upstream fails
//! over to the same `tvg_id` of the proxy's next source; `HEAD` opens nothing; the session list
//! shows what plays and `DELETE` ends it; `relay` mode runs its profile through the real
//! FFmpeg, and without FFmpeg (or without a profile) is a 503 problem that says why.

#[macro_use]
mod support;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde_json::Value;
use support::{TestServer, ingest_channels, test_server, unique};
use tvarr_core::{
    ChannelData, ChannelQuery, GenerationSummary, LineupChannel, PageRequest, ProxyId, ProxyInput,
    ProxyMode, StreamSourceId,
};
use tvarr_testkit::{ProviderServer, Reply, Route};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/external/hls/tvarr-test-stream.ts"
);

/// The fixture repeated, sent slowly enough to last the test: a live channel.
fn live_stream() -> Route {
    let one = std::fs::read(FIXTURE).unwrap();
    let body: Vec<u8> = one.iter().copied().cycle().take(one.len() * 4).collect();
    Route::new(
        Reply::ok(body)
            .header("Content-Type", "video/mp2t")
            .drip(32 * 1024, Duration::from_millis(20)),
    )
}

/// A provider serving two live channels, `/live/1.ts` and `/live/2.ts`.
async fn two_live_channels() -> ProviderServer {
    let provider = ProviderServer::start().await.unwrap();
    provider.route("/live/1.ts", live_stream());
    provider.route("/live/2.ts", live_stream());
    provider
}

/// A source with the channels `One` and `Two` of [`two_live_channels`].
async fn two_channel_source(server: &TestServer, provider: &ProviderServer) -> StreamSourceId {
    source(
        server,
        &[
            ("One", "one", provider.url("/live/1.ts")),
            ("Two", "two", provider.url("/live/2.ts")),
        ],
    )
    .await
}

/// A source with one channel per `(name, tvg_id, url)`.
async fn source(server: &TestServer, channels: &[(&str, &str, String)]) -> StreamSourceId {
    ingest_channels(
        &server.repos,
        &unique("Relayed"),
        channels
            .iter()
            .map(|(name, tvg_id, url)| ChannelData {
                name: (*name).into(),
                tvg_id: Some((*tvg_id).into()),
                stream_url: url.clone(),
                ..Default::default()
            })
            .collect(),
    )
    .await
}

/// A `proxy`-mode proxy of `sources` (in that priority) with `tuners`, publishing the channels
/// of the first source; their ids by name.
async fn proxy_of(
    server: &TestServer,
    sources: &[StreamSourceId],
    tuners: u32,
) -> (ProxyId, Vec<(String, String)>) {
    proxy_in(server, sources, tuners, ProxyMode::Proxy, None).await
}

/// [`proxy_of`] in `mode`, with `profile`.
async fn proxy_in(
    server: &TestServer,
    sources: &[StreamSourceId],
    tuners: u32,
    mode: ProxyMode,
    profile: Option<tvarr_core::RelayProfileId>,
) -> (ProxyId, Vec<(String, String)>) {
    let mut input = ProxyInput::named(unique("Relay"));
    input.stream_source_ids = sources.to_vec();
    input.proxy_mode = mode;
    input.relay_profile_id = profile;
    input.tuner_count = tuners;
    let proxy = server.repos.proxies.create(input).await.unwrap().id;
    let channels = server
        .repos
        .channels
        .list(
            &ChannelQuery {
                source_ids: vec![sources[0]],
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    let lineup: Vec<LineupChannel> = channels
        .iter()
        .enumerate()
        .map(|(i, channel)| LineupChannel {
            channel_id: channel.id,
            source_id: channel.source_id,
            number: u32::try_from(i).unwrap() + 1,
            guide_id: channel.data.tvg_id.clone().unwrap_or_default(),
            data: channel.data.clone(),
            guide: None,
        })
        .collect();
    server
        .repos
        .lineups
        .publish(proxy, &lineup, &[], &GenerationSummary::default())
        .await
        .unwrap();
    let ids = channels
        .into_iter()
        .map(|c| (c.data.name, c.id.to_string()))
        .collect();
    (proxy, ids)
}

/// Reads at least `n` bytes of a streaming answer (or all of a shorter one).
async fn first_bytes<B: MessageBody>(res: ServiceResponse<B>, n: usize) -> Vec<u8> {
    let body = res.into_body();
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while out.len() < n {
        let next = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        match next {
            Some(Ok(chunk)) => out.extend_from_slice(&chunk),
            Some(Err(_)) => panic!("the stream failed"),
            None => break,
        }
    }
    out
}

/// Whether `bytes` are whole MPEG-TS packets that start with the PAT.
fn starts_as_a_player_needs(bytes: &[u8]) {
    assert!(bytes.len() >= 188 * 2, "only {} bytes", bytes.len());
    for (i, packet) in bytes.chunks(188).enumerate() {
        if packet.len() == 188 {
            assert_eq!(packet[0], 0x47, "packet {i} is not aligned");
        }
    }
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    assert_eq!(pid(&bytes[..188]), 0, "the first packet is not the PAT");
}

#[actix_web::test]
async fn a_proxied_channel_is_one_provider_connection_for_every_viewer() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route("/live/1.ts", live_stream());
    let server = test_server().await;
    let src = source(&server, &[("One", "one", provider.url("/live/1.ts"))]).await;
    let (proxy, channels) = proxy_of(&server, &[src], 2).await;
    let channel = &channels[0].1;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    // HEAD answers the headers and opens nothing.
    let (status, headers, body) = fetch!(
        app,
        TestRequest::default()
            .method(Method::HEAD)
            .uri(&format!("/proxy/{proxy}/{channel}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "video/mp2t");
    assert!(body.is_empty());
    assert_eq!(provider.hits("/live/1.ts"), 0);

    let first = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{channel}.ts"))
            .insert_header((header::USER_AGENT, "VLC/3.0.20"))
            .to_request(),
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first.headers().get(header::CONTENT_TYPE).unwrap(),
        "video/mp2t"
    );
    let second = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{channel}"))
            .to_request(),
    )
    .await;
    assert_eq!(second.status(), StatusCode::OK);

    let (status, _, body) = fetch!(app, TestRequest::get().uri("/api/v1/relay/sessions"));
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let sessions = list["items"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(sessions[0]["channel_name"], "One");
    assert_eq!(sessions[0]["mode"], "proxy");
    assert_eq!(
        sessions[0]["viewers"].as_array().unwrap().len(),
        2,
        "{list}"
    );
    assert!(
        sessions[0]["viewers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["user_agent"] == "VLC/3.0.20"),
        "{list}"
    );

    let (a, b) = tokio::join!(first_bytes(first, 200_000), first_bytes(second, 200_000));
    starts_as_a_player_needs(&a);
    starts_as_a_player_needs(&b);
    assert_eq!(
        provider.hits("/live/1.ts"),
        1,
        "the viewers share one upstream"
    );

    // Ending the session ends it; ending it again finds nothing.
    let id = sessions[0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = fetch!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/relay/sessions/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, headers, _) = fetch!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/relay/sessions/{id}"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while provider.open_connections() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the provider connection was left open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn the_tuner_count_refuses_another_channel_but_not_another_viewer() {
    let provider = two_live_channels().await;
    let server = test_server().await;
    let src = two_channel_source(&server, &provider).await;
    let (proxy, channels) = proxy_of(&server, &[src], 1).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let watch = |channel: &str| {
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{channel}"))
            .to_request()
    };
    let one = call_service(&app, watch(&channels[0].1)).await;
    assert_eq!(one.status(), StatusCode::OK);
    let again = call_service(&app, watch(&channels[0].1)).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a playing channel needs no tuner"
    );

    let two = call_service(&app, watch(&channels[1].1)).await;
    assert_eq!(two.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        two.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let problem: Value = serde_json::from_slice(&read_body(two).await).unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("tuner count"),
        "{problem}"
    );
    assert_eq!(provider.hits("/live/2.ts"), 0);
    drop((one, again));
}

#[actix_web::test]
async fn a_stream_that_cannot_be_opened_is_a_bad_gateway_problem() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route(
        "/live/gone.ts",
        Route::new(Reply::status(404, "no such stream")),
    );
    provider.route(
        "/live/page.ts",
        Route::ok(
            "text/html",
            "<html><body>Your subscription expired</body></html>",
        ),
    );
    let server = test_server().await;
    let src = source(
        &server,
        &[
            ("Gone", "gone", provider.url("/live/gone.ts")),
            ("Page", "page", provider.url("/live/page.ts")),
        ],
    )
    .await;
    let (proxy, channels) = proxy_of(&server, &[src], 4).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    for (name, channel) in &channels {
        let res = call_service(
            &app,
            TestRequest::get()
                .uri(&format!("/proxy/{proxy}/{channel}"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_GATEWAY, "{name}");
        let body = read_body(res).await;
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            !problem["detail"].as_str().unwrap().is_empty(),
            "{name}: {problem}"
        );
    }
}

#[actix_web::test]
async fn a_failing_upstream_fails_over_to_the_same_tvg_id_of_the_next_source() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route("/a/news.ts", Route::new(Reply::status(503, "busy")));
    provider.route("/b/news.ts", live_stream());
    let server = test_server().await;
    let first = source(&server, &[("News", "news.uk", provider.url("/a/news.ts"))]).await;
    let backup = source(
        &server,
        &[
            ("Other", "other.uk", provider.url("/b/other.ts")),
            ("News backup", "news.uk", provider.url("/b/news.ts")),
        ],
    )
    .await;
    let (proxy, channels) = proxy_of(&server, &[first, backup], 2).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let res = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{}", channels[0].1))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    starts_as_a_player_needs(&first_bytes(res, 100_000).await);
    assert!(provider.hits("/a/news.ts") >= 1);
    assert_eq!(provider.hits("/b/news.ts"), 1);
    assert_eq!(provider.hits("/b/other.ts"), 0);
}

/// A `copy` relay profile named `name`.
async fn copy_profile(server: &TestServer, name: String) -> tvarr_core::RelayProfile {
    server
        .repos
        .relay_profiles
        .create(tvarr_core::RelayProfileInput {
            name,
            video_codec: "copy".into(),
            audio_codec: "copy".into(),
            video_bitrate_kbps: None,
            audio_bitrate_kbps: None,
            max_height: None,
            hardware_acceleration: "none".into(),
            container: tvarr_core::VideoContainer::MpegTs,
            preset: None,
            extra_args: Vec::new(),
        })
        .await
        .unwrap()
}

/// Gives `server` the installed FFmpeg, as a server that found it at start.
async fn with_ffmpeg(server: &mut TestServer) {
    let transcoding = tvarr_relay::Transcoding::detect(None).await;
    let ffmpeg = transcoding.ffmpeg().cloned().expect("FFmpeg is installed");
    server.state.relay = tvarr_relay::Relay::with_ffmpeg(
        tvarr_ingest::fetch::HttpFetcher::new(tvarr_ingest::fetch::FetchOptions::default())
            .unwrap(),
        tvarr_relay::RelayConfig {
            idle_grace: Duration::from_millis(200),
            ..Default::default()
        },
        Some(ffmpeg),
    );
    server.state.transcoding = transcoding;
}

#[actix_web::test]
async fn relay_mode_runs_the_profile_through_ffmpeg() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route("/live/1.ts", live_stream());
    let mut server = test_server().await;
    with_ffmpeg(&mut server).await;
    let src = source(&server, &[("One", "one", provider.url("/live/1.ts"))]).await;
    let profile = copy_profile(&server, unique("Copy")).await.id;
    let (proxy, channels) = proxy_in(&server, &[src], 2, ProxyMode::Relay, Some(profile)).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    let (status, _, body) = fetch!(app, TestRequest::get().uri("/api/v1/relay/ffmpeg"));
    assert_eq!(status, StatusCode::OK);
    let found: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(found["available"], true, "{found}");
    assert!(found["ffmpeg"]["version"].as_str().is_some(), "{found}");

    let res = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{}", channels[0].1))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _, body) = fetch!(app, TestRequest::get().uri("/api/v1/relay/sessions"));
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["items"][0]["mode"], "relay", "{list}");
    assert_eq!(
        list["items"][0]["relay_profile_id"],
        profile.to_string(),
        "{list}"
    );
    starts_as_a_player_needs(&first_bytes(res, 100_000).await);
}

#[actix_web::test]
async fn relay_mode_without_ffmpeg_is_a_problem_that_says_so() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route("/live/1.ts", live_stream());
    let server = test_server().await;
    let src = source(&server, &[("One", "one", provider.url("/live/1.ts"))]).await;
    let profile = copy_profile(&server, unique("Copy")).await.id;
    let (proxy, channels) = proxy_in(&server, &[src], 2, ProxyMode::Relay, Some(profile)).await;
    let (unprofiled, unprofiled_channels) =
        proxy_in(&server, &[src], 2, ProxyMode::Relay, None).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    for (uri, says) in [
        (format!("/proxy/{proxy}/{}", channels[0].1), "FFmpeg"),
        (
            format!("/proxy/{unprofiled}/{}", unprofiled_channels[0].1),
            "relay profile",
        ),
    ] {
        let (status, headers, body) = fetch!(app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    assert_eq!(provider.hits("/live/1.ts"), 0);
    let (status, _, body) = fetch!(app, TestRequest::get().uri("/api/v1/relay/ffmpeg"));
    assert_eq!(status, StatusCode::OK);
    let found: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(found["available"], false, "{found}");
}

#[actix_web::test]
async fn an_account_watches_at_most_its_max_streams() {
    let provider = two_live_channels().await;
    // Its own database: a viewer account closes the outputs of every other test's proxies.
    let server = support::own_test_server().await;
    let src = two_channel_source(&server, &provider).await;
    let (proxy, channels) = proxy_of(&server, &[src], 4).await;
    server
        .repos
        .users
        .create(
            &tvarr_core::UserInput {
                username: "watcher".into(),
                role: tvarr_core::Role::Viewer,
                proxy_ids: vec![proxy],
                max_streams: Some(1),
            },
            &tvarr_api::hash_secret("login").unwrap(),
            Some(&tvarr_api::hash_secret("tv-pass").unwrap()),
        )
        .await
        .unwrap();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let watch = |channel: &str| {
        TestRequest::get()
            .uri(&format!(
                "/proxy/{proxy}/{channel}?username=watcher&password=tv-pass"
            ))
            .to_request()
    };
    let first = call_service(&app, watch(&channels[0].1)).await;
    assert_eq!(first.status(), StatusCode::OK);
    for refused in [
        call_service(&app, watch(&channels[1].1)).await,
        call_service(
            &app,
            TestRequest::get()
                .uri("/live/watcher/tv-pass/2.ts")
                .to_request(),
        )
        .await,
    ] {
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        let problem: Value = serde_json::from_slice(&read_body(refused).await).unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("watcher") && detail.contains('1'),
            "{detail}"
        );
    }
    assert_eq!(provider.hits("/live/2.ts"), 0);
    // Player apps see the stream in use, and refuse another themselves.
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri("/player_api.php?username=watcher&password=tv-pass")
    );
    assert_eq!(status, StatusCode::OK);
    let account: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(account["user_info"]["active_cons"], "1", "{account}");
    assert_eq!(account["user_info"]["max_connections"], "1", "{account}");
    // Once the first stream is closed, the account may watch another.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let next = call_service(&app, watch(&channels[1].1)).await;
        if next.status() == StatusCode::OK {
            starts_as_a_player_needs(&first_bytes(next, 50_000).await);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the account's stream was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_transcode_query_naming_a_profile_plays_through_it() {
    let provider = two_live_channels().await;
    let mut server = test_server().await;
    with_ffmpeg(&mut server).await;
    let profile = copy_profile(
        &server,
        format!("Internet480-{}", uuid::Uuid::now_v7().simple()),
    )
    .await;
    let src = two_channel_source(&server, &provider).await;
    let (proxy, channels) = proxy_of(&server, &[src], 4).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    // As Jellyfin asks an HDHomeRun: the profile's name, in another case.
    let named = profile.input.name.to_lowercase();
    let asked = call_service(
        &app,
        TestRequest::get()
            .uri(&format!(
                "/proxy/{proxy}/{}?transcode={named}",
                channels[0].1
            ))
            .to_request(),
    )
    .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let unknown = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{}?transcode=heavy", channels[1].1))
            .to_request(),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let (_, _, body) = fetch!(app, TestRequest::get().uri("/api/v1/relay/sessions"));
    let list: Value = serde_json::from_slice(&body).unwrap();
    let mode_of = |name: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["channel_name"] == name)
            .map(|s| (s["mode"].clone(), s["relay_profile_id"].clone()))
            .unwrap()
    };
    assert_eq!(
        mode_of("One"),
        (Value::from("relay"), Value::from(profile.id.to_string())),
        "{list}"
    );
    assert_eq!(
        mode_of("Two"),
        (Value::from("proxy"), Value::Null),
        "{list}"
    );
    starts_as_a_player_needs(&first_bytes(asked, 50_000).await);
    drop(unknown);
}

#[actix_web::test]
async fn a_source_at_its_max_connections_refuses_another_channel() {
    let provider = two_live_channels().await;
    let server = test_server().await;
    let src = two_channel_source(&server, &provider).await;
    let stored = server.repos.stream_sources.get(src).await.unwrap();
    let input = tvarr_core::StreamSourceInput {
        name: stored.name,
        source_type: stored.source_type,
        url: stored.url,
        username: stored.username,
        password: stored.password,
        update_cron: stored.update_cron,
        enabled: stored.enabled,
        user_agent: stored.user_agent,
        headers: stored.headers,
        max_connections: Some(1),
    };
    server
        .repos
        .stream_sources
        .update(src, input)
        .await
        .unwrap();
    // Tuners to spare: only the source's limit refuses.
    let (proxy, channels) = proxy_of(&server, &[src], 4).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let watch = |channel: &str| {
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}/{channel}"))
            .to_request()
    };
    let one = call_service(&app, watch(&channels[0].1)).await;
    assert_eq!(one.status(), StatusCode::OK);

    let two = call_service(&app, watch(&channels[1].1)).await;
    assert_eq!(two.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        two.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let problem: Value = serde_json::from_slice(&read_body(two).await).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("provider connections"),
        "{problem}"
    );
    assert_eq!(provider.hits("/live/2.ts"), 0);

    // The first channel still plays.
    starts_as_a_player_needs(&first_bytes(one, 50_000).await);
    assert_eq!(provider.hits("/live/2.ts"), 0);
}
