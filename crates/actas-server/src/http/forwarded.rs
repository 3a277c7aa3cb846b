//! Who the client is when requests come through reverse proxies.
//!
//! The connecting peer is the client, unless it is one of the trusted
//! proxies (`serve --trusted-proxy`): then the client is the right-most
//! address of `X-Forwarded-For` that is not a trusted proxy. Proxies
//! append the address they saw, so everything right of the client was
//! written by a proxy we trust, and everything left of it by whoever the
//! client is (a spoofed prefix is never read).
//!
//! **Invariant:** an untrusted peer's `X-Forwarded-For` is ignored; with no
//! trusted proxy configured the header is never read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header proxies append the address they saw to.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Trusts these addresses and networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> TrustedProxies {
        TrustedProxies(nets.into_iter().collect())
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let mut hops = Vec::new();
        for value in headers.get_all(X_FORWARDED_FOR) {
            let Ok(value) = value.to_str() else { return client };
            hops.extend(value.split(',').map(str::trim).filter(|h| !h.is_empty()));
        }
        for hop in hops.iter().rev() {
            // A hop we cannot read was written by a proxy we trust, wrongly:
            // the nearest address we know is the last trusted one.
            let Some(ip) = parse_hop(hop) else { return client };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// Reads a `--trusted-proxy` value: an address (`10.0.0.5`, `::1`) or a
/// network (`10.0.0.0/8`, `fd00::/8`).
pub fn parse_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|n| match n {
            IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len().saturating_sub(96)).unwrap_or(n),
                None => n,
            },
            n => n,
        })
        .map_err(|_| format!("`{s}` is neither an IP address nor a network like 10.0.0.0/8"))
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:a.b.c.d`) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// One entry of `X-Forwarded-For`: an address, with a port or not.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_proxy(n).unwrap()))
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("127.0.0.1"), &xff(&["203.0.113.7"])), ip("127.0.0.1"));
    }

    #[test]
    fn an_untrusted_peers_header_is_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client(ip("198.51.100.2"), &xff(&["203.0.113.7"])), ip("198.51.100.2"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client wrote a spoofed prefix; two proxies appended after it.
        let h = xff(&["1.1.1.1, 203.0.113.7", "192.0.2.1"]);
        assert_eq!(p.client(ip("10.1.2.3"), &h), ip("203.0.113.7"));
        assert_eq!(p.client(ip("10.1.2.3"), &xff(&["203.0.113.7:4711"])), ip("203.0.113.7"));
        assert_eq!(p.client(ip("10.1.2.3"), &xff(&["[2001:db8::1]:443"])), ip("2001:db8::1"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client_and_garbage_stops_the_walk() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
        assert_eq!(p.client(ip("10.1.2.3"), &xff(&["203.0.113.7, unknown"])), ip("10.1.2.3"));
        assert_eq!(p.client(ip("10.1.2.3"), &xff(&["unknown, 10.9.9.9"])), ip("10.9.9.9"));
    }

    #[test]
    fn mapped_ipv4_is_ipv4_and_proxies_parse_as_address_or_network() {
        let p = proxies(&["127.0.0.1"]);
        assert!(p.contains(ip("::ffff:127.0.0.1")));
        assert_eq!(p.client(ip("::ffff:127.0.0.1"), &xff(&["::ffff:203.0.113.7"])), ip("203.0.113.7"));
        assert_eq!(parse_proxy("::ffff:10.0.0.0/104").unwrap(), parse_proxy("10.0.0.0/8").unwrap());
        assert!(parse_proxy("fd00::/8").is_ok());
        assert!(parse_proxy("proxy.internal").unwrap_err().contains("neither an IP address"));
    }
}
