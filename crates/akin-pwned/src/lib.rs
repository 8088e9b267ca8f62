//! The Have I Been Pwned range API, as authentik's password policy asks it: the SHA-1 of
//! the password is computed here, only its first five hex digits are sent
//! (`GET {base}/range/ABCDE`), and the answer's lines (`SUFFIX:COUNT`) are searched for the
//! rest. The password and its full hash never leave the process.
//!
//! The client is hyper's with rustls (ring, the Mozilla roots from `webpki-roots`), as
//! akin's SMTP and PostgreSQL connections: no OpenSSL, no system certificate store to
//! depend on, and nothing shared with other HTTP clients in the process.

use std::sync::Arc;
use std::time::Duration;

use akin_domain::policy::password::BreachedPasswords;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha1::{Digest, Sha1};

/// The public range API.
pub const DEFAULT_BASE: &str = "https://api.pwnedpasswords.com";

/// How long a lookup may take: a person is waiting for the form.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest answer read (a real one is about 40 KB; padded, under 100 KB).
const MAX_ANSWER: usize = 1 << 20;

/// A client of one range API.
#[derive(Clone)]
pub struct PwnedPasswords {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    base: String,
}

impl PwnedPasswords {
    /// A client of the range API at `base` (e.g. [`DEFAULT_BASE`], or a mirror).
    pub fn new(base: &str) -> Result<Self, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let base = base.trim_end_matches('/').to_owned();
        base.parse::<hyper::Uri>()
            .map_err(|e| format!("{base}: {e}"))?;
        Ok(PwnedPasswords {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base,
        })
    }

    async fn lookup(&self, password: &str) -> Result<u64, String> {
        let digest = hex_upper(&Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        let url = format!("{}/range/{prefix}", self.base);
        let unreachable = |e: &dyn std::fmt::Display| format!("{}: {e}", self.base);
        let request = hyper::Request::get(&url)
            .header("add-padding", "true")
            .header("user-agent", concat!("akin/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| unreachable(&e))?;
        let answer = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(&e))?;
            if !response.status().is_success() {
                return Err(unreachable(&format!("answered {}", response.status())));
            }
            Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| unreachable(&e))
        };
        let body = tokio::time::timeout(TIMEOUT, answer)
            .await
            .map_err(|_| unreachable(&"no answer in time"))??;
        Ok(count_in(&String::from_utf8_lossy(&body), suffix))
    }
}

#[async_trait::async_trait]
impl BreachedPasswords for PwnedPasswords {
    async fn count(&self, password: &str) -> Result<u64, String> {
        self.lookup(password).await
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The count on the answer's line for `suffix` (0 when absent; padding lines say 0 too).
fn count_in(answer: &str, suffix: &str) -> u64 {
    answer
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(hash, _)| hash.eq_ignore_ascii_case(suffix))
        .and_then(|(_, count)| count.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_is_found_ignoring_case_and_padding() {
        let answer = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                      1E4C9B93F3F0682250B6CF8331B7EE68FD8:3861493\r\n\
                      FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0\r\n";
        // SHA-1("password") is 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8.
        let digest = hex_upper(&Sha1::digest(b"password"));
        assert_eq!(&digest[..5], "5BAA6");
        assert_eq!(count_in(answer, &digest[5..]), 3_861_493);
        assert_eq!(count_in(answer, &digest[5..].to_lowercase()), 3_861_493);
        assert_eq!(count_in(answer, "0000000000000000000000000000000000A"), 0);
        assert_eq!(count_in("garbage", &digest[5..]), 0);
    }
}
