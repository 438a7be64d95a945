//! Signed visitor tokens: how a reload or another page of the same site resumes the same
//! conversation without any account.
//!
//! A token is `v1.<website id>.<visitor id>.<signature>`, the signature being the base64url
//! HMAC-SHA256 of the part before it under the gateway's secret. A token of another website,
//! forged or malformed, is simply not accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Signs and checks visitor tokens.
#[derive(Clone)]
pub struct VisitorKeys {
    secret: Vec<u8>,
}

impl VisitorKeys {
    /// Keys from a secret (at least 16 bytes is wise).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        mac
    }

    /// A token for `visitor` on `website`.
    pub fn issue(&self, website: Uuid, visitor: Uuid) -> String {
        let body = format!("v1.{website}.{visitor}");
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&body).finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// The visitor named by `token` if it is genuine and for `website`.
    pub fn verify(&self, website: Uuid, token: &str) -> Option<Uuid> {
        let (body, sig) = token.rsplit_once('.')?;
        let mut parts = body.split('.');
        if parts.next()? != "v1" || parts.next()?.parse::<Uuid>().ok()? != website {
            return None;
        }
        let visitor: Uuid = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(body).verify_slice(&sig).ok()?;
        Some(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genuine_tokens_verify_and_others_do_not() {
        let keys = VisitorKeys::new(b"0123456789abcdef0123456789abcdef");
        let (site, other_site, visitor) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let token = keys.issue(site, visitor);
        assert_eq!(keys.verify(site, &token), Some(visitor));
        assert_eq!(
            keys.verify(other_site, &token),
            None,
            "bound to its website"
        );
        let forged = token.replace(&visitor.to_string(), &Uuid::new_v4().to_string());
        assert_eq!(
            keys.verify(site, &forged),
            None,
            "signature covers the visitor"
        );
        assert_eq!(
            VisitorKeys::new(b"another secret!!").verify(site, &token),
            None
        );
        for junk in ["", "v1", "v1.x.y.z", "v2.a.b.c", &format!("{token}.extra")] {
            assert_eq!(keys.verify(site, junk), None, "{junk}");
        }
    }
}
