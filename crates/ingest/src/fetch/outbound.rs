//! The outbound policy: which addresses a download may connect to.
//!
//! Checked before anything is sent, on the first request and on every redirect: literal
//! addresses in the URL here, host names in [`PolicyResolver`] after DNS (so a name that
//! resolves, or later re-resolves, to a forbidden address is refused too). A refused
//! destination is never connected to, so its errors say nothing about what listens there.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why an address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Link-local (169.254.0.0/16, fe80::/10): where cloud metadata services answer.
    LinkLocal,
    /// A cloud metadata address outside the link-local range (fd00:ec2::254).
    Metadata,
    /// Unspecified (0.0.0.0/8, ::), multicast, broadcast or reserved: never a provider, and
    /// `0.0.0.0` reaches this host on Linux.
    Reserved,
    /// Loopback or a private range, while private networks are not allowed.
    Private,
    /// The server's own listen address and port.
    Own,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::LinkLocal => "a link-local address (where cloud metadata services answer)",
            Refusal::Metadata => "a cloud metadata address",
            Refusal::Reserved => "an unspecified, multicast, broadcast or reserved address",
            Refusal::Private => {
                "a loopback or private address, and fetch_allow_private_networks is off"
            }
            Refusal::Own => "this server's own listen address",
        })
    }
}

/// A destination refused by the policy: the error the resolver returns, found again in
/// reqwest's error chain to report it as such.
#[derive(Debug)]
pub(crate) struct RefusedDestination {
    pub(crate) refusal: Refusal,
}

impl fmt::Display for RefusedDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the host resolves only to {}", self.refusal)
    }
}

impl std::error::Error for RefusedDestination {}

/// Which addresses may be fetched.
#[derive(Clone, Debug)]
pub(crate) struct OutboundPolicy {
    allow_private: bool,
    own: Vec<SocketAddr>,
}

impl OutboundPolicy {
    pub(crate) fn new(allow_private: bool, own: &[SocketAddr]) -> Self {
        let own = own
            .iter()
            .map(|a| SocketAddr::new(a.ip().to_canonical(), a.port()))
            .collect();
        Self { allow_private, own }
    }

    /// The distinct ports the server listens on.
    pub(crate) fn own_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.own.iter().map(SocketAddr::port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Whether `ip` may be connected to on `port`.
    pub(crate) fn check(&self, ip: IpAddr, port: u16) -> Result<(), Refusal> {
        self.check_class(ip)?;
        if self.is_own(ip.to_canonical(), port) {
            return Err(Refusal::Own);
        }
        Ok(())
    }

    /// Whether `ip` may be connected to on a port the server does not listen on.
    pub(crate) fn check_class(&self, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip.to_canonical()) {
            Class::Public => Ok(()),
            Class::Private if self.allow_private => Ok(()),
            Class::Private => Err(Refusal::Private),
            Class::Refused(refusal) => Err(refusal),
        }
    }

    /// Checks a URL before it is requested: its scheme, and its host when that is a literal
    /// address (reqwest connects to those without asking the resolver). Names are checked by
    /// [`PolicyResolver`].
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        let port = url.port_or_known_default().unwrap_or(80);
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check(IpAddr::V4(ip), port),
            Some(Host::Ipv6(ip)) => self.check(IpAddr::V6(ip), port),
            Some(Host::Domain(_)) | None => Ok(()),
        }
    }

    fn is_own(&self, ip: IpAddr, port: u16) -> bool {
        self.own.iter().any(|own| {
            own.port() == port
                && if own.ip().is_unspecified() {
                    // Listening on every interface: any address of this host is the server.
                    is_local(ip)
                } else {
                    own.ip() == ip
                }
        })
    }
}

/// Whether `ip` is an address of this host: loopback, or one a socket can be bound to
/// (binding fails with `EADDRNOTAVAIL` for any other address).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

enum Class {
    Public,
    Private,
    Refused(Refusal),
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip.is_link_local() {
        Class::Refused(Refusal::LinkLocal)
    } else if a == 0 || ip.is_multicast() || a >= 240 {
        // 0.0.0.0/8, 224.0.0.0/4, 240.0.0.0/4 (255.255.255.255 included).
        Class::Refused(Refusal::Reserved)
    } else if ip.is_loopback()
        || ip.is_private()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
    {
        // 127/8, 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), 198.18/15.
        Class::Private
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let segments = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        Class::Refused(Refusal::Metadata)
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Class::Refused(Refusal::LinkLocal)
    } else if ip.is_unspecified() || ip.is_multicast() {
        Class::Refused(Refusal::Reserved)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 (64:ff9b::/96): judged by the IPv4 address it carries.
        let [.., hi, lo] = segments;
        classify_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else if ip.is_loopback() || segments[0] & 0xfe00 == 0xfc00 || segments[0] & 0xffc0 == 0xfec0 {
        // ::1, fc00::/7 (unique local), fec0::/10 (old site-local).
        Class::Private
    } else {
        Class::Public
    }
}

/// The system resolver, keeping only the addresses the policy allows. With `port` set (the
/// client used for URLs on one of the server's own ports), the server's own addresses are
/// dropped too: reqwest does not tell a resolver the port.
#[derive(Clone, Debug)]
pub(crate) struct PolicyResolver {
    policy: Arc<OutboundPolicy>,
    port: Option<u16>,
}

impl PolicyResolver {
    pub(crate) fn new(policy: Arc<OutboundPolicy>, port: Option<u16>) -> Self {
        Self { policy, port }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(resolve_allowed(
            self.policy.clone(),
            name.as_str().to_owned(),
            self.port,
        ))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The addresses of `host` that `policy` allows (on `port`, when given); an error naming the
/// refusal when it allows none.
async fn resolve_allowed(
    policy: Arc<OutboundPolicy>,
    host: String,
    port: Option<u16>,
) -> Result<Addrs, BoxError> {
    let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
    let mut allowed = Vec::new();
    let mut refused = None;
    for addr in found {
        let verdict = match port {
            Some(port) => policy.check(addr.ip(), port),
            None => policy.check_class(addr.ip()),
        };
        match verdict {
            Ok(()) => allowed.push(addr),
            Err(refusal) => refused = refused.or(Some(refusal)),
        }
    }
    if allowed.is_empty()
        && let Some(refusal) = refused
    {
        return Err(Box::new(RefusedDestination { refusal }));
    }
    Ok(Box::new(allowed.into_iter()))
}

/// The policy's refusal inside an error's chain (a resolver's error under reqwest's).
pub(crate) fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<RefusedDestination>() {
            return Some(refused.refusal);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn metadata_link_local_and_reserved_addresses_are_always_refused() {
        let policy = OutboundPolicy::new(true, &[]);
        for (text, refusal) in [
            ("169.254.169.254", Refusal::LinkLocal),
            ("169.254.0.1", Refusal::LinkLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("febf::1", Refusal::LinkLocal),
            ("fd00:ec2::254", Refusal::Metadata),
            ("::ffff:169.254.169.254", Refusal::LinkLocal),
            ("64:ff9b::a9fe:a9fe", Refusal::LinkLocal),
            ("0.0.0.0", Refusal::Reserved),
            ("0.1.2.3", Refusal::Reserved),
            ("::", Refusal::Reserved),
            ("224.0.0.1", Refusal::Reserved),
            ("239.255.255.250", Refusal::Reserved),
            ("ff02::1", Refusal::Reserved),
            ("255.255.255.255", Refusal::Reserved),
            ("240.0.0.1", Refusal::Reserved),
        ] {
            assert_eq!(policy.check(ip(text), 80), Err(refusal), "{text}");
        }
    }

    #[test]
    fn private_ranges_follow_the_setting() {
        let open = OutboundPolicy::new(true, &[]);
        let closed = OutboundPolicy::new(false, &[]);
        for text in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.20",
            "100.64.0.1",
            "198.18.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "fd12:3456::1",
            "fc00::1",
        ] {
            assert_eq!(open.check(ip(text), 80), Ok(()), "{text}");
            assert_eq!(closed.check(ip(text), 80), Err(Refusal::Private), "{text}");
        }
        for text in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert_eq!(closed.check(ip(text), 80), Ok(()), "{text}");
        }
    }

    #[test]
    fn the_servers_own_address_is_refused_on_its_port_only() {
        let specific = OutboundPolicy::new(true, &["127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(specific.check(ip("127.0.0.1"), 8080), Err(Refusal::Own));
        assert_eq!(
            specific.check(ip("::ffff:127.0.0.1"), 8080),
            Err(Refusal::Own)
        );
        assert_eq!(specific.check(ip("127.0.0.1"), 8081), Ok(()));
        assert_eq!(specific.check(ip("10.0.0.9"), 8080), Ok(()));
        let every = OutboundPolicy::new(true, &["0.0.0.0:8080".parse().unwrap()]);
        assert_eq!(every.check(ip("127.0.0.1"), 8080), Err(Refusal::Own));
        assert_eq!(every.check(ip("127.0.0.53"), 8080), Err(Refusal::Own));
        assert_eq!(every.check(ip("::1"), 8080), Err(Refusal::Own));
        // An address of another host on the LAN is not this server.
        assert_eq!(every.check(ip("192.0.2.77"), 8080), Ok(()));
        assert_eq!(every.own_ports(), vec![8080]);
    }

    #[test]
    fn urls_with_literal_addresses_are_checked_with_their_port() {
        let policy = OutboundPolicy::new(true, &["127.0.0.1:8080".parse().unwrap()]);
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            policy.check_url(&url("http://127.0.0.1:8080/metrics")),
            Err(Refusal::Own)
        );
        // The URL parser reads other spellings of an IPv4 address as that address.
        assert_eq!(
            policy.check_url(&url("http://2130706433:8080/metrics")),
            Err(Refusal::Own)
        );
        assert_eq!(
            policy.check_url(&url("http://0xa9.254.169.254/latest")),
            Err(Refusal::LinkLocal)
        );
        assert_eq!(
            policy.check_url(&url("http://[fd00:ec2::254]/")),
            Err(Refusal::Metadata)
        );
        assert_eq!(policy.check_url(&url("http://127.0.0.1:9000/a")), Ok(()));
        assert_eq!(policy.check_url(&url("http://provider.test/a")), Ok(()));
    }
}
