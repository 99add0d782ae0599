//! The job store the runtime tests use: the real one, on a new database (a SQLite file, or a
//! fresh database on the PostgreSQL or MariaDB server of `TVARR_TEST_DATABASE_URL`).

use std::sync::Arc;

use tvarr_core::{Job, JobQuery, JobRepository, PageRequest};
use tvarr_storage::Store;

/// A fresh job store, kept open as long as this lives.
pub struct TestJobs {
    repo: Arc<dyn JobRepository>,
    _store: Store,
    _dir: tempfile::TempDir,
}

impl TestJobs {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&tvarr_testkit::test_database_url(dir.path()).await)
            .await
            .unwrap();
        Self {
            repo: store.repositories().jobs,
            _store: store,
            _dir: dir,
        }
    }

    /// The store, as the runtime takes it.
    pub fn repo(&self) -> Arc<dyn JobRepository> {
        self.repo.clone()
    }

    /// Every job, oldest first.
    pub async fn all(&self) -> Vec<Job> {
        let mut jobs = self
            .repo
            .list(
                &JobQuery::default(),
                PageRequest::new(PageRequest::MAX_LIMIT, 0),
            )
            .await
            .unwrap()
            .items;
        jobs.reverse();
        jobs
    }
}

impl std::ops::Deref for TestJobs {
    type Target = dyn JobRepository;
    fn deref(&self) -> &Self::Target {
        self.repo.as_ref()
    }
}
