//! SiliconDust's discovery protocol, the UDP side of an HDHomeRun (port 65001): a media server
//! broadcasts a discover request and every tuner answers with its id, tuner count and URLs.
//! Pure encoding and decoding; the socket is the server's.
//!
//! A frame (libhdhomerun's `hdhomerun_pkt`) is a big-endian `u16` type and `u16` payload
//! length, the payload, then the CRC-32 (IEEE) of all that, little-endian. The payload is tags:
//! a tag byte, a length (one byte below 128; else two: `len | 0x80`, `len >> 7`), the value.
//! Jellyfin sends `00 02 00 0C | 01 04 FF FF FF FF | 02 04 FF FF FF FF | CRC`: any tuner, any
//! id; libhdhomerun's reader wants `DEVICE_TYPE`, `DEVICE_ID` (4 bytes each) and
//! `TUNER_COUNT` (1 byte) at exactly those lengths.

/// The port tuners listen on.
pub const PORT: u16 = 65001;
/// A discover request.
pub const DISCOVER_REQUEST: u16 = 0x0002;
/// A discover reply.
pub const DISCOVER_REPLY: u16 = 0x0003;
/// The device type of a tuner.
pub const DEVICE_TYPE_TUNER: u32 = 0x0000_0001;
/// Any device type, or any device id.
pub const WILDCARD: u32 = 0xFFFF_FFFF;

const TAG_DEVICE_TYPE: u8 = 0x01;
const TAG_DEVICE_ID: u8 = 0x02;
const TAG_TUNER_COUNT: u8 = 0x10;
const TAG_LINEUP_URL: u8 = 0x27;
const TAG_BASE_URL: u8 = 0x2A;
const TAG_DEVICE_AUTH: u8 = 0x2B;
const TAG_MULTI_TYPE: u8 = 0x2D;

/// The largest request read: a real one is 20 bytes.
pub const MAX_REQUEST: usize = 1_460;

/// What a discover request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverRequest {
    /// The device types asked for (empty: none named, which libhdhomerun treats as any).
    pub device_types: Vec<u32>,
    /// The device id asked for, or [`WILDCARD`].
    pub device_id: u32,
}

impl DiscoverRequest {
    /// Whether a tuner with id `id` answers this request.
    pub fn wants_tuner(&self, id: u32) -> bool {
        let type_ok = self.device_types.is_empty()
            || self
                .device_types
                .iter()
                .any(|t| *t == DEVICE_TYPE_TUNER || *t == WILDCARD);
        type_ok && (self.device_id == WILDCARD || self.device_id == id)
    }
}

/// Reads a discover request; `None` for anything else (another packet type, a bad CRC, a
/// truncated tag), which a tuner ignores.
pub fn parse_request(frame: &[u8]) -> Option<DiscoverRequest> {
    let payload = checked_payload(frame, DISCOVER_REQUEST)?;
    let mut request = DiscoverRequest {
        device_types: Vec::new(),
        device_id: WILDCARD,
    };
    for (tag, value) in tags(payload)? {
        match tag {
            TAG_DEVICE_TYPE if value.len() == 4 => request.device_types.push(be32(value)),
            TAG_MULTI_TYPE if value.len() % 4 == 0 => {
                request.device_types.extend(value.chunks_exact(4).map(be32));
            }
            TAG_DEVICE_ID if value.len() == 4 => request.device_id = be32(value),
            _ => {}
        }
    }
    Some(request)
}

/// What a tuner says of itself in a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverReply {
    /// Its id (see [`super::DeviceId`]).
    pub device_id: u32,
    /// Its tuners (at most 255 fit the tag).
    pub tuner_count: u8,
    /// Its `BaseURL`.
    pub base_url: String,
    /// Its `LineupURL`.
    pub lineup_url: String,
    /// Its `DeviceAuth`.
    pub device_auth: String,
}

/// The reply frame of `reply`.
pub fn reply_frame(reply: &DiscoverReply) -> Vec<u8> {
    let mut payload = Vec::with_capacity(64 + reply.base_url.len() + reply.lineup_url.len());
    push_tag(
        &mut payload,
        TAG_DEVICE_TYPE,
        &DEVICE_TYPE_TUNER.to_be_bytes(),
    );
    push_tag(&mut payload, TAG_DEVICE_ID, &reply.device_id.to_be_bytes());
    push_tag(&mut payload, TAG_TUNER_COUNT, &[reply.tuner_count]);
    push_tag(&mut payload, TAG_DEVICE_AUTH, reply.device_auth.as_bytes());
    push_tag(&mut payload, TAG_BASE_URL, reply.base_url.as_bytes());
    push_tag(&mut payload, TAG_LINEUP_URL, reply.lineup_url.as_bytes());
    frame(DISCOVER_REPLY, &payload)
}

/// A request frame, as a media server sends it: for `device_type` and `device_id`.
pub fn request_frame(device_type: u32, device_id: u32) -> Vec<u8> {
    let mut payload = Vec::with_capacity(12);
    push_tag(&mut payload, TAG_DEVICE_TYPE, &device_type.to_be_bytes());
    push_tag(&mut payload, TAG_DEVICE_ID, &device_id.to_be_bytes());
    frame(DISCOVER_REQUEST, &payload)
}

/// Reads a reply frame, with libhdhomerun's rules (exact lengths for the id, type and tuner
/// count; a reply without a tuner device type is no reply).
pub fn parse_reply(frame: &[u8]) -> Option<DiscoverReply> {
    let payload = checked_payload(frame, DISCOVER_REPLY)?;
    let mut reply = DiscoverReply {
        device_id: 0,
        tuner_count: 0,
        base_url: String::new(),
        lineup_url: String::new(),
        device_auth: String::new(),
    };
    let mut is_tuner = false;
    for (tag, value) in tags(payload)? {
        let text = || String::from_utf8_lossy(value).into_owned();
        match tag {
            TAG_DEVICE_TYPE if value.len() == 4 => is_tuner = be32(value) == DEVICE_TYPE_TUNER,
            TAG_DEVICE_ID if value.len() == 4 => reply.device_id = be32(value),
            TAG_TUNER_COUNT if value.len() == 1 => reply.tuner_count = value[0],
            TAG_BASE_URL => reply.base_url = text(),
            TAG_LINEUP_URL => reply.lineup_url = text(),
            TAG_DEVICE_AUTH => reply.device_auth = text(),
            _ => {}
        }
    }
    is_tuner.then_some(reply)
}

fn frame(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&kind.to_be_bytes());
    // A payload is a few hundred bytes: it fits.
    out.extend_from_slice(
        &u16::try_from(payload.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The payload of `frame` when it is of `kind`, its length is right and its CRC matches.
fn checked_payload(frame: &[u8], kind: u16) -> Option<&[u8]> {
    if frame.len() < 8 || u16::from_be_bytes([frame[0], frame[1]]) != kind {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
    let end = 4 + len;
    if frame.len() != end + 4 {
        return None;
    }
    let crc = u32::from_le_bytes([frame[end], frame[end + 1], frame[end + 2], frame[end + 3]]);
    (crc32fast::hash(&frame[..end]) == crc).then(|| &frame[4..end])
}

fn push_tag(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    // Values are URLs and ids: longer than 16,383 bytes does not happen; cut rather than
    // write a length the reader would misread.
    let value = &value[..value.len().min(0x3FFF)];
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.push((len & 0x7F) as u8 | 0x80);
        out.push((len >> 7) as u8);
    }
    out.extend_from_slice(value);
}

/// The tags of `payload`; `None` when one is cut short.
fn tags(mut payload: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut found = Vec::new();
    while let [tag, first, rest @ ..] = payload {
        let (len, rest) = if first & 0x80 == 0 {
            (usize::from(*first), rest)
        } else {
            let (second, rest) = rest.split_first()?;
            (
                usize::from(first & 0x7F) | (usize::from(*second) << 7),
                rest,
            )
        };
        if rest.len() < len {
            return None;
        }
        found.push((*tag, &rest[..len]));
        payload = &rest[len..];
    }
    payload.is_empty().then_some(found)
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 20 bytes Jellyfin's `DiscoverDevices` broadcasts.
    const JELLYFIN_REQUEST: [u8; 20] = [
        0x00, 0x02, 0x00, 0x0C, 0x01, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x04, 0xFF, 0xFF, 0xFF,
        0xFF, 0x73, 0xCC, 0x7D, 0x8F,
    ];

    #[test]
    fn jellyfins_request_is_read_as_any_tuner() {
        let request = parse_request(&JELLYFIN_REQUEST).unwrap();
        assert_eq!(request.device_types, [WILDCARD]);
        assert_eq!(request.device_id, WILDCARD);
        assert!(request.wants_tuner(0x1234_5678));
        // Written the same way, byte for byte, CRC included.
        assert_eq!(request_frame(WILDCARD, WILDCARD), JELLYFIN_REQUEST);
    }

    #[test]
    fn damaged_or_foreign_frames_are_ignored() {
        let mut bad_crc = JELLYFIN_REQUEST;
        bad_crc[19] ^= 1;
        assert_eq!(parse_request(&bad_crc), None);
        assert_eq!(parse_request(&JELLYFIN_REQUEST[..19]), None);
        assert_eq!(parse_request(&[]), None);
        let reply = reply_frame(&sample());
        assert_eq!(parse_request(&reply), None, "a reply is no request");
        // A tag whose length runs past the payload.
        let cut = frame(DISCOVER_REQUEST, &[TAG_DEVICE_ID, 0x10, 1, 2]);
        assert_eq!(parse_request(&cut), None);
    }

    #[test]
    fn a_request_for_another_device_or_type_is_not_answered() {
        let other_id = parse_request(&request_frame(DEVICE_TYPE_TUNER, 0x1010_0000)).unwrap();
        assert!(other_id.wants_tuner(0x1010_0000));
        assert!(!other_id.wants_tuner(0x2020_0000));
        let storage = parse_request(&request_frame(5, WILDCARD)).unwrap();
        assert!(!storage.wants_tuner(0x1010_0000));
    }

    fn sample() -> DiscoverReply {
        DiscoverReply {
            device_id: 0x1010_0000,
            tuner_count: 4,
            base_url: format!("http://192.168.1.5:8080/hdhr/{}", "x".repeat(150)),
            lineup_url: "http://192.168.1.5:8080/hdhr/x/lineup.json".into(),
            device_auth: "abc".into(),
        }
    }

    #[test]
    fn a_reply_reads_back_with_long_urls_in_two_byte_lengths() {
        let reply = sample();
        let frame = reply_frame(&reply);
        assert_eq!(&frame[..2], &[0x00, 0x03]);
        assert_eq!(parse_reply(&frame), Some(reply));
    }
}
