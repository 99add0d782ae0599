//! Test support: in-memory repositories, fixtures and sources (the loopback provider server is
//! `tvarr_testkit::ProviderServer`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::AsyncReadExt;
use tvarr_core::{
    Channel, ChannelId, ChannelQuery, ChannelReplacement, ChannelRepository, EpgChannel, EpgSource,
    EpgSourceId, EpgSourceType, GuideReplacement, IngestState, Page, PageRequest, Programme,
    ProgrammeBatch, ProgrammeData, ProgrammeQuery, ProgrammeRepository, RepoError, RepoResult,
    StreamSource, StreamSourceId, StreamSourceType,
};

pub fn fixture(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/external")
        .join(path)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Channels in memory, with the same visibility rules as storage: a replacement becomes
/// visible only on commit.
#[derive(Default, Clone)]
pub struct MemoryChannels {
    current: Arc<Mutex<HashMap<StreamSourceId, Vec<Channel>>>>,
    pub commits: Arc<Mutex<u32>>,
    pub aborts: Arc<Mutex<u32>>,
    pub batches: Arc<Mutex<Vec<usize>>>,
}

impl MemoryChannels {
    pub fn channels(&self, source: StreamSourceId) -> Vec<Channel> {
        self.current
            .lock()
            .unwrap()
            .get(&source)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set(&self, source: StreamSourceId, channels: Vec<Channel>) {
        self.current.lock().unwrap().insert(source, channels);
    }
}

struct MemoryChannelReplacement {
    source: StreamSourceId,
    pending: Vec<Channel>,
    repo: MemoryChannels,
}

#[async_trait]
impl ChannelReplacement for MemoryChannelReplacement {
    async fn write(&mut self, batch: &[Channel]) -> RepoResult<()> {
        self.repo.batches.lock().unwrap().push(batch.len());
        self.pending.extend_from_slice(batch);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> RepoResult<u64> {
        let count = self.pending.len() as u64;
        self.repo
            .current
            .lock()
            .unwrap()
            .insert(self.source, self.pending);
        *self.repo.commits.lock().unwrap() += 1;
        Ok(count)
    }

    async fn abort(self: Box<Self>) -> RepoResult<()> {
        *self.repo.aborts.lock().unwrap() += 1;
        Ok(())
    }
}

#[async_trait]
impl ChannelRepository for MemoryChannels {
    async fn begin_replace(
        &self,
        source: StreamSourceId,
    ) -> RepoResult<Box<dyn ChannelReplacement>> {
        Ok(Box::new(MemoryChannelReplacement {
            source,
            pending: Vec::new(),
            repo: self.clone(),
        }))
    }

    async fn get(&self, id: ChannelId) -> RepoResult<Channel> {
        self.current
            .lock()
            .unwrap()
            .values()
            .flatten()
            .find(|c| c.id == id)
            .cloned()
            .ok_or(RepoError::NotFound {
                entity: "channel",
                id: id.to_string(),
            })
    }

    async fn list(&self, query: &ChannelQuery, page: PageRequest) -> RepoResult<Page<Channel>> {
        let all: Vec<Channel> = self
            .current
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| query.source_ids.is_empty() || query.source_ids.contains(s))
            .flat_map(|(_, c)| c.clone())
            .collect();
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect();
        Ok(Page { items, total })
    }

    async fn groups(&self, _query: &ChannelQuery) -> RepoResult<Vec<(String, u64)>> {
        Ok(vec![])
    }

    async fn count(&self, source: StreamSourceId) -> RepoResult<u64> {
        Ok(self.channels(source).len() as u64)
    }
}

type StoredGuide = (Vec<EpgChannel>, Vec<ProgrammeData>);

/// A guide in memory.
#[derive(Default, Clone)]
pub struct MemoryGuide {
    current: Arc<Mutex<HashMap<EpgSourceId, StoredGuide>>>,
    pub aborts: Arc<Mutex<u32>>,
}

impl MemoryGuide {
    pub fn programmes(&self, source: EpgSourceId) -> Vec<ProgrammeData> {
        self.current
            .lock()
            .unwrap()
            .get(&source)
            .map(|g| g.1.clone())
            .unwrap_or_default()
    }

    pub fn guide_channels(&self, source: EpgSourceId) -> Vec<EpgChannel> {
        self.current
            .lock()
            .unwrap()
            .get(&source)
            .map(|g| g.0.clone())
            .unwrap_or_default()
    }

    pub fn set(&self, source: EpgSourceId, programmes: Vec<ProgrammeData>) {
        self.current
            .lock()
            .unwrap()
            .insert(source, (vec![], programmes));
    }
}

struct MemoryGuideReplacement {
    source: EpgSourceId,
    channels: Vec<EpgChannel>,
    programmes: Vec<ProgrammeData>,
    repo: MemoryGuide,
}

#[async_trait]
impl GuideReplacement for MemoryGuideReplacement {
    async fn write_channels(&mut self, batch: &[EpgChannel]) -> RepoResult<()> {
        self.channels.extend_from_slice(batch);
        Ok(())
    }

    async fn write_programmes(&mut self, batch: &[ProgrammeData]) -> RepoResult<()> {
        self.programmes.extend_from_slice(batch);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> RepoResult<u64> {
        let count = self.programmes.len() as u64;
        self.repo
            .current
            .lock()
            .unwrap()
            .insert(self.source, (self.channels, self.programmes));
        Ok(count)
    }

    async fn abort(self: Box<Self>) -> RepoResult<()> {
        *self.repo.aborts.lock().unwrap() += 1;
        Ok(())
    }
}

#[async_trait]
impl ProgrammeRepository for MemoryGuide {
    async fn begin_replace(&self, source: EpgSourceId) -> RepoResult<Box<dyn GuideReplacement>> {
        Ok(Box::new(MemoryGuideReplacement {
            source,
            channels: vec![],
            programmes: vec![],
            repo: self.clone(),
        }))
    }

    async fn list(
        &self,
        _query: &ProgrammeQuery,
        _page: PageRequest,
    ) -> RepoResult<Page<Programme>> {
        Ok(Page {
            items: vec![],
            total: 0,
        })
    }

    async fn channels(&self, source_ids: &[EpgSourceId]) -> RepoResult<Vec<EpgChannel>> {
        Ok(source_ids
            .iter()
            .flat_map(|s| self.guide_channels(*s))
            .collect())
    }

    async fn count(&self, source: EpgSourceId) -> RepoResult<u64> {
        Ok(self.programmes(source).len() as u64)
    }

    /// The whole window in one batch: these tests read back small guides.
    async fn scan(
        &self,
        source: EpgSourceId,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        _after: Option<&str>,
        _limit: u32,
    ) -> RepoResult<ProgrammeBatch> {
        let mut items: Vec<ProgrammeData> = self
            .programmes(source)
            .into_iter()
            .filter(|p| p.stop > from && p.start < to)
            .collect();
        items.sort_by(|a, b| (&a.channel, a.start).cmp(&(&b.channel, b.start)));
        Ok(ProgrammeBatch { items, next: None })
    }
}

/// A stream source of `source_type` at `url`, as the store would hand it to an ingest.
pub fn stream_source(url: String, source_type: StreamSourceType) -> StreamSource {
    let now = chrono::Utc::now();
    StreamSource {
        id: StreamSourceId::new(),
        name: "test".into(),
        source_type,
        url,
        username: None,
        password: None,
        update_cron: None,
        enabled: true,
        user_agent: None,
        headers: vec![],
        max_connections: None,
        state: IngestState::Never,
        last_ingested_at: None,
        last_success_at: None,
        channel_count: 0,
        skipped_count: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
    }
}

/// An XMLTV guide source at `url`, as the store would hand it to an ingest.
pub fn epg_source(url: String) -> EpgSource {
    let now = chrono::Utc::now();
    EpgSource {
        id: EpgSourceId::new(),
        name: "guide".into(),
        source_type: EpgSourceType::Xmltv,
        url,
        username: None,
        password: None,
        update_cron: None,
        enabled: true,
        user_agent: None,
        headers: vec![],
        time_offset_minutes: 0,
        timezone: None,
        state: IngestState::Never,
        last_ingested_at: None,
        last_success_at: None,
        programme_count: 0,
        skipped_count: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
    }
}

/// The whole body `fetcher` downloads from `location`.
pub async fn read_all(
    fetcher: &tvarr_ingest::fetch::HttpFetcher,
    location: &str,
) -> Result<Vec<u8>, tvarr_ingest::IngestError> {
    let mut download = tvarr_ingest::fetch::Fetcher::fetch(
        fetcher,
        &tvarr_ingest::fetch::FetchRequest::new(location),
    )
    .await?;
    let mut body = Vec::new();
    download
        .body
        .read_to_end(&mut body)
        .await
        .map_err(tvarr_ingest::fetch::from_io)?;
    Ok(body)
}
