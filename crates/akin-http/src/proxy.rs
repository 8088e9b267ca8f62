//! Reverse proxies: whose `X-Forwarded-*` headers are believed.
//!
//! Behind a proxy every connection comes from the proxy, which says who the client is and
//! whether it spoke https. Anyone else could say the same: a client that sends
//! `X-Forwarded-For: 10.0.0.1` must not change the address events and throttling see, nor
//! `X-Forwarded-Proto: https` what the server believes about its scheme. So these headers
//! are removed at the edge unless the connection comes from an address in
//! `AKIN_TRUSTED_PROXIES`; from one that is, the client is the right-most address in
//! `X-Forwarded-For` that is not itself a trusted proxy. Everything after reads the
//! cleaned request ([`ClientAddress`], `is_https`).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// What a proxy may say about the client, removed when the proxy is not trusted.
const FORWARDING: [HeaderName; 4] = [
    X_FORWARDED_FOR,
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    header::FORWARDED,
];
/// A year, subdomains included: once a browser has seen akin over https it never speaks
/// plain http to it again.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// The proxies whose forwarding headers are believed (`AKIN_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated networks (`10.0.0.0/8`) or addresses (`127.0.0.1`, `::1`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an address or a network (10.0.0.0/8)"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Whether the browser reached us over https, as a trusted proxy said (the edge removed
/// the header from anyone else): session cookies are then marked Secure, answers get HSTS.
pub(crate) fn is_https(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The address of the client a request is from: the connection's, or what a trusted
/// proxy said it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The edge of every request: forwarding headers kept only from trusted proxies, the
/// client's address resolved once, and HSTS on answers to requests made over https.
pub(crate) async fn resolve_client(
    State(proxies): State<std::sync::Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical());
    let headers = request.headers_mut();
    let client = match peer {
        Some(peer) if proxies.trusts(peer) => Some(forwarded_client(headers, peer, &proxies)),
        _ => {
            for name in FORWARDING {
                headers.remove(name);
            }
            peer
        }
    };
    if let Some(client) = client {
        request.extensions_mut().insert(ClientAddress(client));
    }
    let https = is_https(request.headers());
    let mut response = next.run(request).await;
    if https {
        response
            .headers_mut()
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HSTS);
    }
    response
}

/// The right-most `X-Forwarded-For` address that is not a trusted proxy: each proxy
/// appends the address it was reached from, so addresses to the left of the first
/// untrusted one were written by the client and mean nothing.
fn forwarded_client(
    headers: &axum::http::HeaderMap,
    peer: IpAddr,
    proxies: &TrustedProxies,
) -> IpAddr {
    let chain: Vec<IpAddr> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| IpAddr::from_str(hop.trim()).map(|ip| ip.to_canonical()))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    chain
        .into_iter()
        .rev()
        .find(|ip| !proxies.trusts(*ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded_for: &[&str]) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        for value in forwarded_for {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_the_last_hop_no_trusted_proxy_wrote() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let peer: IpAddr = "10.1.1.1".parse().unwrap();
        let client = |chain: &[&str]| forwarded_client(&headers(chain), peer, &proxies);
        assert_eq!(
            client(&["203.0.113.7"]),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // The client's own claim, left of the address the first proxy saw, is ignored.
        assert_eq!(
            client(&["1.2.3.4, 203.0.113.7, 10.2.2.2"]),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client(&["1.2.3.4", "203.0.113.7"]),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // Only proxies, garbage or nothing: the connection's own address.
        assert_eq!(client(&["10.2.2.2"]), peer);
        assert_eq!(client(&["not-an-ip"]), peer);
        assert_eq!(client(&[]), peer);
        assert!(proxies.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!proxies.trusts("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn lists_of_networks_and_addresses_parse_and_nonsense_is_refused() {
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
        assert!(TrustedProxies::parse("::1, fd00::/8,192.168.0.0/16").is_ok());
        for bad in ["10.0.0.0/33", "proxy.example.com", "10.0.0"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }
}
