//! Building an `AppState` for HTTP tests on the real store: `sqlite::memory:` by default, or the
//! database named by `TVARR_TEST_DATABASE_URL` (`postgres://postgres@127.0.0.1:5432/test`,
//! `mysql://root@127.0.0.1:3306/test`). On a server the tests share one database and run in
//! parallel, so each test makes its own uniquely named records and asserts only on those.
//! Access is open (no account); the job queue records jobs (coalescing queued ones, as the real
//! queue does) and runs nothing; published outputs live in a temporary directory.

#![allow(dead_code)]

/// Status, headers and body of a request to `$app` (an initialised service); the caller
/// imports `call_service` and `read_body`.
#[allow(unused_macros)]
macro_rules! fetch {
    ($app:expr, $req:expr) => {{
        let res = call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let body = read_body(res).await.to_vec();
        (status, headers, body)
    }};
}

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;
use tvarr_api::{ApiSettings, AppState, Authenticator, Metrics, Readiness};
use tvarr_core::*;
use uuid::Uuid;

fn unsupported<T>() -> RepoResult<T> {
    Err(RepoError::Unavailable("not used by these tests".into()))
}

/// Accounts, API keys, the queue and readiness: not used by the expression endpoints.
pub struct Unused;

#[async_trait]
impl JobQueue for Unused {
    async fn enqueue(&self, _: NewJob) -> RepoResult<Job> {
        unsupported()
    }
    async fn cancel(&self, _: JobId) -> RepoResult<Job> {
        unsupported()
    }
}

/// No account exists, so the API is open.
#[async_trait]
impl UserRepository for Unused {
    async fn create(&self, _: &UserInput, _: &str, _: Option<&str>) -> RepoResult<User> {
        unsupported()
    }
    async fn get(&self, _: Uuid) -> RepoResult<User> {
        unsupported()
    }
    async fn find_by_username(&self, _: &str) -> RepoResult<Option<User>> {
        Ok(None)
    }
    async fn list(&self, _: PageRequest) -> RepoResult<Page<User>> {
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    }
    async fn update(&self, _: Uuid, _: &UserInput) -> RepoResult<User> {
        unsupported()
    }
    async fn delete(&self, _: Uuid) -> RepoResult<()> {
        unsupported()
    }
    async fn count(&self) -> RepoResult<u64> {
        Ok(0)
    }
    async fn count_role(&self, _: Role) -> RepoResult<u64> {
        Ok(0)
    }
    async fn set_output_password_hash(&self, _: Uuid, _: Option<&str>) -> RepoResult<()> {
        unsupported()
    }
    async fn set_password_hash(&self, _: Uuid, _: &str) -> RepoResult<()> {
        unsupported()
    }
    async fn create_session(&self, _: Uuid, _: chrono::DateTime<Utc>) -> RepoResult<Session> {
        unsupported()
    }
    async fn active_session(
        &self,
        _: Uuid,
        _: chrono::DateTime<Utc>,
    ) -> RepoResult<Option<Session>> {
        Ok(None)
    }
    async fn revoke_session(&self, _: Uuid) -> RepoResult<()> {
        Ok(())
    }
    async fn revoke_sessions_of(&self, _: Uuid) -> RepoResult<u64> {
        Ok(0)
    }
    async fn count_login_attempt(
        &self,
        _: &str,
        now: chrono::DateTime<Utc>,
        _: std::time::Duration,
    ) -> RepoResult<tvarr_core::LoginWindow> {
        Ok(tvarr_core::LoginWindow {
            attempts: 1,
            started: now,
        })
    }
    async fn clear_login_attempts(&self, _: &str) -> RepoResult<()> {
        Ok(())
    }
    async fn take_back_login_attempt(&self, _: &str) -> RepoResult<()> {
        Ok(())
    }
}

#[async_trait]
impl Readiness for Unused {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

#[async_trait]
impl ApiKeyRepository for Unused {
    async fn create(&self, _: &str, _: &str, _: &str) -> RepoResult<ApiKey> {
        unsupported()
    }
    async fn list(&self) -> RepoResult<Vec<ApiKey>> {
        Ok(Vec::new())
    }
    async fn active_with_prefix(&self, _: &str) -> RepoResult<Vec<ApiKey>> {
        Ok(Vec::new())
    }
    async fn touch(&self, _: Uuid, _: chrono::DateTime<Utc>) -> RepoResult<()> {
        Ok(())
    }
    async fn revoke(&self, _: Uuid) -> RepoResult<ApiKey> {
        unsupported()
    }
}

/// A queue that records jobs the way the real one does (a job of the same kind and subject
/// still queued is answered instead of a new one) and runs none.
pub struct RecordingQueue(pub Arc<dyn JobRepository>);

#[async_trait]
impl JobQueue for RecordingQueue {
    async fn enqueue(&self, job: NewJob) -> RepoResult<Job> {
        Ok(self.0.create_deduplicated(job).await?.0)
    }
    async fn cancel(&self, id: JobId) -> RepoResult<Job> {
        self.0.request_cancel(id).await
    }
}

/// Published outputs in a temporary directory of their own, removed on drop: each commit
/// writes the file and its gzip form under new names, with a blake3 ETag.
pub struct DirOutputs {
    root: PathBuf,
    published: Mutex<HashMap<(ProxyId, OutputKind), OutputFiles>>,
}

impl DirOutputs {
    pub fn new() -> Arc<Self> {
        let root = std::env::temp_dir().join(format!("tvarr-api-outputs-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&root).unwrap();
        Arc::new(Self {
            root,
            published: Mutex::new(HashMap::new()),
        })
    }

    /// Publishes `content` as the `kind` output of `proxy`, written in pieces as a generation
    /// writes it.
    pub async fn publish(
        self: &Arc<Self>,
        proxy: ProxyId,
        kind: OutputKind,
        content: &[u8],
    ) -> PublishedOutput {
        let mut writer = self.begin(proxy, kind).await.unwrap();
        for piece in content.chunks(1000) {
            writer.write(piece).await.unwrap();
        }
        writer.commit().await.unwrap()
    }

    fn commit(&self, proxy: ProxyId, kind: OutputKind, content: &[u8]) -> PublishedOutput {
        let dir = self.root.join(proxy.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let version = Uuid::now_v7().simple().to_string();
        let plain = dir.join(format!("{}.{version}", kind.as_str()));
        let gzip = dir.join(format!("{}.{version}.gz", kind.as_str()));
        std::fs::write(&plain, content).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(content).unwrap();
        let compressed = encoder.finish().unwrap();
        std::fs::write(&gzip, &compressed).unwrap();
        let output = PublishedOutput {
            etag: blake3::hash(content).to_hex()[..32].to_string(),
            modified: Utc::now(),
            len: content.len() as u64,
            gzip_len: compressed.len() as u64,
        };
        let files = OutputFiles {
            output: output.clone(),
            plain,
            gzip,
        };
        let previous = self.published.lock().unwrap().insert((proxy, kind), files);
        if let Some(previous) = previous {
            let _ = std::fs::remove_file(previous.plain);
            let _ = std::fs::remove_file(previous.gzip);
        }
        output
    }
}

impl Drop for DirOutputs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

struct DirWriter {
    store: Arc<DirOutputs>,
    proxy: ProxyId,
    kind: OutputKind,
    content: Vec<u8>,
}

#[async_trait]
impl OutputWriter for DirWriter {
    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()> {
        self.content.extend_from_slice(chunk);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> RepoResult<PublishedOutput> {
        Ok(self.store.commit(self.proxy, self.kind, &self.content))
    }
    async fn abort(self: Box<Self>) -> RepoResult<()> {
        Ok(())
    }
}

/// The [`OutputStore`] of a shared [`DirOutputs`].
pub struct Outputs(pub Arc<DirOutputs>);

#[async_trait]
impl OutputStore for Outputs {
    async fn begin(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Box<dyn OutputWriter>> {
        self.0.begin(proxy, kind).await
    }
    async fn current(
        &self,
        proxy: ProxyId,
        kind: OutputKind,
    ) -> RepoResult<Option<PublishedOutput>> {
        Ok(self.0.files(proxy, kind).await?.map(|f| f.output))
    }
    async fn files(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Option<OutputFiles>> {
        self.0.files(proxy, kind).await
    }
    async fn remove(&self, proxy: ProxyId) -> RepoResult<()> {
        self.0.remove(proxy).await
    }
}

impl DirOutputs {
    pub async fn begin(
        self: &Arc<Self>,
        proxy: ProxyId,
        kind: OutputKind,
    ) -> RepoResult<Box<dyn OutputWriter>> {
        Ok(Box::new(DirWriter {
            store: self.clone(),
            proxy,
            kind,
            content: Vec::new(),
        }))
    }
    pub async fn files(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Option<OutputFiles>> {
        Ok(self.published.lock().unwrap().get(&(proxy, kind)).cloned())
    }
    pub async fn remove(&self, proxy: ProxyId) -> RepoResult<()> {
        self.published
            .lock()
            .unwrap()
            .retain(|(p, _), _| *p != proxy);
        let _ = std::fs::remove_dir_all(self.root.join(proxy.to_string()));
        Ok(())
    }
}

/// Repositories and the state built on them.
pub struct TestServer {
    pub repos: Repositories,
    pub state: AppState,
    /// Where the state's outputs are published.
    pub outputs: Arc<DirOutputs>,
}

/// The settings the HTTP tests run with: the base URL `http://localhost:8080`, configured.
pub fn test_settings() -> ApiSettings {
    ApiSettings {
        base_url: "http://localhost:8080".into(),
        base_url_configured: true,
        trusted_proxies: Vec::new(),
        version: "test".into(),
        cron_min_interval: std::time::Duration::from_secs(300),
        import_dir: Some(std::env::temp_dir()),
    }
}

/// A fresh, empty, open (no account) server state, on the suite's shared test database.
pub async fn test_server() -> TestServer {
    let url = std::env::var("TVARR_TEST_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    server_on(&url).await
}

/// A server state on a database of its own, empty and migrated: for tests that create
/// accounts, which change what every server on the same database answers (a viewer account
/// closes the outputs to requests without credentials).
#[allow(dead_code)]
pub async fn own_test_server() -> TestServer {
    let url = if tvarr_testkit::testing_on_sqlite() {
        "sqlite::memory:".to_string()
    } else {
        tvarr_testkit::test_database_url(std::path::Path::new("unused")).await
    };
    server_on(&url).await
}

async fn server_on(url: &str) -> TestServer {
    let store = tvarr_storage::Store::connect(url).await.unwrap();
    let unused = Arc::new(Unused);
    let repos = store.repositories();
    let auth = Authenticator::new(repos.users.clone(), repos.api_keys.clone(), [7; 32])
        .await
        .unwrap();
    let outputs = DirOutputs::new();
    let state = AppState {
        repos: repos.clone(),
        queue: Arc::new(RecordingQueue(repos.jobs.clone())),
        readiness: unused,
        job_events: broadcast::channel(16).0,
        settings: test_settings(),
        auth: Arc::new(auth),
        metrics: Arc::new(Metrics::new()),
        outputs: Arc::new(Outputs(outputs.clone())),
        relay: test_relay(),
        transcoding: tvarr_relay::Transcoding::unavailable("not in these tests"),
    };
    TestServer {
        repos,
        state,
        outputs,
    }
}

/// A relay that may open loopback upstreams (the test providers), with short timeouts.
pub fn test_relay() -> tvarr_relay::Relay {
    use std::time::Duration;
    let fetcher = tvarr_ingest::fetch::HttpFetcher::new(tvarr_ingest::fetch::FetchOptions {
        allow_private_networks: true,
        ..Default::default()
    })
    .unwrap();
    tvarr_relay::Relay::new(
        fetcher,
        tvarr_relay::RelayConfig {
            idle_grace: Duration::from_millis(200),
            start_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(2),
            ..Default::default()
        },
    )
}

/// Stores an M3U source named `name` and replaces its channels with `channels`.
pub async fn ingest_channels(
    repos: &Repositories,
    name: &str,
    channels: Vec<ChannelData>,
) -> StreamSourceId {
    let source = repos
        .stream_sources
        .create(StreamSourceInput {
            name: name.into(),
            source_type: StreamSourceType::M3u,
            url: format!("http://example.com/{name}.m3u"),
            username: None,
            password: None,
            update_cron: None,
            enabled: true,
            user_agent: None,
            headers: Vec::new(),
            max_connections: None,
        })
        .await
        .unwrap();
    let mut replacement = repos.channels.begin_replace(source.id).await.unwrap();
    let batch: Vec<Channel> = channels
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            Channel::new(
                source.id,
                data.identity_key(),
                u32::try_from(i).unwrap(),
                data,
            )
        })
        .collect();
    replacement.write(&batch).await.unwrap();
    replacement.commit().await.unwrap();
    source.id
}

/// A name no other test uses.
pub fn unique(name: &str) -> String {
    format!("{name} {}", Uuid::now_v7().simple())
}

/// Stores an XMLTV source named `name` and replaces its guide with `programmes`.
pub async fn ingest_programmes(
    repos: &Repositories,
    name: &str,
    programmes: Vec<ProgrammeData>,
) -> EpgSourceId {
    let source = repos
        .epg_sources
        .create(EpgSourceInput {
            name: name.into(),
            source_type: EpgSourceType::Xmltv,
            url: "http://example.com/guide.xml".into(),
            username: None,
            password: None,
            update_cron: None,
            enabled: true,
            user_agent: None,
            headers: Vec::new(),
            time_offset_minutes: 0,
            timezone: None,
        })
        .await
        .unwrap();
    let mut replacement = repos.programmes.begin_replace(source.id).await.unwrap();
    let mut channels: Vec<EpgChannel> = programmes
        .iter()
        .map(|p| EpgChannel {
            id: p.channel.clone(),
            ..Default::default()
        })
        .collect();
    channels.dedup_by(|a, b| a.id == b.id);
    replacement.write_channels(&channels).await.unwrap();
    replacement.write_programmes(&programmes).await.unwrap();
    replacement.commit().await.unwrap();
    source.id
}

/// A proxy with `input`'s settings whose published lineup has a channel for each
/// `(number, name)`: guide id `id<number>`, stream `http://provider.example/live/<number>.ts`.
#[allow(dead_code)]
pub async fn published(
    server: &TestServer,
    input: ProxyInput,
    channels: &[(u32, String)],
) -> ProxyId {
    let channels = channels
        .iter()
        .map(|(number, name)| {
            (
                *number,
                ChannelData {
                    name: name.clone(),
                    tvg_id: Some(format!("id{number}")),
                    stream_url: format!("http://provider.example/live/{number}.ts"),
                    ..Default::default()
                },
            )
        })
        .collect();
    published_channels(server, input, channels).await
}

/// A proxy with `input`'s settings whose published lineup has each `(number, channel)`, with
/// the guide id `id<number>` (names must differ).
#[allow(dead_code)]
pub async fn published_channels(
    server: &TestServer,
    mut input: ProxyInput,
    channels: Vec<(u32, ChannelData)>,
) -> ProxyId {
    input.name = unique(&input.name);
    let proxy = server.repos.proxies.create(input).await.unwrap().id;
    let source = ingest_channels(
        &server.repos,
        &unique("Published"),
        channels.iter().map(|(_, data)| data.clone()).collect(),
    )
    .await;
    let stored = server
        .repos
        .channels
        .list(
            &ChannelQuery {
                source_ids: vec![source],
                ..Default::default()
            },
            PageRequest::new(PageRequest::MAX_LIMIT, 0),
        )
        .await
        .unwrap()
        .items;
    let lineup: Vec<LineupChannel> = stored
        .into_iter()
        .map(|channel| {
            let number = channels
                .iter()
                .find(|(_, data)| data.name == channel.data.name)
                .unwrap()
                .0;
            LineupChannel {
                channel_id: channel.id,
                source_id: source,
                number,
                guide_id: format!("id{number}"),
                data: channel.data,
                guide: None,
            }
        })
        .collect();
    server
        .repos
        .lineups
        .publish(proxy, &lineup, &[], &GenerationSummary::default())
        .await
        .unwrap();
    proxy
}

/// `(number, name)` pairs with owned names, for [`published`].
#[allow(dead_code)]
pub fn named(channels: &[(u32, &str)]) -> Vec<(u32, String)> {
    channels.iter().map(|(n, s)| (*n, s.to_string())).collect()
}
