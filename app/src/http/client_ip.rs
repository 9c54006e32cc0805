//! The client's address: the TCP peer, or on a listener with `x_forwarded: true` the
//! address the trusted proxy appended to `X-Forwarded-For` (its last entry; the entries
//! before it are whatever the client sent and are never used). Rate limits are keyed on
//! it and modules see it as `request_info`'s `ip`.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{request::Parts, HeaderMap},
};

/// What a connection knows about its client: the peer, and whether to trust the proxy header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    address: SocketAddr,
    x_forwarded: bool,
}

impl Peer {
    /// The connection from `address`, on a listener with or without `x_forwarded`.
    pub(crate) fn new(address: SocketAddr, x_forwarded: bool) -> Self {
        Self { address, x_forwarded }
    }
}

/// The client's address (extractor; never fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl ClientIp {
    /// The address for a request from `peer` with these headers.
    fn of(peer: Peer, headers: &HeaderMap) -> Self {
        let forwarded = peer.x_forwarded.then(|| appended_by_proxy(headers)).flatten();
        ClientIp(forwarded.unwrap_or_else(|| peer.address.ip()))
    }
}

/// The last `X-Forwarded-For` entry (of the last such header line): the one the proxy
/// added. `None` when there is none or it is not an address; then the peer is used.
fn appended_by_proxy(headers: &HeaderMap) -> Option<IpAddr> {
    let line = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
    let last = line.rsplit(',').next()?.trim();
    last.parse().ok()
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<Peer>>().map(|info| info.0);
        // Without connection info (a router used in-process) the client is this host.
        let peer = peer.unwrap_or(Peer { address: SocketAddr::from(([127, 0, 0, 1], 0)), x_forwarded: false });
        Ok(ClientIp::of(peer, &parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(x_forwarded: bool) -> Peer {
        Peer { address: SocketAddr::from(([10, 0, 0, 7], 4000)), x_forwarded }
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        headers
    }

    #[test]
    fn without_x_forwarded_the_header_is_ignored() {
        let ip = ClientIp::of(peer(false), &headers(&["203.0.113.9"]));
        assert_eq!(ip.0.to_string(), "10.0.0.7");
    }

    #[test]
    fn with_x_forwarded_the_entry_the_proxy_appended_counts() {
        let forged_then_real = headers(&["1.1.1.1, 2.2.2.2", "6.6.6.6, 203.0.113.9"]);
        assert_eq!(ClientIp::of(peer(true), &forged_then_real).0.to_string(), "203.0.113.9");
        assert_eq!(ClientIp::of(peer(true), &headers(&["2001:db8::1"])).0.to_string(), "2001:db8::1");
    }

    #[test]
    fn a_missing_or_garbled_header_falls_back_to_the_peer() {
        assert_eq!(ClientIp::of(peer(true), &HeaderMap::new()).0.to_string(), "10.0.0.7");
        assert_eq!(ClientIp::of(peer(true), &headers(&["1.1.1.1, not-an-ip"])).0.to_string(), "10.0.0.7");
    }
}
