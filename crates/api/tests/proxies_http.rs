//! Proxies and relay profiles over HTTP, on the real store: CRUD, validation of every
//! reference and setting, delivery modes this build does not have, queueing a generation
//! (coalesced), the published lineup, and URLs from the request's origin.

mod support;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde_json::{Value, json};
use support::{ingest_channels, ingest_programmes, test_server, unique};
use tvarr_core::{
    ChannelData, ChannelQuery, Domain, FilterAction, FilterInput, GenerationSummary, GuideMatch,
    LineupChannel, MappingRuleInput, MatchMethod, PageRequest, ProgrammeData, ProxyId,
    Repositories,
};
use uuid::Uuid;

macro_rules! send {
    ($app:expr, $req:expr) => {{
        let res = call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let body = read_body(res).await;
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, json)
    }};
}

/// The message of the `errors` entry naming `field` in a 422 problem.
fn field_error(status: StatusCode, problem: &Value, field: &str) -> String {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    problem["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error for {field}: {problem}"))["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A stream source with one channel, an EPG source, a filter of each domain and a mapping
/// rule: the ids a proxy can name.
struct Referenced {
    stream: String,
    epg: String,
    filters: [String; 2],
    rule: String,
}

async fn referenced(repos: &Repositories) -> Referenced {
    let stream = ingest_channels(
        repos,
        &unique("Proxy source"),
        vec![ChannelData {
            name: "One".into(),
            stream_url: "http://example.com/1.ts".into(),
            ..Default::default()
        }],
    )
    .await;
    let epg = ingest_programmes(repos, &unique("Proxy guide"), Vec::<ProgrammeData>::new()).await;
    let mut filters = Vec::new();
    for (domain, expression) in [
        (Domain::Stream, "group_title == \"News\""),
        (Domain::Epg, "programme_title contains \"News\""),
    ] {
        let filter = repos
            .filters
            .create(FilterInput {
                name: unique("Proxy filter"),
                domain,
                action: FilterAction::Include,
                expression: expression.into(),
            })
            .await
            .unwrap();
        filters.push(filter.id.to_string());
    }
    let rule = repos
        .mapping_rules
        .create(MappingRuleInput {
            name: unique("Proxy rule"),
            domain: Domain::Stream,
            expression: "SET group_title = \"All\"".into(),
            priority: 0,
            enabled: true,
        })
        .await
        .unwrap();
    Referenced {
        stream: stream.to_string(),
        epg: epg.to_string(),
        filters: [filters[0].clone(), filters[1].clone()],
        rule: rule.id.to_string(),
    }
}

/// `POST $uri` with `$body`, asserting 201; the created record.
macro_rules! create {
    ($app:expr, $uri:expr, $body:expr) => {{
        let (status, created) = send!($app, TestRequest::post().uri($uri).set_json($body));
        assert_eq!(status, StatusCode::CREATED, "{}: {created}", $uri);
        created
    }};
}

#[actix_web::test]
async fn a_proxy_round_trips_through_create_read_list_update_and_delete() {
    let server = test_server().await;
    let repos = server.repos.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let refs = referenced(&repos).await;
    let profile = create!(
        app,
        "/api/v1/relay-profiles",
        json!({"name": unique("Profile"), "video_codec": "h264", "video_bitrate_kbps": 4000})
    );
    let name = unique("Living room");
    let body = json!({
        "name": format!("  {name} "),
        "stream_source_ids": [refs.stream],
        "epg_source_ids": [refs.epg],
        "filter_ids": [refs.filters[0], refs.filters[1]],
        "mapping_rule_ids": [refs.rule],
        "starting_channel_number": 100,
        "numbering": "sequential",
        "proxy_mode": "redirect",
        "relay_profile_id": profile["id"],
        "cache_logos": true,
        "group_starting_numbers": [{"group": "Sports", "start": 500}],
        "number_grace_days": 3,
        "epg_days_past": 0,
        "epg_days_ahead": 14,
        "max_removed_percent": 100,
        "update_cron": "0 */6 * * *",
        "tuner_count": 2,
        "hdhomerun_channels_per_device": 480,
    });
    let created = create!(app, "/api/v1/proxies", body);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], name, "trimmed");
    assert_eq!(created["stream_source_ids"], json!([refs.stream]));
    assert_eq!(created["epg_source_ids"], json!([refs.epg]));
    assert_eq!(created["filter_ids"], json!(refs.filters));
    assert_eq!(created["mapping_rule_ids"], json!([refs.rule]));
    assert_eq!(created["starting_channel_number"], 100);
    assert_eq!(created["numbering"], "sequential");
    assert_eq!(created["relay_profile_id"], profile["id"]);
    assert_eq!(created["cache_logos"], true);
    assert_eq!(
        created["group_starting_numbers"],
        json!([{"group": "Sports", "start": 500}])
    );
    assert_eq!(created["number_grace_days"], 3);
    assert_eq!(created["epg_days_past"], 0);
    assert_eq!(created["epg_days_ahead"], 14);
    assert_eq!(created["max_removed_percent"], 100);
    assert_eq!(created["update_cron"], "0 */6 * * *");
    assert_eq!(created["tuner_count"], 2);
    assert_eq!(created["hdhomerun_channels_per_device"], 480);
    assert_eq!(
        created["hdhomerun_url"],
        format!("http://localhost:8080/hdhr/{id}")
    );
    assert_eq!(created["last_generation"], Value::Null);
    assert_eq!(
        created["m3u_url"],
        format!("http://localhost:8080/proxy/{id}.m3u")
    );
    assert_eq!(
        created["xmltv_url"],
        format!("http://localhost:8080/proxy/{id}.xmltv")
    );

    let (status, got) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/proxies/{id}"))
    );
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, created);
    let (status, list) = send!(app, TestRequest::get().uri("/api/v1/proxies?limit=10000"));
    assert_eq!(status, StatusCode::OK);
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["m3u_url"], created["m3u_url"]);
    assert!(listed.get("last_generation").is_none(), "{listed}");

    // A PUT replaces everything: what it leaves out returns to its default.
    let renamed = unique("Kitchen");
    let (status, updated) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/proxies/{id}"))
            .set_json(json!({"name": renamed, "stream_source_ids": [refs.stream]}))
    );
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], renamed);
    assert_eq!(updated["filter_ids"], json!([]));
    assert_eq!(updated["relay_profile_id"], Value::Null);
    assert_eq!(updated["starting_channel_number"], 1);
    assert_eq!(updated["numbering"], "preserve");
    assert_eq!(updated["number_grace_days"], 7);
    assert_eq!(updated["epg_days_past"], 1);
    assert_eq!(updated["epg_days_ahead"], 7);
    assert_eq!(updated["max_removed_percent"], 50);
    assert_eq!(updated["update_cron"], Value::Null);
    assert_eq!(updated["cache_logos"], false);
    assert_eq!(updated["tuner_count"], 4);
    assert_eq!(updated["hdhomerun_channels_per_device"], 0);

    let (status, _) = send!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/proxies/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    for req in [
        TestRequest::get().uri(&format!("/api/v1/proxies/{id}")),
        TestRequest::delete().uri(&format!("/api/v1/proxies/{id}")),
        TestRequest::put()
            .uri(&format!("/api/v1/proxies/{id}"))
            .set_json(json!({"name": unique("Gone")})),
        TestRequest::post().uri(&format!("/api/v1/proxies/{id}/generate")),
        TestRequest::get().uri(&format!("/api/v1/proxies/{id}/channels")),
    ] {
        let (status, problem) = send!(app, req);
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains(&id));
    }
}

#[actix_web::test]
async fn unknown_ids_are_422s_naming_the_field_position_and_id() {
    let server = test_server().await;
    let repos = server.repos.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let refs = referenced(&repos).await;
    let missing: Vec<String> = (0..5).map(|_| Uuid::now_v7().to_string()).collect();
    let (status, problem) = send!(
        app,
        TestRequest::post().uri("/api/v1/proxies").set_json(json!({
            "name": unique("Unknown ids"),
            "stream_source_ids": [refs.stream, missing[0]],
            "epg_source_ids": [missing[1]],
            "filter_ids": [refs.filters[0], missing[2]],
            "mapping_rule_ids": [missing[3]],
            "relay_profile_id": missing[4],
        }))
    );
    for (field, what, id) in [
        ("stream_source_ids[1]", "no stream source", &missing[0]),
        ("epg_source_ids[0]", "no EPG source", &missing[1]),
        ("filter_ids[1]", "no filter", &missing[2]),
        ("mapping_rule_ids[0]", "no mapping rule", &missing[3]),
        ("relay_profile_id", "no relay profile", &missing[4]),
    ] {
        let message = field_error(status, &problem, field);
        assert!(message.contains(what), "{field}: {message}");
        assert!(message.contains(id.as_str()), "{field}: {message}");
    }
    assert_eq!(problem["errors"].as_array().unwrap().len(), 5, "{problem}");

    // An id listed twice, or not an id at all, is named too; and nothing was stored.
    let name = unique("Twice");
    let (status, problem) = send!(
        app,
        TestRequest::post().uri("/api/v1/proxies").set_json(json!({
            "name": name,
            "stream_source_ids": [refs.stream, refs.stream],
            "filter_ids": ["not-an-id"],
        }))
    );
    assert!(field_error(status, &problem, "stream_source_ids[1]").contains("twice"));
    assert!(field_error(status, &problem, "filter_ids[0]").contains("not an id"));
    let (_, list) = send!(app, TestRequest::get().uri("/api/v1/proxies?limit=10000"));
    assert!(
        !list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == name.as_str())
    );

    // A PUT is checked the same way.
    let created = create!(app, "/api/v1/proxies", json!({"name": unique("Valid")}));
    let (status, problem) = send!(
        app,
        TestRequest::put()
            .uri(&format!(
                "/api/v1/proxies/{}",
                created["id"].as_str().unwrap()
            ))
            .set_json(json!({"name": unique("Valid"), "epg_source_ids": [missing[1]]}))
    );
    assert!(field_error(status, &problem, "epg_source_ids[0]").contains(missing[1].as_str()));
}

#[actix_web::test]
async fn proxy_mode_is_accepted_and_relay_mode_needs_a_profile() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, created) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/proxies")
            .set_json(json!({"name": unique("Relayed"), "proxy_mode": "proxy"}))
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["proxy_mode"], "proxy");
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/proxies")
            .set_json(json!({"name": unique("Transcoded"), "proxy_mode": "relay"}))
    );
    let message = field_error(status, &problem, "relay_profile_id");
    assert!(message.contains("relay"), "{message}");
    // What plays in those modes has endpoints of its own.
    let doc = serde_json::to_value(tvarr_api::openapi()).unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().any(|p| *p == "/api/v1/relay/sessions/{id}"),
        "{paths:?}"
    );
}

#[actix_web::test]
async fn names_and_settings_out_of_range_are_422s_naming_them() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, problem) = send!(
        app,
        TestRequest::post().uri("/api/v1/proxies").set_json(json!({
            "name": "tab\there",
            "starting_channel_number": 0,
            "group_starting_numbers": [
                {"group": "News", "start": 1000000},
                {"group": "news", "start": 10},
                {"group": "", "start": 10},
            ],
            "number_grace_days": 366,
            "epg_days_past": 32,
            "epg_days_ahead": 0,
            "max_removed_percent": 101,
            "update_cron": "* * * * * *",
            "tuner_count": 0,
            "hdhomerun_channels_per_device": 100001,
        }))
    );
    for field in [
        "name",
        "starting_channel_number",
        "group_starting_numbers[0].start",
        "group_starting_numbers[1].group",
        "group_starting_numbers[2].group",
        "number_grace_days",
        "epg_days_past",
        "epg_days_ahead",
        "max_removed_percent",
        "update_cron",
        "tuner_count",
        "hdhomerun_channels_per_device",
    ] {
        field_error(status, &problem, field);
    }
    assert!(field_error(status, &problem, "update_cron").contains("300 s"));
    assert!(field_error(status, &problem, "group_starting_numbers[1].group").contains("twice"));
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/proxies")
            .set_json(json!({"name": unique("Cron"), "update_cron": "every day"}))
    );
    field_error(status, &problem, "update_cron");
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/proxies")
            .set_json(json!({"name": unique("Unknown field"), "colour": "blue"}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[actix_web::test]
async fn a_duplicate_name_is_a_409() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let name = unique("Same");
    let first = create!(app, "/api/v1/proxies", json!({"name": name}));
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/proxies")
            .set_json(json!({"name": name}))
    );
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let other = create!(app, "/api/v1/proxies", json!({"name": unique("Other")}));
    let (status, problem) = send!(
        app,
        TestRequest::put()
            .uri(&format!(
                "/api/v1/proxies/{}",
                other["id"].as_str().unwrap()
            ))
            .set_json(json!({"name": first["name"]}))
    );
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
}

#[actix_web::test]
async fn generate_answers_202_and_requests_at_once_share_the_queued_job() {
    let server = test_server().await;
    let repos = server.repos.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let proxy = create!(app, "/api/v1/proxies", json!({"name": unique("Generated")}));
    let id = proxy["id"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/proxies/{id}/generate");
    let (first, second) = futures::join!(
        call_service(&app, TestRequest::post().uri(&uri).to_request()),
        call_service(&app, TestRequest::post().uri(&uri).to_request()),
    );
    let mut jobs = Vec::new();
    for res in [first, second] {
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let body: Value = serde_json::from_slice(&read_body(res).await).unwrap();
        jobs.push(body["job_id"].as_str().unwrap().to_string());
    }
    assert_eq!(jobs[0], jobs[1], "one queued job");
    let (status, job) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/jobs/{}", jobs[0]))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["kind"], "generate_proxy");
    assert_eq!(job["status"], "queued");

    // Forcing marks the proxy, for the queued job to find.
    let proxy_id: ProxyId = id.parse().unwrap();
    assert!(
        !repos
            .proxies
            .take_forced_generation(proxy_id)
            .await
            .unwrap()
    );
    let (status, forced) = send!(app, TestRequest::post().uri(&format!("{uri}?force=true")));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(forced["job_id"], jobs[0].as_str());
    assert!(
        repos
            .proxies
            .take_forced_generation(proxy_id)
            .await
            .unwrap()
    );
    let (status, problem) = send!(app, TestRequest::post().uri(&format!("{uri}?force=maybe")));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "force");

    let unknown = Uuid::now_v7();
    let (status, _) = send!(
        app,
        TestRequest::post().uri(&format!("/api/v1/proxies/{unknown}/generate"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Publishes a one-channel lineup for `proxy` from `source`'s first channel, whose upstream
/// URL and logo carry credentials.
async fn publish_lineup(repos: &Repositories, proxy: ProxyId) -> LineupChannel {
    let source = ingest_channels(
        repos,
        &unique("Lineup source"),
        vec![ChannelData {
            name: "News HD".into(),
            group_title: Some("News".into()),
            tvg_logo: Some("http://provider.example/logo.png?password=hunter2".into()),
            stream_url: "http://provider.example/live/alice/hunter2/1.ts".into(),
            ..Default::default()
        }],
    )
    .await;
    let channel = repos
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
    let guide = ingest_programmes(repos, &unique("Lineup guide"), Vec::new()).await;
    let published = LineupChannel {
        channel_id: channel.id,
        source_id: source,
        number: 101,
        guide_id: "news.example".into(),
        data: channel.data,
        guide: Some(GuideMatch {
            epg_source_id: guide,
            epg_channel: "news.example".into(),
            method: MatchMethod::Name,
            confidence: 90,
        }),
    };
    let summary = GenerationSummary {
        generated_at: chrono::Utc::now(),
        channels: 1,
        programmes: 12,
        ..Default::default()
    };
    repos
        .lineups
        .publish(proxy, std::slice::from_ref(&published), &[], &summary)
        .await
        .unwrap();
    published
}

#[actix_web::test]
async fn the_lineup_lists_published_channels_with_our_stream_urls_and_no_credentials() {
    let server = test_server().await;
    let repos = server.repos.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let proxy = create!(app, "/api/v1/proxies", json!({"name": unique("Lineup")}));
    let id = proxy["id"].as_str().unwrap().to_string();
    let (status, empty) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/proxies/{id}/channels"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"items": [], "total": 0}));

    let published = publish_lineup(&repos, id.parse().unwrap()).await;
    let res = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/proxies/{id}/channels"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(read_body(res).await.to_vec()).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let lineup: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(lineup["total"], 1);
    let channel = &lineup["items"][0];
    assert_eq!(channel["number"], 101);
    assert_eq!(channel["channel_id"], published.channel_id.to_string());
    assert_eq!(channel["name"], "News HD");
    assert_eq!(channel["group"], "News");
    assert_eq!(channel["guide_id"], "news.example");
    assert_eq!(channel["source_id"], published.source_id.to_string());
    assert_eq!(
        channel["stream_url"],
        format!("http://localhost:8080/proxy/{id}/{}", published.channel_id)
    );
    assert_eq!(channel["guide"]["method"], "name");
    assert_eq!(channel["guide"]["confidence"], 90);
    assert!(channel["logo"].as_str().unwrap().contains("***"));

    let (status, detail) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/proxies/{id}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["last_generation"]["channels"], 1, "{detail}");
    assert_eq!(detail["last_generation"]["programmes"], 12);
}

#[actix_web::test]
async fn relay_profiles_round_trip_and_are_validated() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let name = unique("HD");
    let created = create!(
        app,
        "/api/v1/relay-profiles",
        json!({"name": name, "video_codec": "HEVC", "audio_codec": "aac",
                "video_bitrate_kbps": 6000, "audio_bitrate_kbps": 192, "max_height": 1080,
                "hardware_acceleration": "vaapi", "container": "hls_fmp4"})
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["video_codec"], "hevc");
    assert_eq!(created["container"], "hls_fmp4");
    let (status, got) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/relay-profiles/{id}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);
    // Defaults: everything passed through.
    let (status, updated) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/relay-profiles/{id}"))
            .set_json(json!({"name": name}))
    );
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["video_codec"], "copy");
    assert_eq!(updated["audio_codec"], "copy");
    assert_eq!(updated["hardware_acceleration"], "auto");
    assert_eq!(updated["container"], "mpeg_ts");
    assert_eq!(updated["max_height"], Value::Null);
    let (status, list) = send!(
        app,
        TestRequest::get().uri("/api/v1/relay-profiles?limit=10000")
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str())
    );

    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/relay-profiles")
            .set_json(json!({
                "name": "", "video_codec": "mpeg2", "audio_codec": "mp3",
                "hardware_acceleration": "cuda", "video_bitrate_kbps": 5,
                "audio_bitrate_kbps": 5000, "max_height": 100000,
            }))
    );
    for field in [
        "name",
        "video_codec",
        "audio_codec",
        "hardware_acceleration",
        "video_bitrate_kbps",
        "audio_bitrate_kbps",
        "max_height",
    ] {
        field_error(status, &problem, field);
    }
    assert!(field_error(status, &problem, "video_codec").contains("h264"));
    // A bitrate or height has no effect on a copied stream.
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/relay-profiles")
            .set_json(json!({
                "name": unique("Copy"), "video_bitrate_kbps": 4000, "max_height": 720,
                "audio_bitrate_kbps": 128,
            }))
    );
    for field in ["video_bitrate_kbps", "max_height", "audio_bitrate_kbps"] {
        assert!(field_error(status, &problem, field).contains("copy"));
    }
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/relay-profiles")
            .set_json(json!({"name": name}))
    );
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    let (status, _) = send!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/relay-profiles/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/relay-profiles/{id}"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn relay_profiles_keep_a_preset_and_extra_args_from_the_allow_list() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let name = unique("Tuned");
    let created = create!(
        app,
        "/api/v1/relay-profiles",
        json!({"name": name, "video_codec": "h264", "preset": " Slow ",
                "extra_args": ["-crf", "21", "-tune:v", "zerolatency"]})
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["preset"], "slow", "{created}");
    assert_eq!(
        created["extra_args"],
        json!(["-crf", "21", "-tune:v", "zerolatency"])
    );
    let (status, got) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/relay-profiles/{id}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);
    // Left out: no preset, no extra arguments.
    let (status, updated) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/relay-profiles/{id}"))
            .set_json(json!({"name": name, "video_codec": "h264"}))
    );
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["preset"], Value::Null);
    assert_eq!(updated["extra_args"], json!([]));

    let refused = |body: Value| {
        let mut body = body;
        body["name"] = json!(unique("Refused"));
        TestRequest::post()
            .uri("/api/v1/relay-profiles")
            .set_json(body)
    };
    let (status, problem) = send!(
        app,
        refused(json!({"video_codec": "h264", "preset": "ludicrous"}))
    );
    let message = field_error(status, &problem, "preset");
    assert!(
        message.contains("ludicrous") && message.contains("veryslow"),
        "{message}"
    );
    // A copied stream is not encoded: a preset would do nothing.
    let (status, problem) = send!(app, refused(json!({"preset": "fast"})));
    assert!(field_error(status, &problem, "preset").contains("copy"));
    for args in [
        json!(["-i", "/etc/passwd"]),
        json!(["-vf", "movie=/etc/passwd"]),
        json!(["-crf", "21", "/tmp/out.ts"]),
        json!(["-crf"]),
    ] {
        let (status, problem) = send!(
            app,
            refused(json!({"video_codec": "h264", "extra_args": args}))
        );
        let message = field_error(status, &problem, "extra_args");
        assert!(message.contains("refused"), "{args}: {message}");
    }
    let (status, problem) = send!(
        app,
        refused(json!({"video_codec": "h264", "extra_args": ["-vf", "movie=/etc/passwd"]}))
    );
    assert!(field_error(status, &problem, "extra_args").contains("filtergraph"));
    let many: Vec<&str> = ["-g", "50"].repeat(17);
    let (status, problem) = send!(
        app,
        refused(json!({"video_codec": "h264", "extra_args": many}))
    );
    assert!(field_error(status, &problem, "extra_args").contains("32"));
    let (status, problem) = send!(
        app,
        refused(json!({"video_codec": "h264", "extra_args": ["-x264-params", "a".repeat(201)]}))
    );
    assert!(field_error(status, &problem, "extra_args").contains("200"));
    // Nothing refused was stored.
    let (status, list) = send!(
        app,
        TestRequest::get().uri("/api/v1/relay-profiles?limit=10000")
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        !list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"].as_str().unwrap().starts_with("Refused"))
    );
    // Both are documented, the preset with its names.
    let doc = serde_json::to_value(tvarr_api::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for schema in ["RelayProfileBody", "RelayProfileView"] {
        let properties = &schemas[schema]["properties"];
        assert!(properties["preset"].is_object(), "{schema}: {properties}");
        assert!(
            properties["extra_args"].is_object(),
            "{schema}: {properties}"
        );
    }
    assert!(
        schemas["Preset"].to_string().contains("veryslow"),
        "{}",
        schemas["Preset"]
    );
}

#[actix_web::test]
async fn a_relay_profile_a_proxy_uses_cannot_be_deleted() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let profile = create!(
        app,
        "/api/v1/relay-profiles",
        json!({"name": unique("Used")})
    );
    let id = profile["id"].as_str().unwrap().to_string();
    let proxy_name = unique("User of the profile");
    let proxy = create!(
        app,
        "/api/v1/proxies",
        json!({"name": proxy_name, "relay_profile_id": id})
    );
    let (status, problem) = send!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/relay-profiles/{id}"))
    );
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(&proxy_name), "{detail}");
    // Once the proxy lets go of it, it can be deleted.
    let (status, _) = send!(
        app,
        TestRequest::put()
            .uri(&format!(
                "/api/v1/proxies/{}",
                proxy["id"].as_str().unwrap()
            ))
            .set_json(json!({"name": proxy_name}))
    );
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/relay-profiles/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn without_a_configured_base_url_answers_use_the_request_origin() {
    let mut server = test_server().await;
    server.state.settings.base_url = "http://0.0.0.0:8080".into();
    server.state.settings.base_url_configured = false;
    server.state.settings.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let repos = server.repos.clone();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let proxy = create!(app, "/api/v1/proxies", json!({"name": unique("Origin")}));
    let id = proxy["id"].as_str().unwrap().to_string();
    let published = publish_lineup(&repos, id.parse().unwrap()).await;
    let get = |host: &str, peer: &str, forwarded: bool| {
        let mut req = TestRequest::get()
            .uri(&format!("/api/v1/proxies/{id}"))
            .insert_header(("Host", host.to_string()))
            .peer_addr(peer.parse().unwrap());
        if forwarded {
            req = req
                .insert_header(("X-Forwarded-Host", "tv.example.com"))
                .insert_header(("X-Forwarded-Proto", "https"));
        }
        req
    };
    let (_, from_host) = send!(app, get("192.168.1.5:8080", "192.168.1.9:4000", false));
    assert_eq!(
        from_host["m3u_url"],
        format!("http://192.168.1.5:8080/proxy/{id}.m3u")
    );
    // Forwarding headers from a peer that is not a trusted proxy are ignored…
    let (_, untrusted) = send!(app, get("192.168.1.5:8080", "192.168.1.9:4000", true));
    assert_eq!(untrusted["m3u_url"], from_host["m3u_url"]);
    // …and believed from one that is.
    let (_, trusted) = send!(app, get("tvarr:8080", "10.1.2.3:4000", true));
    assert_eq!(
        trusted["xmltv_url"],
        format!("https://tv.example.com/proxy/{id}.xmltv")
    );
    // A Host that is no host falls back to the default.
    let (_, bad) = send!(app, get("evil\"/x", "192.168.1.9:4000", false));
    assert_eq!(
        bad["m3u_url"],
        format!("http://0.0.0.0:8080/proxy/{id}.m3u")
    );
    let (_, lineup) = send!(
        app,
        TestRequest::get()
            .uri(&format!("/api/v1/proxies/{id}/channels"))
            .insert_header(("Host", "tv.local"))
    );
    assert_eq!(
        lineup["items"][0]["stream_url"],
        format!("http://tv.local/proxy/{id}/{}", published.channel_id)
    );
}
