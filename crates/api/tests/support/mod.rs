//! Building an `AppState` for HTTP tests on the real store: `sqlite::memory:` by default, or the
//! database named by `TVARR_TEST_DATABASE_URL` (`postgres://postgres@127.0.0.1:5432/test`,
//! `mysql://root@127.0.0.1:3306/test`). On a server the tests share one database and run in
//! parallel, so each test makes its own uniquely named records and asserts only on those.
//! Access is open (no account); the job queue is a stub.

#![allow(dead_code)]

use std::sync::Arc;

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
    async fn create(&self, _: &str, _: &str, _: Role) -> RepoResult<User> {
        unsupported()
    }
    async fn find_by_username(&self, _: &str) -> RepoResult<Option<User>> {
        Ok(None)
    }
    async fn count(&self) -> RepoResult<u64> {
        Ok(0)
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

/// Repositories and the state built on them.
pub struct TestServer {
    pub repos: Repositories,
    pub state: AppState,
}

/// A fresh, empty, open (no account) server state.
pub async fn test_server() -> TestServer {
    let url = std::env::var("TVARR_TEST_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let store = tvarr_storage::Store::connect(&url).await.unwrap();
    let unused = Arc::new(Unused);
    let repos = store.repositories();
    let auth = Authenticator::new(repos.users.clone(), repos.api_keys.clone(), [7; 32])
        .await
        .unwrap();
    let state = AppState {
        repos: repos.clone(),
        queue: unused.clone(),
        readiness: unused,
        job_events: broadcast::channel(16).0,
        settings: ApiSettings {
            base_url: "http://localhost:8080".into(),
            version: "test".into(),
            cron_min_interval: std::time::Duration::from_secs(300),
        },
        auth: Arc::new(auth),
        metrics: Arc::new(Metrics::new()),
    };
    TestServer { repos, state }
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
