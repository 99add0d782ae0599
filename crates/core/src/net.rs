//! IP networks, as settings name the peers to trust (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A range of IP addresses, written `address/prefix-length` (`10.0.0.0/8`, `fd00::/8`), or a
/// single address (`127.0.0.1`, `::1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork(ipnet::IpNet);

/// Why a text is not an [`IpNetwork`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or network (for example 10.0.0.0/8, 127.0.0.1 or fd00::/8)")]
pub struct InvalidIpNetwork(String);

impl IpNetwork {
    /// The network of `address` with `prefix` leading bits; `None` when `prefix` is longer
    /// than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        ipnet::IpNet::new(address, prefix).ok().map(Self)
    }

    /// A comma- or space-separated list of networks (`127.0.0.1, 10.0.0.0/8 fd00::/8`), as a
    /// setting gives them; an empty text is an empty list.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, InvalidIpNetwork> {
        text.split([',', ' ', '\t', '\n'])
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect()
    }

    /// Whether `ip` is in this network. An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`,
    /// as a dual-stack listener reports IPv4 peers) counts as that IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl serde::Serialize for IpNetwork {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpNetwork {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for IpNetwork {
    type Err = InvalidIpNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpNetwork(text.chars().take(64).collect());
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let address = address.to_canonical();
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None if address.is_ipv4() => 32,
            None => 128,
        };
        Self::new(address, prefix).ok_or_else(invalid)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let net: IpNetwork = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: IpNetwork = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpNetwork = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert_eq!(v6.to_string(), "fd00::/8");
        assert_eq!(
            IpNetwork::parse_list(" 127.0.0.1, 10.0.0.0/8 fd00::/8,").unwrap(),
            vec![one, "10.0.0.0/8".parse().unwrap(), v6]
        );
        assert_eq!(IpNetwork::parse_list("").unwrap(), vec![]);
        assert!(IpNetwork::parse_list("10.0.0.0/8, nonsense").is_err());
        for bad in ["", "10.0.0.0/33", "::/129", "host", "10.0.0.0/x", "1.2.3/8"] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
        }
    }
}
