//! Cron scheduling and job events.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Timelike;
use tokio_util::sync::CancellationToken;
use tvarr_core::{JobKind, JobProgress, JobRepository, JobStatus, NewJob};
use tvarr_jobs::{
    CronScheduler, HandlerRegistry, JobContext, JobError, JobEvents, JobHandler, JobScheduler,
    MemoryJobRepository, Queue, QueueConfig, ScheduleProvider, WorkerOptions, WorkerRuntime,
};
use uuid::Uuid;

struct Fixed(Vec<(NewJob, String)>);

#[async_trait]
impl ScheduleProvider for Fixed {
    async fn schedules(&self) -> Vec<(NewJob, String)> {
        self.0.clone()
    }
}

struct Quick;

#[async_trait]
impl JobHandler for Quick {
    async fn run(&self, _job: &tvarr_core::Job, _ctx: JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

async fn sqlite_queue(dir: &tempfile::TempDir) -> Queue {
    let config = QueueConfig::sqlite_in(dir.path()).with_poll_interval(Duration::from_millis(100));
    Queue::connect(&config).await.unwrap()
}

fn every_second(subject: Uuid) -> Arc<Fixed> {
    Arc::new(Fixed(vec![(
        NewJob {
            kind: JobKind::IngestEpg,
            subject_id: Some(subject),
        },
        "* * * * * *".to_owned(),
    )]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_in_two_processes_queue_one_job_while_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let subject = Uuid::now_v7();
    let shutdown = CancellationToken::new();
    for _ in 0..2 {
        let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
        let cron =
            CronScheduler::new(scheduler, every_second(subject)).with_min_interval(Duration::ZERO);
        tokio::spawn(cron.run(shutdown.clone()));
    }
    // No worker: the first job stays queued, and every later firing finds it.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    shutdown.cancel();
    let jobs = repo.all();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].status, JobStatus::Queued);
    assert_eq!(jobs[0].subject_id, Some(subject));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_schedule_queues_a_job_per_firing_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let subject = Uuid::now_v7();
    let shutdown = CancellationToken::new();
    let registry = HandlerRegistry::new().with(JobKind::IngestEpg, Quick);
    let runtime = WorkerRuntime::new(sqlite_queue(&dir).await, repo.clone(), registry, "w")
        .with_options(WorkerOptions {
            stale_after: Duration::from_secs(2),
            ..WorkerOptions::default()
        });
    let worker = tokio::spawn(runtime.serve(shutdown.clone()));
    for _ in 0..2 {
        let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
        let cron =
            CronScheduler::new(scheduler, every_second(subject)).with_min_interval(Duration::ZERO);
        tokio::spawn(cron.run(shutdown.clone()));
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let jobs = repo.all();
    assert!(
        jobs.len() >= 2,
        "an every-second schedule fired {} times",
        jobs.len()
    );
    let mut seconds: Vec<_> = jobs
        .iter()
        .map(|j| j.created_at.with_nanosecond(0).unwrap())
        .collect();
    seconds.sort();
    let before = seconds.len();
    seconds.dedup();
    assert_eq!(seconds.len(), before, "two jobs for one firing: {jobs:?}");
    assert!(jobs.iter().any(|j| j.status == JobStatus::Succeeded));
}

#[tokio::test]
async fn invalid_schedules_are_ignored_and_valid_ones_still_fire() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let provider = Arc::new(Fixed(vec![
        (
            NewJob {
                kind: JobKind::Cleanup,
                subject_id: None,
            },
            "not a schedule".into(),
        ),
        (
            NewJob {
                kind: JobKind::CacheLogos,
                subject_id: None,
            },
            "* * * * * *".into(),
        ),
    ]));
    let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
    let shutdown = CancellationToken::new();
    tokio::spawn(
        CronScheduler::new(scheduler, provider)
            .with_min_interval(Duration::ZERO)
            .run(shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    shutdown.cancel();
    let jobs = repo.all();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].kind, JobKind::CacheLogos);
}

/// Schedules that can be deleted, as sources are: `is_current` reads the same list, as the
/// binaries' provider reads the database.
struct Deletable(std::sync::Mutex<Vec<(NewJob, String)>>);

impl Deletable {
    fn delete_all(&self) {
        self.0.lock().unwrap().clear();
    }
}

#[async_trait]
impl ScheduleProvider for Deletable {
    async fn schedules(&self) -> Vec<(NewJob, String)> {
        self.0.lock().unwrap().clone()
    }
    async fn is_current(&self, job: &NewJob, expr: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(j, e)| j == job && e == expr)
    }
}

/// A worker that finishes every job at once, so each firing makes a new job.
fn quick_worker(
    queue: Queue,
    repo: Arc<MemoryJobRepository>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<Result<(), tvarr_jobs::JobsError>> {
    let registry = HandlerRegistry::new().with(JobKind::IngestEpg, Quick);
    let runtime = WorkerRuntime::new(queue, repo, registry, "w");
    tokio::spawn(runtime.serve(shutdown.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_schedule_queues_nothing_even_before_the_next_reload() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let subject = Uuid::now_v7();
    let shutdown = CancellationToken::new();
    let worker = quick_worker(sqlite_queue(&dir).await, repo.clone(), &shutdown);
    let provider = Arc::new(Deletable(std::sync::Mutex::new(
        every_second(subject).0.clone(),
    )));
    // Another process deletes the source: this scheduler is not told, and reloads only
    // every minute.
    let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
    let cron = CronScheduler::new(scheduler, provider.clone()).with_min_interval(Duration::ZERO);
    tokio::spawn(cron.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!repo.all().is_empty(), "the schedule never fired");
    provider.delete_all();
    let deleted_at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    let late: Vec<_> = repo
        .all()
        .into_iter()
        .filter(|j| j.created_at > deleted_at)
        .collect();
    assert!(late.is_empty(), "jobs queued after deletion: {late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_drops_a_deleted_schedule_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let subject = Uuid::now_v7();
    let shutdown = CancellationToken::new();
    let worker = quick_worker(sqlite_queue(&dir).await, repo.clone(), &shutdown);
    // A provider that cannot tell whether a schedule stands: only the refresh stops it.
    let schedules = Arc::new(std::sync::Mutex::new(every_second(subject).0.clone()));
    struct Listed(Arc<std::sync::Mutex<Vec<(NewJob, String)>>>);
    #[async_trait]
    impl ScheduleProvider for Listed {
        async fn schedules(&self) -> Vec<(NewJob, String)> {
            self.0.lock().unwrap().clone()
        }
    }
    let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
    let cron = CronScheduler::new(scheduler, Arc::new(Listed(schedules.clone())))
        .with_min_interval(Duration::ZERO);
    let refresh = cron.refresher();
    tokio::spawn(cron.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!repo.all().is_empty(), "the schedule never fired");
    schedules.lock().unwrap().clear();
    refresh.refresh();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deleted_at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    let late: Vec<_> = repo
        .all()
        .into_iter()
        .filter(|j| j.created_at > deleted_at)
        .collect();
    assert!(late.is_empty(), "jobs queued after the refresh: {late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_firing_too_often_is_clamped_to_the_minimum_interval() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let subject = Uuid::now_v7();
    let shutdown = CancellationToken::new();
    let worker = quick_worker(sqlite_queue(&dir).await, repo.clone(), &shutdown);
    // `* * * * * *` as stored by an older version, before the API refused it.
    let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
    let cron = CronScheduler::new(scheduler, every_second(subject))
        .with_min_interval(Duration::from_secs(2));
    tokio::spawn(cron.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(5200)).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    let mut created: Vec<_> = repo.all().into_iter().map(|j| j.created_at).collect();
    created.sort();
    assert!(
        (2..=3).contains(&created.len()),
        "{} jobs in 5 s with a 2 s minimum: {created:?}",
        created.len()
    );
    for pair in created.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= chrono::Duration::milliseconds(1900), "{created:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_not_fired_while_its_previous_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(MemoryJobRepository::new());
    let subject = Uuid::now_v7();
    let running = repo
        .create(NewJob {
            kind: JobKind::IngestEpg,
            subject_id: Some(subject),
        })
        .await
        .unwrap();
    repo.claim(running.id, "another worker", chrono::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    let shutdown = CancellationToken::new();
    let scheduler = JobScheduler::new(repo.clone(), sqlite_queue(&dir).await);
    let cron =
        CronScheduler::new(scheduler, every_second(subject)).with_min_interval(Duration::ZERO);
    tokio::spawn(cron.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    shutdown.cancel();
    let jobs = repo.all();
    assert_eq!(jobs.len(), 1, "a second ingest was queued: {jobs:?}");
}

async fn next(rx: &mut tokio::sync::broadcast::Receiver<tvarr_jobs::JobEvent>) -> tvarr_core::Job {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .job
}

#[tokio::test]
async fn polling_the_jobs_table_emits_changes() {
    let repo = Arc::new(MemoryJobRepository::new());
    let events = JobEvents::new(64);
    let mut rx = events.subscribe();
    let shutdown = CancellationToken::new();
    let poller = events.poll_repository(repo.clone(), Duration::from_millis(50), shutdown.clone());
    tokio::time::sleep(Duration::from_millis(150)).await;

    let job = repo
        .create(NewJob {
            kind: JobKind::GenerateProxy,
            subject_id: Some(Uuid::now_v7()),
        })
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.status, JobStatus::Queued);
    repo.claim(job.id, "w", chrono::Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut rx).await.status, JobStatus::Running);
    let progress = JobProgress {
        stage: "writing".into(),
        done: 7,
        total: Some(9),
        records: None,
    };
    repo.report_progress(job.id, &progress).await.unwrap();
    assert_eq!(next(&mut rx).await.progress, progress);
    repo.finish(job.id, JobStatus::Succeeded, None)
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.status, JobStatus::Succeeded);
    shutdown.cancel();
    poller.await.unwrap();
}
