//! The outputs players load, over HTTP: published playlists and guides with gzip, ETag, 304,
//! Last-Modified, Content-Length and HEAD; 404 problems before the first generation; the
//! stream redirect; and the playlist served for the request's origin when no base URL is
//! configured.

#[macro_use]
mod support;

use std::io::Read as _;

use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde_json::Value;
use support::{TestServer, ingest_channels, test_server, unique};
use tvarr_core::{
    ChannelData, ChannelQuery, GenerationSummary, LineupChannel, OutputKind, PageRequest, ProxyId,
};
use uuid::Uuid;

fn header(headers: &header::HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A playlist as the generation writes it, with `base` in its URLs.
fn playlist(base: &str, proxy: ProxyId, channels: usize) -> String {
    let mut out = format!(
        "#EXTM3U url-tvg=\"{base}/proxy/{proxy}.xmltv\" x-tvg-url=\"{base}/proxy/{proxy}.xmltv\"\n"
    );
    for i in 0..channels {
        out.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"c{i}\" tvg-chno=\"{}\" group-title=\"All\",Channel {i}\n{base}/proxy/{proxy}/{}\n",
            i + 1,
            Uuid::now_v7()
        ));
    }
    out
}

async fn new_proxy(server: &TestServer) -> ProxyId {
    server
        .repos
        .proxies
        .create(tvarr_core::ProxyInput::named(unique("Outputs")))
        .await
        .unwrap()
        .id
}

#[actix_web::test]
async fn outputs_are_404_problems_before_the_first_generation_and_for_unknown_proxies() {
    let server = test_server().await;
    let proxy = new_proxy(&server).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    for id in [proxy.to_string(), Uuid::now_v7().to_string()] {
        for ext in ["m3u", "xmltv"] {
            for method in [Method::GET, Method::HEAD] {
                let uri = format!("/proxy/{id}.{ext}");
                let (status, headers, body) =
                    fetch!(app, TestRequest::default().method(method.clone()).uri(&uri));
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
                assert_eq!(
                    header(&headers, header::CONTENT_TYPE),
                    "application/problem+json"
                );
                let problem: Value = serde_json::from_slice(&body).unwrap();
                assert!(
                    problem["detail"]
                        .as_str()
                        .unwrap()
                        .contains("not been generated yet"),
                    "{problem}"
                );
            }
        }
    }
    let (status, _, _) = fetch!(app, TestRequest::get().uri("/proxy/not-an-id.m3u"));
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn a_published_output_is_served_with_validators_length_and_conditional_answers() {
    let server = test_server().await;
    let proxy = new_proxy(&server).await;
    let content = playlist("http://localhost:8080", proxy, 2_000);
    let published = server
        .outputs
        .publish(proxy, OutputKind::M3u, content.as_bytes())
        .await;
    let guide = b"<?xml version=\"1.0\"?><tv></tv>\n";
    server
        .outputs
        .publish(proxy, OutputKind::Xmltv, guide)
        .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let uri = format!("/proxy/{proxy}.m3u");

    let (status, headers, body) = fetch!(app, TestRequest::get().uri(&uri));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, content.as_bytes());
    assert_eq!(header(&headers, header::CONTENT_TYPE), "audio/x-mpegurl");
    assert_eq!(
        header(&headers, header::CONTENT_LENGTH),
        content.len().to_string()
    );
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(header(&headers, header::VARY), "Accept-Encoding");
    let etag = header(&headers, header::ETAG).to_string();
    assert_eq!(etag, format!("\"{}\"", published.etag));
    let last_modified = header(&headers, header::LAST_MODIFIED).to_string();
    assert_eq!(
        last_modified,
        header::HttpDate::from(std::time::SystemTime::from(published.modified)).to_string()
    );

    // The same validator: 304 with the validators and no body.
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
    );
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&headers, header::ETAG), etag);
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_NONE_MATCH, "\"other\", W/\"stale\""))
    );
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_MODIFIED_SINCE, last_modified.clone()))
    );
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_MODIFIED_SINCE, "Sat, 01 Jan 2000 00:00:00 GMT"))
    );
    assert_eq!(status, StatusCode::OK);
    // If-None-Match decides when both are given.
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_NONE_MATCH, "\"other\""))
            .insert_header((header::IF_MODIFIED_SINCE, last_modified))
    );
    assert_eq!(status, StatusCode::OK);

    // HEAD: the same headers, no body.
    let (status, headers, body) =
        fetch!(app, TestRequest::default().method(Method::HEAD).uri(&uri));
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(header(&headers, header::ETAG), etag);
    assert_eq!(
        header(&headers, header::CONTENT_LENGTH),
        content.len().to_string()
    );

    // The guide, with its own type.
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{proxy}.xmltv"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, guide);
    assert_eq!(header(&headers, header::CONTENT_TYPE), "application/xml");
}

#[actix_web::test]
async fn gzip_is_served_from_the_precompressed_file_with_an_etag_of_its_own() {
    let server = test_server().await;
    let proxy = new_proxy(&server).await;
    let guide: String = std::iter::once("<?xml version=\"1.0\"?>\n<tv>\n".to_string())
        .chain((0..5_000).map(|i| {
            format!("<channel id=\"c{i}\"><display-name>C {i}</display-name></channel>\n")
        }))
        .chain(std::iter::once("</tv>\n".to_string()))
        .collect();
    let published = server
        .outputs
        .publish(proxy, OutputKind::Xmltv, guide.as_bytes())
        .await;
    let files = server
        .outputs
        .files(proxy, OutputKind::Xmltv)
        .await
        .unwrap()
        .unwrap();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let uri = format!("/proxy/{proxy}.xmltv");
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::ACCEPT_ENCODING, "br;q=1.0, gzip;q=0.8"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header(&headers, header::VARY), "Accept-Encoding");
    assert_eq!(
        header(&headers, header::CONTENT_LENGTH),
        published.gzip_len.to_string()
    );
    // The precompressed file's bytes, as they are on disk.
    assert_eq!(body, std::fs::read(&files.gzip).unwrap());
    assert_eq!(gunzip(&body), guide.as_bytes());
    let gzip_etag = header(&headers, header::ETAG).to_string();
    assert_ne!(gzip_etag, format!("\"{}\"", published.etag));

    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
            .insert_header((header::IF_NONE_MATCH, gzip_etag.clone()))
    );
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // The plain validator does not match the gzip form, nor the gzip one the plain form.
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
            .insert_header((header::IF_NONE_MATCH, format!("\"{}\"", published.etag)))
    );
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_NONE_MATCH, gzip_etag))
    );
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body, guide.as_bytes());
    let (status, headers, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::ACCEPT_ENCODING, "gzip;q=0"))
    );
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    // HEAD tells the gzip length.
    let (status, headers, body) = fetch!(
        app,
        TestRequest::default()
            .method(Method::HEAD)
            .uri(&uri)
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
    );
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(
        header(&headers, header::CONTENT_LENGTH),
        published.gzip_len.to_string()
    );
}

#[actix_web::test]
async fn a_new_publication_is_served_at_once_with_a_new_etag() {
    let server = test_server().await;
    let proxy = new_proxy(&server).await;
    let first = server
        .outputs
        .publish(proxy, OutputKind::M3u, b"#EXTM3U\n")
        .await;
    let outputs = server.outputs.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let uri = format!("/proxy/{proxy}.m3u");
    let second = outputs
        .publish(
            proxy,
            OutputKind::M3u,
            b"#EXTM3U\n#EXTINF:-1,New\nhttp://x/1\n",
        )
        .await;
    assert_ne!(first.etag, second.etag);
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_NONE_MATCH, format!("\"{}\"", first.etag)))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"#EXTM3U\n#EXTINF:-1,New\nhttp://x/1\n");
    assert_eq!(
        header(&headers, header::ETAG),
        format!("\"{}\"", second.etag)
    );
}

#[actix_web::test]
async fn deleting_a_proxy_removes_its_outputs() {
    let server = test_server().await;
    let proxy = new_proxy(&server).await;
    server
        .outputs
        .publish(proxy, OutputKind::M3u, b"#EXTM3U\n")
        .await;
    let outputs = server.outputs.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, _, _) = fetch!(app, TestRequest::get().uri(&format!("/proxy/{proxy}.m3u")));
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = fetch!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/proxies/{proxy}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        outputs
            .files(proxy, OutputKind::M3u)
            .await
            .unwrap()
            .is_none()
    );
    let (status, _, _) = fetch!(app, TestRequest::get().uri(&format!("/proxy/{proxy}.m3u")));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Publishes a lineup of one channel of a new source; the channel's id and upstream URL.
async fn published_channel(server: &TestServer, proxy: ProxyId) -> (String, String) {
    let upstream = "http://provider.example/live/alice/hunter2/7.ts?token=x%20y";
    let source = ingest_channels(
        &server.repos,
        &unique("Redirected"),
        vec![ChannelData {
            name: "Seven".into(),
            stream_url: upstream.into(),
            ..Default::default()
        }],
    )
    .await;
    let channel = server
        .repos
        .channels
        .list(
            &ChannelQuery {
                source_ids: vec![source],
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    let lineup = [LineupChannel {
        channel_id: channel.id,
        source_id: source,
        number: 7,
        guide_id: "seven".into(),
        data: channel.data,
        guide: None,
    }];
    server
        .repos
        .lineups
        .publish(proxy, &lineup, &[], &GenerationSummary::default())
        .await
        .unwrap();
    (channel.id.to_string(), upstream.to_string())
}

#[actix_web::test]
async fn a_stream_request_is_redirected_to_the_upstream_url() {
    let server = test_server().await;
    let proxy = new_proxy(&server).await;
    let (channel, upstream) = published_channel(&server, proxy).await;
    let other = new_proxy(&server).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    for path in [
        format!("/proxy/{proxy}/{channel}"),
        format!("/proxy/{proxy}/{channel}.ts"),
        format!("/proxy/{proxy}/{channel}.m3u8"),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let (status, headers, _) = fetch!(
                app,
                TestRequest::default().method(method.clone()).uri(&path)
            );
            assert_eq!(status, StatusCode::FOUND, "{method} {path}");
            assert_eq!(header(&headers, header::LOCATION), upstream, "{path}");
        }
    }
    // A channel the proxy's lineup does not have, an unknown channel, an unknown proxy.
    for path in [
        format!("/proxy/{other}/{channel}"),
        format!("/proxy/{proxy}/{}", Uuid::now_v7()),
        format!("/proxy/{}/{channel}", Uuid::now_v7()),
    ] {
        let (status, headers, body) = fetch!(app, TestRequest::get().uri(&path));
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header(&headers, header::CONTENT_TYPE),
            "application/problem+json"
        );
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("lineup"),
            "{problem}"
        );
    }
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{proxy}/7.mp4"))
    );
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[actix_web::test]
async fn without_a_configured_base_the_playlist_is_served_for_the_request_origin() {
    let mut server = test_server().await;
    let default_base = "http://0.0.0.0:8080";
    server.state.settings.base_url = default_base.into();
    server.state.settings.base_url_configured = false;
    server.state.settings.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let proxy = new_proxy(&server).await;
    // Large enough to span many chunks, so base URLs fall across chunk boundaries.
    let content = playlist(default_base, proxy, 3_000);
    let published = server
        .outputs
        .publish(proxy, OutputKind::M3u, content.as_bytes())
        .await;
    let guide = server
        .outputs
        .publish(proxy, OutputKind::Xmltv, b"<tv/>\n")
        .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let uri = format!("/proxy/{proxy}.m3u");
    let request = |host: &str, peer: &str| {
        TestRequest::get()
            .uri(&uri)
            .insert_header((header::HOST, host.to_string()))
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
            .peer_addr(peer.parse().unwrap())
    };

    let (status, headers, body) = fetch!(app, request("192.168.1.5:8080", "192.168.1.9:4000"));
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert!(headers.get(header::CONTENT_LENGTH).is_none());
    let expected = content.replace(default_base, "http://192.168.1.5:8080");
    assert_eq!(String::from_utf8(body).unwrap(), expected);
    assert!(header(&headers, header::VARY).contains("Host"));
    let etag = header(&headers, header::ETAG).to_string();
    assert_ne!(etag, format!("\"{}\"", published.etag));
    assert!(etag.starts_with(&format!("\"{}", published.etag)), "{etag}");
    // Its validator is per origin.
    let (status, _, _) = fetch!(
        app,
        request("192.168.1.5:8080", "192.168.1.9:4000")
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
    );
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, headers, _) = fetch!(
        app,
        request("tv.local", "192.168.1.9:4000")
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
    );
    assert_eq!(status, StatusCode::OK);
    assert_ne!(header(&headers, header::ETAG), etag);

    // Forwarding headers count from a trusted proxy only.
    let forwarded = |peer: &str| {
        request("tvarr:8080", peer)
            .insert_header(("X-Forwarded-Host", "tv.example.com"))
            .insert_header(("X-Forwarded-Proto", "https"))
    };
    let (_, _, body) = fetch!(app, forwarded("10.0.0.2:4000"));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        content.replace(default_base, "https://tv.example.com")
    );
    let (_, _, body) = fetch!(app, forwarded("192.168.1.9:4000"));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        content.replace(default_base, "http://tvarr:8080")
    );

    // The origin the playlist was written for gets the published files, gzip included.
    let (status, headers, body) = fetch!(app, request("0.0.0.0:8080", "192.168.1.9:4000"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "gzip");
    assert_eq!(gunzip(&body), content.as_bytes());
    // The guide has no URLs of ours: as published.
    let (_, headers, body) = fetch!(
        app,
        TestRequest::get()
            .uri(&format!("/proxy/{proxy}.xmltv"))
            .insert_header((header::HOST, "tv.local"))
    );
    assert_eq!(body, b"<tv/>\n");
    assert_eq!(
        header(&headers, header::ETAG),
        format!("\"{}\"", guide.etag)
    );
    // HEAD of a rewritten playlist: headers, no body, no length.
    let (status, headers, body) = fetch!(
        app,
        TestRequest::default()
            .method(Method::HEAD)
            .uri(&uri)
            .insert_header((header::HOST, "tv.local"))
    );
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert!(headers.get(header::ETAG).is_some());
}
