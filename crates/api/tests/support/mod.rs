//! Building an `AppState` for HTTP tests: in-memory repositories for what the expression
//! endpoints touch (sources, channels, filters, mapping rules), open access (no account), and
//! stubs for the rest.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;
use tvarr_api::{ApiSettings, AppState, Authenticator, Metrics, Readiness};
use tvarr_core::*;
use uuid::Uuid;

fn page<T: Clone>(items: &[T], request: PageRequest) -> Page<T> {
    let start = usize::try_from(request.offset)
        .unwrap_or(usize::MAX)
        .min(items.len());
    let end = start
        .saturating_add(usize::try_from(request.limit).unwrap_or(usize::MAX))
        .min(items.len());
    Page {
        items: items[start..end].to_vec(),
        total: items.len() as u64,
    }
}

fn not_found(entity: &'static str, id: impl ToString) -> RepoError {
    RepoError::NotFound {
        entity,
        id: id.to_string(),
    }
}

fn unsupported<T>() -> RepoResult<T> {
    Err(RepoError::Unavailable("not used by these tests".into()))
}

#[derive(Default)]
pub struct MemoryStore {
    stream_sources: Mutex<Vec<StreamSource>>,
    channels: Mutex<Vec<Channel>>,
    filters: Mutex<Vec<Filter>>,
    rules: Mutex<Vec<MappingRule>>,
}

#[async_trait]
impl StreamSourceRepository for MemoryStore {
    async fn create(&self, input: StreamSourceInput) -> RepoResult<StreamSource> {
        let now = Utc::now();
        let source = StreamSource {
            id: StreamSourceId::new(),
            name: input.name,
            source_type: input.source_type,
            url: input.url,
            username: input.username,
            password: input.password,
            update_cron: input.update_cron,
            enabled: input.enabled,
            user_agent: input.user_agent,
            headers: input.headers,
            state: IngestState::Never,
            last_ingested_at: None,
            last_success_at: None,
            channel_count: 0,
            skipped_count: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        self.stream_sources.lock().unwrap().push(source.clone());
        Ok(source)
    }
    async fn get(&self, id: StreamSourceId) -> RepoResult<StreamSource> {
        let sources = self.stream_sources.lock().unwrap();
        sources
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| not_found("stream source", id))
    }
    async fn list(&self, request: PageRequest) -> RepoResult<Page<StreamSource>> {
        Ok(page(&self.stream_sources.lock().unwrap(), request))
    }
    async fn update(&self, _: StreamSourceId, _: StreamSourceInput) -> RepoResult<StreamSource> {
        unsupported()
    }
    async fn delete(&self, _: StreamSourceId) -> RepoResult<()> {
        unsupported()
    }
    async fn record_ingest(&self, _: StreamSourceId, _: IngestOutcome) -> RepoResult<()> {
        unsupported()
    }
}

pub struct MemoryReplacement {
    store: Arc<MemoryStore>,
    source: StreamSourceId,
    batch: Vec<Channel>,
}

#[async_trait]
impl ChannelReplacement for MemoryReplacement {
    async fn write(&mut self, batch: &[Channel]) -> RepoResult<()> {
        self.batch.extend_from_slice(batch);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> RepoResult<u64> {
        let mut channels = self.store.channels.lock().unwrap();
        channels.retain(|c| c.source_id != self.source);
        let count = self.batch.len() as u64;
        channels.extend(self.batch);
        Ok(count)
    }
    async fn abort(self: Box<Self>) -> RepoResult<()> {
        Ok(())
    }
}

/// Channels need a handle on the store for `begin_replace`.
pub struct MemoryChannels(pub Arc<MemoryStore>);

#[async_trait]
impl ChannelRepository for MemoryChannels {
    async fn begin_replace(
        &self,
        source: StreamSourceId,
    ) -> RepoResult<Box<dyn ChannelReplacement>> {
        Ok(Box::new(MemoryReplacement {
            store: self.0.clone(),
            source,
            batch: Vec::new(),
        }))
    }
    async fn get(&self, id: ChannelId) -> RepoResult<Channel> {
        let channels = self.0.channels.lock().unwrap();
        channels
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| not_found("channel", id))
    }
    async fn list(&self, query: &ChannelQuery, request: PageRequest) -> RepoResult<Page<Channel>> {
        let channels = self.0.channels.lock().unwrap();
        let selected: Vec<Channel> = channels
            .iter()
            .filter(|c| query.source_ids.is_empty() || query.source_ids.contains(&c.source_id))
            .cloned()
            .collect();
        Ok(page(&selected, request))
    }
    async fn groups(&self, _: &ChannelQuery) -> RepoResult<Vec<(String, u64)>> {
        unsupported()
    }
    async fn count(&self, source: StreamSourceId) -> RepoResult<u64> {
        Ok(self
            .0
            .channels
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.source_id == source)
            .count() as u64)
    }
}

#[async_trait]
impl FilterRepository for MemoryStore {
    async fn create(&self, input: FilterInput) -> RepoResult<Filter> {
        let now = Utc::now();
        let filter = Filter {
            id: FilterId::new(),
            name: input.name,
            domain: input.domain,
            action: input.action,
            expression: input.expression,
            created_at: now,
            updated_at: now,
        };
        self.filters.lock().unwrap().push(filter.clone());
        Ok(filter)
    }
    async fn get(&self, id: FilterId) -> RepoResult<Filter> {
        let filters = self.filters.lock().unwrap();
        filters
            .iter()
            .find(|f| f.id == id)
            .cloned()
            .ok_or_else(|| not_found("filter", id))
    }
    async fn list(&self, domain: Option<Domain>, request: PageRequest) -> RepoResult<Page<Filter>> {
        let filters = self.filters.lock().unwrap();
        let selected: Vec<Filter> = filters
            .iter()
            .filter(|f| domain.is_none_or(|d| f.domain == d))
            .cloned()
            .collect();
        Ok(page(&selected, request))
    }
    async fn update(&self, id: FilterId, input: FilterInput) -> RepoResult<Filter> {
        let mut filters = self.filters.lock().unwrap();
        let f = filters
            .iter_mut()
            .find(|f| f.id == id)
            .ok_or_else(|| not_found("filter", id))?;
        f.name = input.name;
        f.domain = input.domain;
        f.action = input.action;
        f.expression = input.expression;
        f.updated_at = Utc::now();
        Ok(f.clone())
    }
    async fn delete(&self, id: FilterId) -> RepoResult<()> {
        let mut filters = self.filters.lock().unwrap();
        let before = filters.len();
        filters.retain(|f| f.id != id);
        if filters.len() == before {
            Err(not_found("filter", id))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl MappingRuleRepository for MemoryStore {
    async fn create(&self, input: MappingRuleInput) -> RepoResult<MappingRule> {
        let now = Utc::now();
        let rule = MappingRule {
            id: MappingRuleId::new(),
            name: input.name,
            domain: input.domain,
            expression: input.expression,
            priority: input.priority,
            enabled: input.enabled,
            created_at: now,
            updated_at: now,
        };
        self.rules.lock().unwrap().push(rule.clone());
        Ok(rule)
    }
    async fn get(&self, id: MappingRuleId) -> RepoResult<MappingRule> {
        let rules = self.rules.lock().unwrap();
        rules
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| not_found("mapping rule", id))
    }
    async fn list(
        &self,
        domain: Option<Domain>,
        request: PageRequest,
    ) -> RepoResult<Page<MappingRule>> {
        let rules = self.rules.lock().unwrap();
        let mut selected: Vec<MappingRule> = rules
            .iter()
            .filter(|r| domain.is_none_or(|d| r.domain == d))
            .cloned()
            .collect();
        selected.sort_by_key(|r| r.priority);
        Ok(page(&selected, request))
    }
    async fn update(&self, id: MappingRuleId, input: MappingRuleInput) -> RepoResult<MappingRule> {
        let mut rules = self.rules.lock().unwrap();
        let r = rules
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or_else(|| not_found("mapping rule", id))?;
        r.name = input.name;
        r.domain = input.domain;
        r.expression = input.expression;
        r.priority = input.priority;
        r.enabled = input.enabled;
        r.updated_at = Utc::now();
        Ok(r.clone())
    }
    async fn delete(&self, id: MappingRuleId) -> RepoResult<()> {
        let mut rules = self.rules.lock().unwrap();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        if rules.len() == before {
            Err(not_found("mapping rule", id))
        } else {
            Ok(())
        }
    }
    async fn reorder(&self, ids: &[MappingRuleId]) -> RepoResult<()> {
        let mut rules = self.rules.lock().unwrap();
        for id in ids {
            if !rules.iter().any(|r| r.id == *id) {
                return Err(not_found("mapping rule", id));
            }
        }
        for (priority, id) in ids.iter().enumerate() {
            if let Some(r) = rules.iter_mut().find(|r| r.id == *id) {
                r.priority = i32::try_from(priority).unwrap();
            }
        }
        Ok(())
    }
}

/// Everything else: not used by the expression endpoints.
pub struct Unused;

#[async_trait]
impl EpgSourceRepository for Unused {
    async fn create(&self, _: EpgSourceInput) -> RepoResult<EpgSource> {
        unsupported()
    }
    async fn get(&self, id: EpgSourceId) -> RepoResult<EpgSource> {
        Err(not_found("EPG source", id))
    }
    async fn list(&self, _: PageRequest) -> RepoResult<Page<EpgSource>> {
        unsupported()
    }
    async fn update(&self, _: EpgSourceId, _: EpgSourceInput) -> RepoResult<EpgSource> {
        unsupported()
    }
    async fn delete(&self, _: EpgSourceId) -> RepoResult<()> {
        unsupported()
    }
    async fn record_ingest(&self, _: EpgSourceId, _: IngestOutcome) -> RepoResult<()> {
        unsupported()
    }
}

#[async_trait]
impl ProgrammeRepository for Unused {
    async fn begin_replace(&self, _: EpgSourceId) -> RepoResult<Box<dyn GuideReplacement>> {
        unsupported()
    }
    async fn list(&self, _: &ProgrammeQuery, _: PageRequest) -> RepoResult<Page<Programme>> {
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    }
    async fn channels(&self, _: &[EpgSourceId]) -> RepoResult<Vec<EpgChannel>> {
        unsupported()
    }
    async fn count(&self, _: EpgSourceId) -> RepoResult<u64> {
        Ok(0)
    }
}

#[async_trait]
impl ProxyRepository for Unused {
    async fn create(&self, _: ProxyInput) -> RepoResult<Proxy> {
        unsupported()
    }
    async fn get(&self, _: ProxyId) -> RepoResult<Proxy> {
        unsupported()
    }
    async fn list(&self, _: PageRequest) -> RepoResult<Page<Proxy>> {
        unsupported()
    }
    async fn update(&self, _: ProxyId, _: ProxyInput) -> RepoResult<Proxy> {
        unsupported()
    }
    async fn delete(&self, _: ProxyId) -> RepoResult<()> {
        unsupported()
    }
    async fn record_generated(&self, _: ProxyId, _: chrono::DateTime<Utc>) -> RepoResult<()> {
        unsupported()
    }
}

#[async_trait]
impl RelayProfileRepository for Unused {
    async fn create(&self, _: RelayProfileInput) -> RepoResult<RelayProfile> {
        unsupported()
    }
    async fn get(&self, _: RelayProfileId) -> RepoResult<RelayProfile> {
        unsupported()
    }
    async fn list(&self, _: PageRequest) -> RepoResult<Page<RelayProfile>> {
        unsupported()
    }
    async fn update(&self, _: RelayProfileId, _: RelayProfileInput) -> RepoResult<RelayProfile> {
        unsupported()
    }
    async fn delete(&self, _: RelayProfileId) -> RepoResult<()> {
        unsupported()
    }
}

#[async_trait]
impl JobRepository for Unused {
    async fn create(&self, _: NewJob) -> RepoResult<Job> {
        unsupported()
    }
    async fn get(&self, _: JobId) -> RepoResult<Job> {
        unsupported()
    }
    async fn list(&self, _: &JobQuery, _: PageRequest) -> RepoResult<Page<Job>> {
        unsupported()
    }
    async fn claim(&self, _: JobId, _: &str, _: chrono::Duration) -> RepoResult<Option<Job>> {
        unsupported()
    }
    async fn report_progress(&self, _: JobId, _: &JobProgress) -> RepoResult<bool> {
        unsupported()
    }
    async fn finish(&self, _: JobId, _: JobStatus, _: Option<String>) -> RepoResult<Job> {
        unsupported()
    }
    async fn request_cancel(&self, _: JobId) -> RepoResult<Job> {
        unsupported()
    }
    async fn stale(&self, _: chrono::DateTime<Utc>) -> RepoResult<Vec<Job>> {
        unsupported()
    }
}

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
    let memory = Arc::new(MemoryStore::default());
    let unused = Arc::new(Unused);
    let repos = Repositories {
        stream_sources: memory.clone(),
        epg_sources: unused.clone(),
        channels: Arc::new(MemoryChannels(memory.clone())),
        programmes: unused.clone(),
        filters: memory.clone(),
        mapping_rules: memory.clone(),
        proxies: unused.clone(),
        relay_profiles: unused.clone(),
        jobs: unused.clone(),
        users: unused.clone(),
        api_keys: unused.clone(),
    };
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
