//! Cron scheduling and job events.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::TestJobs;

use async_trait::async_trait;
use chrono::Timelike;
use tokio_util::sync::CancellationToken;
use tvarr_core::{JobKind, JobProgress, JobRepository, JobStatus, NewJob};
use tvarr_jobs::{
    CronScheduler, HandlerRegistry, JobControl, JobError, JobEvents, JobHandler, JobScheduler,
    Queue, QueueConfig, ScheduleProvider, WorkerRuntime,
};
use tvarr_testkit::ManualClock;
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
    async fn run(&self, _job: &tvarr_core::Job, _ctx: Arc<dyn JobControl>) -> Result<(), JobError> {
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

/// A clock standing at a whole second, so an every-second schedule is due one second on.
fn clock() -> Arc<ManualClock> {
    let now = chrono::Utc::now().with_nanosecond(0).unwrap();
    Arc::new(ManualClock::new(now))
}

fn cron(
    repo: &Arc<dyn JobRepository>,
    queue: Queue,
    provider: Arc<dyn ScheduleProvider>,
    clock: &Arc<ManualClock>,
) -> CronScheduler {
    CronScheduler::new(JobScheduler::new(repo.clone(), queue), provider)
        .with_min_interval(Duration::ZERO)
        .with_clock(clock.clone())
}

/// Moves the clock on by a second and waits for the `schedulers` to have acted on it.
async fn tick(clock: &ManualClock, schedulers: usize) {
    clock.advance(Duration::from_secs(1));
    clock.wait_for_sleepers(schedulers).await;
}

/// Waits until there are `count` jobs and every one of them has ended.
async fn wait_all_ended(jobs: &TestJobs, count: usize) -> Vec<tvarr_core::Job> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = jobs.all().await;
        if all.len() >= count && all.iter().all(|j| j.status.is_terminal()) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs did not all end: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_in_two_processes_queue_one_job_while_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let subject = Uuid::now_v7();
    let clock = clock();
    let shutdown = CancellationToken::new();
    for _ in 0..2 {
        let cron = cron(
            &repo,
            sqlite_queue(&dir).await,
            every_second(subject),
            &clock,
        );
        tokio::spawn(cron.run(shutdown.clone()));
    }
    clock.wait_for_sleepers(2).await;
    // No worker: the first job stays queued, and every later firing finds it.
    for _ in 0..3 {
        tick(&clock, 2).await;
    }
    shutdown.cancel();
    let jobs = jobs.all().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].status, JobStatus::Queued);
    assert_eq!(jobs[0].subject_id, Some(subject));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_schedule_queues_a_job_per_firing_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let subject = Uuid::now_v7();
    let clock = clock();
    let shutdown = CancellationToken::new();
    let worker = quick_worker(sqlite_queue(&dir).await, repo.clone(), &shutdown);
    for _ in 0..2 {
        let cron = cron(
            &repo,
            sqlite_queue(&dir).await,
            every_second(subject),
            &clock,
        );
        tokio::spawn(cron.run(shutdown.clone()));
    }
    clock.wait_for_sleepers(2).await;
    // Each firing's job ends before the next firing, so neither scheduler skips one for a
    // running job, and the slower scheduler of each firing finds the job done: it must still
    // not queue it again.
    for firing in 1..=4 {
        tick(&clock, 2).await;
        wait_all_ended(&jobs, firing).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let jobs = jobs.all().await;
    assert_eq!(jobs.len(), 4, "one job per firing, four firings: {jobs:?}");
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Succeeded),
        "{jobs:?}"
    );
}

#[tokio::test]
async fn invalid_schedules_are_ignored_and_valid_ones_still_fire() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
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
    let clock = clock();
    let shutdown = CancellationToken::new();
    tokio::spawn(cron(&repo, sqlite_queue(&dir).await, provider, &clock).run(shutdown.clone()));
    clock.wait_for_sleepers(1).await;
    tick(&clock, 1).await;
    tick(&clock, 1).await;
    shutdown.cancel();
    let jobs = jobs.all().await;
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
    repo: Arc<dyn JobRepository>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<Result<(), tvarr_jobs::JobsError>> {
    let registry = HandlerRegistry::new().with(JobKind::IngestEpg, Quick);
    let runtime = WorkerRuntime::new(queue, repo, registry, "w");
    tokio::spawn(runtime.serve(shutdown.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_schedule_queues_nothing_even_before_the_next_reload() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let subject = Uuid::now_v7();
    let clock = clock();
    let shutdown = CancellationToken::new();
    let worker = quick_worker(sqlite_queue(&dir).await, repo.clone(), &shutdown);
    let provider = Arc::new(Deletable(std::sync::Mutex::new(
        every_second(subject).0.clone(),
    )));
    // Another process deletes the source: this scheduler is not told, and reloads only
    // every minute.
    tokio::spawn(
        cron(&repo, sqlite_queue(&dir).await, provider.clone(), &clock).run(shutdown.clone()),
    );
    clock.wait_for_sleepers(1).await;
    tick(&clock, 1).await;
    assert_eq!(
        wait_all_ended(&jobs, 1).await.len(),
        1,
        "the schedule fired once"
    );
    provider.delete_all();
    for _ in 0..3 {
        tick(&clock, 1).await;
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    let jobs = jobs.all().await;
    assert_eq!(jobs.len(), 1, "jobs queued after deletion: {jobs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_drops_a_deleted_schedule_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let subject = Uuid::now_v7();
    let clock = clock();
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
    let cron = cron(
        &repo,
        sqlite_queue(&dir).await,
        Arc::new(Listed(schedules.clone())),
        &clock,
    );
    let refresh = cron.refresher();
    tokio::spawn(cron.run(shutdown.clone()));
    clock.wait_for_sleepers(1).await;
    tick(&clock, 1).await;
    assert_eq!(
        wait_all_ended(&jobs, 1).await.len(),
        1,
        "the schedule fired once"
    );
    schedules.lock().unwrap().clear();
    let mark = clock.sleeps();
    refresh.refresh();
    clock.wait_for_sleep_since(mark).await;
    for _ in 0..3 {
        tick(&clock, 1).await;
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    let jobs = jobs.all().await;
    assert_eq!(jobs.len(), 1, "jobs queued after the refresh: {jobs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_firing_too_often_is_clamped_to_the_minimum_interval() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let subject = Uuid::now_v7();
    let clock = clock();
    let shutdown = CancellationToken::new();
    let worker = quick_worker(sqlite_queue(&dir).await, repo.clone(), &shutdown);
    // `* * * * * *` as stored by an older version, before the API refused it.
    let cron = cron(
        &repo,
        sqlite_queue(&dir).await,
        every_second(subject),
        &clock,
    )
    .with_min_interval(Duration::from_secs(2));
    tokio::spawn(cron.run(shutdown.clone()));
    clock.wait_for_sleepers(1).await;
    // Five seconds, each firing's job ended before the next second: due at 1 s, 3 s and 5 s.
    let mut counts = Vec::new();
    for _ in 0..5 {
        tick(&clock, 1).await;
        let ended = wait_all_ended(&jobs, counts.last().copied().unwrap_or(0)).await;
        counts.push(ended.len());
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    assert_eq!(
        counts,
        vec![1, 1, 2, 2, 3],
        "jobs after each second, with a 2 s minimum"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_not_fired_while_its_previous_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
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
    let clock = clock();
    let shutdown = CancellationToken::new();
    tokio::spawn(
        cron(
            &repo,
            sqlite_queue(&dir).await,
            every_second(subject),
            &clock,
        )
        .run(shutdown.clone()),
    );
    clock.wait_for_sleepers(1).await;
    tick(&clock, 1).await;
    tick(&clock, 1).await;
    shutdown.cancel();
    let jobs = jobs.all().await;
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
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let events = JobEvents::new(64);
    let mut rx = events.subscribe();
    let shutdown = CancellationToken::new();
    // Returns once the table as it stands is the baseline: the job below is a change.
    let poller = events
        .poll_repository(repo.clone(), Duration::from_millis(50), shutdown.clone())
        .await;

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
