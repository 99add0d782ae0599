//! Job records: what people see of background work, and the claim that makes one worker own a
//! job.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tvarr_core::{
    Job, JobId, JobKind, JobProgress, JobQuery, JobRepository, JobStatus, NewJob, Page,
    PageRequest, RepoError, RepoResult,
};

use crate::db::{Db, micros, not_found, now, parse_enum, parse_id, to_i64, to_u32, to_u64};
use crate::entity::job;
use crate::error::{corrupt, is_unique_violation, repo_err};

/// Job records on the database: implements [`JobRepository`].
///
/// [`JobRepository::claim`] is one conditional `UPDATE` (queued, or running with a heartbeat
/// older than the stale limit) whose affected-row count says who won, so it is atomic across
/// worker processes on every database.
///
/// [`JobRepository::create_deduplicated`] is atomic across processes too: a deduplicated job
/// carries `queued_key` (`<kind>:<subject>`) under a unique index while it is queued, and
/// leaving the queue (claim, cancel, finish) clears it.
#[derive(Clone, Debug)]
pub struct Jobs {
    db: Db,
}

impl Jobs {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// The oldest queued job of the kind and subject of `new`.
    async fn queued_like(&self, new: &NewJob) -> RepoResult<Option<job::Model>> {
        job::Entity::find()
            .filter(job::Column::Kind.eq(new.kind.as_str()))
            .filter(match new.subject_id {
                Some(subject) => job::Column::SubjectId.eq(subject.to_string()),
                None => job::Column::SubjectId.is_null(),
            })
            .filter(job::Column::Status.eq(JobStatus::Queued.as_str()))
            .order_by_asc(job::Column::CreatedAt)
            .one(&self.db.conn)
            .await
            .map_err(repo_err)
    }

    async fn find(&self, id: JobId) -> RepoResult<job::Model> {
        job::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("job", id))
    }
}

fn job_from_model(m: job::Model) -> RepoResult<Job> {
    Ok(Job {
        id: parse_id("job id", &m.id)?,
        kind: parse_enum("job kind", &m.kind, JobKind::parse)?,
        subject_id: m
            .subject_id
            .as_deref()
            .map(|s| parse_id("job subject id", s))
            .transpose()?,
        status: parse_enum("job status", &m.status, JobStatus::parse)?,
        progress: JobProgress {
            stage: m.stage,
            done: to_u64(m.done),
            total: m.total.map(to_u64),
            records: m.records.map(to_u64),
        },
        error: m.error,
        result: m
            .result
            .as_deref()
            .map(|r| serde_json::from_str(r).map_err(|_| corrupt("job result", r)))
            .transpose()?,
        cancel_requested: m.cancel_requested,
        attempts: to_u32("job attempts", i64::from(m.attempts))?,
        worker: m.worker,
        created_at: m.created_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
        heartbeat_at: m.heartbeat_at,
    })
}

/// The row of a new queued job; `queued_key` is set for a deduplicated one.
fn new_model(new: NewJob, queued_key: Option<String>, firing_key: Option<String>) -> job::Model {
    job::Model {
        id: JobId::new().to_string(),
        kind: new.kind.as_str().to_owned(),
        subject_id: new.subject_id.map(|s| s.to_string()),
        status: JobStatus::Queued.as_str().to_owned(),
        stage: String::new(),
        done: 0,
        total: None,
        records: None,
        error: None,
        result: None,
        cancel_requested: false,
        attempts: 0,
        worker: None,
        created_at: now(),
        started_at: None,
        finished_at: None,
        heartbeat_at: None,
        queued_key,
        firing_key,
    }
}

/// What makes two queued jobs the same one: their kind and subject.
fn queued_key(new: &NewJob) -> String {
    match new.subject_id {
        Some(subject) => format!("{}:{subject}", new.kind.as_str()),
        None => format!("{}:", new.kind.as_str()),
    }
}

/// `queued_key` set to NULL: the job has left the queue.
fn no_queued_key() -> Expr {
    Expr::value(Option::<String>::None)
}

#[async_trait]
impl JobRepository for Jobs {
    async fn create(&self, new: NewJob) -> RepoResult<Job> {
        let model = new_model(new, None, None);
        job::Entity::insert(job::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(repo_err)?;
        job_from_model(model)
    }

    async fn create_deduplicated(&self, new: NewJob) -> RepoResult<(Job, bool)> {
        let key = queued_key(&new);
        // A lost race is seen as a unique violation; the winner's job is then found by the
        // look that starts the next round. It can leave the queue in between (a worker claims
        // it), so a few rounds are allowed before giving up.
        for _ in 0..4 {
            if let Some(existing) = self.queued_like(&new).await? {
                return Ok((job_from_model(existing)?, false));
            }
            let model = new_model(new.clone(), Some(key.clone()), None);
            match job::Entity::insert(job::ActiveModel::from(model.clone()))
                .exec_without_returning(&self.db.conn)
                .await
            {
                Ok(_) => return Ok((job_from_model(model)?, true)),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(repo_err(e)),
            }
        }
        Err(RepoError::Unavailable(format!(
            "could not queue a {} job: the queued one kept changing",
            new.kind.as_str()
        )))
    }

    async fn create_for_firing(&self, new: NewJob, due: DateTime<Utc>) -> RepoResult<Option<Job>> {
        if self.queued_like(&new).await?.is_some() {
            return Ok(None);
        }
        let queued = queued_key(&new);
        let firing = format!("{queued}:{}", due.timestamp_millis());
        // The queued key as well: a job queued meanwhile by another request wins, and a later
        // request finds this one.
        let model = new_model(new, Some(queued), Some(firing));
        match job::Entity::insert(job::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
        {
            Ok(_) => Ok(Some(job_from_model(model)?)),
            // This firing was recorded by another scheduler, or a job of its kind and subject
            // was queued in between: either way there is nothing to add.
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(repo_err(e)),
        }
    }

    async fn get(&self, id: JobId) -> RepoResult<Job> {
        job_from_model(self.find(id).await?)
    }

    async fn list(&self, query: &JobQuery, page: PageRequest) -> RepoResult<Page<Job>> {
        let mut select = job::Entity::find();
        if let Some(kind) = query.kind {
            select = select.filter(job::Column::Kind.eq(kind.as_str()));
        }
        if let Some(status) = query.status {
            select = select.filter(job::Column::Status.eq(status.as_str()));
        }
        let total = select
            .clone()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = select
            .order_by_desc(job::Column::CreatedAt)
            .order_by_desc(job::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(job_from_model)
            .collect::<RepoResult<_>>()?;
        Ok(Page { items, total })
    }

    async fn claim(
        &self,
        id: JobId,
        worker: &str,
        stale_after: chrono::Duration,
    ) -> RepoResult<Option<Job>> {
        let at = now();
        let stale_before = at - stale_after;
        let claimable = Condition::any()
            .add(job::Column::Status.eq(JobStatus::Queued.as_str()))
            .add(
                Condition::all()
                    .add(job::Column::Status.eq(JobStatus::Running.as_str()))
                    .add(job::Column::HeartbeatAt.lt(stale_before)),
            );
        let result = job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Running.as_str()),
            )
            .col_expr(job::Column::Worker, Expr::value(worker))
            .col_expr(
                job::Column::Attempts,
                Expr::col(job::Column::Attempts).add(1),
            )
            .col_expr(job::Column::StartedAt, Expr::value(at))
            .col_expr(job::Column::HeartbeatAt, Expr::value(at))
            .col_expr(job::Column::QueuedKey, no_queued_key())
            .filter(job::Column::Id.eq(id.to_string()))
            .filter(job::Column::CancelRequested.eq(false))
            .filter(claimable)
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let job = job_from_model(self.find(id).await?)?;
        Ok((result.rows_affected == 1).then_some(job))
    }

    async fn report_progress(&self, id: JobId, progress: &JobProgress) -> RepoResult<bool> {
        job::Entity::update_many()
            .col_expr(job::Column::Stage, Expr::value(progress.stage.as_str()))
            .col_expr(job::Column::Done, Expr::value(to_i64(progress.done)))
            .col_expr(job::Column::Total, Expr::value(progress.total.map(to_i64)))
            .col_expr(
                job::Column::Records,
                Expr::value(progress.records.map(to_i64)),
            )
            .col_expr(job::Column::HeartbeatAt, Expr::value(now()))
            .filter(job::Column::Id.eq(id.to_string()))
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let model = self.find(id).await?;
        Ok(model.cancel_requested || model.status == JobStatus::Cancelled.as_str())
    }

    async fn record_result(&self, id: JobId, result: &serde_json::Value) -> RepoResult<()> {
        let json = serde_json::to_string(result)
            .map_err(|e| RepoError::Conflict(format!("job result cannot be stored: {e}")))?;
        let updated = job::Entity::update_many()
            .col_expr(job::Column::Result, Expr::value(json))
            .filter(job::Column::Id.eq(id.to_string()))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if updated.rows_affected == 0 {
            return Err(not_found("job", id));
        }
        Ok(())
    }

    async fn finish(&self, id: JobId, status: JobStatus, error: Option<String>) -> RepoResult<Job> {
        if !status.is_terminal() {
            return Err(RepoError::Conflict(format!(
                "a job cannot finish as {}",
                status.as_str()
            )));
        }
        let at = now();
        let result = job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(status.as_str()))
            .col_expr(job::Column::Error, Expr::value(error))
            .col_expr(job::Column::FinishedAt, Expr::value(at))
            .col_expr(job::Column::QueuedKey, no_queued_key())
            .filter(job::Column::Id.eq(id.to_string()))
            .filter(
                job::Column::Status
                    .is_in([JobStatus::Queued.as_str(), JobStatus::Running.as_str()]),
            )
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let job = job_from_model(self.find(id).await?)?;
        if result.rows_affected == 0 {
            return Err(RepoError::Conflict(format!(
                "job {id} already ended as {}",
                job.status.as_str()
            )));
        }
        Ok(job)
    }

    async fn request_cancel(&self, id: JobId) -> RepoResult<Job> {
        let at = now();
        job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Cancelled.as_str()),
            )
            .col_expr(job::Column::CancelRequested, Expr::value(true))
            .col_expr(job::Column::FinishedAt, Expr::value(at))
            .col_expr(job::Column::QueuedKey, no_queued_key())
            .filter(job::Column::Id.eq(id.to_string()))
            .filter(job::Column::Status.eq(JobStatus::Queued.as_str()))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        job::Entity::update_many()
            .col_expr(job::Column::CancelRequested, Expr::value(true))
            .filter(job::Column::Id.eq(id.to_string()))
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        self.get(id).await
    }

    async fn stale(&self, before: DateTime<Utc>) -> RepoResult<Vec<Job>> {
        job::Entity::find()
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .filter(job::Column::HeartbeatAt.lt(micros(before)))
            .order_by_asc(job::Column::HeartbeatAt)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(job_from_model)
            .collect()
    }
}
