//! Webhooks per Standard Webhooks: the lead's CloudEvent as the body, `webhook-id` (the
//! delivery's id, the same on every retry), `webhook-timestamp` (unix seconds of this attempt)
//! and `webhook-signature`: `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under each
//! of the destination's secrets, space-separated, so a receiver rotating its secret accepts
//! either.
//!
//! Unless `webhook_allow_private` is on, a destination may not reach loopback, private,
//! link-local or other internal addresses: checked for literal addresses in the URL and, through
//! the client's resolver, for every address a name resolves to (no gap for DNS rebinding).
//! Redirects are not followed (a 3xx is a failure).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{StatusCode, Url};
use sha2::Sha256;
use showroom_config::Secret;
use showroom_proto::delivery::SECRET_PREFIX;

use crate::answer::Answer;

/// The shortest and longest signing key, in bytes (after base64).
const KEY_BYTES: std::ops::RangeInclusive<usize> = 16..=128;
/// How much of a failed response's body is kept in the log.
const BODY_SNIPPET: usize = 300;

/// Decodes a `whsec_<base64>` secret into its key bytes; the error says what is wrong and never
/// repeats the secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, &'static str> {
    let b64 = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or("a secret starts with whsec_")?;
    let key = B64
        .decode(b64.trim())
        .map_err(|_| "a secret is whsec_ followed by base64")?;
    if KEY_BYTES.contains(&key.len()) {
        Ok(key)
    } else {
        Err("a secret's key is 16 to 128 bytes (24 to 172 base64 characters)")
    }
}

/// The `webhook-signature` header: one `v1,<signature>` per secret, space-separated. Secrets
/// that do not decode are skipped (they were checked when stored).
pub fn signature(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut parts = Vec::with_capacity(secrets.len());
    for s in secrets {
        let Ok(key) = secret_key(s.expose()) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            continue;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        parts.push(format!("v1,{}", B64.encode(mac.finalize().into_bytes())));
    }
    parts.join(" ")
}

/// Checks a destination URL: http or https with a host, and no private address unless allowed.
pub fn check_url(url: &str) -> Result<Url, &'static str> {
    if url.len() > 2000 {
        return Err("at most 2000 characters");
    }
    let parsed = Url::parse(url).map_err(|_| "not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the URL must be http or https");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host");
    }
    Ok(parsed)
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// multicast, unspecified, or an IPv6 form of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names to their public addresses only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("the host resolves to no public address".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Sends webhooks.
pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
    allow_private: bool,
}

impl Sender {
    /// A sender whose requests take at most `timeout`.
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout);
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            timeout,
            allow_private,
        })
    }

    /// POSTs `body` (the CloudEvent JSON) to `url`, signed with every secret. `timeout`, when
    /// given, is shorter than the configured one (test sends).
    pub async fn send(
        &self,
        url: &str,
        secrets: &[Secret],
        webhook_id: &str,
        body: &str,
        timeout: Option<Duration>,
    ) -> Answer {
        let url = match check_url(url) {
            Ok(u) => u,
            Err(e) => return Answer::permanent(None, e),
        };
        if !self.allow_private
            && let Some(host) = url.host_str()
            && let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse()
            && !is_public(ip)
        {
            return Answer::permanent(None, "the URL points to a private address");
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature(secrets, webhook_id, timestamp, body.as_bytes());
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static(concat!("Showroom-Webhooks/", env!("CARGO_PKG_VERSION"))),
            )
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .timeout(timeout.unwrap_or(self.timeout).min(self.timeout))
            .body(body.to_owned());
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Answer::failed(None, describe(&e), None),
        };
        let status = response.status();
        let code = Some(i32::from(status.as_u16()));
        if status.is_success() {
            return Answer::Delivered { code };
        }
        if status == StatusCode::GONE {
            return Answer::Gone { code };
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::schedule::retry_after(v, chrono::Utc::now()));
        // A little of the body says why; never all of it.
        let mut snippet = Vec::new();
        while snippet.len() < BODY_SNIPPET {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let snippet = String::from_utf8_lossy(&snippet[..snippet.len().min(BODY_SNIPPET)])
            .trim()
            .to_string();
        let error = if snippet.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {snippet}", status.as_u16())
        };
        Answer::failed(code, error, retry_after)
    }
}

/// A transport failure in words, without the URL (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the receiver did not answer in time".into();
    }
    let mut text = if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_secret_signs_during_a_rotation() {
        let a = Secret::new(format!("whsec_{}", B64.encode([1u8; 32])));
        let b = Secret::new(format!("whsec_{}", B64.encode([2u8; 24])));
        let sig = signature(&[a, b], "id", 1, b"{}");
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn checks_secrets_and_urls() {
        assert!(secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(secret_key("whsec_!!").is_err());
        assert!(secret_key("whsec_AAAA").is_err());
        assert!(check_url("https://crm.example/hook?x=1").is_ok());
        assert!(check_url("ftp://crm.example/").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
