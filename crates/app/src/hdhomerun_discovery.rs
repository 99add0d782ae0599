//! The server's answer to HDHomeRun discovery (`hdhomerun_discovery_listen`, off by default):
//! a UDP socket that replies to each discover request with one frame per proxy (its first
//! device), carrying the device's id, tuner count and URLs, so media servers on the LAN find
//! the tuners by themselves. The frames are `tvarr_pipeline::hdhomerun::discovery`'s.
//!
//! A reply is larger than its request, which a stranger could use to flood a third party
//! with forged sources; so only requests from loopback, private and link-local addresses are
//! answered, at most [`MAX_DEVICES`] frames per request and one request per
//! [`REQUEST_SPACING`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tvarr_core::{PageRequest, ProxyRepository};
use tvarr_pipeline::hdhomerun::discovery::{
    DiscoverReply, MAX_REQUEST, parse_request, reply_frame,
};
use tvarr_pipeline::hdhomerun::{Device, Discover};

use crate::error::AppError;

/// The most devices one request is answered with.
const MAX_DEVICES: u64 = 64;
/// The least time between two requests answered.
const REQUEST_SPACING: Duration = Duration::from_millis(100);

/// Where the answers send media servers.
pub(crate) struct Addresses {
    /// The configured base URL, when there is one.
    pub(crate) base_url: Option<String>,
    /// The HTTP listen address, for a base built from the address a request came to.
    pub(crate) listen: SocketAddr,
}

/// Whether a request from `ip` is answered: loopback, private and link-local only.
fn answerable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

/// The base URL of the answers to `peer`: the configured one, or `http://<the address this
/// host has towards the peer>:<listen port>`.
fn base_for(addresses: &Addresses, peer: SocketAddr) -> Option<String> {
    if let Some(base) = &addresses.base_url {
        return Some(base.clone());
    }
    let ip = if addresses.listen.ip().is_unspecified() {
        // The kernel picks the address it would send from; nothing is sent.
        let probe = std::net::UdpSocket::bind(SocketAddr::new(
            if peer.is_ipv4() {
                IpAddr::from([0, 0, 0, 0])
            } else {
                IpAddr::from([0u16; 8])
            },
            0,
        ))
        .ok()?;
        probe.connect(peer).ok()?;
        probe.local_addr().ok()?.ip()
    } else {
        addresses.listen.ip()
    };
    Some(match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{}", addresses.listen.port()),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", addresses.listen.port()),
    })
}

/// Binds `address` and answers discover requests until `shutdown`.
pub(crate) async fn serve(
    address: SocketAddr,
    proxies: Arc<dyn ProxyRepository>,
    addresses: Addresses,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, AppError> {
    let socket = UdpSocket::bind(address)
        .await
        .map_err(|source| AppError::Listen { address, source })?;
    tracing::info!(listen = %address, "answering HDHomeRun discovery");
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_REQUEST];
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                received = socket.recv_from(&mut buf) => received,
            };
            let Ok((len, peer)) = received else { continue };
            if !answerable(peer.ip()) {
                continue;
            }
            let Some(request) = parse_request(&buf[..len]) else {
                continue;
            };
            if let Err(e) = answer(&socket, peer, &request, proxies.as_ref(), &addresses).await {
                tracing::debug!(peer = %peer, error = %e, "cannot answer an HDHomeRun discovery");
            }
            tokio::time::sleep(REQUEST_SPACING).await;
        }
    }))
}

async fn answer(
    socket: &UdpSocket,
    peer: SocketAddr,
    request: &tvarr_pipeline::hdhomerun::discovery::DiscoverRequest,
    proxies: &dyn ProxyRepository,
    addresses: &Addresses,
) -> Result<(), String> {
    let base = base_for(addresses, peer).ok_or("no address towards the peer")?;
    let page = proxies
        .list(PageRequest::new(MAX_DEVICES, 0))
        .await
        .map_err(|e| e.to_string())?;
    for proxy in page.items {
        let device = Device::first(proxy.input.hdhomerun_channels_per_device);
        let url = format!("{base}/hdhr/{}", proxy.id);
        let discover = Discover::new(proxy.id, &proxy.input, device, &url);
        let Ok(id) = u32::from_str_radix(&discover.device_id, 16) else {
            continue;
        };
        if !request.wants_tuner(id) {
            continue;
        }
        let frame = reply_frame(&DiscoverReply {
            device_id: id,
            tuner_count: u8::try_from(discover.tuner_count).unwrap_or(u8::MAX),
            base_url: discover.base_url,
            lineup_url: discover.lineup_url,
            device_auth: discover.device_auth,
        });
        socket
            .send_to(&frame, peer)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_local_network_is_answered() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.9",
            "172.16.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(answerable(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "203.0.113.7", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!answerable(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_base_is_the_configured_one_or_this_hosts_address_towards_the_peer() {
        let configured = Addresses {
            base_url: Some("https://tv.example".into()),
            listen: "0.0.0.0:8080".parse().unwrap(),
        };
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(base_for(&configured, peer).unwrap(), "https://tv.example");
        let unspecified = Addresses {
            base_url: None,
            listen: "0.0.0.0:8080".parse().unwrap(),
        };
        assert_eq!(
            base_for(&unspecified, peer).unwrap(),
            "http://127.0.0.1:8080"
        );
        let bound = Addresses {
            base_url: None,
            listen: "192.168.7.7:9000".parse().unwrap(),
        };
        assert_eq!(base_for(&bound, peer).unwrap(), "http://192.168.7.7:9000");
    }
}
