//! The job store's contract (`tvarr_testkit::job_store`), on the database the suite runs on:
//! each test gets a new database (a SQLite file, or a fresh database on the PostgreSQL or
//! MariaDB server named by `TVARR_TEST_DATABASE_URL`).

use tvarr_storage::Store;
use tvarr_testkit::{JobStore, job_repository_contract, test_database_url};

async fn fresh_store() -> JobStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&test_database_url(dir.path()).await)
        .await
        .unwrap();
    JobStore {
        repo: store.repositories().jobs,
        keep: Box::new((store, dir)),
    }
}

job_repository_contract!(fresh_store);
