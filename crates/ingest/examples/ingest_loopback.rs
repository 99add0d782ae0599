//! `cargo run --release -p tvarr-ingest --example ingest_loopback -- <playlist-or-guide-file>`
//!
//! Serves the file from a loopback HTTP server and runs the real ingest service on it (fetch,
//! parse, batches over the bounded channel, guard, commit) into a repository that only counts:
//! the whole ingest path except the database. Detects a guide by a leading `<`.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use tvarr_core::{
    Channel, ChannelId, ChannelQuery, ChannelReplacement, ChannelRepository, EpgChannel, EpgSource,
    EpgSourceId, EpgSourceType, GuideReplacement, IngestState, Page, PageRequest, Programme,
    ProgrammeData, ProgrammeQuery, ProgrammeRepository, RepoError, RepoResult, StreamSource,
    StreamSourceId, StreamSourceType,
};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_ingest::{IngestSettings, NoProgress, ingest_epg_source, ingest_stream_source};

#[derive(Clone, Default)]
struct Counting(Arc<AtomicU64>);

#[async_trait]
impl ChannelReplacement for Counting {
    async fn write(&mut self, batch: &[Channel]) -> RepoResult<()> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> RepoResult<u64> {
        Ok(self.0.load(Ordering::Relaxed))
    }
    async fn abort(self: Box<Self>) -> RepoResult<()> {
        Ok(())
    }
}

#[async_trait]
impl GuideReplacement for Counting {
    async fn write_channels(&mut self, _batch: &[EpgChannel]) -> RepoResult<()> {
        Ok(())
    }
    async fn write_programmes(&mut self, batch: &[ProgrammeData]) -> RepoResult<()> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> RepoResult<u64> {
        Ok(self.0.load(Ordering::Relaxed))
    }
    async fn abort(self: Box<Self>) -> RepoResult<()> {
        Ok(())
    }
}

#[async_trait]
impl ChannelRepository for Counting {
    async fn begin_replace(&self, _: StreamSourceId) -> RepoResult<Box<dyn ChannelReplacement>> {
        Ok(Box::new(Counting::default()))
    }
    async fn get(&self, id: ChannelId) -> RepoResult<Channel> {
        Err(RepoError::NotFound {
            entity: "channel",
            id: id.to_string(),
        })
    }
    async fn list(&self, _: &ChannelQuery, _: PageRequest) -> RepoResult<Page<Channel>> {
        Ok(Page {
            items: vec![],
            total: 0,
        })
    }
    async fn groups(&self, _: &ChannelQuery) -> RepoResult<Vec<(String, u64)>> {
        Ok(vec![])
    }
    async fn count(&self, _: StreamSourceId) -> RepoResult<u64> {
        Ok(0)
    }
}

#[async_trait]
impl ProgrammeRepository for Counting {
    async fn begin_replace(&self, _: EpgSourceId) -> RepoResult<Box<dyn GuideReplacement>> {
        Ok(Box::new(Counting::default()))
    }
    async fn list(&self, _: &ProgrammeQuery, _: PageRequest) -> RepoResult<Page<Programme>> {
        Ok(Page {
            items: vec![],
            total: 0,
        })
    }
    async fn channels(&self, _: &[EpgSourceId]) -> RepoResult<Vec<EpgChannel>> {
        Ok(vec![])
    }
    async fn count(&self, _: EpgSourceId) -> RepoResult<u64> {
        Ok(0)
    }
    /// Nothing is kept: nothing to read back.
    async fn scan(
        &self,
        _: EpgSourceId,
        _: chrono::DateTime<Utc>,
        _: chrono::DateTime<Utc>,
        _: Option<&str>,
        _: u32,
    ) -> RepoResult<tvarr_core::ProgrammeBatch> {
        Ok(tvarr_core::ProgrammeBatch::default())
    }
}

/// Serves `path` to every connection, streaming it from disk.
fn serve(path: String) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let path = path.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut stream = stream;
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head)?;
                let mut file = std::fs::File::open(&path)?;
                let length = file.metadata()?.len();
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                )?;
                std::io::copy(&mut file, &mut stream)?;
                Ok(())
            });
        }
    });
    Ok(port)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ingest_loopback <playlist-or-guide-file>");
        std::process::exit(2);
    };
    let mut first = [0u8; 64];
    let n = std::fs::File::open(&path)?.read(&mut first)?;
    let is_guide = first[..n].trim_ascii_start().starts_with(b"<");
    let port = serve(path.clone())?;
    let url = format!("http://127.0.0.1:{port}/source");
    let fetcher = HttpFetcher::new(FetchOptions {
        max_bytes: 4 << 30,
        ..FetchOptions::default()
    })?;
    let repo = Counting::default();
    let settings = IngestSettings::default();
    let now = Utc::now();
    let started = Instant::now();
    let report = if is_guide {
        let source = EpgSource {
            id: EpgSourceId::new(),
            name: "bench".into(),
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
        };
        ingest_epg_source(&source, &fetcher, &repo, &NoProgress, &settings).await
    } else {
        let source = StreamSource {
            id: StreamSourceId::new(),
            name: "bench".into(),
            source_type: StreamSourceType::M3u,
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
        };
        ingest_stream_source(&source, &fetcher, &repo, &NoProgress, &settings).await
    };
    println!(
        "{:?}: {} records, {} skipped, {:.1} MB in {:.2} s{}",
        report.outcome.state,
        report.outcome.record_count,
        report.outcome.skipped_count,
        report.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        report
            .outcome
            .error
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Ok(())
}
