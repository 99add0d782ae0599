//! The repository suite: the same tests on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Set `TVARR_TEST_DATABASE_URL` to run it on a server (`postgres://postgres@127.0.0.1:5432/test`,
//! `mysql://root@127.0.0.1:3306/test`); it defaults to `sqlite::memory:`. Tests share the
//! database and run in parallel, so each creates its own records with fresh ids and names and
//! asserts only on those.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use tvarr_core::*;
use tvarr_storage::Store;

fn database_url() -> String {
    std::env::var("TVARR_TEST_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned())
}

async fn store() -> Store {
    Store::connect(&database_url()).await.unwrap()
}

/// A database of its own, for tests that act on the whole database: a new in-memory SQLite
/// database, or a new database on the PostgreSQL or MariaDB server (dropped by the guard).
struct IsolatedDatabase {
    url: String,
    admin_url: String,
    name: Option<String>,
}

impl IsolatedDatabase {
    async fn new() -> Self {
        use sea_orm::ConnectionTrait;
        let admin_url = database_url();
        if admin_url.starts_with("sqlite") {
            return Self {
                url: "sqlite::memory:".into(),
                admin_url,
                name: None,
            };
        }
        let name = format!("tvarr_t_{}", uuid::Uuid::now_v7().simple());
        let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url.as_str(), String::new()),
        };
        let prefix = &base[..base.rfind('/').unwrap()];
        Self {
            url: format!("{prefix}/{name}{query}"),
            admin_url: admin_url.clone(),
            name: Some(name),
        }
    }

    async fn drop_database(self) {
        use sea_orm::ConnectionTrait;
        if let Some(name) = self.name {
            let admin = sea_orm::Database::connect(&self.admin_url).await.unwrap();
            let force = if self.admin_url.starts_with("postgres") {
                " WITH (FORCE)"
            } else {
                ""
            };
            admin
                .execute_unprepared(&format!("DROP DATABASE {name}{force}"))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix} {}", uuid::Uuid::now_v7())
}

fn stream_input(name: &str) -> StreamSourceInput {
    StreamSourceInput {
        name: name.to_owned(),
        source_type: StreamSourceType::Xtream,
        url: "http://panel.example:8080".into(),
        username: Some("user".into()),
        password: Some(Secret::new("hunter2")),
        update_cron: Some("0 */6 * * *".into()),
        enabled: true,
        user_agent: Some("tvarr-test".into()),
        headers: vec![("X-Token".into(), "abc".into())],
        max_connections: Some(3),
    }
}

fn epg_input(name: &str) -> EpgSourceInput {
    EpgSourceInput {
        name: name.to_owned(),
        source_type: EpgSourceType::Xmltv,
        url: "http://guide.example/epg.xml.gz".into(),
        username: None,
        password: Some(Secret::new("pw")),
        update_cron: None,
        enabled: true,
        user_agent: None,
        headers: vec![],
        time_offset_minutes: -30,
        timezone: Some("Europe/Paris".into()),
    }
}

async fn new_stream_source(store: &Store) -> StreamSource {
    store
        .stream_sources()
        .create(stream_input(&unique("stream")))
        .await
        .unwrap()
}

async fn new_epg_source(store: &Store) -> EpgSource {
    store
        .epg_sources()
        .create(epg_input(&unique("epg")))
        .await
        .unwrap()
}

fn channel(source: StreamSourceId, position: u32, tag: &str) -> Channel {
    let data = ChannelData {
        provider_id: Some(format!("{tag}-{position}")),
        name: format!("{tag} Channel {position}"),
        tvg_id: Some(format!("ch{position}.{tag}")),
        tvg_name: None,
        tvg_logo: Some(format!("http://logos.example/{position}.png")),
        group_title: Some(
            if position.is_multiple_of(2) {
                "News"
            } else {
                "Sport"
            }
            .to_owned(),
        ),
        tvg_chno: Some(position.to_string()),
        tvg_shift: None,
        stream_url: format!("http://streams.example/{tag}/{position}.ts"),
        catchup: None,
        catchup_days: None,
        catchup_source: None,
        extra: vec![("tvg-country".into(), "FR".into())],
    };
    Channel::new(source, data.identity_key(), position, data)
}

fn channels(source: StreamSourceId, n: u32, tag: &str) -> Vec<Channel> {
    (0..n).map(|i| channel(source, i, tag)).collect()
}

async fn replace_channels(store: &Store, source: StreamSourceId, list: &[Channel], batch: usize) {
    let mut r = store.channels().begin_replace(source).await.unwrap();
    for chunk in list.chunks(batch) {
        r.write(chunk).await.unwrap();
    }
    assert_eq!(r.commit().await.unwrap(), list.len() as u64);
}

fn only(source: StreamSourceId) -> ChannelQuery {
    ChannelQuery {
        source_ids: vec![source],
        ..Default::default()
    }
}

fn all() -> PageRequest {
    PageRequest::new(PageRequest::MAX_LIMIT, 0)
}

fn t(hour: u32, minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, hour, minute, 0).unwrap()
}

fn programme(
    channel: &str,
    start: chrono::DateTime<Utc>,
    minutes: i64,
    title: &str,
) -> ProgrammeData {
    ProgrammeData {
        channel: channel.to_owned(),
        start,
        stop: start + chrono::Duration::minutes(minutes),
        titles: vec![LangText {
            value: title.to_owned(),
            lang: Some("en".into()),
        }],
        ..Default::default()
    }
}

fn is_not_found<T: std::fmt::Debug>(r: RepoResult<T>) -> bool {
    matches!(r, Err(RepoError::NotFound { .. }))
}

fn is_conflict<T: std::fmt::Debug>(r: impl std::borrow::Borrow<RepoResult<T>>) -> bool {
    matches!(
        r.borrow(),
        Err(RepoError::Conflict(_) | RepoError::AlreadyExists { .. })
    )
}

// ---------------------------------------------------------------- store

#[tokio::test]
async fn ping_reports_a_ready_database() {
    store().await.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_connections_migrate_once() {
    let db = IsolatedDatabase::new().await;
    if db.name.is_none() {
        return; // an in-memory SQLite database belongs to one connection: nothing to race
    }
    let (a, b) = tokio::join!(Store::connect(&db.url), Store::connect(&db.url));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    let created = new_stream_source(&a).await;
    assert_eq!(b.stream_sources().get(created.id).await.unwrap(), created);
    a.close().await.unwrap();
    b.close().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn an_unreachable_database_is_an_error_not_a_panic() {
    let err = Store::connect("postgres://nobody@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(Store::connect("redis://127.0.0.1/0").await.is_err());
}

#[tokio::test]
async fn creates_the_sqlite_file_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/tvarr.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    let source = new_stream_source(&store).await;
    store.close().await.unwrap();
    assert!(path.exists());
    let reopened = Store::connect(&url).await.unwrap();
    assert_eq!(
        reopened.stream_sources().get(source.id).await.unwrap().name,
        source.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_new_sqlite_file_at_once_all_connect() {
    // A server and a worker process starting together on a fresh data directory: each creates
    // the file, switches it to WAL and migrates it, racing the others.
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tvarr.db").display());
        let opening: Vec<_> = (0..12)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::connect(&url).await })
            })
            .collect();
        let mut stores = Vec::new();
        for opened in opening {
            stores.push(
                opened
                    .await
                    .unwrap()
                    .expect("every process opens the database"),
            );
        }
        let created = new_stream_source(&stores[0]).await;
        assert_eq!(
            stores[11].stream_sources().get(created.id).await.unwrap(),
            created
        );
        for store in stores {
            store.close().await.unwrap();
        }
    }
}

// ---------------------------------------------------------------- sources

#[tokio::test]
async fn stream_source_crud_round_trips() {
    let store = store().await;
    let repo = store.stream_sources();
    let name = unique("crud");
    let created = repo.create(stream_input(&name)).await.unwrap();
    assert_eq!(created.state, IngestState::Never);
    let got = repo.get(created.id).await.unwrap();
    assert_eq!(got, created);
    assert_eq!(got.password.as_ref().map(Secret::expose), Some("hunter2"));
    assert_eq!(got.headers, vec![("X-Token".to_owned(), "abc".to_owned())]);
    assert_eq!(got.max_connections, Some(3));

    let listed = repo.list(all()).await.unwrap();
    assert!(listed.total >= 1);
    assert!(listed.items.iter().any(|s| s.id == created.id));

    let mut input = stream_input(&format!("{name} renamed"));
    input.enabled = false;
    input.headers = vec![];
    input.password = Some(Secret::new("new-pass"));
    input.max_connections = None;
    let updated = repo.update(created.id, input).await.unwrap();
    assert_eq!(updated.name, format!("{name} renamed"));
    assert!(!updated.enabled);
    assert_eq!(updated.max_connections, None);
    assert_eq!(repo.get(created.id).await.unwrap().max_connections, None);
    assert_eq!(updated.password.unwrap().expose(), "new-pass");
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(updated.created_at, created.created_at);

    repo.delete(created.id).await.unwrap();
    assert!(is_not_found(repo.get(created.id).await));
    assert!(is_not_found(repo.delete(created.id).await));
}

#[tokio::test]
async fn updating_without_a_password_keeps_the_stored_one() {
    let store = store().await;
    let repo = store.stream_sources();
    let created = new_stream_source(&store).await;
    let mut input = stream_input(&created.name);
    input.password = None;
    let updated = repo.update(created.id, input).await.unwrap();
    assert_eq!(updated.password.unwrap().expose(), "hunter2");

    let epg = store.epg_sources();
    let source = new_epg_source(&store).await;
    let mut input = epg_input(&source.name);
    input.password = None;
    input.time_offset_minutes = 60;
    let updated = epg.update(source.id, input).await.unwrap();
    assert_eq!(updated.password.unwrap().expose(), "pw");
    assert_eq!(updated.time_offset_minutes, 60);
}

#[tokio::test]
async fn missing_sources_are_not_found() {
    let store = store().await;
    let id = StreamSourceId::new();
    let repo = store.stream_sources();
    assert!(is_not_found(repo.get(id).await));
    assert!(is_not_found(
        repo.update(id, stream_input(&unique("x"))).await
    ));
    assert!(is_not_found(repo.delete(id).await));
    let outcome = IngestOutcome {
        state: IngestState::Ok,
        at: Utc::now(),
        record_count: 1,
        skipped_count: 0,
        error: None,
    };
    assert!(is_not_found(repo.record_ingest(id, outcome.clone()).await));
    let epg = store.epg_sources();
    let eid = EpgSourceId::new();
    assert!(is_not_found(epg.get(eid).await));
    assert!(is_not_found(epg.update(eid, epg_input(&unique("x"))).await));
    assert!(is_not_found(epg.delete(eid).await));
    assert!(is_not_found(epg.record_ingest(eid, outcome).await));
    assert!(is_not_found(
        store.channels().begin_replace(id).await.map(|_| ())
    ));
    assert!(is_not_found(
        store.programmes().begin_replace(eid).await.map(|_| ())
    ));
}

#[tokio::test]
async fn duplicate_source_names_conflict() {
    let store = store().await;
    let first = new_stream_source(&store).await;
    assert!(is_conflict(
        store
            .stream_sources()
            .create(stream_input(&first.name))
            .await
    ));
    let other = new_stream_source(&store).await;
    assert!(is_conflict(
        store
            .stream_sources()
            .update(other.id, stream_input(&first.name))
            .await
    ));
    let epg = new_epg_source(&store).await;
    assert!(is_conflict(
        store.epg_sources().create(epg_input(&epg.name)).await
    ));
}

#[tokio::test]
async fn records_ingest_outcomes() {
    let store = store().await;
    let repo = store.stream_sources();
    let source = new_stream_source(&store).await;
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    repo.record_ingest(
        source.id,
        IngestOutcome {
            state: IngestState::Ok,
            at,
            record_count: 42,
            skipped_count: 3,
            error: None,
        },
    )
    .await
    .unwrap();
    let later = at + chrono::Duration::hours(1);
    repo.record_ingest(
        source.id,
        IngestOutcome {
            state: IngestState::Failed,
            at: later,
            record_count: 42,
            skipped_count: 0,
            error: Some("HTTP 503".into()),
        },
    )
    .await
    .unwrap();
    let got = repo.get(source.id).await.unwrap();
    assert_eq!(got.state, IngestState::Failed);
    assert_eq!(got.last_ingested_at, Some(later));
    assert_eq!(got.last_success_at, Some(at));
    assert_eq!(got.channel_count, 42);
    assert_eq!(got.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(got.updated_at, source.updated_at);

    let epg = store.epg_sources();
    let e = new_epg_source(&store).await;
    epg.record_ingest(
        e.id,
        IngestOutcome {
            state: IngestState::Suspicious,
            at,
            record_count: 7,
            skipped_count: 1,
            error: Some("shrank".into()),
        },
    )
    .await
    .unwrap();
    let got = epg.get(e.id).await.unwrap();
    assert_eq!(
        (got.state, got.programme_count, got.skipped_count),
        (IngestState::Suspicious, 7, 1)
    );
    assert_eq!(got.last_success_at, None);
}

// ---------------------------------------------------------------- channels

#[tokio::test]
async fn bulk_rows_keep_separators_backslashes_and_nulls_as_written() {
    // PostgreSQL's bulk path is COPY's text format, where tab, newline, carriage return and
    // backslash are syntax and `\N` is NULL: each must come back as it was written.
    let store = store().await;
    let source = new_stream_source(&store).await.id;
    let awkward = "Tab\there, line\nbreak, CR\r, back\\slash, \\N, \\t, é 漢字 😀";
    let mut list = channels(source, 3, "esc");
    {
        let c = &mut list[1];
        c.data.name = awkward.to_owned();
        c.data.group_title = Some("\\N".to_owned());
        c.data.tvg_name = Some(String::new());
        c.data.provider_id = None;
        c.data.stream_url = "http://x/a\tb\\c.ts".to_owned();
        c.data.extra = vec![("x-note".into(), "a\tb\nc\\".into())];
    }
    replace_channels(&store, source, &list, 2).await;
    let got = store.channels().list(&only(source), all()).await.unwrap();
    assert_eq!(got.items, list);

    let repo = store.programmes();
    let epg = new_epg_source(&store).await.id;
    let mut p = programme("esc.uk", t(20, 0), 30, awkward);
    p.descriptions = vec![LangText {
        value: "\\N".into(),
        lang: None,
    }];
    p.extra_xml = Some("<x-a>\t</x-a>\n<x-b/>".into());
    let guide_channels = vec![EpgChannel {
        id: "esc.uk".into(),
        display_names: vec![LangText {
            value: "Tab\tName".into(),
            lang: None,
        }],
        icon: None,
        extra_xml: None,
    }];
    let mut r = repo.begin_replace(epg).await.unwrap();
    r.write_channels(&guide_channels).await.unwrap();
    r.write_programmes(std::slice::from_ref(&p)).await.unwrap();
    r.commit().await.unwrap();
    let q = ProgrammeQuery {
        source_ids: vec![epg],
        ..Default::default()
    };
    let got = repo.list(&q, all()).await.unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].data, p);
    assert_eq!(repo.channels(&[epg]).await.unwrap(), guide_channels);
}

#[tokio::test]
async fn readers_see_old_channels_until_commit_then_only_new_ones() {
    let store = store().await;
    let repo = store.channels();
    let source = new_stream_source(&store).await.id;
    let old = channels(source, 30, "old");
    replace_channels(&store, source, &old, 7).await;

    let new: Vec<Channel> = channels(source, 45, "new");
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write(&new[..20]).await.unwrap();
    // A reader in the middle of the replacement.
    let page = repo.list(&only(source), all()).await.unwrap();
    assert_eq!(page.total, 30);
    assert_eq!(page.items, old);
    assert_eq!(repo.count(source).await.unwrap(), 30);
    assert_eq!(repo.get(old[3].id).await.unwrap(), old[3]);
    r.write(&new[20..]).await.unwrap();
    assert_eq!(repo.list(&only(source), all()).await.unwrap().items, old);
    assert_eq!(r.commit().await.unwrap(), 45);

    let page = repo.list(&only(source), all()).await.unwrap();
    assert_eq!(page.total, 45);
    assert_eq!(page.items, new);
    assert_eq!(repo.count(source).await.unwrap(), 45);
    assert!(is_not_found(repo.get(old[3].id).await));
    assert_eq!(repo.get(new[44].id).await.unwrap(), new[44]);
}

#[tokio::test]
async fn abort_and_drop_keep_the_previous_channels() {
    let store = store().await;
    let repo = store.channels();
    let source = new_stream_source(&store).await.id;
    let old = channels(source, 10, "keep");
    replace_channels(&store, source, &old, 10).await;

    let mut r = repo.begin_replace(source).await.unwrap();
    r.write(&channels(source, 5, "aborted")).await.unwrap();
    r.abort().await.unwrap();
    assert_eq!(repo.list(&only(source), all()).await.unwrap().items, old);

    let mut r = repo.begin_replace(source).await.unwrap();
    r.write(&channels(source, 5, "dropped")).await.unwrap();
    drop(r);
    assert_eq!(repo.list(&only(source), all()).await.unwrap().items, old);
    assert_eq!(repo.count(source).await.unwrap(), 10);

    // A later replacement still works after both.
    let newer = channels(source, 3, "newer");
    replace_channels(&store, source, &newer, 2).await;
    assert_eq!(repo.list(&only(source), all()).await.unwrap().items, newer);
}

#[tokio::test]
async fn the_newer_of_two_racing_replacements_wins() {
    let store = store().await;
    let repo = store.channels();
    let source = new_stream_source(&store).await.id;
    let mut first = repo.begin_replace(source).await.unwrap();
    let mut second = repo.begin_replace(source).await.unwrap();
    first.write(&channels(source, 4, "first")).await.unwrap();
    let winner = channels(source, 6, "second");
    second.write(&winner).await.unwrap();
    assert_eq!(second.commit().await.unwrap(), 6);
    assert!(is_conflict(first.commit().await));
    assert_eq!(repo.list(&only(source), all()).await.unwrap().items, winner);
}

#[tokio::test]
async fn a_batch_naming_another_source_is_refused() {
    let store = store().await;
    let source = new_stream_source(&store).await.id;
    let other = new_stream_source(&store).await.id;
    let mut r = store.channels().begin_replace(source).await.unwrap();
    assert!(is_conflict(r.write(&channels(other, 2, "x")).await));
    r.abort().await.unwrap();
}

#[tokio::test]
async fn replaces_fifty_thousand_channels_in_batches() {
    let store = store().await;
    let repo = store.channels();
    let source = new_stream_source(&store).await.id;
    replace_channels(&store, source, &channels(source, 1_000, "before"), 1_000).await;
    let list = channels(source, 50_000, "big");
    replace_channels(&store, source, &list, 5_000).await;
    assert_eq!(repo.count(source).await.unwrap(), 50_000);
    let page = repo
        .list(&only(source), PageRequest::new(100, 49_950))
        .await
        .unwrap();
    assert_eq!(page.total, 50_000);
    assert_eq!(page.items, list[49_950..]);
    let groups = repo.groups(&only(source)).await.unwrap();
    assert_eq!(
        groups,
        vec![("News".to_owned(), 25_000), ("Sport".to_owned(), 25_000)]
    );
}

#[tokio::test]
async fn channel_queries_filter_by_source_group_and_name_with_pagination() {
    let store = store().await;
    let repo = store.channels();
    let source = new_stream_source(&store).await.id;
    let other = new_stream_source(&store).await.id;
    let mut list = channels(source, 10, "Q");
    list[3].data.name = "BBC One HD".into();
    list[4].data.name = "bbc two".into();
    list[5].data.name = "Télé Ünïcode".into();
    list[6].data.name = "100%_match".into();
    list[7].data.group_title = None;
    replace_channels(&store, source, &list, 4).await;
    replace_channels(&store, other, &channels(other, 5, "BBC"), 5).await;

    let q = |q: &str| ChannelQuery {
        q: Some(q.into()),
        ..only(source)
    };
    let names = |page: Page<Channel>| {
        page.items
            .into_iter()
            .map(|c| c.data.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(repo.list(&q("bbc"), all()).await.unwrap()),
        ["BBC One HD", "bbc two"]
    );
    assert_eq!(
        names(repo.list(&q("BBC ONE"), all()).await.unwrap()),
        ["BBC One HD"]
    );
    assert_eq!(
        names(repo.list(&q("ÜNÏ"), all()).await.unwrap()),
        ["Télé Ünïcode"]
    );
    assert_eq!(
        names(repo.list(&q("0%_"), all()).await.unwrap()),
        ["100%_match"]
    );
    assert_eq!(repo.list(&q("%"), all()).await.unwrap().total, 1);

    let news = ChannelQuery {
        group: Some("News".into()),
        ..only(source)
    };
    let page = repo.list(&news, PageRequest::new(2, 1)).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(
        page.items.iter().map(|c| c.position).collect::<Vec<_>>(),
        [2, 4]
    );
    let ungrouped = ChannelQuery {
        group: Some(String::new()),
        ..only(source)
    };
    assert_eq!(
        repo.list(&ungrouped, all()).await.unwrap().items[0].position,
        7
    );

    let both = ChannelQuery {
        source_ids: vec![source, other],
        q: Some("bbc".into()),
        ..Default::default()
    };
    assert_eq!(repo.list(&both, all()).await.unwrap().total, 7);

    // The failover lookup of the relay: one `tvg_id`, exactly, in the sources asked for.
    list[2].data.tvg_id = Some("bbc.one.uk".into());
    list[8].data.tvg_id = Some("BBC.ONE.UK".into());
    replace_channels(&store, source, &list, 4).await;
    let same = |sources: Vec<StreamSourceId>| ChannelQuery {
        source_ids: sources,
        tvg_id: Some("bbc.one.uk".into()),
        ..Default::default()
    };
    let found = repo.list(&same(vec![source]), all()).await.unwrap();
    assert_eq!(
        found.items.iter().map(|c| c.position).collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(repo.list(&same(vec![other]), all()).await.unwrap().total, 0);

    let groups = repo.groups(&only(source)).await.unwrap();
    assert_eq!(
        groups,
        vec![
            (String::new(), 1),
            ("News".to_owned(), 5),
            ("Sport".to_owned(), 4)
        ]
    );
    let groups = repo.groups(&q("bbc")).await.unwrap();
    assert_eq!(
        groups,
        vec![("News".to_owned(), 1), ("Sport".to_owned(), 1)]
    );
}

#[tokio::test]
async fn deleting_a_source_deletes_its_channels() {
    let store = store().await;
    let source = new_stream_source(&store).await.id;
    let list = channels(source, 25, "gone");
    replace_channels(&store, source, &list, 10).await;
    store.stream_sources().delete(source).await.unwrap();
    assert!(is_not_found(store.channels().get(list[0].id).await));
    assert_eq!(
        store
            .channels()
            .list(&only(source), all())
            .await
            .unwrap()
            .total,
        0
    );
    assert!(is_not_found(store.channels().count(source).await));
}

#[tokio::test]
async fn sweeping_removes_only_abandoned_generations() {
    // The sweep acts on every source: give it a database no other test writes to.
    let db = IsolatedDatabase::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    let repo = store.channels();
    let source = new_stream_source(&store).await.id;
    let current = channels(source, 5, "current");
    replace_channels(&store, source, &current, 5).await;
    let mut pending = repo.begin_replace(source).await.unwrap();
    pending
        .write(&channels(source, 5, "pending"))
        .await
        .unwrap();
    // A young replacement in progress is left alone…
    store
        .sweep_abandoned(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(pending.commit().await.unwrap(), 5);
    assert_eq!(
        repo.list(&only(source), all()).await.unwrap().items[0]
            .data
            .name,
        "pending Channel 0"
    );
    // …and an abandoned one is swept.
    let mut stale = repo.begin_replace(source).await.unwrap();
    stale.write(&channels(source, 3, "stale")).await.unwrap();
    std::mem::forget(stale);
    assert_eq!(store.sweep_abandoned(Duration::ZERO).await.unwrap(), 3);
    assert_eq!(repo.count(source).await.unwrap(), 5);
    assert_eq!(repo.list(&only(source), all()).await.unwrap().total, 5);
    store.close().await.unwrap();
    db.drop_database().await;
}

// ---------------------------------------------------------------- programmes

#[tokio::test]
async fn guide_replacement_is_atomic_and_abort_keeps_the_old_guide() {
    let store = store().await;
    let repo = store.programmes();
    let source = new_epg_source(&store).await.id;
    let q = ProgrammeQuery {
        source_ids: vec![source],
        ..Default::default()
    };
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_channels(&[EpgChannel {
        id: "one.fr".into(),
        display_names: vec![LangText {
            value: "One".into(),
            lang: Some("fr".into()),
        }],
        icon: Some("http://i/1.png".into()),
        extra_xml: None,
    }])
    .await
    .unwrap();
    r.write_programmes(&[programme("one.fr", t(10, 0), 30, "Old news")])
        .await
        .unwrap();
    assert_eq!(r.commit().await.unwrap(), 1);

    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_channels(&[EpgChannel {
        id: "two.fr".into(),
        ..Default::default()
    }])
    .await
    .unwrap();
    r.write_programmes(&[
        programme("two.fr", t(11, 0), 30, "New A"),
        programme("two.fr", t(11, 30), 30, "New B"),
    ])
    .await
    .unwrap();
    let during = repo.list(&q, all()).await.unwrap();
    assert_eq!(during.total, 1);
    assert_eq!(during.items[0].data.title(), "Old news");
    assert_eq!(repo.channels(&[source]).await.unwrap()[0].id, "one.fr");
    r.abort().await.unwrap();
    assert_eq!(
        repo.list(&q, all()).await.unwrap().items[0].data.title(),
        "Old news"
    );
    assert_eq!(repo.count(source).await.unwrap(), 1);

    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_programmes(&[programme("two.fr", t(11, 0), 30, "New A")])
        .await
        .unwrap();
    assert_eq!(r.commit().await.unwrap(), 1);
    let after = repo.list(&q, all()).await.unwrap();
    assert_eq!(after.items.len(), 1);
    assert_eq!(after.items[0].data.title(), "New A");
    assert!(repo.channels(&[source]).await.unwrap().is_empty());
}

#[tokio::test]
async fn programmes_round_trip_every_field() {
    let store = store().await;
    let repo = store.programmes();
    let source = new_epg_source(&store).await.id;
    let full = ProgrammeData {
        channel: "full.uk".into(),
        start: t(20, 0),
        stop: t(21, 15),
        titles: vec![
            LangText {
                value: "Film".into(),
                lang: Some("en".into()),
            },
            LangText {
                value: "Le film".into(),
                lang: Some("fr".into()),
            },
        ],
        sub_titles: vec![LangText {
            value: "Part 1".into(),
            lang: None,
        }],
        descriptions: vec![LangText {
            value: "A \"quoted\" <story> & more".into(),
            lang: None,
        }],
        categories: vec![LangText {
            value: "Drama".into(),
            lang: Some("en".into()),
        }],
        episode_numbers: vec![EpisodeNumber {
            system: Some("xmltv_ns".into()),
            value: "1.4.".into(),
        }],
        season: Some(2),
        episode: Some(5),
        icon: Some("http://i/p.png".into()),
        ratings: vec![Rating {
            system: Some("VCHIP".into()),
            value: "TV-PG".into(),
        }],
        credits: vec![Credit {
            role: "actor".into(),
            name: "Ann".into(),
            character: Some("Eve".into()),
        }],
        language: Some("en".into()),
        date: Some("2024".into()),
        extra_xml: Some("<previously-shown/>".into()),
    };
    let channels = vec![EpgChannel {
        id: "full.uk".into(),
        display_names: vec![LangText {
            value: "Full".into(),
            lang: None,
        }],
        icon: None,
        extra_xml: Some("<lcn>5</lcn>".into()),
    }];
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_channels(&channels).await.unwrap();
    r.write_programmes(std::slice::from_ref(&full))
        .await
        .unwrap();
    r.commit().await.unwrap();
    let q = ProgrammeQuery {
        source_ids: vec![source],
        ..Default::default()
    };
    let got = repo.list(&q, all()).await.unwrap();
    assert_eq!(
        got.items,
        vec![Programme {
            source_id: source,
            data: full
        }]
    );
    assert_eq!(repo.channels(&[source]).await.unwrap(), channels);
}

#[tokio::test]
async fn programme_queries_filter_by_channel_window_and_title() {
    let store = store().await;
    let repo = store.programmes();
    let source = new_epg_source(&store).await.id;
    let mut r = repo.begin_replace(source).await.unwrap();
    let mut list = Vec::new();
    for (i, ch) in ["a.tv", "b.tv"].into_iter().enumerate() {
        for h in 0..6u32 {
            list.push(programme(
                ch,
                t(h * 2, 0),
                120,
                &format!(
                    "Show {h} on {ch} {}",
                    if i == 0 { "Morning" } else { "Evening" }
                ),
            ));
        }
    }
    list.push(programme("a.tv", t(23, 0), 30, "50% Off_Sale"));
    r.write_programmes(&list).await.unwrap();
    r.commit().await.unwrap();
    let base = ProgrammeQuery {
        source_ids: vec![source],
        ..Default::default()
    };

    let on_a = ProgrammeQuery {
        channel: Some("a.tv".into()),
        ..base.clone()
    };
    let page = repo.list(&on_a, all()).await.unwrap();
    assert_eq!(page.total, 7);
    assert!(
        page.items
            .windows(2)
            .all(|w| w[0].data.start <= w[1].data.start)
    );

    // Ends after 03:00 and starts before 06:00: 02:00–04:00 and 04:00–06:00 on each channel.
    let window = ProgrammeQuery {
        from: Some(t(3, 0)),
        to: Some(t(6, 0)),
        ..base.clone()
    };
    let page = repo.list(&window, all()).await.unwrap();
    let got: Vec<_> = page
        .items
        .iter()
        .map(|p| (p.data.channel.as_str(), p.data.start))
        .collect();
    assert_eq!(
        got,
        [
            ("a.tv", t(2, 0)),
            ("a.tv", t(4, 0)),
            ("b.tv", t(2, 0)),
            ("b.tv", t(4, 0))
        ]
    );
    // Boundaries are exclusive: a programme ending exactly at `from` is not included.
    let edge = ProgrammeQuery {
        from: Some(t(4, 0)),
        to: Some(t(4, 0) + chrono::Duration::seconds(1)),
        ..on_a.clone()
    };
    assert_eq!(
        repo.list(&edge, all()).await.unwrap().items[0].data.start,
        t(4, 0)
    );

    let title = ProgrammeQuery {
        q: Some("EVENING".into()),
        ..base.clone()
    };
    assert_eq!(repo.list(&title, all()).await.unwrap().total, 6);
    let literal = ProgrammeQuery {
        q: Some("0% off_".into()),
        ..base.clone()
    };
    assert_eq!(repo.list(&literal, all()).await.unwrap().total, 1);

    let paged = repo.list(&base, PageRequest::new(5, 10)).await.unwrap();
    assert_eq!(paged.total, 13);
    assert_eq!(paged.items.len(), 3);
    assert_eq!(paged.items[0].data.channel, "b.tv");
}

async fn scan_all(
    repo: &impl ProgrammeRepository,
    source: EpgSourceId,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    limit: u32,
) -> Vec<ProgrammeData> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = repo
            .scan(source, from, to, after.as_deref(), limit)
            .await
            .unwrap();
        assert!(batch.items.len() <= limit as usize);
        out.extend(batch.items);
        match batch.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

#[tokio::test]
async fn scan_reads_the_current_window_by_channel_then_start_in_batches() {
    let store = store().await;
    let repo = store.programmes();
    let source = new_epg_source(&store).await.id;
    let other = new_epg_source(&store).await.id;
    // An older generation of the same source, and another source: neither is read.
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_programmes(&[programme("a:1", t(5, 0), 30, "Old")])
        .await
        .unwrap();
    r.commit().await.unwrap();
    let mut r = repo.begin_replace(other).await.unwrap();
    r.write_programmes(&[programme("a:1", t(5, 0), 30, "Other")])
        .await
        .unwrap();
    r.commit().await.unwrap();

    // Written out of order; two programmes of `b` start at the same time (told apart by their
    // position); channel ids hold the cursor's separator, and differ only by case (guide ids
    // are compared exactly: `B` sorts before `a`, apart from `b`).
    let mut list = Vec::new();
    for ch in ["c", "a:1", "b", "B"] {
        for h in (0..8u32).rev() {
            list.push(programme(ch, t(h * 2, 0), 120, &format!("{ch} {h}")));
        }
    }
    list.push(programme("b", t(4, 0), 60, "b tie"));
    list.push(programme("b", t(23, 0), 30, "b late"));
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_programmes(&list).await.unwrap();
    r.commit().await.unwrap();

    let (from, to) = (t(3, 0), t(9, 0));
    let mut expected: Vec<(String, chrono::DateTime<Utc>, String)> = list
        .iter()
        .enumerate()
        .filter(|(_, p)| p.stop > from && p.start < to)
        .map(|(i, p)| (p.channel.clone(), p.start, format!("{i:04}{}", p.title())))
        .collect();
    expected.sort();
    let expected: Vec<(String, chrono::DateTime<Utc>, String)> = expected
        .into_iter()
        .map(|(c, s, t)| (c, s, t[4..].to_owned()))
        .collect();
    assert_eq!(expected.len(), 17, "{expected:?}");
    for limit in [1, 2, 3, 17, 100] {
        let got: Vec<_> = scan_all(&repo, source, from, to, limit)
            .await
            .into_iter()
            .map(|p| (p.channel.clone(), p.start, p.title().to_owned()))
            .collect();
        assert_eq!(got, expected, "limit {limit}");
    }
    // Every field comes back.
    let first = repo.scan(source, from, to, None, 1).await.unwrap();
    let earliest = list
        .iter()
        .find(|p| p.channel == "B" && p.start == t(2, 0))
        .unwrap();
    assert_eq!(&first.items[0], earliest);
    assert!(first.next.is_some());
    // An empty window, and a source with no guide.
    let none = repo
        .scan(source, t(23, 40), t(23, 50), None, 10)
        .await
        .unwrap();
    assert_eq!(none, ProgrammeBatch::default());
    let empty = new_epg_source(&store).await.id;
    assert_eq!(
        repo.scan(empty, from, to, None, 10).await.unwrap(),
        ProgrammeBatch::default()
    );
    assert!(is_not_found(
        repo.scan(EpgSourceId::new(), from, to, None, 10).await
    ));
    assert!(is_conflict(
        repo.scan(source, from, to, Some("not a cursor"), 10).await
    ));
}

#[tokio::test]
async fn a_scan_across_a_replacement_fails_instead_of_mixing_guides() {
    let store = store().await;
    let repo = store.programmes();
    let source = new_epg_source(&store).await.id;
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_programmes(&[
        programme("a", t(1, 0), 30, "A"),
        programme("b", t(1, 0), 30, "B"),
    ])
    .await
    .unwrap();
    r.commit().await.unwrap();
    let first = repo.scan(source, t(0, 0), t(23, 0), None, 1).await.unwrap();
    let cursor = first.next.unwrap();
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_programmes(&[programme("b", t(1, 0), 30, "B2")])
        .await
        .unwrap();
    r.commit().await.unwrap();
    let r = repo.scan(source, t(0, 0), t(23, 0), Some(&cursor), 1).await;
    assert!(is_conflict(&r), "{r:?}");
}

#[tokio::test]
async fn replaces_two_hundred_thousand_programmes_in_batches() {
    let store = store().await;
    let repo = store.programmes();
    let source = new_epg_source(&store).await.id;
    let mut r = repo.begin_replace(source).await.unwrap();
    let channels: Vec<EpgChannel> = (0..200)
        .map(|c| EpgChannel {
            id: format!("c{c}.tv"),
            ..Default::default()
        })
        .collect();
    r.write_channels(&channels).await.unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for c in 0..200u32 {
        for p in 0..1_000i64 {
            batch.push(programme(
                &format!("c{c}.tv"),
                t(0, 0) + chrono::Duration::minutes(30 * p),
                30,
                "Show",
            ));
        }
        if batch.len() >= 10_000 {
            r.write_programmes(&batch).await.unwrap();
            batch.clear();
        }
    }
    r.write_programmes(&batch).await.unwrap();
    assert_eq!(r.commit().await.unwrap(), 200_000);
    assert_eq!(repo.count(source).await.unwrap(), 200_000);
    let q = ProgrammeQuery {
        source_ids: vec![source],
        channel: Some("c199.tv".into()),
        ..Default::default()
    };
    assert_eq!(
        repo.list(&q, PageRequest::new(1, 0)).await.unwrap().total,
        1_000
    );
    assert_eq!(repo.channels(&[source]).await.unwrap().len(), 200);
    // The whole guide read back by keyset, in order, every batch as cheap as the first.
    let started = std::time::Instant::now();
    let all_of_it = scan_all(
        &repo,
        source,
        t(0, 0),
        t(0, 0) + chrono::Duration::days(30),
        5_000,
    )
    .await;
    eprintln!(
        "scanned 200,000 programmes in batches of 5,000 on {}: {:?}",
        database_url().split(':').next().unwrap_or(""),
        started.elapsed()
    );
    assert_eq!(all_of_it.len(), 200_000);
    assert!(
        all_of_it
            .windows(2)
            .all(|w| (&w[0].channel, w[0].start) < (&w[1].channel, w[1].start))
    );

    // Replacing it again removes the previous generation entirely.
    let mut r = repo.begin_replace(source).await.unwrap();
    r.write_programmes(&[programme("c0.tv", t(1, 0), 30, "Only")])
        .await
        .unwrap();
    r.commit().await.unwrap();
    let q = ProgrammeQuery {
        source_ids: vec![source],
        ..Default::default()
    };
    assert_eq!(repo.list(&q, all()).await.unwrap().total, 1);
}

#[tokio::test]
async fn deleting_an_epg_source_deletes_its_guide() {
    let store = store().await;
    let source = new_epg_source(&store).await.id;
    let mut r = store.programmes().begin_replace(source).await.unwrap();
    r.write_programmes(&[programme("x", t(1, 0), 30, "X")])
        .await
        .unwrap();
    r.commit().await.unwrap();
    store.epg_sources().delete(source).await.unwrap();
    let q = ProgrammeQuery {
        source_ids: vec![source],
        ..Default::default()
    };
    assert_eq!(store.programmes().list(&q, all()).await.unwrap().total, 0);
}

// ---------------------------------------------------------------- filters and rules

fn filter_input(name: &str, domain: Domain) -> FilterInput {
    FilterInput {
        name: name.to_owned(),
        domain,
        action: FilterAction::Exclude,
        expression: "group_title contains \"adult\"".into(),
    }
}

#[tokio::test]
async fn filter_crud_with_not_found_and_conflict() {
    let store = store().await;
    let repo = store.filters();
    let created = repo
        .create(filter_input(&unique("filter"), Domain::Epg))
        .await
        .unwrap();
    assert_eq!(repo.get(created.id).await.unwrap(), created);
    assert!(is_conflict(
        repo.create(filter_input(&created.name, Domain::Stream))
            .await
    ));
    let epg = repo.list(Some(Domain::Epg), all()).await.unwrap();
    assert!(epg.items.iter().any(|f| f.id == created.id));
    assert!(epg.items.iter().all(|f| f.domain == Domain::Epg));
    let stream = repo.list(Some(Domain::Stream), all()).await.unwrap();
    assert!(stream.items.iter().all(|f| f.id != created.id));

    let mut input = filter_input(&created.name, Domain::Stream);
    input.action = FilterAction::Include;
    let updated = repo.update(created.id, input).await.unwrap();
    assert_eq!(
        (updated.domain, updated.action),
        (Domain::Stream, FilterAction::Include)
    );
    repo.delete(created.id).await.unwrap();
    assert!(is_not_found(repo.get(created.id).await));
    assert!(is_not_found(
        repo.update(created.id, filter_input("x", Domain::Epg))
            .await
    ));
    assert!(is_not_found(repo.delete(created.id).await));
}

fn rule_input(name: &str, priority: i32) -> MappingRuleInput {
    MappingRuleInput {
        name: name.to_owned(),
        domain: Domain::Stream,
        expression: "SET group_title = \"News\"".into(),
        priority,
        enabled: true,
    }
}

#[tokio::test]
async fn mapping_rule_crud_and_reorder() {
    let store = store().await;
    let repo = store.mapping_rules();
    let prefix = unique("rule");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            repo.create(rule_input(&format!("{prefix} {i}"), 100 + i))
                .await
                .unwrap()
                .id,
        );
    }
    assert!(is_conflict(
        repo.create(rule_input(&format!("{prefix} 0"), 1)).await
    ));
    let mut input = rule_input(&format!("{prefix} 0"), 100);
    input.enabled = false;
    assert!(!repo.update(ids[0], input).await.unwrap().enabled);

    repo.reorder(&[ids[2], ids[0], ids[1]]).await.unwrap();
    let priorities: Vec<i32> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(repo.get(*id).await.unwrap().priority);
        }
        v
    };
    assert_eq!(priorities, [1, 2, 0]);

    // An unknown id rolls the whole reorder back.
    assert!(is_not_found(
        repo.reorder(&[ids[0], MappingRuleId::new(), ids[1]]).await
    ));
    assert_eq!(repo.get(ids[0]).await.unwrap().priority, 1);

    let listed = repo.list(Some(Domain::Stream), all()).await.unwrap();
    let mine: Vec<_> = listed
        .items
        .iter()
        .filter(|r| ids.contains(&r.id))
        .map(|r| r.id)
        .collect();
    assert_eq!(mine, [ids[2], ids[0], ids[1]]);

    repo.delete(ids[1]).await.unwrap();
    assert!(is_not_found(repo.get(ids[1]).await));
    assert!(is_not_found(repo.delete(ids[1]).await));
}

// ---------------------------------------------------------------- proxies and relay profiles

fn profile_input(name: &str) -> RelayProfileInput {
    RelayProfileInput {
        name: name.to_owned(),
        video_codec: "h264".into(),
        audio_codec: "aac".into(),
        video_bitrate_kbps: Some(4_000),
        audio_bitrate_kbps: None,
        max_height: Some(720),
        hardware_acceleration: "auto".into(),
        container: VideoContainer::HlsFmp4,
        preset: None,
        extra_args: Vec::new(),
    }
}

#[tokio::test]
async fn relay_profile_crud() {
    let store = store().await;
    let repo = store.relay_profiles();
    let created = repo
        .create(profile_input(&unique("profile")))
        .await
        .unwrap();
    assert_eq!(repo.get(created.id).await.unwrap(), created);
    assert!(is_conflict(
        repo.create(profile_input(&created.input.name)).await
    ));
    let mut input = profile_input(&created.input.name);
    input.container = VideoContainer::MpegTs;
    input.max_height = None;
    let updated = repo.update(created.id, input.clone()).await.unwrap();
    assert_eq!(updated.input, input);
    assert!(
        repo.list(all())
            .await
            .unwrap()
            .items
            .iter()
            .any(|p| p.id == created.id)
    );
    repo.delete(created.id).await.unwrap();
    assert!(is_not_found(repo.get(created.id).await));
    assert!(is_not_found(repo.update(created.id, input).await));
}

#[tokio::test]
async fn relay_profile_keeps_its_preset_and_extra_args() {
    let store = store().await;
    let repo = store.relay_profiles();
    let mut input = profile_input(&unique("tuned"));
    input.preset = Some("slow".into());
    input.extra_args = vec![
        "-crf".into(),
        "21".into(),
        "-x264-params".into(),
        "keyint=60:\"quoted\"=ü".into(),
    ];
    let created = repo.create(input.clone()).await.unwrap();
    assert_eq!(created.input, input);
    assert_eq!(repo.get(created.id).await.unwrap(), created);
    // Changed, then cleared: none and an empty list read back as such.
    input.preset = Some("veryfast".into());
    input.extra_args = vec!["-tune".into(), "zerolatency".into()];
    repo.update(created.id, input.clone()).await.unwrap();
    assert_eq!(repo.get(created.id).await.unwrap().input, input);
    input.preset = None;
    input.extra_args = Vec::new();
    repo.update(created.id, input.clone()).await.unwrap();
    assert_eq!(repo.get(created.id).await.unwrap().input, input);
    repo.delete(created.id).await.unwrap();
}

#[tokio::test]
async fn proxies_keep_their_ordered_lists() {
    let store = store().await;
    let repo = store.proxies();
    let s1 = new_stream_source(&store).await.id;
    let s2 = new_stream_source(&store).await.id;
    let e1 = new_epg_source(&store).await.id;
    let f1 = store
        .filters()
        .create(filter_input(&unique("pf"), Domain::Stream))
        .await
        .unwrap()
        .id;
    let f2 = store
        .filters()
        .create(filter_input(&unique("pf"), Domain::Stream))
        .await
        .unwrap()
        .id;
    let r1 = store
        .mapping_rules()
        .create(rule_input(&unique("pr"), 0))
        .await
        .unwrap()
        .id;
    let profile = store
        .relay_profiles()
        .create(profile_input(&unique("pp")))
        .await
        .unwrap()
        .id;
    let input = ProxyInput {
        name: unique("proxy"),
        stream_source_ids: vec![s2, s1],
        epg_source_ids: vec![e1],
        filter_ids: vec![f2, f1],
        mapping_rule_ids: vec![r1],
        starting_channel_number: 1000,
        numbering: Numbering::Sequential,
        proxy_mode: ProxyMode::Relay,
        relay_profile_id: Some(profile),
        cache_logos: true,
        group_starting_numbers: vec![
            GroupStart {
                group: "Sport".into(),
                start: 500,
            },
            GroupStart {
                group: "News ü".into(),
                start: 200,
            },
        ],
        number_grace_days: 30,
        epg_days_past: 0,
        epg_days_ahead: 14,
        max_removed_percent: 100,
        update_cron: Some("15 */4 * * *".into()),
        tuner_count: 6,
        hdhomerun_channels_per_device: 480,
        allowed_networks: tvarr_core::IpNetwork::parse_list("192.168.1.0/24, fd00::/8, 10.0.0.7")
            .unwrap(),
    };
    let created = repo.create(input.clone()).await.unwrap();
    assert_eq!(created.input, input);
    assert_eq!(repo.get(created.id).await.unwrap(), created);
    assert!(repo.list(all()).await.unwrap().items.contains(&created));
    assert!(is_conflict(repo.create(input.clone()).await));

    let mut changed = input.clone();
    changed.stream_source_ids = vec![s1];
    changed.filter_ids = vec![f1, f2];
    changed.proxy_mode = ProxyMode::Redirect;
    changed.relay_profile_id = None;
    changed.group_starting_numbers = vec![];
    changed.number_grace_days = 0;
    changed.epg_days_past = 3;
    changed.epg_days_ahead = 1;
    changed.max_removed_percent = 10;
    changed.update_cron = None;
    changed.tuner_count = 1;
    changed.hdhomerun_channels_per_device = 0;
    let updated = repo.update(created.id, changed.clone()).await.unwrap();
    assert_eq!(updated.input, changed);

    let at = Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap();
    repo.record_generated(created.id, at).await.unwrap();
    assert_eq!(
        repo.get(created.id).await.unwrap().last_generated_at,
        Some(at)
    );

    // Deleting a filter removes it from the proxy.
    store.filters().delete(f1).await.unwrap();
    assert_eq!(
        repo.get(created.id).await.unwrap().input.filter_ids,
        vec![f2]
    );

    repo.delete(created.id).await.unwrap();
    assert!(is_not_found(repo.get(created.id).await));
    assert!(is_not_found(repo.delete(created.id).await));
    assert!(is_not_found(repo.update(created.id, changed).await));
    assert!(is_not_found(repo.record_generated(created.id, at).await));
}

#[tokio::test]
async fn proxies_refuse_missing_references_and_protect_their_relay_profile() {
    let store = store().await;
    let repo = store.proxies();
    let profile = store
        .relay_profiles()
        .create(profile_input(&unique("pp")))
        .await
        .unwrap()
        .id;
    let mut input = ProxyInput {
        stream_source_ids: vec![StreamSourceId::new()],
        proxy_mode: ProxyMode::Relay,
        relay_profile_id: Some(profile),
        ..ProxyInput::named(unique("proxy"))
    };
    assert!(is_conflict(repo.create(input.clone()).await));
    input.stream_source_ids = vec![];
    let created = repo.create(input.clone()).await.unwrap();
    let r = store.relay_profiles().delete(profile).await;
    assert!(is_conflict(&r), "{r:?}");
    input.relay_profile_id = Some(RelayProfileId::new());
    assert!(is_conflict(repo.update(created.id, input).await));
    // The failed update changed nothing.
    assert_eq!(
        repo.get(created.id).await.unwrap().input.relay_profile_id,
        Some(profile)
    );
}

// ---------------------------------------------------------------- jobs

fn new_job() -> NewJob {
    NewJob {
        kind: JobKind::IngestStream,
        subject_id: Some(uuid::Uuid::now_v7()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_claimers_exactly_one_wins() {
    let store = store().await;
    for _ in 0..10 {
        let job = store.jobs().create(new_job()).await.unwrap();
        let (a, b) = (store.jobs(), store.jobs());
        let stale = chrono::Duration::minutes(5);
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { a.claim(job.id, "worker-a", stale).await }),
            tokio::spawn(async move { b.claim(job.id, "worker-b", stale).await }),
        );
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        assert!(ra.is_some() != rb.is_some(), "exactly one claim must win");
        let won = ra.or(rb).unwrap();
        assert_eq!(won.status, JobStatus::Running);
        assert_eq!(won.attempts, 1);
        let stored = store.jobs().get(job.id).await.unwrap();
        assert_eq!(stored.worker, won.worker);
    }
}

#[tokio::test]
async fn a_job_keeps_its_recorded_result() {
    let store = store().await;
    let jobs = store.jobs();
    let job = jobs.create(new_job()).await.unwrap();
    assert_eq!(job.result, None);
    let result = serde_json::json!({
        "channels": 50_000,
        "stages": [{"stage": "numbering", "duration_ms": 12, "note": "ü \" '"}],
    });
    jobs.record_result(job.id, &result).await.unwrap();
    assert_eq!(jobs.get(job.id).await.unwrap().result, Some(result.clone()));
    // Recording the same result again, and finishing, keep it.
    jobs.record_result(job.id, &result).await.unwrap();
    let done = jobs
        .finish(job.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    assert_eq!(done.result, Some(result));
    assert!(is_not_found(
        jobs.record_result(JobId::new(), &serde_json::Value::Null)
            .await
    ));
}

#[tokio::test]
async fn a_stale_running_job_can_be_reclaimed() {
    let store = store().await;
    let jobs = store.jobs();
    let job = jobs.create(new_job()).await.unwrap();
    let first = jobs
        .claim(job.id, "a", chrono::Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.worker.as_deref(), Some("a"));
    // A live worker keeps it.
    assert!(
        jobs.claim(job.id, "b", chrono::Duration::minutes(5))
            .await
            .unwrap()
            .is_none()
    );
    // Once its heartbeat is older than the limit, another worker takes it over.
    let heartbeat = first.heartbeat_at.unwrap();
    assert!(
        jobs.stale(heartbeat - chrono::Duration::seconds(1))
            .await
            .unwrap()
            .iter()
            .all(|j| j.id != job.id)
    );
    assert!(
        jobs.stale(heartbeat + chrono::Duration::seconds(1))
            .await
            .unwrap()
            .iter()
            .any(|j| j.id == job.id)
    );
    let second = jobs
        .claim(job.id, "b", chrono::Duration::seconds(-1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.worker.as_deref(), second.attempts), (Some("b"), 2));
    // A finished job is never claimed again.
    jobs.finish(job.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    assert!(
        jobs.claim(job.id, "c", chrono::Duration::seconds(-1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(is_not_found(
        jobs.claim(JobId::new(), "c", chrono::Duration::seconds(1))
            .await
    ));
}

#[tokio::test]
async fn progress_heartbeats_and_cancellation() {
    let store = store().await;
    let jobs = store.jobs();
    let job = jobs.create(new_job()).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    let claimed = jobs
        .claim(job.id, "w", chrono::Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    let progress = JobProgress {
        stage: "parsing".into(),
        done: 500,
        total: Some(1_000),
        records: Some(250),
    };
    assert!(!jobs.report_progress(job.id, &progress).await.unwrap());
    let got = jobs.get(job.id).await.unwrap();
    assert_eq!(got.progress, progress);
    assert!(got.heartbeat_at >= claimed.heartbeat_at);

    let flagged = jobs.request_cancel(job.id).await.unwrap();
    assert_eq!(
        (flagged.status, flagged.cancel_requested),
        (JobStatus::Running, true)
    );
    assert!(jobs.report_progress(job.id, &progress).await.unwrap());
    let done = jobs
        .finish(job.id, JobStatus::Cancelled, None)
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Cancelled);
    assert!(done.finished_at.is_some());
    assert!(is_conflict(
        jobs.finish(job.id, JobStatus::Failed, Some("late".into()))
            .await
    ));

    let queued = jobs.create(new_job()).await.unwrap();
    let cancelled = jobs.request_cancel(queued.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(
        jobs.claim(queued.id, "w", chrono::Duration::minutes(1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(is_not_found(jobs.request_cancel(JobId::new()).await));
    assert!(is_not_found(
        jobs.report_progress(JobId::new(), &progress).await
    ));
}

#[tokio::test]
async fn jobs_finish_with_errors_and_list_newest_first() {
    let store = store().await;
    let jobs = store.jobs();
    let first = jobs
        .create(NewJob {
            kind: JobKind::CacheLogos,
            subject_id: None,
        })
        .await
        .unwrap();
    let second = jobs
        .create(NewJob {
            kind: JobKind::CacheLogos,
            subject_id: None,
        })
        .await
        .unwrap();
    jobs.claim(second.id, "w", chrono::Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert!(is_conflict(
        jobs.finish(second.id, JobStatus::Running, None).await
    ));
    let failed = jobs
        .finish(second.id, JobStatus::Failed, Some("boom".into()))
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("boom"));

    let query = JobQuery {
        kind: Some(JobKind::CacheLogos),
        status: None,
    };
    let listed = jobs.list(&query, all()).await.unwrap();
    let mine: Vec<_> = listed
        .items
        .iter()
        .filter(|j| j.id == first.id || j.id == second.id)
        .map(|j| j.id)
        .collect();
    assert_eq!(mine, [second.id, first.id]);
    let failed_only = JobQuery {
        kind: Some(JobKind::CacheLogos),
        status: Some(JobStatus::Failed),
    };
    let listed = jobs.list(&failed_only, all()).await.unwrap();
    assert!(listed.items.iter().any(|j| j.id == second.id));
    assert!(listed.items.iter().all(|j| j.status == JobStatus::Failed));
}

#[tokio::test]
async fn logo_records_round_trip_and_upsert() {
    let store = store().await;
    let logos = store.logos();
    let url = format!("http://logos.example/{}.png", uuid::Uuid::now_v7());
    let mut logo = Logo {
        id: LogoId::for_url(&url),
        source_url: url.clone(),
        width: 64,
        height: 32,
        byte_size: 1234,
        cached_at: chrono::Utc::now(),
    };
    logos.upsert(&logo).await.unwrap();
    logo.width = 128;
    logos.upsert(&logo).await.unwrap();
    let stored = logos.get(logo.id).await.unwrap();
    assert_eq!(
        (stored.width, stored.height, stored.byte_size),
        (128, 32, 1234)
    );
    assert!(
        logos
            .list(PageRequest::new(10_000, 0))
            .await
            .unwrap()
            .items
            .iter()
            .any(|l| l.id == logo.id)
    );
    logos.delete(logo.id).await.unwrap();
    assert!(matches!(
        logos.get(logo.id).await,
        Err(tvarr_core::RepoError::NotFound { .. })
    ));
}

#[tokio::test]
async fn channel_pages_follow_source_then_position_and_totals_follow_every_flip() {
    let store = store().await;
    let a = new_stream_source(&store).await;
    let b = new_stream_source(&store).await;
    replace_channels(&store, a.id, &channels(a.id, 5, "pa"), 2).await;
    replace_channels(&store, b.id, &channels(b.id, 3, "pb"), 2).await;
    // One repository, so its kept totals are what the later pages read.
    let repo = store.channels();
    let both = ChannelQuery {
        source_ids: vec![a.id, b.id],
        ..Default::default()
    };
    let mut expected: Vec<(String, u32)> = [(a.id, 5), (b.id, 3)]
        .iter()
        .flat_map(|(id, n)| (0..*n).map(move |p| (id.to_string(), p)))
        .collect();
    expected.sort();
    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let page = repo.list(&both, PageRequest::new(3, offset)).await.unwrap();
        assert_eq!(page.total, 8);
        seen.extend(
            page.items
                .iter()
                .map(|c| (c.source_id.to_string(), c.position)),
        );
    }
    assert_eq!(seen, expected);
    let news = ChannelQuery {
        group: Some("News".into()),
        ..both.clone()
    };
    assert_eq!(repo.list(&news, all()).await.unwrap().total, 5);

    // Another process re-ingests `a` with fewer channels: neither the kept total nor the
    // kept page is served.
    replace_channels(&store, a.id, &channels(a.id, 2, "pa2"), 2).await;
    let page = repo.list(&both, PageRequest::new(3, 0)).await.unwrap();
    assert_eq!(page.total, 5);
    let names: Vec<&str> = page.items.iter().map(|c| c.data.name.as_str()).collect();
    let expected_names = if a.id.to_string() < b.id.to_string() {
        ["pa2 Channel 0", "pa2 Channel 1", "pb Channel 0"]
    } else {
        ["pb Channel 0", "pb Channel 1", "pb Channel 2"]
    };
    assert_eq!(names, expected_names);
    // The same page again, now from what this repository kept, is the same page.
    let again = repo.list(&both, PageRequest::new(3, 0)).await.unwrap();
    assert_eq!(again.items, page.items);
    assert_eq!(repo.list(&news, all()).await.unwrap().total, 3);
    store.stream_sources().delete(b.id).await.unwrap();
    let page = repo.list(&both, all()).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items.len(), 2);
}

// ---------------------------------------------------------------- lineups

fn lineup_channel(source: StreamSourceId, i: u32, number: u32) -> LineupChannel {
    let c = channel(source, i, "lineup");
    LineupChannel {
        channel_id: c.id,
        source_id: source,
        number,
        guide_id: format!("ch{i}.lineup"),
        guide: (!i.is_multiple_of(3)).then(|| GuideMatch {
            epg_source_id: EpgSourceId::new(),
            epg_channel: format!("Ch{i}.Lineup"),
            method: if i % 3 == 1 {
                MatchMethod::TvgIdCaseInsensitive
            } else {
                MatchMethod::Name
            },
            confidence: 80,
        }),
        data: c.data,
    }
}

fn summary_of(lineup: &[LineupChannel], at: chrono::DateTime<Utc>) -> GenerationSummary {
    let mut summary = GenerationSummary {
        generated_at: at,
        duration_ms: 1234,
        channels: lineup.len() as u64,
        programmes: 99,
        forced: true,
        stages: vec![StageReport {
            stage: "numbering".into(),
            duration_ms: 3,
            records_in: 10,
            records_out: 9,
            errors: 1,
        }],
        stale_sources: vec!["guide ü".into()],
        ..Default::default()
    };
    summary.matched.insert(MatchMethod::TvgId, 7);
    summary.changes.added.push(ChangedChannel {
        channel_id: ChannelId::stable(StreamSourceId::new(), "k"),
        name: "New".into(),
        number: 5,
        previous_name: None,
        previous_number: Some(4),
    });
    summary
}

#[tokio::test]
async fn a_publication_replaces_the_lineup_held_numbers_and_summary() {
    let store = store().await;
    let lineups = store.lineups();
    let proxy = store
        .proxies()
        .create(ProxyInput::named(unique("lineup")))
        .await
        .unwrap();
    let source = new_stream_source(&store).await.id;
    // Before the first publication: nothing, but the proxy exists.
    assert_eq!(lineups.summary(proxy.id).await.unwrap(), None);
    assert_eq!(lineups.list(proxy.id, all()).await.unwrap().total, 0);
    assert!(lineups.held_numbers(proxy.id).await.unwrap().is_empty());

    // Published out of number order; listed by number.
    let first: Vec<LineupChannel> = (0..5u32)
        .map(|i| lineup_channel(source, i, 100 - i * 10))
        .collect();
    let gone = ChannelId::stable(source, "gone");
    let held: Vec<HeldNumber> = first
        .iter()
        .map(|c| HeldNumber {
            channel_id: c.channel_id,
            number: c.number,
            released_at: None,
        })
        .chain([HeldNumber {
            channel_id: gone,
            number: 7,
            released_at: Some(t(3, 0)),
        }])
        .collect();
    let summary = summary_of(&first, t(12, 0));
    lineups
        .publish(proxy.id, &first, &held, &summary)
        .await
        .unwrap();
    let page = lineups.list(proxy.id, all()).await.unwrap();
    assert_eq!(page.total, 5);
    let mut by_number = first.clone();
    by_number.sort_by_key(|c| c.number);
    assert_eq!(page.items, by_number);
    let second_page = lineups
        .list(proxy.id, PageRequest::new(2, 2))
        .await
        .unwrap();
    assert_eq!(second_page.total, 5);
    assert_eq!(second_page.items, by_number[2..4]);
    // By number range (60 to 100 here), a page at a time from a number on.
    assert_eq!(
        lineups.numbered(proxy.id, 61, 90, 100).await.unwrap(),
        by_number[1..4]
    );
    assert_eq!(
        lineups.numbered(proxy.id, 0, u32::MAX, 2).await.unwrap(),
        by_number[..2]
    );
    assert_eq!(
        lineups.numbered(proxy.id, 71, u32::MAX, 2).await.unwrap(),
        by_number[2..4]
    );
    assert!(
        lineups
            .numbered(proxy.id, 101, u32::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        lineups.get(proxy.id, first[1].channel_id).await.unwrap(),
        first[1]
    );
    assert!(is_not_found(lineups.get(proxy.id, gone).await));
    let mut expected_held = held.clone();
    expected_held.sort_by_key(|h| h.number);
    assert_eq!(lineups.held_numbers(proxy.id).await.unwrap(), expected_held);
    assert_eq!(lineups.summary(proxy.id).await.unwrap(), Some(summary));
    assert_eq!(
        store
            .proxies()
            .get(proxy.id)
            .await
            .unwrap()
            .last_generated_at,
        Some(t(12, 0))
    );

    // The next publication replaces all three; another proxy's lineup is untouched.
    let other = store
        .proxies()
        .create(ProxyInput::named(unique("lineup")))
        .await
        .unwrap();
    let other_lineup = vec![lineup_channel(source, 0, 1)];
    lineups
        .publish(
            other.id,
            &other_lineup,
            &[],
            &summary_of(&other_lineup, t(1, 0)),
        )
        .await
        .unwrap();
    let next: Vec<LineupChannel> = (3..6u32).map(|i| lineup_channel(source, i, i)).collect();
    let next_summary = GenerationSummary {
        forced: false,
        ..summary_of(&next, t(13, 0))
    };
    lineups
        .publish(proxy.id, &next, &[], &next_summary)
        .await
        .unwrap();
    assert_eq!(lineups.list(proxy.id, all()).await.unwrap().items, next);
    assert!(is_not_found(
        lineups.get(proxy.id, first[0].channel_id).await
    ));
    assert!(lineups.held_numbers(proxy.id).await.unwrap().is_empty());
    assert_eq!(
        lineups.summary(proxy.id).await.unwrap(),
        Some(next_summary.clone())
    );
    assert_eq!(
        lineups.list(other.id, all()).await.unwrap().items,
        other_lineup
    );
    // A changed channel is rewritten, an unchanged one kept; so are held numbers.
    let mut changed = next.clone();
    changed[1].data.name = "Renamed".into();
    changed[2].guide = None;
    let released = [HeldNumber {
        channel_id: gone,
        number: 7,
        released_at: Some(t(4, 0)),
    }];
    for held in [&held[5..], &released[..]] {
        lineups
            .publish(proxy.id, &changed, held, &next_summary)
            .await
            .unwrap();
        assert_eq!(lineups.list(proxy.id, all()).await.unwrap().items, changed);
        assert_eq!(lineups.held_numbers(proxy.id).await.unwrap(), held);
    }
    // An empty lineup is a publication too.
    lineups
        .publish(proxy.id, &[], &[], &summary_of(&[], t(14, 0)))
        .await
        .unwrap();
    assert_eq!(lineups.list(proxy.id, all()).await.unwrap().total, 0);

    let missing = ProxyId::new();
    assert!(is_not_found(
        lineups.publish(missing, &next, &[], &next_summary).await
    ));
    assert!(is_not_found(lineups.list(missing, all()).await));
    assert!(is_not_found(lineups.numbered(missing, 0, 10, 10).await));
    assert!(is_not_found(lineups.held_numbers(missing).await));
    assert!(is_not_found(lineups.summary(missing).await));
}

/// Rows of `table` for `proxy`, read through a connection of its own.
async fn rows_of(url: &str, table: &str, proxy: ProxyId) -> i64 {
    use sea_orm::ConnectionTrait;
    let conn = sea_orm::Database::connect(url).await.unwrap();
    let backend = conn.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = conn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table} WHERE proxy_id = {placeholder}"),
            [proxy.to_string().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn deleting_a_proxy_deletes_its_lineup_and_held_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let url = if database_url().starts_with("sqlite") {
        format!("sqlite://{}/lineups.db", dir.path().display())
    } else {
        database_url()
    };
    let store = Store::connect(&url).await.unwrap();
    let proxy = store
        .proxies()
        .create(ProxyInput::named(unique("cascade")))
        .await
        .unwrap();
    let source = new_stream_source(&store).await.id;
    let lineup: Vec<LineupChannel> = (0..3u32).map(|i| lineup_channel(source, i, i)).collect();
    let held = [HeldNumber {
        channel_id: lineup[0].channel_id,
        number: 0,
        released_at: None,
    }];
    store
        .lineups()
        .publish(proxy.id, &lineup, &held, &summary_of(&lineup, t(1, 0)))
        .await
        .unwrap();
    assert_eq!(rows_of(&url, "proxy_lineup_channels", proxy.id).await, 3);
    assert_eq!(rows_of(&url, "proxy_held_numbers", proxy.id).await, 1);
    store.proxies().delete(proxy.id).await.unwrap();
    assert_eq!(rows_of(&url, "proxy_lineup_channels", proxy.id).await, 0);
    assert_eq!(rows_of(&url, "proxy_held_numbers", proxy.id).await, 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn publishes_fifty_thousand_channels_in_one_transaction() {
    let store = store().await;
    let lineups = store.lineups();
    let proxy = store
        .proxies()
        .create(ProxyInput::named(unique("big")))
        .await
        .unwrap();
    let source = new_stream_source(&store).await.id;
    let lineup: Vec<LineupChannel> = (0..50_000u32)
        .map(|i| lineup_channel(source, i, i + 1))
        .collect();
    let held: Vec<HeldNumber> = lineup
        .iter()
        .map(|c| HeldNumber {
            channel_id: c.channel_id,
            number: c.number,
            released_at: None,
        })
        .collect();
    let summary = summary_of(&lineup, t(2, 0));
    let mut timings = Vec::new();
    for _ in 0..2 {
        let started = std::time::Instant::now();
        lineups
            .publish(proxy.id, &lineup, &held, &summary)
            .await
            .unwrap();
        timings.push(started.elapsed());
    }
    eprintln!(
        "published 50,000 channels and held numbers on {}: first {:?}, replacing {:?}",
        database_url().split(':').next().unwrap_or(""),
        timings[0],
        timings[1]
    );
    let page = lineups
        .list(proxy.id, PageRequest::new(10, 49_995))
        .await
        .unwrap();
    assert_eq!(page.total, 50_000);
    assert_eq!(page.items, lineup[49_995..]);
    assert_eq!(lineups.held_numbers(proxy.id).await.unwrap().len(), 50_000);
}

// ---------------------------------------------------------------- forced generations

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_generation_is_taken_once() {
    let store = store().await;
    let proxies = store.proxies();
    let proxy = proxies
        .create(ProxyInput::named(unique("forced")))
        .await
        .unwrap();
    assert!(!proxies.take_forced_generation(proxy.id).await.unwrap());
    proxies.request_forced_generation(proxy.id).await.unwrap();
    // Asking twice is one request; an update of the proxy keeps it.
    proxies.request_forced_generation(proxy.id).await.unwrap();
    proxies.update(proxy.id, proxy.input.clone()).await.unwrap();
    assert!(proxies.take_forced_generation(proxy.id).await.unwrap());
    assert!(!proxies.take_forced_generation(proxy.id).await.unwrap());
    for _ in 0..10 {
        proxies.request_forced_generation(proxy.id).await.unwrap();
        let (a, b) = (store.proxies(), store.proxies());
        let id = proxy.id;
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { a.take_forced_generation(id).await }),
            tokio::spawn(async move { b.take_forced_generation(id).await }),
        );
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        assert!(ra != rb, "exactly one generation takes the request");
    }
    let missing = ProxyId::new();
    assert!(is_not_found(
        proxies.request_forced_generation(missing).await
    ));
    assert!(is_not_found(proxies.take_forced_generation(missing).await));
}

fn user_input(name: &str, role: Role, proxy_ids: Vec<ProxyId>) -> UserInput {
    UserInput {
        username: name.to_string(),
        role,
        proxy_ids,
        max_streams: None,
    }
}

#[tokio::test]
async fn accounts_keep_their_grants_in_order_their_limit_and_output_password() {
    let store = store().await;
    let users = store.users();
    let proxies = store.proxies();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            proxies
                .create(ProxyInput::named(unique(&format!("granted{i}"))))
                .await
                .unwrap()
                .id,
        );
    }
    let name = unique("viewer");
    let mut input = user_input(&name, Role::Viewer, vec![ids[2], ids[0]]);
    input.max_streams = Some(3);
    let created = users
        .create(&input, "login hash", Some("output hash"))
        .await
        .unwrap();
    assert_eq!(created.proxy_ids, vec![ids[2], ids[0]]);
    let read = users.get(created.id).await.unwrap();
    assert_eq!(read.proxy_ids, vec![ids[2], ids[0]], "in the order granted");
    assert_eq!(read.max_streams, Some(3));
    assert_eq!(read.output_password_hash.as_deref(), Some("output hash"));
    assert!(read.may_watch(ids[0]) && !read.may_watch(ids[1]));
    let by_name = users.find_by_username(&name).await.unwrap().unwrap();
    assert_eq!(by_name.proxy_ids, read.proxy_ids);

    // Update replaces the grants and keeps the secrets.
    input.proxy_ids = vec![ids[1]];
    input.max_streams = None;
    let updated = users.update(created.id, &input).await.unwrap();
    assert_eq!(updated.proxy_ids, vec![ids[1]]);
    assert_eq!(updated.max_streams, None);
    assert_eq!(updated.password_hash, "login hash");
    assert_eq!(updated.output_password_hash.as_deref(), Some("output hash"));
    users
        .set_output_password_hash(created.id, None)
        .await
        .unwrap();
    assert_eq!(
        users.get(created.id).await.unwrap().output_password_hash,
        None
    );

    // Deleting a proxy takes it out of every grant.
    proxies.delete(ids[1]).await.unwrap();
    assert!(users.get(created.id).await.unwrap().proxy_ids.is_empty());

    // Counted by role; deleted with its sessions.
    assert!(users.count_role(Role::Viewer).await.unwrap() >= 1);
    let session = users
        .create_session(created.id, Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    users.delete(created.id).await.unwrap();
    assert!(is_not_found(users.get(created.id).await));
    assert!(
        users
            .active_session(session.id, Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(is_not_found(users.delete(created.id).await));
    assert!(is_not_found(users.update(created.id, &input).await));
}

#[tokio::test]
async fn a_taken_username_is_already_exists_not_the_database_message() {
    let store = store().await;
    let users = store.users();
    let name = unique("user");
    users
        .create(&user_input(&name, Role::Admin, vec![]), "hash", None)
        .await
        .unwrap();
    let taken = users
        .create(&user_input(&name, Role::Viewer, vec![]), "hash", None)
        .await
        .unwrap_err();
    match &taken {
        RepoError::AlreadyExists {
            entity,
            name: taken_name,
        } => {
            assert_eq!(*entity, "user");
            assert_eq!(taken_name, &name);
        }
        other => panic!("a taken username should be AlreadyExists: {other:?}"),
    }
    assert!(
        taken.to_string().contains("already exists") && !taken.to_string().contains("UNIQUE"),
        "{taken}"
    );
}

#[tokio::test]
async fn login_attempts_count_in_windows_that_end_and_can_be_cleared() {
    let store = store().await;
    let users = store.users();
    let key = unique("account:someone");
    let window = Duration::from_secs(15 * 60);
    // Now, to the millisecond the database keeps: another test's attempt at the real time
    // deletes windows that ended before it, and these have not.
    let t0 = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    for (n, minutes) in [(1, 0), (2, 1), (3, 14)] {
        let at = t0 + chrono::Duration::minutes(minutes);
        let counted = users.count_login_attempt(&key, at, window).await.unwrap();
        assert_eq!(counted.attempts, n);
        assert_eq!(
            counted.started, t0,
            "a window is counted from its first attempt"
        );
    }
    users.take_back_login_attempt(&key).await.unwrap();
    let at = t0 + chrono::Duration::minutes(14);
    assert_eq!(
        users
            .count_login_attempt(&key, at, window)
            .await
            .unwrap()
            .attempts,
        3
    );
    // The window ended: the next attempt starts a new one.
    let later = t0 + chrono::Duration::minutes(15);
    let counted = users
        .count_login_attempt(&key, later, window)
        .await
        .unwrap();
    assert_eq!((counted.attempts, counted.started), (1, later));
    // Another key counts on its own; clearing one forgets only it.
    let other = unique("address:192.0.2.1");
    users
        .count_login_attempt(&other, later, window)
        .await
        .unwrap();
    users.clear_login_attempts(&key).await.unwrap();
    assert_eq!(
        users
            .count_login_attempt(&key, later, window)
            .await
            .unwrap()
            .attempts,
        1
    );
    assert_eq!(
        users
            .count_login_attempt(&other, later, window)
            .await
            .unwrap()
            .attempts,
        2
    );
}

#[tokio::test]
async fn an_offset_is_counted_in_channels_whatever_their_positions() {
    // An ingest numbers positions 0..n, and then a page is a seek to its position; channels
    // written with gaps in their positions still page by count, not by position.
    let store = store().await;
    let repo = store.channels();
    let gaps = new_stream_source(&store).await;
    let spaced: Vec<Channel> = (0..6u32)
        .map(|i| {
            let c = channel(gaps.id, i, "gap");
            Channel::new(gaps.id, c.key, i * 2, c.data)
        })
        .collect();
    replace_channels(&store, gaps.id, &spaced, 4).await;
    let page = repo
        .list(&only(gaps.id), PageRequest::new(2, 3))
        .await
        .unwrap();
    let positions: Vec<u32> = page.items.iter().map(|c| c.position).collect();
    assert_eq!(positions, [6, 8], "the 4th and 5th channels");
    assert_eq!(page.total, 6);

    let dense = new_stream_source(&store).await;
    replace_channels(&store, dense.id, &channels(dense.id, 7, "dense"), 3).await;
    for (offset, expected) in [(0, vec![0, 1, 2]), (5, vec![5, 6]), (7, vec![])] {
        let page = repo
            .list(&only(dense.id), PageRequest::new(3, offset))
            .await
            .unwrap();
        let positions: Vec<u32> = page.items.iter().map(|c| c.position).collect();
        assert_eq!(positions, expected, "offset {offset}");
        assert_eq!(page.total, 7);
    }
}
