//! Regenerating proxies when their sources change: a successful ingest marks its source, and
//! once no ingest has finished for the debounce time, every proxy that uses a marked source
//! gets one generation queued. Several ingests finishing together (a cron schedule shared by
//! many sources) therefore cause one generation per proxy, not one per ingest.
//!
//! Each process debounces the ingests it ran itself; across processes the job record's
//! de-duplication (a proxy has at most one queued generation) coalesces the rest, and a
//! generation that starts while an ingest of its sources still runs waits for it (the
//! pipeline's ingestion guard).

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tvarr_core::{JobKind, NewJob, PageRequest, ProxyRepository};
use tvarr_jobs::JobScheduler;
use uuid::Uuid;

/// The longest a burst of ingests can hold a regeneration back, as a multiple of the debounce:
/// a source re-ingested every few seconds must not starve its proxies.
const MAX_HOLD_FACTOR: u32 = 6;

/// Tells the regeneration task which sources were ingested. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Regeneration {
    ingested: mpsc::UnboundedSender<Uuid>,
}

impl Regeneration {
    /// Starts the task that queues generations through `scheduler` for the proxies in
    /// `proxies`, `debounce` after the last ingest of a burst, until `shutdown`.
    pub fn spawn(
        proxies: std::sync::Arc<dyn ProxyRepository>,
        scheduler: JobScheduler,
        debounce: Duration,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (ingested, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(debounce_loop(
            received, proxies, scheduler, debounce, shutdown,
        ));
        (Self { ingested }, task)
    }

    /// Marks `source` (a stream or EPG source's id) as freshly ingested.
    pub fn source_ingested(&self, source: Uuid) {
        // The task is gone only when the process is stopping.
        let _ = self.ingested.send(source);
    }
}

async fn debounce_loop(
    mut received: mpsc::UnboundedReceiver<Uuid>,
    proxies: std::sync::Arc<dyn ProxyRepository>,
    scheduler: JobScheduler,
    debounce: Duration,
    shutdown: CancellationToken,
) {
    let mut dirty: HashSet<Uuid> = HashSet::new();
    let mut burst_started: Option<Instant> = None;
    let mut deadline = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            message = received.recv() => {
                let Some(source) = message else { break };
                dirty.insert(source);
                let now = Instant::now();
                let started = *burst_started.get_or_insert(now);
                deadline = (now + debounce).min(started + debounce * MAX_HOLD_FACTOR);
            }
            _ = tokio::time::sleep_until(deadline), if !dirty.is_empty() => {
                let sources = std::mem::take(&mut dirty);
                burst_started = None;
                queue_generations(proxies.as_ref(), &scheduler, &sources).await;
            }
        }
    }
}

/// Queues one generation for every proxy that uses one of `sources`.
pub(crate) async fn queue_generations(
    proxies: &dyn ProxyRepository,
    scheduler: &JobScheduler,
    sources: &HashSet<Uuid>,
) -> usize {
    let mut queued = 0;
    let mut offset = 0;
    loop {
        let page = match proxies
            .list(PageRequest::new(PageRequest::MAX_LIMIT, offset))
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the proxies to regenerate");
                return queued;
            }
        };
        let read = page.items.len() as u64;
        for proxy in page.items {
            let uses = proxy
                .input
                .stream_source_ids
                .iter()
                .map(|id| id.as_uuid())
                .chain(proxy.input.epg_source_ids.iter().map(|id| id.as_uuid()))
                .any(|id| sources.contains(&id));
            if !uses {
                continue;
            }
            let job = NewJob {
                kind: JobKind::GenerateProxy,
                subject_id: Some(proxy.id.as_uuid()),
            };
            match scheduler.enqueue(job).await {
                Ok(_) => queued += 1,
                Err(e) => {
                    tracing::warn!(proxy_id = %proxy.id, error = %e, "cannot queue a regeneration")
                }
            }
        }
        offset += read;
        if read == 0 || offset >= page.total {
            return queued;
        }
    }
}
