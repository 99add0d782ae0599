//! MPEG transport stream packets, read just far enough to relay a stream well: realigning
//! arbitrary byte chunks to whole 188-byte packets ([`Aligner`]), and finding where a viewer
//! can start (a video keyframe) and the tables a player needs before it (PAT and PMT) with
//! [`Inspector`]. Nothing is decoded and nothing is copied but the two tables.

use bytes::{Buf, Bytes, BytesMut};

/// The length of a transport stream packet.
pub const PACKET_LEN: usize = 188;
/// The first byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// The PID of the program association table.
const PAT_PID: u16 = 0;
/// The null packet PID (stuffing).
pub const NULL_PID: u16 = 0x1fff;

/// One 188-byte packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The packet at the start of `bytes`, when `bytes` holds a whole packet that starts with
    /// the sync byte.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= PACKET_LEN && bytes[0] == SYNC_BYTE).then(|| Self {
            bytes: &bytes[..PACKET_LEN],
        })
    }

    /// Its PID.
    pub fn pid(&self) -> u16 {
        (u16::from(self.bytes[1] & 0x1f) << 8) | u16::from(self.bytes[2])
    }

    /// Whether a PES packet or a table section starts in it.
    pub fn payload_unit_start(&self) -> bool {
        self.bytes[1] & 0x40 != 0
    }

    /// Its continuity counter (counts packets with a payload, per PID, modulo 16).
    pub fn continuity_counter(&self) -> u8 {
        self.bytes[3] & 0x0f
    }

    /// Whether it carries a payload.
    pub fn has_payload(&self) -> bool {
        self.bytes[3] & 0x10 != 0
    }

    fn adaptation_flags(&self) -> Option<u8> {
        (self.bytes[3] & 0x20 != 0 && self.bytes[4] > 0).then(|| self.bytes[5])
    }

    /// Whether its adaptation field sets the random access indicator (a keyframe starts).
    pub fn random_access(&self) -> bool {
        self.adaptation_flags().is_some_and(|f| f & 0x40 != 0)
    }

    /// Whether its adaptation field sets the discontinuity indicator.
    pub fn discontinuity(&self) -> bool {
        self.adaptation_flags().is_some_and(|f| f & 0x80 != 0)
    }

    /// Its payload (empty when it has none, or when its adaptation field claims it all).
    pub fn payload(&self) -> &'a [u8] {
        if !self.has_payload() {
            return &[];
        }
        let start = if self.bytes[3] & 0x20 != 0 {
            5 + usize::from(self.bytes[4])
        } else {
            4
        };
        self.bytes.get(start..).unwrap_or(&[])
    }
}

/// Realigns a byte stream to whole packets: bytes before the first sync, and any run of bytes
/// between packets that do not start with the sync byte, are dropped and counted. A sync
/// byte is believed only when another follows a packet later, so a stray 0x47 in garbage is
/// not taken for a packet.
#[derive(Debug, Default)]
pub struct Aligner {
    pending: BytesMut,
    synced: bool,
    skipped: u64,
    packets: u64,
}

impl Aligner {
    /// An aligner before any byte.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next chunk of the stream; returns the whole packets it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        loop {
            if !self.synced {
                match find_sync(&self.pending) {
                    Some(at) => {
                        self.skipped += at as u64;
                        self.pending.advance(at);
                        self.synced = true;
                    }
                    None => {
                        // Keep what could still be the start of a confirmed packet.
                        let keep = (2 * PACKET_LEN - 1).min(self.pending.len());
                        let drop = self.pending.len() - keep;
                        self.skipped += drop as u64;
                        self.pending.advance(drop);
                        break;
                    }
                }
            }
            // A packet is taken once the next one's sync byte is there too: a 0x47 that
            // merely starts garbage at a packet boundary is not believed.
            let len = self.pending.len();
            let good = (0..)
                .take_while(|i| {
                    let next = (i + 1) * PACKET_LEN;
                    next < len
                        && self.pending[i * PACKET_LEN] == SYNC_BYTE
                        && self.pending[next] == SYNC_BYTE
                })
                .count();
            if good > 0 {
                self.packets += good as u64;
                let taken = self.pending.split_to(good * PACKET_LEN);
                if out.is_empty() {
                    out = taken;
                } else {
                    out.extend_from_slice(&taken);
                }
            }
            if self.pending.len() > PACKET_LEN {
                // The packet here is not followed by a packet: realign.
                self.synced = false;
                continue;
            }
            break;
        }
        out.freeze()
    }

    /// The packet held back at the end of the stream, when it is one (a packet is held until
    /// the next one starts).
    pub fn finish(&mut self) -> Bytes {
        if self.synced && self.pending.len() == PACKET_LEN && self.pending[0] == SYNC_BYTE {
            self.packets += 1;
            return self.pending.split().freeze();
        }
        self.skipped += self.pending.len() as u64;
        self.pending.clear();
        Bytes::new()
    }

    /// Bytes dropped so far because they were not part of a packet.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Whole packets passed on so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }
}

/// The first offset that starts a packet followed by another (two when the bytes are there).
fn find_sync(buf: &[u8]) -> Option<usize> {
    if buf.len() <= PACKET_LEN {
        return None;
    }
    (0..buf.len() - PACKET_LEN).find(|&at| {
        buf[at] == SYNC_BYTE
            && buf[at + PACKET_LEN] == SYNC_BYTE
            && buf.get(at + 2 * PACKET_LEN).is_none_or(|&b| b == SYNC_BYTE)
    })
}

/// The video coding of a stream, as its PMT names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VideoCoding {
    Mpeg2,
    H264,
    Hevc,
    Other,
}

fn video_coding(stream_type: u8) -> Option<VideoCoding> {
    match stream_type {
        0x01 | 0x02 => Some(VideoCoding::Mpeg2),
        0x1b => Some(VideoCoding::H264),
        0x24 => Some(VideoCoding::Hevc),
        0x10 | 0x42 | 0xea | 0xd1 => Some(VideoCoding::Other),
        _ => None,
    }
}

/// What the [`Inspector`] made of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketRole {
    /// A viewer may start here: the first packet of a video keyframe (or, in a stream without
    /// video, of an audio frame).
    JoinPoint,
    /// Anything else.
    Other,
}

/// Follows a stream's tables to know its video PID and to keep its latest PAT and PMT, which
/// a viewer that joins mid-stream is sent first.
#[derive(Debug, Default)]
pub struct Inspector {
    pat: Option<Bytes>,
    pmt_pid: Option<u16>,
    pmt: Option<Bytes>,
    /// The PIDs of the first program's elementary streams, and the video one.
    elementary: Vec<u16>,
    video: Option<(u16, VideoCoding)>,
}

impl Inspector {
    /// An inspector that has seen no table yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one packet (the tables it carries) and says whether a viewer may start at it.
    pub fn inspect(&mut self, packet: Packet<'_>) -> PacketRole {
        let pid = packet.pid();
        if pid == PAT_PID && packet.payload_unit_start() {
            if let Some(pmt_pid) = parse_pat(packet.payload()) {
                self.pat = Some(Bytes::copy_from_slice(packet.bytes));
                if self.pmt_pid != Some(pmt_pid) {
                    self.pmt_pid = Some(pmt_pid);
                    self.pmt = None;
                }
            }
            return PacketRole::Other;
        }
        if Some(pid) == self.pmt_pid && packet.payload_unit_start() {
            if let Some(streams) = parse_pmt(packet.payload()) {
                self.pmt = Some(Bytes::copy_from_slice(packet.bytes));
                self.video = streams
                    .iter()
                    .find_map(|&(kind, pid)| video_coding(kind).map(|c| (pid, c)));
                self.elementary = streams.into_iter().map(|(_, pid)| pid).collect();
            }
            return PacketRole::Other;
        }
        if !packet.payload_unit_start() {
            return PacketRole::Other;
        }
        match self.video {
            Some((video, coding)) if video == pid => {
                if packet.random_access() || starts_keyframe(packet.payload(), coding) {
                    PacketRole::JoinPoint
                } else {
                    PacketRole::Other
                }
            }
            Some(_) => PacketRole::Other,
            None if self.elementary.contains(&pid) => PacketRole::JoinPoint,
            None => PacketRole::Other,
        }
    }

    /// The latest PAT and PMT packets, to send before a viewer's first packet (empty before
    /// both were seen).
    pub fn tables(&self) -> Bytes {
        match (&self.pat, &self.pmt) {
            (Some(pat), Some(pmt)) => {
                let mut both = BytesMut::with_capacity(2 * PACKET_LEN);
                both.extend_from_slice(pat);
                both.extend_from_slice(pmt);
                both.freeze()
            }
            _ => Bytes::new(),
        }
    }

    /// Whether the stream has a video PID (known from its PMT).
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }
}

/// The section a payload that starts one holds, after its pointer field.
fn section(payload: &[u8], table_id: u8) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    let section = payload.get(1 + pointer..)?;
    if *section.first()? != table_id || section.len() < 3 {
        return None;
    }
    let length = (usize::from(section[1] & 0x0f) << 8) | usize::from(section[2]);
    // The body, without the CRC; a section that does not fit the packet is not read.
    section.get(3..3 + length.checked_sub(4)?)
}

/// The PMT PID of the first program of a PAT.
fn parse_pat(payload: &[u8]) -> Option<u16> {
    let body = section(payload, 0x00)?;
    body.get(5..)?.chunks_exact(4).find_map(|entry| {
        let program = u16::from_be_bytes([entry[0], entry[1]]);
        let pid = (u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3]);
        (program != 0).then_some(pid)
    })
}

/// The `(stream_type, pid)` of every elementary stream of a PMT.
fn parse_pmt(payload: &[u8]) -> Option<Vec<(u8, u16)>> {
    let body = section(payload, 0x02)?;
    let info_length = (usize::from(*body.get(7)? & 0x0f) << 8) | usize::from(*body.get(8)?);
    let mut rest = body.get(9 + info_length..)?;
    let mut streams = Vec::new();
    while rest.len() >= 5 {
        let kind = rest[0];
        let pid = (u16::from(rest[1] & 0x1f) << 8) | u16::from(rest[2]);
        let es_info = (usize::from(rest[3] & 0x0f) << 8) | usize::from(rest[4]);
        streams.push((kind, pid));
        rest = rest.get(5 + es_info..).unwrap_or(&[]);
    }
    Some(streams)
}

/// Whether the start of a PES packet holds a keyframe's first bytes: an IDR or parameter set
/// (H.264, HEVC) or a sequence header (MPEG-2), for streams whose muxer sets no random access
/// indicator.
fn starts_keyframe(pes: &[u8], coding: VideoCoding) -> bool {
    if pes.len() < 9 || pes[..3] != [0, 0, 1] {
        return false;
    }
    let Some(es) = pes.get(9 + usize::from(pes[8])..) else {
        return false;
    };
    es.windows(4).any(|w| {
        if w[..3] != [0, 0, 1] {
            return false;
        }
        match coding {
            VideoCoding::H264 => matches!(w[3] & 0x1f, 5 | 7),
            VideoCoding::Hevc => matches!((w[3] >> 1) & 0x3f, 16..=21 | 32 | 33),
            VideoCoding::Mpeg2 => w[3] == 0xb3,
            VideoCoding::Other => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/external/hls/tvarr-test-stream.ts"
    );

    fn fixture() -> Vec<u8> {
        std::fs::read(FIXTURE).expect("the MPEG-TS fixture")
    }

    #[test]
    fn an_aligned_stream_passes_whole_whatever_the_chunk_cuts() {
        let data = fixture();
        for cut in [1, 7, 187, 188, 189, 1000, 65536] {
            let mut aligner = Aligner::new();
            let mut out = Vec::new();
            for chunk in data.chunks(cut) {
                out.extend_from_slice(&aligner.push(chunk));
            }
            out.extend_from_slice(&aligner.finish());
            let whole = data.len() / PACKET_LEN * PACKET_LEN;
            assert_eq!(out.len(), whole, "cut {cut}");
            assert_eq!(&out[..], &data[..whole], "cut {cut}");
            assert_eq!(aligner.skipped(), 0, "cut {cut}");
        }
    }

    #[test]
    fn garbage_before_and_between_packets_is_dropped_and_counted() {
        let data = fixture();
        let packets = &data[..PACKET_LEN * 20];
        let mut input = b"<html>not a stream</html>\x47\x47junk".to_vec();
        let before = input.len();
        input.extend_from_slice(&packets[..PACKET_LEN * 10]);
        input.extend_from_slice(b"\x47\x00garbage between");
        let between = 17;
        input.extend_from_slice(&packets[PACKET_LEN * 10..]);
        let mut aligner = Aligner::new();
        let mut out = Vec::new();
        for chunk in input.chunks(100) {
            out.extend_from_slice(&aligner.push(chunk));
        }
        out.extend_from_slice(&aligner.finish());
        assert_eq!(&out[..], packets);
        assert_eq!(aligner.skipped(), (before + between) as u64);
        assert_eq!(aligner.packets(), 20);
    }

    #[test]
    fn text_never_aligns() {
        let mut aligner = Aligner::new();
        let page = "<!DOCTYPE html><p>G".repeat(5000);
        assert!(aligner.push(page.as_bytes()).is_empty());
        assert!(aligner.skipped() > 90_000);
    }

    #[test]
    fn the_fixture_has_tables_and_keyframes_to_join_at() {
        let data = fixture();
        let mut inspector = Inspector::new();
        let mut joins = 0;
        let mut first_join = None;
        for (i, bytes) in data.chunks_exact(PACKET_LEN).enumerate() {
            let packet = Packet::new(bytes).expect("aligned fixture");
            if inspector.inspect(packet) == PacketRole::JoinPoint {
                joins += 1;
                first_join.get_or_insert(i);
            }
        }
        assert!(inspector.has_video());
        assert_eq!(inspector.tables().len(), 2 * PACKET_LEN);
        assert!(joins >= 1, "no keyframe found");
        // Far fewer join points than video PES packets: keyframes only.
        let pes_starts = data
            .chunks_exact(PACKET_LEN)
            .filter(|p| Packet::new(p).unwrap().payload_unit_start())
            .count();
        assert!(
            joins * 4 < pes_starts,
            "{joins} joins of {pes_starts} PES starts"
        );
    }

    #[test]
    fn packet_fields_are_read_from_their_bits() {
        let mut bytes = [0u8; PACKET_LEN];
        bytes[0] = SYNC_BYTE;
        bytes[1] = 0x40 | 0x01; // PUSI, PID high bits
        bytes[2] = 0x00; // PID 0x100
        bytes[3] = 0x30 | 0x07; // adaptation + payload, CC 7
        bytes[4] = 1;
        bytes[5] = 0x40; // random access
        let packet = Packet::new(&bytes).unwrap();
        assert_eq!(packet.pid(), 0x100);
        assert!(packet.payload_unit_start());
        assert!(packet.random_access());
        assert!(!packet.discontinuity());
        assert_eq!(packet.continuity_counter(), 7);
        assert_eq!(packet.payload().len(), PACKET_LEN - 6);
    }
}
