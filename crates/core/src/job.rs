//! Background jobs: their kinds, states and progress.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::id::JobId;

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobKind {
    /// Ingest a stream source; the subject is its id.
    IngestStream,
    /// Ingest an EPG source; the subject is its id.
    IngestEpg,
    /// Generate a proxy; the subject is its id.
    GenerateProxy,
    /// Fetch and cache logos.
    CacheLogos,
    /// Remove stale data and files.
    Cleanup,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 5] = [
        JobKind::IngestStream,
        JobKind::IngestEpg,
        JobKind::GenerateProxy,
        JobKind::CacheLogos,
        JobKind::Cleanup,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::IngestStream => "ingest_stream",
            JobKind::IngestEpg => "ingest_epg",
            JobKind::GenerateProxy => "generate_proxy",
            JobKind::CacheLogos => "cache_logos",
            JobKind::Cleanup => "cleanup",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is on it.
    Running,
    /// Done.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Cancelled before it ended.
    Cancelled,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// How far a job has come.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobProgress {
    /// The stage it is in (`fetching`, `parsing`, `storing`, …).
    pub stage: String,
    /// Units done in this stage (bytes or records).
    pub done: u64,
    /// Units in this stage, when known.
    pub total: Option<u64>,
    /// Records handled so far (an ingest's channels or programmes), for jobs that count them:
    /// `done`/`total` then stay free for bytes.
    #[serde(default)]
    pub records: Option<u64>,
}

/// A job to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// What it does.
    pub kind: JobKind,
    /// The record it works on (a source or proxy id).
    pub subject_id: Option<Uuid>,
}

/// A unit of background work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// The record it works on.
    pub subject_id: Option<Uuid>,
    /// Where it is.
    pub status: JobStatus,
    /// How far it has come.
    pub progress: JobProgress,
    /// Why it failed.
    pub error: Option<String>,
    /// What it produced (a generation's stage reports and counts), once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Whether someone asked to cancel it.
    pub cancel_requested: bool,
    /// How many times a worker started it.
    pub attempts: u32,
    /// The worker running it.
    pub worker: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Started (the latest attempt).
    pub started_at: Option<DateTime<Utc>>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last sign of life from its worker.
    pub heartbeat_at: Option<DateTime<Utc>>,
}
