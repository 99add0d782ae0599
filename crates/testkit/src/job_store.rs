//! The contract every [`JobRepository`] keeps, as one suite run against each implementation
//! and database.
//!
//! The job runtime's exactly-once rests on these rules, not on the queue, so a store that
//! passes them can back the runtime. Run the suite with
//! [`job_repository_contract!`](crate::job_repository_contract), giving it an
//! `async fn() -> JobStore` that returns a fresh, empty store:
//!
//! ```text
//! async fn fresh_store() -> tvarr_testkit::JobStore { /* connect to a new database */ }
//! tvarr_testkit::job_repository_contract!(fresh_store);
//! ```
//!
//! Each rule is a `pub async fn` here, so one that fails names itself in the test output.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tvarr_core::{
    JobId, JobKind, JobProgress, JobQuery, JobRepository, JobStatus, NewJob, PageRequest, RepoError,
};
use uuid::Uuid;

/// A fresh, empty store under test, and whatever must live as long as it (a temporary
/// directory, a database handle).
pub struct JobStore {
    /// The store.
    pub repo: Arc<dyn JobRepository>,
    /// Dropped with the store.
    pub keep: Box<dyn Any + Send>,
}

/// One test per rule of the contract, each on a fresh store from `$fresh` (an
/// `async fn() -> JobStore` in scope). Expands to a module `job_repository_contract` of
/// `#[tokio::test]`s.
#[macro_export]
macro_rules! job_repository_contract {
    ($fresh:path) => {
        mod job_repository_contract {
            #[allow(unused_imports)]
            use super::*;
            $crate::job_repository_contract!(@tests $fresh;
                a_new_job_is_queued_and_read_back,
                an_unknown_job_is_not_found,
                deduplication_returns_the_queued_job_of_the_same_kind_and_subject,
                deduplication_is_atomic_under_concurrent_callers,
                a_claimed_job_no_longer_deduplicates,
                a_schedule_firing_is_recorded_once_whoever_asks,
                only_one_of_two_workers_claims_a_job,
                a_stale_running_job_is_claimed_again_with_another_attempt,
                a_job_whose_cancellation_was_requested_is_never_claimed,
                an_ended_job_is_never_claimed,
                progress_is_recorded_only_while_running_and_reports_cancellation,
                a_result_is_stored_and_read_back,
                finishing_needs_a_terminal_status_and_happens_once,
                cancelling_a_queued_job_ends_it_and_a_running_one_is_flagged,
                stale_lists_running_jobs_with_old_heartbeats,
                list_filters_and_pages_newest_first,
            );
        }
    };
    (@tests $fresh:path; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $rule() {
                let store = $fresh().await;
                $crate::job_store::$rule(store.repo.as_ref()).await;
                drop(store.keep);
            }
        )*
    };
}

fn ingest(subject: Uuid) -> NewJob {
    NewJob {
        kind: JobKind::IngestStream,
        subject_id: Some(subject),
    }
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// Waits until the clock has visibly moved past what was just written (timestamps are stored
/// to the microsecond; some databases round).
async fn let_time_pass() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// `create` records a queued job with no attempts, and `get` returns the same record.
pub async fn a_new_job_is_queued_and_read_back(repo: &dyn JobRepository) {
    let subject = Uuid::new_v4();
    let job = repo.create(ingest(subject)).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.kind, JobKind::IngestStream);
    assert_eq!(job.subject_id, Some(subject));
    assert_eq!(job.attempts, 0);
    assert!(job.worker.is_none() && job.started_at.is_none() && job.finished_at.is_none());
    let read = repo.get(job.id).await.unwrap();
    assert_eq!(read.id, job.id);
    assert_eq!(read.status, JobStatus::Queued);
    assert_eq!(read.subject_id, Some(subject));
}

/// Every operation on an id nobody created is `NotFound`.
pub async fn an_unknown_job_is_not_found(repo: &dyn JobRepository) {
    let id = JobId::new();
    assert!(matches!(
        repo.get(id).await,
        Err(RepoError::NotFound { .. })
    ));
    assert!(matches!(
        repo.record_result(id, &serde_json::json!({})).await,
        Err(RepoError::NotFound { .. })
    ));
    assert!(matches!(
        repo.request_cancel(id).await,
        Err(RepoError::NotFound { .. })
    ));
}

/// `create_deduplicated` returns the queued job of the same kind and subject, and creates one
/// for another subject or kind.
pub async fn deduplication_returns_the_queued_job_of_the_same_kind_and_subject(
    repo: &dyn JobRepository,
) {
    let subject = Uuid::new_v4();
    let (first, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
    assert!(created);
    let (again, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
    assert!(
        !created,
        "a second request for a queued job creates nothing"
    );
    assert_eq!(again.id, first.id);
    let (other, created) = repo
        .create_deduplicated(ingest(Uuid::new_v4()))
        .await
        .unwrap();
    assert!(
        created && other.id != first.id,
        "another subject is another job"
    );
    let (epg, created) = repo
        .create_deduplicated(NewJob {
            kind: JobKind::IngestEpg,
            subject_id: Some(subject),
        })
        .await
        .unwrap();
    assert!(created && epg.id != first.id, "another kind is another job");
    // A job queued without deduplication is still the queued one.
    let plain = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    let (found, created) = repo
        .create_deduplicated(ingest(plain.subject_id.unwrap()))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(found.id, plain.id);
}

/// Eight callers asking at once for the same job create exactly one (several processes
/// enqueue a scheduled job at the same moment).
pub async fn deduplication_is_atomic_under_concurrent_callers(repo: &dyn JobRepository) {
    let subject = Uuid::new_v4();
    let results =
        futures::future::join_all((0..8).map(|_| repo.create_deduplicated(ingest(subject)))).await;
    let mut ids = Vec::new();
    let mut created = 0;
    for result in results {
        let (job, was_created) = result.unwrap();
        ids.push(job.id);
        created += usize::from(was_created);
    }
    assert_eq!(created, 1, "exactly one caller creates the job");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller gets the same job: {ids:?}");
    let queued = repo
        .list(
            &JobQuery {
                kind: Some(JobKind::IngestStream),
                status: Some(JobStatus::Queued),
            },
            PageRequest::new(100, 0),
        )
        .await
        .unwrap();
    assert_eq!(queued.total, 1);
}

/// Once the queued job is claimed, a new request queues a new job.
pub async fn a_claimed_job_no_longer_deduplicates(repo: &dyn JobRepository) {
    let subject = Uuid::new_v4();
    let (first, _) = repo.create_deduplicated(ingest(subject)).await.unwrap();
    repo.claim(first.id, "w1", minutes(5))
        .await
        .unwrap()
        .expect("claimed");
    let (second, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
    assert!(created, "a running job does not stand for a queued one");
    assert_ne!(second.id, first.id);
    // And after that one is cancelled while queued, a third is queued again.
    repo.request_cancel(second.id).await.unwrap();
    let (third, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
    assert!(created);
    assert_ne!(third.id, second.id);
}

/// A schedule's firing makes one job, however many schedulers ask at once and however late
/// they ask (after the job ran); the next firing makes the next job, and a queued job of the
/// same kind and subject stands for a firing.
pub async fn a_schedule_firing_is_recorded_once_whoever_asks(repo: &dyn JobRepository) {
    let subject = Uuid::new_v4();
    let due = Utc::now() - minutes(1);
    let results =
        futures::future::join_all((0..8).map(|_| repo.create_for_firing(ingest(subject), due)))
            .await;
    let created: Vec<_> = results.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(created.len(), 1, "one job per firing: {created:?}");
    let job = &created[0];
    repo.claim(job.id, "w1", minutes(5)).await.unwrap().unwrap();
    repo.finish(job.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    assert!(
        repo.create_for_firing(ingest(subject), due)
            .await
            .unwrap()
            .is_none(),
        "a scheduler that asks after the job ended does not run the firing again"
    );
    let next = repo
        .create_for_firing(ingest(subject), due + minutes(1))
        .await
        .unwrap()
        .expect("the next firing is a new job");
    assert_ne!(next.id, job.id);
    assert_eq!(next.status, JobStatus::Queued);
    assert!(
        repo.create_for_firing(ingest(subject), due + minutes(2))
            .await
            .unwrap()
            .is_none(),
        "a firing while a job of the same kind and subject is queued adds nothing"
    );
    let (same, created) = repo.create_deduplicated(ingest(subject)).await.unwrap();
    assert!(
        !created,
        "a job a firing queued deduplicates like any other"
    );
    assert_eq!(same.id, next.id);
}

/// A claim sets the job running for its worker and counts the attempt; a second worker's
/// claim while the first is alive gets nothing.
pub async fn only_one_of_two_workers_claims_a_job(repo: &dyn JobRepository) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    let claimed = repo
        .claim(job.id, "w1", minutes(5))
        .await
        .unwrap()
        .expect("the first claim wins");
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.worker.as_deref(), Some("w1"));
    assert!(claimed.started_at.is_some() && claimed.heartbeat_at.is_some());
    assert!(
        repo.claim(job.id, "w2", minutes(5))
            .await
            .unwrap()
            .is_none(),
        "a job whose worker is alive is not claimed again"
    );
    assert_eq!(
        repo.get(job.id).await.unwrap().worker.as_deref(),
        Some("w1")
    );
}

/// A running job whose heartbeat is older than the stale limit (its worker died) is claimed
/// by another worker, as a second attempt.
pub async fn a_stale_running_job_is_claimed_again_with_another_attempt(repo: &dyn JobRepository) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(job.id, "w1", minutes(5)).await.unwrap().unwrap();
    let_time_pass().await;
    let again = repo
        .claim(job.id, "w2", chrono::Duration::milliseconds(1))
        .await
        .unwrap()
        .expect("a stale job is claimed again");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.worker.as_deref(), Some("w2"));
    assert_eq!(again.status, JobStatus::Running);
}

/// A job whose cancellation was requested is not claimed, even when its worker died: it is
/// to be ended, not run again.
pub async fn a_job_whose_cancellation_was_requested_is_never_claimed(repo: &dyn JobRepository) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(job.id, "w1", minutes(5)).await.unwrap().unwrap();
    let flagged = repo.request_cancel(job.id).await.unwrap();
    assert!(flagged.cancel_requested);
    assert_eq!(flagged.status, JobStatus::Running);
    let_time_pass().await;
    assert!(
        repo.claim(job.id, "w2", chrono::Duration::milliseconds(1))
            .await
            .unwrap()
            .is_none(),
        "a stale job with a cancellation request is not run again"
    );
    let queued = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.request_cancel(queued.id).await.unwrap();
    assert!(
        repo.claim(queued.id, "w1", minutes(5))
            .await
            .unwrap()
            .is_none()
    );
}

/// A finished job is never claimed again, however old.
pub async fn an_ended_job_is_never_claimed(repo: &dyn JobRepository) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(job.id, "w1", minutes(5)).await.unwrap().unwrap();
    repo.finish(job.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    let_time_pass().await;
    assert!(
        repo.claim(job.id, "w2", chrono::Duration::milliseconds(1))
            .await
            .unwrap()
            .is_none()
    );
    let ended = repo.get(job.id).await.unwrap();
    assert_eq!(ended.status, JobStatus::Succeeded);
    assert_eq!(ended.attempts, 1);
}

/// Progress is written only while the job runs (a late report of an ended job changes
/// nothing), refreshes the heartbeat, and answers whether cancellation was requested.
pub async fn progress_is_recorded_only_while_running_and_reports_cancellation(
    repo: &dyn JobRepository,
) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    let claimed = repo.claim(job.id, "w1", minutes(5)).await.unwrap().unwrap();
    let_time_pass().await;
    let progress = JobProgress {
        stage: "parsing".into(),
        done: 40,
        total: Some(100),
        records: Some(12),
    };
    assert!(!repo.report_progress(job.id, &progress).await.unwrap());
    let read = repo.get(job.id).await.unwrap();
    assert_eq!(read.progress, progress);
    assert!(
        read.heartbeat_at > claimed.heartbeat_at,
        "the heartbeat moved"
    );
    repo.request_cancel(job.id).await.unwrap();
    assert!(
        repo.report_progress(job.id, &progress).await.unwrap(),
        "the worker learns of the cancellation from its next report"
    );
    repo.finish(job.id, JobStatus::Cancelled, None)
        .await
        .unwrap();
    let late = JobProgress {
        stage: "storing".into(),
        done: 99,
        total: Some(100),
        records: None,
    };
    repo.report_progress(job.id, &late).await.unwrap();
    assert_eq!(repo.get(job.id).await.unwrap().progress, progress);
}

/// What a job produced is stored as given.
pub async fn a_result_is_stored_and_read_back(repo: &dyn JobRepository) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    let result = serde_json::json!({"channels": 12, "stages": [{"stage": "parse", "ms": 3}]});
    repo.record_result(job.id, &result).await.unwrap();
    assert_eq!(repo.get(job.id).await.unwrap().result, Some(result));
}

/// `finish` takes a terminal status only, and ends a job once: finishing an ended job is a
/// conflict and leaves it as it ended.
pub async fn finishing_needs_a_terminal_status_and_happens_once(repo: &dyn JobRepository) {
    let job = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(job.id, "w1", minutes(5)).await.unwrap().unwrap();
    assert!(matches!(
        repo.finish(job.id, JobStatus::Running, None).await,
        Err(RepoError::Conflict(_))
    ));
    let failed = repo
        .finish(
            job.id,
            JobStatus::Failed,
            Some("provider answered 503".into()),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("provider answered 503"));
    assert!(failed.finished_at.is_some());
    assert!(matches!(
        repo.finish(job.id, JobStatus::Succeeded, None).await,
        Err(RepoError::Conflict(_))
    ));
    let read = repo.get(job.id).await.unwrap();
    assert_eq!(read.status, JobStatus::Failed);
    assert_eq!(read.error.as_deref(), Some("provider answered 503"));
}

/// Cancelling a queued job ends it at once; cancelling a running one only flags it for its
/// worker; cancelling an ended job changes nothing.
pub async fn cancelling_a_queued_job_ends_it_and_a_running_one_is_flagged(
    repo: &dyn JobRepository,
) {
    let queued = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    let cancelled = repo.request_cancel(queued.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.cancel_requested && cancelled.finished_at.is_some());

    let running = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(running.id, "w1", minutes(5))
        .await
        .unwrap()
        .unwrap();
    let flagged = repo.request_cancel(running.id).await.unwrap();
    assert_eq!(flagged.status, JobStatus::Running);
    assert!(flagged.cancel_requested && flagged.finished_at.is_none());

    let done = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(done.id, "w1", minutes(5))
        .await
        .unwrap()
        .unwrap();
    repo.finish(done.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    let after = repo.request_cancel(done.id).await.unwrap();
    assert_eq!(after.status, JobStatus::Succeeded);
}

/// `stale(before)` lists the running jobs whose heartbeat is older than `before`, and no
/// queued or ended ones.
pub async fn stale_lists_running_jobs_with_old_heartbeats(repo: &dyn JobRepository) {
    let running = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(running.id, "w1", minutes(5))
        .await
        .unwrap()
        .unwrap();
    let ended = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    repo.claim(ended.id, "w1", minutes(5))
        .await
        .unwrap()
        .unwrap();
    repo.finish(ended.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    let queued = repo.create(ingest(Uuid::new_v4())).await.unwrap();
    let_time_pass().await;
    let now = Utc::now();
    let stale: Vec<JobId> = repo
        .stale(now)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        stale,
        vec![running.id],
        "queued {} and ended {} are not stale",
        queued.id,
        ended.id
    );
    assert!(
        repo.stale(now - minutes(10)).await.unwrap().is_empty(),
        "a heartbeat newer than `before` is not stale"
    );
}

/// `list` filters by kind and status, orders newest first, counts the total and pages.
pub async fn list_filters_and_pages_newest_first(repo: &dyn JobRepository) {
    let mut ingests = Vec::new();
    for _ in 0..3 {
        ingests.push(repo.create(ingest(Uuid::new_v4())).await.unwrap().id);
        let_time_pass().await;
    }
    let generation = repo
        .create(NewJob {
            kind: JobKind::GenerateProxy,
            subject_id: Some(Uuid::new_v4()),
        })
        .await
        .unwrap();
    repo.claim(ingests[0], "w1", minutes(5))
        .await
        .unwrap()
        .unwrap();

    let all = repo
        .list(&JobQuery::default(), PageRequest::new(100, 0))
        .await
        .unwrap();
    assert_eq!(all.total, 4);
    let newest_first: Vec<JobId> = all.items.iter().map(|j| j.id).collect();
    assert_eq!(
        newest_first,
        vec![generation.id, ingests[2], ingests[1], ingests[0]]
    );
    let queued_ingests = repo
        .list(
            &JobQuery {
                kind: Some(JobKind::IngestStream),
                status: Some(JobStatus::Queued),
            },
            PageRequest::new(1, 1),
        )
        .await
        .unwrap();
    assert_eq!(queued_ingests.total, 2, "the total ignores the page");
    assert_eq!(
        queued_ingests
            .items
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec![ingests[1]]
    );
}
