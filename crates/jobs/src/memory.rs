//! An in-memory [`JobRepository`], for tests and embedders without a database.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tvarr_core::{
    Job, JobId, JobProgress, JobQuery, JobRepository, JobStatus, NewJob, Page, PageRequest,
    RepoError, RepoResult,
};

/// Jobs kept in memory, with the same rules as the database-backed repositories: `claim` is
/// atomic, and [`JobRepository::create_deduplicated`] is atomic too. Everything is lost when it
/// is dropped, and it is only shared by the runtimes of one process.
#[derive(Debug, Default)]
pub struct MemoryJobRepository {
    jobs: Mutex<HashMap<JobId, Job>>,
}

impl MemoryJobRepository {
    /// An empty repository.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> RepoResult<std::sync::MutexGuard<'_, HashMap<JobId, Job>>> {
        self.jobs
            .lock()
            .map_err(|_| RepoError::Unavailable("job repository lock poisoned".into()))
    }

    /// Every job, oldest first.
    pub fn all(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = match self.jobs.lock() {
            Ok(jobs) => jobs.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        jobs.sort_by_key(|j| (j.created_at, j.id.to_string()));
        jobs
    }
}

fn not_found(id: JobId) -> RepoError {
    RepoError::NotFound {
        entity: "job",
        id: id.to_string(),
    }
}

fn new_job(job: NewJob, now: DateTime<Utc>) -> Job {
    Job {
        id: JobId::new(),
        kind: job.kind,
        subject_id: job.subject_id,
        status: JobStatus::Queued,
        progress: JobProgress::default(),
        error: None,
        result: None,
        cancel_requested: false,
        attempts: 0,
        worker: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        heartbeat_at: None,
    }
}

#[async_trait]
impl JobRepository for MemoryJobRepository {
    async fn create(&self, job: NewJob) -> RepoResult<Job> {
        let job = new_job(job, Utc::now());
        self.lock()?.insert(job.id, job.clone());
        Ok(job)
    }

    async fn create_deduplicated(&self, job: NewJob) -> RepoResult<(Job, bool)> {
        let mut jobs = self.lock()?;
        if let Some(existing) = jobs.values().find(|j| {
            j.status == JobStatus::Queued && j.kind == job.kind && j.subject_id == job.subject_id
        }) {
            return Ok((existing.clone(), false));
        }
        let job = new_job(job, Utc::now());
        jobs.insert(job.id, job.clone());
        Ok((job, true))
    }

    async fn get(&self, id: JobId) -> RepoResult<Job> {
        self.lock()?.get(&id).cloned().ok_or_else(|| not_found(id))
    }

    async fn list(&self, query: &JobQuery, page: PageRequest) -> RepoResult<Page<Job>> {
        let mut jobs: Vec<Job> = self
            .lock()?
            .values()
            .filter(|j| query.kind.is_none_or(|k| j.kind == k))
            .filter(|j| query.status.is_none_or(|s| j.status == s))
            .cloned()
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse((j.created_at, j.id.to_string())));
        let total = jobs.len() as u64;
        let items = jobs
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .collect();
        Ok(Page { items, total })
    }

    async fn claim(
        &self,
        id: JobId,
        worker: &str,
        stale_after: chrono::Duration,
    ) -> RepoResult<Option<Job>> {
        let mut jobs = self.lock()?;
        let job = jobs.get_mut(&id).ok_or_else(|| not_found(id))?;
        let now = Utc::now();
        let claimable = match job.status {
            JobStatus::Queued => !job.cancel_requested,
            JobStatus::Running => {
                let last_sign = job
                    .heartbeat_at
                    .or(job.started_at)
                    .unwrap_or(job.created_at);
                last_sign < now - stale_after
            }
            _ => false,
        };
        if !claimable {
            return Ok(None);
        }
        job.status = JobStatus::Running;
        job.attempts += 1;
        job.worker = Some(worker.to_owned());
        job.started_at = Some(now);
        job.heartbeat_at = Some(now);
        job.finished_at = None;
        job.error = None;
        Ok(Some(job.clone()))
    }

    async fn report_progress(&self, id: JobId, progress: &JobProgress) -> RepoResult<bool> {
        let mut jobs = self.lock()?;
        let job = jobs.get_mut(&id).ok_or_else(|| not_found(id))?;
        if job.status == JobStatus::Running {
            job.progress = progress.clone();
            job.heartbeat_at = Some(Utc::now());
        }
        Ok(job.cancel_requested)
    }

    async fn record_result(&self, id: JobId, result: &serde_json::Value) -> RepoResult<()> {
        let mut jobs = self.lock()?;
        let job = jobs.get_mut(&id).ok_or_else(|| not_found(id))?;
        job.result = Some(result.clone());
        Ok(())
    }

    async fn finish(&self, id: JobId, status: JobStatus, error: Option<String>) -> RepoResult<Job> {
        if !status.is_terminal() {
            return Err(RepoError::Conflict(format!(
                "cannot finish a job as {}",
                status.as_str()
            )));
        }
        let mut jobs = self.lock()?;
        let job = jobs.get_mut(&id).ok_or_else(|| not_found(id))?;
        job.status = status;
        job.error = error;
        job.finished_at = Some(Utc::now());
        Ok(job.clone())
    }

    async fn request_cancel(&self, id: JobId) -> RepoResult<Job> {
        let mut jobs = self.lock()?;
        let job = jobs.get_mut(&id).ok_or_else(|| not_found(id))?;
        match job.status {
            JobStatus::Queued => {
                job.cancel_requested = true;
                job.status = JobStatus::Cancelled;
                job.finished_at = Some(Utc::now());
            }
            JobStatus::Running => job.cancel_requested = true,
            _ => {}
        }
        Ok(job.clone())
    }

    async fn stale(&self, before: DateTime<Utc>) -> RepoResult<Vec<Job>> {
        Ok(self
            .lock()?
            .values()
            .filter(|j| j.status == JobStatus::Running)
            .filter(|j| j.heartbeat_at.or(j.started_at).unwrap_or(j.created_at) < before)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tvarr_core::JobKind;
    use uuid::Uuid;

    fn ingest(subject: Uuid) -> NewJob {
        NewJob {
            kind: JobKind::IngestStream,
            subject_id: Some(subject),
        }
    }

    #[tokio::test]
    async fn claim_takes_a_queued_job_once() {
        let repo = MemoryJobRepository::new();
        let job = repo.create(ingest(Uuid::now_v7())).await.unwrap();
        let stale = chrono::Duration::seconds(30);
        let claimed = repo.claim(job.id, "a", stale).await.unwrap().unwrap();
        assert_eq!(claimed.status, JobStatus::Running);
        assert_eq!(claimed.attempts, 1);
        assert!(repo.claim(job.id, "b", stale).await.unwrap().is_none());
        assert!(repo.claim(job.id, "a", stale).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn claim_takes_over_a_stale_running_job() {
        let repo = MemoryJobRepository::new();
        let job = repo.create(ingest(Uuid::now_v7())).await.unwrap();
        repo.claim(job.id, "a", chrono::Duration::seconds(30))
            .await
            .unwrap()
            .unwrap();
        let later = Utc::now() + chrono::Duration::seconds(1);
        assert_eq!(repo.stale(later).await.unwrap().len(), 1);
        let taken = repo
            .claim(
                job.id,
                "b",
                chrono::Duration::zero() - chrono::Duration::seconds(1),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.worker.as_deref(), Some("b"));
        assert_eq!(taken.attempts, 2);
    }

    #[tokio::test]
    async fn cancelled_and_finished_jobs_cannot_be_claimed() {
        let repo = MemoryJobRepository::new();
        let stale = chrono::Duration::seconds(30);
        let a = repo.create(ingest(Uuid::now_v7())).await.unwrap();
        assert_eq!(
            repo.request_cancel(a.id).await.unwrap().status,
            JobStatus::Cancelled
        );
        assert!(repo.claim(a.id, "w", stale).await.unwrap().is_none());
        let b = repo.create(ingest(Uuid::now_v7())).await.unwrap();
        repo.claim(b.id, "w", stale).await.unwrap().unwrap();
        repo.finish(b.id, JobStatus::Succeeded, None).await.unwrap();
        assert!(repo.claim(b.id, "w", stale).await.unwrap().is_none());
        assert!(repo.finish(b.id, JobStatus::Running, None).await.is_err());
    }

    #[tokio::test]
    async fn dedup_returns_the_queued_job_of_the_same_subject() {
        let repo = MemoryJobRepository::new();
        let subject = Uuid::now_v7();
        let (first, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
        assert!(created);
        let (second, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
        assert!(!created);
        assert_eq!(first.id, second.id);
        let (other, created) = repo
            .create_deduplicated(ingest(Uuid::now_v7()))
            .await
            .unwrap();
        assert!(created);
        assert_ne!(other.id, first.id);
        // Once running, a new request queues a new job.
        repo.claim(first.id, "w", chrono::Duration::seconds(30))
            .await
            .unwrap()
            .unwrap();
        let (third, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
        assert!(created);
        assert_ne!(third.id, first.id);
    }

    #[tokio::test]
    async fn report_progress_says_whether_cancel_was_requested() {
        let repo = MemoryJobRepository::new();
        let job = repo.create(ingest(Uuid::now_v7())).await.unwrap();
        repo.claim(job.id, "w", chrono::Duration::seconds(30))
            .await
            .unwrap()
            .unwrap();
        let p = JobProgress {
            stage: "parsing".into(),
            done: 3,
            total: Some(10),
            records: Some(2),
        };
        assert!(!repo.report_progress(job.id, &p).await.unwrap());
        assert_eq!(repo.get(job.id).await.unwrap().progress, p);
        let flagged = repo.request_cancel(job.id).await.unwrap();
        assert_eq!(flagged.status, JobStatus::Running);
        assert!(repo.report_progress(job.id, &p).await.unwrap());
    }

    #[tokio::test]
    async fn record_result_is_kept_with_the_job() {
        let repo = MemoryJobRepository::new();
        let job = repo.create(ingest(Uuid::now_v7())).await.unwrap();
        assert_eq!(job.result, None);
        let result = serde_json::json!({"channels": 3, "stages": [{"stage": "numbering"}]});
        repo.record_result(job.id, &result).await.unwrap();
        assert_eq!(repo.get(job.id).await.unwrap().result, Some(result));
        assert!(matches!(
            repo.record_result(JobId::new(), &serde_json::Value::Null)
                .await,
            Err(RepoError::NotFound { .. })
        ));
    }
}
