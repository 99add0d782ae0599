//! Cron schedules of the sources and proxies, for `tvarr-jobs`' `CronScheduler`, and the source
//! repositories that tell the scheduler when a schedule changes.

use std::sync::Arc;

use async_trait::async_trait;
use tvarr_core::{
    EpgSource, EpgSourceId, EpgSourceInput, EpgSourceRepository, IngestOutcome, JobKind, NewJob,
    Page, PageRequest, RepoError, RepoResult, Repositories, StreamSource, StreamSourceId,
    StreamSourceInput, StreamSourceRepository,
};
use tvarr_jobs::{ScheduleProvider, ScheduleRefresh};

/// The `update_cron` of every enabled stream and EPG source (an ingest) and of every proxy
/// (a generation).
pub struct SourceSchedules {
    repos: Repositories,
}

impl SourceSchedules {
    /// Schedules read from `repos`.
    pub fn new(repos: Repositories) -> Self {
        Self { repos }
    }
}

/// Whether a source read back for a firing still has the schedule: it exists, is enabled and
/// has the same expression. A database error keeps the schedule (the enqueue will report it).
fn still_scheduled(found: RepoResult<(bool, Option<String>)>, expr: &str) -> bool {
    match found {
        Ok((enabled, cron)) => enabled && cron.as_deref().map(str::trim) == Some(expr.trim()),
        Err(RepoError::NotFound { .. }) => false,
        Err(e) => {
            tracing::warn!(error = %e, "cannot check a schedule's source; firing anyway");
            true
        }
    }
}

#[async_trait]
impl ScheduleProvider for SourceSchedules {
    async fn schedules(&self) -> Vec<(NewJob, String)> {
        let mut out = Vec::new();
        let page = PageRequest::new(PageRequest::MAX_LIMIT, 0);
        match self.repos.stream_sources.list(page).await {
            Ok(sources) => out.extend(sources.items.into_iter().filter(|s| s.enabled).filter_map(
                |s| {
                    let cron = s.update_cron?;
                    Some((
                        NewJob {
                            kind: JobKind::IngestStream,
                            subject_id: Some(s.id.as_uuid()),
                        },
                        cron,
                    ))
                },
            )),
            Err(e) => tracing::warn!(error = %e, "cannot read stream source schedules"),
        }
        match self.repos.epg_sources.list(page).await {
            Ok(sources) => out.extend(sources.items.into_iter().filter(|s| s.enabled).filter_map(
                |s| {
                    let cron = s.update_cron?;
                    Some((
                        NewJob {
                            kind: JobKind::IngestEpg,
                            subject_id: Some(s.id.as_uuid()),
                        },
                        cron,
                    ))
                },
            )),
            Err(e) => tracing::warn!(error = %e, "cannot read EPG source schedules"),
        }
        match self.repos.proxies.list(page).await {
            Ok(proxies) => out.extend(proxies.items.into_iter().filter_map(|p| {
                let cron = p.input.update_cron?;
                Some((
                    NewJob {
                        kind: JobKind::GenerateProxy,
                        subject_id: Some(p.id.as_uuid()),
                    },
                    cron,
                ))
            })),
            Err(e) => tracing::warn!(error = %e, "cannot read proxy schedules"),
        }
        out
    }

    async fn is_current(&self, job: &NewJob, expr: &str) -> bool {
        let Some(subject) = job.subject_id else {
            return true;
        };
        match job.kind {
            JobKind::IngestStream => {
                let found = self.repos.stream_sources.get(subject.into()).await;
                still_scheduled(found.map(|s| (s.enabled, s.update_cron)), expr)
            }
            JobKind::IngestEpg => {
                let found = self.repos.epg_sources.get(subject.into()).await;
                still_scheduled(found.map(|s| (s.enabled, s.update_cron)), expr)
            }
            JobKind::GenerateProxy => {
                let found = self.repos.proxies.get(subject.into()).await;
                still_scheduled(found.map(|p| (true, p.input.update_cron)), expr)
            }
            _ => true,
        }
    }
}

/// Stream sources that ask the cron scheduler to reload after every change, so a deleted
/// source's schedule is dropped at once in this process.
pub(crate) struct RefreshingStreamSources {
    inner: Arc<dyn StreamSourceRepository>,
    refresh: ScheduleRefresh,
}

/// EPG sources that ask the cron scheduler to reload after every change.
pub(crate) struct RefreshingEpgSources {
    inner: Arc<dyn EpgSourceRepository>,
    refresh: ScheduleRefresh,
}

/// `repos` with source repositories that refresh `refresh`'s scheduler on every change.
pub(crate) fn refreshing(mut repos: Repositories, refresh: &ScheduleRefresh) -> Repositories {
    repos.stream_sources = Arc::new(RefreshingStreamSources {
        inner: repos.stream_sources,
        refresh: refresh.clone(),
    });
    repos.epg_sources = Arc::new(RefreshingEpgSources {
        inner: repos.epg_sources,
        refresh: refresh.clone(),
    });
    repos
}

#[async_trait]
impl StreamSourceRepository for RefreshingStreamSources {
    async fn create(&self, input: StreamSourceInput) -> RepoResult<StreamSource> {
        let created = self.inner.create(input).await;
        self.refresh.refresh();
        created
    }
    async fn get(&self, id: StreamSourceId) -> RepoResult<StreamSource> {
        self.inner.get(id).await
    }
    async fn list(&self, page: PageRequest) -> RepoResult<Page<StreamSource>> {
        self.inner.list(page).await
    }
    async fn update(
        &self,
        id: StreamSourceId,
        input: StreamSourceInput,
    ) -> RepoResult<StreamSource> {
        let updated = self.inner.update(id, input).await;
        self.refresh.refresh();
        updated
    }
    async fn delete(&self, id: StreamSourceId) -> RepoResult<()> {
        let deleted = self.inner.delete(id).await;
        self.refresh.refresh();
        deleted
    }
    async fn record_ingest(&self, id: StreamSourceId, outcome: IngestOutcome) -> RepoResult<()> {
        self.inner.record_ingest(id, outcome).await
    }
}

#[async_trait]
impl EpgSourceRepository for RefreshingEpgSources {
    async fn create(&self, input: EpgSourceInput) -> RepoResult<EpgSource> {
        let created = self.inner.create(input).await;
        self.refresh.refresh();
        created
    }
    async fn get(&self, id: EpgSourceId) -> RepoResult<EpgSource> {
        self.inner.get(id).await
    }
    async fn list(&self, page: PageRequest) -> RepoResult<Page<EpgSource>> {
        self.inner.list(page).await
    }
    async fn update(&self, id: EpgSourceId, input: EpgSourceInput) -> RepoResult<EpgSource> {
        let updated = self.inner.update(id, input).await;
        self.refresh.refresh();
        updated
    }
    async fn delete(&self, id: EpgSourceId) -> RepoResult<()> {
        let deleted = self.inner.delete(id).await;
        self.refresh.refresh();
        deleted
    }
    async fn record_ingest(&self, id: EpgSourceId, outcome: IngestOutcome) -> RepoResult<()> {
        self.inner.record_ingest(id, outcome).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_keeps_its_schedule_only_while_it_exists_enabled_and_unchanged() {
        let cron = Some("0 3 * * *".to_owned());
        assert!(still_scheduled(Ok((true, cron.clone())), "0 3 * * *"));
        assert!(!still_scheduled(Ok((false, cron.clone())), "0 3 * * *"));
        assert!(!still_scheduled(Ok((true, cron)), "0 4 * * *"));
        assert!(!still_scheduled(Ok((true, None)), "0 3 * * *"));
        let gone = RepoError::NotFound {
            entity: "stream source",
            id: "x".into(),
        };
        assert!(!still_scheduled(Err(gone), "0 3 * * *"));
        assert!(still_scheduled(
            Err(RepoError::Unavailable("down".into())),
            "0 3 * * *"
        ));
    }
}
