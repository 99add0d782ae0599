//! Where batches go: the repository's replacement of a source's channels or guide, behind one
//! trait so that the pipelined run is written once.

use tvarr_core::{Channel, EpgChannel, ProgrammeData};

use crate::error::IngestError;

/// Repository calls the service makes, for channels and for guides alike.
pub(super) trait Replacement: Send {
    type Batch: Send + 'static;
    /// Records of the main kind in a batch (channels, programmes), for progress.
    fn records(batch: &Self::Batch) -> u64;
    fn write(&mut self, batch: Self::Batch)
    -> impl Future<Output = Result<(), IngestError>> + Send;
    fn commit(self) -> impl Future<Output = Result<u64, IngestError>> + Send;
    fn abort(self) -> impl Future<Output = ()> + Send;
}

pub(super) struct ChannelSink(pub(super) Box<dyn tvarr_core::ChannelReplacement>);

impl Replacement for ChannelSink {
    type Batch = Vec<Channel>;
    fn records(batch: &Vec<Channel>) -> u64 {
        batch.len() as u64
    }
    async fn write(&mut self, batch: Vec<Channel>) -> Result<(), IngestError> {
        Ok(self.0.write(&batch).await?)
    }
    async fn commit(self) -> Result<u64, IngestError> {
        Ok(self.0.commit().await?)
    }
    async fn abort(self) {
        if let Err(e) = self.0.abort().await {
            tracing::warn!(error = %e, "aborting the channel replacement failed");
        }
    }
}

/// A batch of guide records.
pub(super) enum GuideBatch {
    Channels(Vec<EpgChannel>),
    Programmes(Vec<ProgrammeData>),
}

pub(super) struct GuideSink(pub(super) Box<dyn tvarr_core::GuideReplacement>);

impl Replacement for GuideSink {
    type Batch = GuideBatch;
    fn records(batch: &GuideBatch) -> u64 {
        match batch {
            GuideBatch::Channels(_) => 0,
            GuideBatch::Programmes(programmes) => programmes.len() as u64,
        }
    }
    async fn write(&mut self, batch: GuideBatch) -> Result<(), IngestError> {
        match batch {
            GuideBatch::Channels(channels) => self.0.write_channels(&channels).await?,
            GuideBatch::Programmes(programmes) => self.0.write_programmes(&programmes).await?,
        }
        Ok(())
    }
    async fn commit(self) -> Result<u64, IngestError> {
        Ok(self.0.commit().await?)
    }
    async fn abort(self) {
        if let Err(e) = self.0.abort().await {
            tracing::warn!(error = %e, "aborting the guide replacement failed");
        }
    }
}
