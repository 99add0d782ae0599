//! Cron schedules of the sources, for `tvarr-jobs`' `CronScheduler`.

use async_trait::async_trait;
use tvarr_core::{JobKind, NewJob, PageRequest, Repositories};
use tvarr_jobs::ScheduleProvider;

/// The `update_cron` of every enabled stream and EPG source.
pub struct SourceSchedules {
    repos: Repositories,
}

impl SourceSchedules {
    /// Schedules read from `repos`.
    pub fn new(repos: Repositories) -> Self {
        Self { repos }
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
        out
    }
}
