//! End-to-end: a real `tvarr-server` answers HDHomeRun discovery on UDP the way Jellyfin's
//! `DiscoverDevices` asks (its exact 20-byte broadcast), and the reply leads to the proxy's
//! device over HTTP. The reply is read with libhdhomerun's rules, written out here.

use std::time::Duration;

use serde_json::{Value, json};

mod support;

use support::Server;

/// The 20 bytes Jellyfin broadcasts to port 65001: any tuner, any id, and its CRC.
const JELLYFIN_REQUEST: [u8; 20] = [
    0x00, 0x02, 0x00, 0x0C, 0x01, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x04, 0xFF, 0xFF, 0xFF, 0xFF,
    0x73, 0xCC, 0x7D, 0x8F,
];

/// The tags of a reply's payload, after Jellyfin's own test (`byte[1] == 3`, longer than 13
/// bytes) and a length check: tag byte, one length byte below 128 or two, value.
fn reply_tags(frame: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert!(
        frame.len() > 13 && frame[1] == 3,
        "not a discover reply: {frame:?}"
    );
    let len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
    assert_eq!(frame.len(), 4 + len + 4, "payload length and CRC");
    let mut payload = &frame[4..4 + len];
    let mut tags = Vec::new();
    while !payload.is_empty() {
        let tag = payload[0];
        let (len, skip) = if payload[1] & 0x80 == 0 {
            (usize::from(payload[1]), 2)
        } else {
            (
                usize::from(payload[1] & 0x7F) | (usize::from(payload[2]) << 7),
                3,
            )
        };
        tags.push((tag, payload[skip..skip + len].to_vec()));
        payload = &payload[skip + len..];
    }
    tags
}

#[tokio::test]
async fn a_broadcast_like_jellyfins_finds_the_proxys_tuner() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let discovery = udp.local_addr().unwrap();
    drop(udp);
    let listen = discovery.to_string();
    let server = Server::start(&[("TVARR_HDHOMERUN_DISCOVERY_LISTEN", listen.as_str())]).await;
    let (status, proxy) = server
        .post("/api/v1/proxies", json!({"name": "Den", "tuner_count": 3}))
        .await;
    assert_eq!(status, 201, "{proxy}");

    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 1500];
    // The socket may open a moment after the HTTP port: ask until it answers.
    let mut reply = None;
    for _ in 0..50 {
        client.send_to(&JELLYFIN_REQUEST, discovery).await.unwrap();
        if let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf)).await
        {
            reply = Some(buf[..len].to_vec());
            break;
        }
    }
    let reply = reply.expect("no discover reply");
    let tags = reply_tags(&reply);
    let tag = |t: u8| {
        tags.iter()
            .find(|(tag, _)| *tag == t)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no tag {t:#x} in {tags:?}"))
    };
    assert_eq!(tag(0x01), 1u32.to_be_bytes(), "a tuner");
    assert_eq!(tag(0x10), [3], "its tuner count");
    let device_id = u32::from_be_bytes(tag(0x02).try_into().unwrap());
    let base_url = String::from_utf8(tag(0x2A)).unwrap();
    let lineup_url = String::from_utf8(tag(0x27)).unwrap();
    let id = proxy["id"].as_str().unwrap();
    assert_eq!(base_url, server.url(&format!("/hdhr/{id}")));
    assert_eq!(lineup_url, format!("{base_url}/lineup.json"));

    // The reply leads to the device over HTTP, with the same id.
    let discover: Value = server
        .client
        .get(format!("{base_url}/discover.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discover["DeviceID"], format!("{device_id:08X}"));
    assert_eq!(discover["TunerCount"], 3);

    // A request for another device id is not answered.
    let mut other = JELLYFIN_REQUEST;
    other[12..16].copy_from_slice(&0x1010_0000u32.to_be_bytes());
    let crc = crc32(&other[..16]);
    other[16..].copy_from_slice(&crc.to_le_bytes());
    tokio::time::sleep(Duration::from_millis(150)).await;
    client.send_to(&other, discovery).await.unwrap();
    let answered =
        tokio::time::timeout(Duration::from_millis(500), client.recv_from(&mut buf)).await;
    assert!(answered.is_err(), "answered a request for another device");
}

/// CRC-32 (IEEE, reflected), bit by bit, as libhdhomerun's `hdhomerun_pkt_calc_crc` computes it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_crc_here_is_the_one_jellyfin_sends() {
    assert_eq!(
        crc32(&JELLYFIN_REQUEST[..16]).to_le_bytes(),
        JELLYFIN_REQUEST[16..]
    );
}
