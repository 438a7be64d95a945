//! NATS JWTs (the decentralised auth of nats-server 2.x): operator, account and user claims,
//! signed with nkeys (`ed25519-nkey`), as nats-server reads them.
//!
//! The format is small and stable: `base64url(header).base64url(claims).base64url(signature)`,
//! the header `{"typ":"JWT","alg":"ed25519-nkey"}`, the signature by the issuer's nkey over the
//! first two parts, and `jti` the base32 SHA-512/256 of the claims without it. Written here
//! because the Rust crates for it either lack operator claims, revocations and JetStream limits
//! (`nats-jwt`) or generate their types at build time from a schema (`nats-io-jwt`, still
//! 0.x); see `docs/security.md`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512_256};

use crate::Error;

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// The claims every NATS JWT has, around its kind's own part (`nats`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims<T> {
    /// Unique id: the hash of the claims.
    #[serde(default)]
    pub jti: String,
    /// Issued at, Unix seconds. A revocation at time T invalidates user JWTs issued before T.
    pub iat: i64,
    /// The public key that signed it.
    pub iss: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// The public key it is about.
    pub sub: String,
    /// Expiry, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The kind's own claims.
    pub nats: T,
}

/// Subjects allowed and denied in one direction.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Permission {
    /// Subjects (with wildcards) allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Subjects denied even when allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// A user's claims: what it may publish and subscribe to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    /// Publish permissions.
    #[serde(rename = "pub", default)]
    pub publish: Permission,
    /// Subscribe permissions.
    #[serde(rename = "sub", default)]
    pub subscribe: Permission,
    /// Most subscriptions (-1: no limit).
    pub subs: i64,
    /// Most bytes (-1: no limit).
    pub data: i64,
    /// Largest message (-1: the server's limit).
    pub payload: i64,
    /// The account, when a signing key of the account (not the account itself) signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_account: Option<String>,
    /// Searchable tags (e.g. `group:<uuid>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: u8,
}

impl User {
    /// A user with these permissions.
    pub fn new(publish: Permission, subscribe: Permission) -> Self {
        Self {
            publish,
            subscribe,
            subs: -1,
            data: -1,
            payload: -1,
            issuer_account: None,
            tags: Vec::new(),
            kind: "user".into(),
            version: 2,
        }
    }
}

/// An account's limits (-1: none). JetStream is on when a storage limit is not 0.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountLimits {
    /// Subscriptions.
    pub subs: i64,
    /// Bytes.
    pub data: i64,
    /// Message size.
    pub payload: i64,
    /// Imports.
    pub imports: i64,
    /// Exports.
    pub exports: i64,
    /// Wildcard exports allowed.
    pub wildcards: bool,
    /// Connections.
    pub conn: i64,
    /// Leaf node connections.
    pub leaf: i64,
    /// JetStream memory storage, bytes.
    pub mem_storage: i64,
    /// JetStream file storage, bytes.
    pub disk_storage: i64,
    /// JetStream streams.
    pub streams: i64,
    /// JetStream consumers.
    pub consumer: i64,
}

impl AccountLimits {
    /// No limits; JetStream on when `jetstream`.
    pub fn unlimited(jetstream: bool) -> Self {
        let js = if jetstream { -1 } else { 0 };
        Self {
            subs: -1,
            data: -1,
            payload: -1,
            imports: -1,
            exports: -1,
            wildcards: true,
            conn: -1,
            leaf: -1,
            mem_storage: js,
            disk_storage: js,
            streams: js,
            consumer: js,
        }
    }
}

/// An account's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Account {
    /// Limits.
    pub limits: AccountLimits,
    /// Keys that may sign the account's users besides the account key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// Revoked users: public key → time; user JWTs issued before it no longer connect, and
    /// connections made with them are closed when the account is updated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    /// `account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: u8,
    /// Whatever else the account carries (set by an operator's own tools), kept as it is when
    /// the account is updated.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Account {
    /// An account with these signing keys.
    pub fn new(limits: AccountLimits, signing_keys: Vec<String>) -> Self {
        Self {
            limits,
            signing_keys,
            revocations: BTreeMap::new(),
            kind: "account".into(),
            version: 2,
            other: serde_json::Map::new(),
        }
    }
}

/// An operator's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operator {
    /// Keys that may sign accounts besides the operator key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// The system account's public key.
    pub system_account: String,
    /// `operator`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 2.
    pub version: u8,
}

impl Operator {
    /// An operator with this system account and signing keys.
    pub fn new(system_account: String, signing_keys: Vec<String>) -> Self {
        Self {
            signing_keys,
            system_account,
            kind: "operator".into(),
            version: 2,
        }
    }
}

/// Signs claims about `subject` (a public key) with `issuer`, issued at `iat`.
pub fn encode<T: Serialize>(
    name: &str,
    subject: &str,
    nats: &T,
    issuer: &KeyPair,
    iat: i64,
) -> Result<String, Error> {
    let mut claims = Claims {
        jti: String::new(),
        iat,
        iss: issuer.public_key(),
        name: name.to_string(),
        sub: subject.to_string(),
        exp: None,
        nats,
    };
    claims.jti =
        data_encoding::BASE32_NOPAD.encode(&Sha512_256::digest(serde_json::to_vec(&claims)?));
    let body = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
    );
    let signature = issuer.sign(body.as_bytes()).map_err(Error::key)?;
    Ok(format!("{body}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Reads a JWT's claims and checks its signature against its `iss`.
pub fn decode<T: DeserializeOwned>(jwt: &str) -> Result<Claims<T>, Error> {
    let bad = |why: &str| Error::Jwt(why.to_string());
    let mut parts = jwt.trim().split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not three dot-separated parts"));
    };
    let raw = URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|_| bad("claims are not base64url"))?;
    let parsed: Claims<T> = serde_json::from_slice(&raw)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| bad("signature is not base64url"))?;
    KeyPair::from_public_key(&parsed.iss)
        .and_then(|k| k.verify(format!("{header}.{claims}").as_bytes(), &signature))
        .map_err(|_| bad("the signature does not match its issuer"))?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_user_reads_back_and_a_changed_one_does_not() {
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let claims = User::new(
            Permission {
                allow: vec!["a.b".into()],
                deny: vec![],
            },
            Permission::default(),
        );
        let jwt = encode("svc", &user.public_key(), &claims, &account, 1_700_000_000).unwrap();
        let back: Claims<User> = decode(&jwt).unwrap();
        assert_eq!(back.nats, claims);
        assert_eq!(back.iss, account.public_key());
        assert_eq!(back.sub, user.public_key());
        assert_eq!(back.iat, 1_700_000_000);
        assert!(!back.jti.is_empty());
        // The header nats-server expects, and a jti that is the claims' hash.
        let header = URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        assert_eq!(header, HEADER.as_bytes());
        let mut unhashed = back.clone();
        unhashed.jti = String::new();
        let hash = data_encoding::BASE32_NOPAD
            .encode(&Sha512_256::digest(serde_json::to_vec(&unhashed).unwrap()));
        assert_eq!(back.jti, hash);

        // Widen the permissions without the key: the signature no longer matches.
        let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
        let forged = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap())
            .unwrap()
            .replace("a.b", ">");
        parts[1] = URL_SAFE_NO_PAD.encode(forged);
        assert!(decode::<User>(&parts.join(".")).is_err());
    }

    #[test]
    fn an_account_keeps_fields_it_does_not_know() {
        let operator = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let mut claims = Account::new(AccountLimits::unlimited(true), vec![]);
        claims
            .other
            .insert("description".into(), serde_json::json!("set by nsc"));
        let jwt = encode("APP", &account.public_key(), &claims, &operator, 1).unwrap();
        let back: Claims<Account> = decode(&jwt).unwrap();
        assert_eq!(back.nats.other["description"], "set by nsc");
        assert_eq!(back.nats.limits.disk_storage, -1);
    }
}
