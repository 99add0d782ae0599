//! Accounts over HTTP: admins and viewers, their grants and output passwords; what a viewer
//! may do in the API; and who may load the outputs once a viewer exists (the playlist, its
//! streams, the HDHomeRun devices), by `?username=&password=` with an output password.
//!
//! Every test runs on a database of its own: a viewer account closes every server's outputs
//! on the same database to requests without credentials.

#[macro_use]
mod support;

use std::net::SocketAddr;

use actix_web::http::{StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde_json::{Value, json};
use support::{TestServer, named, own_test_server, published};
use tvarr_core::{OutputKind, ProxyId, ProxyInput};

const ADMIN_PASSWORD: &str = "the admin password";

fn client() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10], 40000))
}

/// A secured server (its `admin` has [`ADMIN_PASSWORD`]) with two published proxies of two
/// channels each and their playlists.
async fn secured() -> (TestServer, ProxyId, ProxyId) {
    let server = own_test_server().await;
    server
        .state
        .auth
        .ensure_admin(ADMIN_PASSWORD)
        .await
        .unwrap();
    let mut proxies = Vec::new();
    for name in ["Granted", "Other"] {
        let proxy = published(
            &server,
            ProxyInput::named(name.to_string()),
            &named(&[(1, "One"), (2, "Two")]),
        )
        .await;
        let playlist = format!(
            "#EXTM3U url-tvg=\"http://localhost:8080/proxy/{proxy}.xmltv\"\n\
             #EXTINF:-1 tvg-id=\"id1\",One\nhttp://localhost:8080/proxy/{proxy}/ch1\n"
        );
        server
            .outputs
            .publish(proxy, OutputKind::M3u, playlist.as_bytes())
            .await;
        proxies.push(proxy);
    }
    (server, proxies[0], proxies[1])
}

/// The session cookie of a login, as a `Cookie` header value.
macro_rules! login {
    ($app:expr, $user:expr, $password:expr) => {{
        let res = call_service(
            &$app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .peer_addr(client())
                .set_json(json!({"username": $user, "password": $password}))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "login of {}", $user);
        let cookie = res
            .response()
            .cookies()
            .next()
            .expect("a session cookie")
            .into_owned();
        format!("{}={}", cookie.name(), cookie.value())
    }};
}

/// `method uri` with `cookie` (and a JSON body when given).
fn with(cookie: &str, req: TestRequest) -> TestRequest {
    req.insert_header((header::COOKIE, cookie.to_string()))
        .peer_addr(client())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(body)))
}

#[actix_web::test]
async fn an_admin_manages_accounts_and_the_last_admin_stays() {
    let (server, granted, _) = secured().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let admin = login!(app, "admin", ADMIN_PASSWORD);

    // A viewer, with a generated output password shown once.
    let (status, _, body) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/users")).set_json(json!({
            "username": "ann", "password": "ann's login", "role": "viewer",
            "proxy_ids": [granted], "max_streams": 2
        }))
    );
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let created = json_of(&body);
    let output_password = created["output_password"].as_str().unwrap().to_string();
    assert_eq!(output_password.len(), 24);
    assert_eq!(created["role"], "viewer");
    assert_eq!(created["proxy_ids"], json!([granted]));
    assert_eq!(created["max_streams"], 2);
    assert_eq!(created["has_output_password"], true);
    assert!(created.get("password_hash").is_none());
    let id = created["id"].as_str().unwrap().to_string();

    // Shown once: not in the account as read back.
    let (status, _, body) = fetch!(
        app,
        with(
            &admin,
            TestRequest::get().uri(&format!("/api/v1/users/{id}"))
        )
    );
    assert_eq!(status, StatusCode::OK);
    let read = json_of(&body);
    assert!(read.get("output_password").is_none());
    assert!(!String::from_utf8_lossy(&body).contains(&output_password));

    // Listed with the admin, by name.
    let (_, _, body) = fetch!(app, with(&admin, TestRequest::get().uri("/api/v1/users")));
    let list = json_of(&body);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["username"], "admin");
    assert_eq!(list["items"][1]["username"], "ann");

    // A taken name, an unknown proxy, a name that breaks URLs.
    let (status, _, _) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/users")).set_json(json!({
            "username": "ann", "password": "another one", "role": "viewer"
        }))
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let missing = ProxyId::new();
    let (status, _, body) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/users")).set_json(json!({
            "username": "bob/x", "password": "bob's login", "role": "viewer",
            "proxy_ids": [missing]
        }))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem = String::from_utf8_lossy(&body).to_string();
    assert!(
        problem.contains("proxy_ids[0]") && problem.contains(&missing.to_string()),
        "{problem}"
    );
    assert!(problem.contains("username"), "{problem}");

    // PUT replaces grants and limit; the output password stays.
    let (status, _, body) = fetch!(
        app,
        with(
            &admin,
            TestRequest::put().uri(&format!("/api/v1/users/{id}"))
        )
        .set_json(json!({
            "username": "ann", "role": "viewer", "proxy_ids": []
        }))
    );
    assert_eq!(status, StatusCode::OK);
    let updated = json_of(&body);
    assert_eq!(updated["proxy_ids"], json!([]));
    assert!(updated.get("max_streams").is_none());
    assert_eq!(updated["has_output_password"], true);

    // The last admin can neither go nor become a viewer.
    let (_, _, body) = fetch!(
        app,
        with(&admin, TestRequest::get().uri("/api/v1/users/me"))
    );
    let me = json_of(&body);
    assert_eq!(me["username"], "admin");
    let admin_id = me["id"].as_str().unwrap().to_string();
    let (status, _, _) = fetch!(
        app,
        with(
            &admin,
            TestRequest::delete().uri(&format!("/api/v1/users/{admin_id}"))
        )
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = fetch!(
        app,
        with(
            &admin,
            TestRequest::put().uri(&format!("/api/v1/users/{admin_id}"))
        )
        .set_json(json!({
            "username": "admin", "role": "viewer"
        }))
    );
    assert_eq!(status, StatusCode::CONFLICT);

    // A viewer can be deleted; then it is gone.
    let (status, _, _) = fetch!(
        app,
        with(
            &admin,
            TestRequest::delete().uri(&format!("/api/v1/users/{id}"))
        )
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = fetch!(
        app,
        with(
            &admin,
            TestRequest::get().uri(&format!("/api/v1/users/{id}"))
        )
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_viewer_reads_only_the_proxies_granted_to_it() {
    let (server, granted, other) = secured().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let admin = login!(app, "admin", ADMIN_PASSWORD);
    let (status, _, _) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/users")).set_json(json!({
            "username": "vic", "password": "vic's login", "role": "viewer",
            "proxy_ids": [granted]
        }))
    );
    assert_eq!(status, StatusCode::CREATED);
    let viewer = login!(app, "vic", "vic's login");

    let (status, _, body) = fetch!(
        app,
        with(&viewer, TestRequest::get().uri("/api/v1/proxies"))
    );
    assert_eq!(status, StatusCode::OK);
    let list = json_of(&body);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], granted.to_string());
    let (status, _, _) = fetch!(
        app,
        with(
            &viewer,
            TestRequest::get().uri(&format!("/api/v1/proxies/{granted}"))
        )
    );
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = fetch!(
        app,
        with(
            &viewer,
            TestRequest::get().uri(&format!("/api/v1/proxies/{granted}/channels"))
        )
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body)["total"], 2);
    for uri in [
        format!("/api/v1/proxies/{other}"),
        format!("/api/v1/proxies/{other}/channels"),
    ] {
        let (status, _, _) = fetch!(app, with(&viewer, TestRequest::get().uri(&uri)));
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    // Everything else is for admins, however it is spelt.
    for req in [
        TestRequest::get().uri("/api/v1/users"),
        TestRequest::get().uri("/api/v1/sources/stream"),
        TestRequest::get().uri("/api/v1//sources/stream"),
        TestRequest::post().uri(&format!("/api/v1/proxies/{granted}/generate")),
        TestRequest::delete().uri(&format!("/api/v1/proxies/{granted}")),
        TestRequest::post()
            .uri("/api/v1/auth/api-keys")
            .set_json(json!({"name": "mine"})),
    ] {
        let (status, _, _) = fetch!(app, with(&viewer, req));
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{status}"
        );
        assert_ne!(status, StatusCode::OK);
    }
    let (status, _, _) = fetch!(app, with(&viewer, TestRequest::get().uri("/api/v1/users")));
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = fetch!(
        app,
        with(&viewer, TestRequest::get().uri("/api/v1/users/me"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body)["username"], "vic");
}

#[actix_web::test]
async fn once_a_viewer_exists_outputs_need_its_output_password_and_hand_it_on() {
    let (server, granted, other) = secured().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    // Without a viewer, the playlist needs nothing (the home default).
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{granted}.m3u"))
    );
    assert_eq!(status, StatusCode::OK);

    let admin = login!(app, "admin", ADMIN_PASSWORD);
    let (_, _, body) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/users")).set_json(json!({
            "username": "kid", "password": "kid's login", "role": "viewer",
            "proxy_ids": [granted], "output_password": "tv-for-kids"
        }))
    );
    let created = json_of(&body);
    assert_eq!(created["output_password"], "tv-for-kids");
    let id = created["id"].as_str().unwrap().to_string();

    // Now a request without credentials, or with wrong ones, or with the login password, is
    // refused.
    for query in [
        "",
        "?username=kid&password=wrong",
        "?username=kid&password=kid%27s%20login",
        "?username=nobody&password=tv-for-kids",
    ] {
        let uri = format!("/proxy/{granted}.m3u{query}");
        let (status, _, _) = fetch!(app, TestRequest::get().uri(&uri).peer_addr(client()));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let creds = "username=kid&password=tv-for-kids";
    // The granted proxy's playlist, with the credentials handed on to its guide and streams.
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{granted}.m3u?{creds}"))
    );
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains(&format!(
            "url-tvg=\"http://localhost:8080/proxy/{granted}.xmltv?{creds}\""
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\nhttp://localhost:8080/proxy/{granted}/ch1?{creds}\n"
        )),
        "{text}"
    );
    // Another proxy: not granted.
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{other}.m3u?{creds}"))
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Streams: refused without, redirected with.
    let channel = server
        .repos
        .lineups
        .numbered(granted, 1, 1, 1)
        .await
        .unwrap()
        .remove(0)
        .channel_id;
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{granted}/{channel}"))
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{granted}/{channel}?{creds}"))
    );
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        headers.get(header::LOCATION).unwrap(),
        "http://provider.example/live/1.ts"
    );

    // HDHomeRun: the lineup URL and each channel's URL carry the credentials (the stream URL
    // in its path, since Jellyfin appends `?transcode=`).
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{granted}/discover.json"))
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{granted}/discover.json?{creds}"))
    );
    assert_eq!(status, StatusCode::OK);
    let discover = json_of(&body);
    assert_eq!(
        discover["LineupURL"],
        format!("http://localhost:8080/hdhr/{granted}/lineup.json?{creds}")
    );
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{granted}/lineup.json?{creds}"))
    );
    assert_eq!(status, StatusCode::OK);
    let lineup = json_of(&body);
    assert_eq!(
        lineup[0]["URL"],
        format!("http://localhost:8080/xtream/{granted}/live/kid/tv-for-kids/1.ts")
    );

    // A revoked output password stops working at once in this process.
    let (status, _, _) = fetch!(
        app,
        with(
            &admin,
            TestRequest::delete().uri(&format!("/api/v1/users/{id}/output-password"))
        )
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&format!("/proxy/{granted}.m3u?{creds}"))
            .peer_addr(client())
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A new one works, the old one not.
    let (status, _, body) = fetch!(
        app,
        with(
            &admin,
            TestRequest::post().uri(&format!("/api/v1/users/{id}/output-password"))
        )
    );
    assert_eq!(status, StatusCode::OK);
    let fresh = json_of(&body)["output_password"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!(
            "/proxy/{granted}.m3u?username=kid&password={fresh}"
        ))
    );
    assert_eq!(status, StatusCode::OK);
    // A deleted account: refused, even though it verified a moment ago.
    let (status, _, _) = fetch!(
        app,
        with(
            &admin,
            TestRequest::delete().uri(&format!("/api/v1/users/{id}"))
        )
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&format!(
                "/proxy/{granted}.m3u?username=kid&password={fresh}"
            ))
            .peer_addr(client())
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // With no viewer left, the home default is back.
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/proxy/{granted}.m3u"))
    );
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn an_admin_output_password_opens_every_proxy() {
    let (server, granted, other) = secured().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let admin = login!(app, "admin", ADMIN_PASSWORD);
    let (_, _, body) = fetch!(
        app,
        with(&admin, TestRequest::get().uri("/api/v1/users/me"))
    );
    let me = json_of(&body);
    assert_eq!(me["has_output_password"], false);
    let admin_id = me["id"].as_str().unwrap().to_string();
    let (_, _, body) = fetch!(
        app,
        with(
            &admin,
            TestRequest::post().uri(&format!("/api/v1/users/{admin_id}/output-password"))
        )
        .set_json(json!({"output_password": "admin-tv-pass"}))
    );
    assert_eq!(json_of(&body)["output_password"], "admin-tv-pass");
    for proxy in [granted, other] {
        let (status, _, _) = fetch!(
            app,
            TestRequest::get().uri(&format!(
                "/proxy/{proxy}.m3u?username=admin&password=admin-tv-pass"
            ))
        );
        assert_eq!(status, StatusCode::OK);
    }
    // The login password is not an output password.
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&format!(
                "/proxy/{granted}.m3u?username=admin&password=the%20admin%20password"
            ))
            .peer_addr(client())
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_proxy_with_allowed_networks_serves_its_outputs_to_those_only() {
    let (server, granted, _) = secured().await;
    let mut input = server.repos.proxies.get(granted).await.unwrap().input;
    input.allowed_networks =
        tvarr_core::IpNetwork::parse_list("192.0.2.0/24, 2001:db8::/32").unwrap();
    server.repos.proxies.update(granted, input).await.unwrap();
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let from = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 40000);
    for (peer, expected) in [
        ("192.0.2.77", StatusCode::OK),
        ("2001:db8::5", StatusCode::OK),
        ("198.51.100.1", StatusCode::FORBIDDEN),
        ("::ffff:198.51.100.1", StatusCode::FORBIDDEN),
    ] {
        for uri in [
            format!("/proxy/{granted}.m3u"),
            format!("/hdhr/{granted}/discover.json"),
        ] {
            let (status, _, _) = fetch!(app, TestRequest::get().uri(&uri).peer_addr(from(peer)));
            assert_eq!(status, expected, "{uri} from {peer}");
        }
    }
    // Refused before any credentials are looked at, on the Xtream API too.
    let (status, _, _) = fetch!(
        app,
        TestRequest::get()
            .uri(&format!(
                "/xtream/{granted}/player_api.php?username=admin&password=x"
            ))
            .peer_addr(from("198.51.100.1"))
    );
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A network that is not one is refused with its position.
    let admin = login!(app, "admin", ADMIN_PASSWORD);
    let (status, _, body) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/proxies")).set_json(json!({
            "name": "nets", "allowed_networks": ["10.0.0.0/8", "10.0.0.0/99"]
        }))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&body).contains("allowed_networks[1]"));
    let (status, _, body) = fetch!(
        app,
        with(&admin, TestRequest::post().uri("/api/v1/proxies")).set_json(json!({
            "name": "nets", "allowed_networks": ["10.0.0.0/8"]
        }))
    );
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(json_of(&body)["allowed_networks"], json!(["10.0.0.0/8"]));
}
