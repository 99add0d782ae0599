//! The guide parse: an XMLTV document read on the parser thread and sent on as batches of
//! guide channels and programmes.

use std::io::BufRead;

use tokio::sync::mpsc;

use crate::error::IngestError;
use crate::weight::Batcher;
use crate::xmltv::{XmltvItem, XmltvOptions, XmltvReader};

use super::run::ParseSummary;
use super::sink::GuideBatch;

pub(super) fn parse_guide(
    input: Box<dyn BufRead + Send>,
    tx: mpsc::Sender<GuideBatch>,
    options: XmltvOptions,
    batch_size: usize,
    batch_bytes: usize,
) -> Result<ParseSummary, IngestError> {
    let mut reader = XmltvReader::new(input, options)?;
    let mut channels = Batcher::new(batch_size, batch_bytes);
    let mut programmes = Batcher::new(batch_size, batch_bytes);
    let send = |batch| tx.blocking_send(batch).map_err(|_| IngestError::Cancelled);
    while let Some(item) = reader.next_item()? {
        match item {
            XmltvItem::Channel(channel) => {
                if let Some(full) = channels.push(channel.text_bytes(), channel) {
                    send(GuideBatch::Channels(full))?;
                }
            }
            XmltvItem::Programme(programme) => {
                if let Some(full) = programmes.push(programme.text_bytes(), programme) {
                    send(GuideBatch::Programmes(full))?;
                }
            }
        }
    }
    if let Some(rest) = channels.take() {
        send(GuideBatch::Channels(rest))?;
    }
    if let Some(rest) = programmes.take() {
        send(GuideBatch::Programmes(rest))?;
    }
    let stats = reader.stats();
    Ok(ParseSummary {
        records: stats.programmes,
        skipped: stats.skipped,
        playlist: None,
        lossy_lines: 0,
    })
}
