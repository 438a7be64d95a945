//! Typed configuration for Showroom services: defaults in code, overridden by environment.
//!
//! Each service defines one `Config` struct whose `Default` holds the development defaults, and
//! loads it with [`load`]: every field can be overridden by an environment variable named
//! `SHOWROOM_<FIELD>` (e.g. `SHOWROOM_NATS_URL`). Secrets are wrapped in [`Secret`], whose
//! `Debug` never prints the value, so a logged config never leaks them.
//!
//! # Layout
//! - [`load`]: merge defaults with the environment.
//! - [`Common`]: the fields every service config shares (flattened into it).
//! - [`Secret`]: a value that is never printed.
//! - [`set_by_operator`]: refuses an empty value or a placeholder host in an address that
//!   reaches shoppers and dealers (the console's URL in lead events, e-mail senders).
//! - [`ConfigError`]: what went wrong, naming the variable.
//! - `redis_client` (feature `redis`): the Redis client a URL and a CA file configure, for
//!   presence and the gateway's shared limits.

use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The prefix of every variable that overrides a config field.
pub const ENV_PREFIX: &str = "SHOWROOM_";

/// A configuration value could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// Loads `T` from its defaults, overridden by `SHOWROOM_*` environment variables.
pub fn load<T>() -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    from_figment(Figment::from(Serialized::defaults(T::default())).merge(Env::prefixed(ENV_PREFIX)))
}

/// Loads `T` from its defaults, overridden by the given pairs (as if they were the
/// environment, without the prefix). Lets tests configure a service without touching the
/// process environment.
pub fn load_from<T, I, K, V>(pairs: I) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut fig = Figment::from(Serialized::defaults(T::default()));
    for (k, v) in pairs {
        let value: figment::value::Value = v.as_ref().parse().unwrap_or_else(|_| v.as_ref().into());
        fig = fig.merge(Serialized::default(&k.as_ref().to_ascii_lowercase(), value));
    }
    from_figment(fig)
}

fn from_figment<T: DeserializeOwned>(fig: Figment) -> Result<T, ConfigError> {
    // The figment error names the key but may echo the value; keep only the kind and path,
    // because the value could be a secret.
    fig.extract().map_err(|e| {
        let path = e.path.join(".");
        let var = format!("{ENV_PREFIX}{}", path.to_ascii_uppercase());
        ConfigError(format!("{var}: {}", describe(&e.kind)))
    })
}

fn describe(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(_, expected) => format!("expected {expected}"),
        Kind::InvalidValue(_, expected) => format!("expected {expected}"),
        Kind::MissingField(f) => format!("missing field {f}"),
        other => other.to_string(),
    }
}

/// Checks an address only the operator can know (`SHOWROOM_CONSOLE_URL`, `SHOWROOM_SMTP_FROM`):
/// it must be set, and its host (a URL's, or an e-mail address's domain, `Name <a@host>`
/// included) must not be one of the names reserved for examples (RFC 2606 and 6761: `*.invalid`,
/// `*.example`, `*.test`, `example.com`, `example.net`, `example.org` and their subdomains),
/// which a copied example leaves behind and which would reach lead events and e-mails.
/// `localhost` stays allowed for development machines.
pub fn set_by_operator(var: &str, value: &str) -> Result<(), ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError(format!(
            "{var} is empty: set it to your installation's own address \
             (k8s/overlays/production/site.env)"
        )));
    }
    let host = host_of(value).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    let reserved_tld = ["invalid", "example", "test"]
        .iter()
        .any(|t| host == *t || host.ends_with(&format!(".{t}")));
    let reserved_domain = ["example.com", "example.net", "example.org"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")));
    if host.is_empty() || reserved_tld || reserved_domain {
        return Err(ConfigError(format!(
            "{var} names the placeholder host {host:?}: set it to your installation's own \
             address (k8s/overlays/production/site.env)"
        )));
    }
    Ok(())
}

/// The host of a URL (`https://host:port/path`) or of an e-mail address (`Name <a@host>`).
fn host_of(value: &str) -> &str {
    if let Some((_, rest)) = value.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        return authority.split(':').next().unwrap_or_default();
    }
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    };
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// The fields every service's config shares; each service flattens it into its own `Config`
/// (`#[serde(flatten)]`), so the variables are the same everywhere: `SHOWROOM_NATS_URL`,
/// `SHOWROOM_DATABASE_URL`, `SHOWROOM_ADMIN_ADDR`, `SHOWROOM_RUN_MIGRATIONS`,
/// `SHOWROOM_MAX_DB_CONNECTIONS`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Common {
    /// NATS server URL, or several separated by commas (a cluster's seeds; the client also
    /// learns the others from the cluster and moves to another when its server goes).
    pub nats_url: String,
    /// The service's NATS credentials file (`.creds`: its user JWT and nkey seed), mounted from
    /// a Secret. Unset: connect without credentials (only a server without auth accepts that).
    #[serde(default)]
    pub nats_creds: Option<std::path::PathBuf>,
    /// The CA (PEM) that signed NATS's certificate, for `tls://` URLs (`SHOWROOM_NATS_CA`).
    /// Unset: the system's roots. TLS to Postgres is set in its URL (`sslmode=verify-full`,
    /// `sslrootcert=<file>`).
    #[serde(default)]
    pub nats_ca: Option<std::path::PathBuf>,
    /// Postgres URL (may hold a password, hence secret).
    pub database_url: Secret,
    /// Where `/healthz` and `/readyz` listen; each service has its own default port so a
    /// whole system can run on one machine.
    pub admin_addr: std::net::SocketAddr,
    /// Apply pending migrations at start (turn off when a migration job does it).
    pub run_migrations: bool,
    /// Largest number of Postgres connections of one process (see the budget in
    /// `docs/architecture.md`).
    pub max_db_connections: u32,
    /// Copies of each JetStream stream this service creates (1 in dev, 3 on a production
    /// cluster); a stream that exists keeps the replicas it has.
    #[serde(default = "one")]
    pub stream_replicas: usize,
}

fn one() -> usize {
    1
}

impl Common {
    /// Development defaults, with the service's own admin port.
    pub fn with_admin_port(port: u16) -> Self {
        Self {
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_creds: None,
            nats_ca: None,
            database_url: Secret::new("postgres://postgres@127.0.0.1:5432/showroom"),
            admin_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            run_migrations: true,
            max_db_connections: 10,
            stream_replicas: 1,
        }
    }
}

/// A secret value (password, signing key, URL with credentials). Never printed by `Debug`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_of_addresses_are_refused() {
        let refused = [
            "",
            "  ",
            "https://chat.example.invalid/console",
            "https://chat.example.com/console",
            "http://example.org:8080",
            "https://dealer.test/console",
            "Showroom <no-reply@showroom.invalid>",
            "leads@example.net",
            "Showroom <no-reply@>",
        ];
        for v in refused {
            let e = set_by_operator("SHOWROOM_X", v).expect_err(v).to_string();
            assert!(e.contains("SHOWROOM_X"), "{e}");
        }
        let accepted = [
            "https://chat.smithautogroup.com/console",
            "http://127.0.0.1:8080/console",
            "Showroom <no-reply@showroom.localhost>",
            "leads@mail.smithauto.net",
            "https://user:pw@chat.dealer.co.uk:8443/console?x=1",
        ];
        for v in accepted {
            set_by_operator("SHOWROOM_X", v).expect(v);
        }
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Sample {
        nats_url: String,
        admin_addr: std::net::SocketAddr,
        max_chats: u32,
        token_secret: Secret,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                nats_url: "nats://127.0.0.1:4222".into(),
                admin_addr: "127.0.0.1:9090".parse().unwrap(),
                max_chats: 3,
                token_secret: Secret::default(),
            }
        }
    }

    #[test]
    fn overrides_replace_defaults() {
        let c: Sample =
            load_from([("NATS_URL", "nats://10.0.0.1:4222"), ("MAX_CHATS", "5")]).unwrap();
        assert_eq!(c.nats_url, "nats://10.0.0.1:4222");
        assert_eq!(c.max_chats, 5);
        assert_eq!(c.admin_addr, Sample::default().admin_addr);
    }

    #[test]
    fn bad_value_names_the_variable_and_hides_the_value() {
        let err =
            load_from::<Sample, _, _, _>([("ADMIN_ADDR", "hunter2-not-an-addr")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SHOWROOM_ADMIN_ADDR"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct WithCommon {
        #[serde(flatten)]
        common: Common,
        heartbeat_secs: u64,
    }

    impl Default for WithCommon {
        fn default() -> Self {
            Self {
                common: Common::with_admin_port(9101),
                heartbeat_secs: 60,
            }
        }
    }

    #[test]
    fn flattened_common_fields_take_overrides() {
        let c: WithCommon = load_from([
            ("NATS_URL", "nats://n:1"),
            ("RUN_MIGRATIONS", "false"),
            ("HEARTBEAT_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(c.common.nats_url, "nats://n:1");
        assert!(!c.common.run_migrations);
        assert_eq!(c.heartbeat_secs, 5);
        assert_eq!(c.common.admin_addr.port(), 9101);
    }

    #[test]
    fn secrets_are_not_printed() {
        let c: Sample = load_from([("TOKEN_SECRET", "s3cr3t")]).unwrap();
        assert_eq!(c.token_secret.expose(), "s3cr3t");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}

/// Why a Redis client could not be made.
#[cfg(feature = "redis")]
#[derive(Debug, thiserror::Error)]
pub enum RedisConfigError {
    /// The CA file cannot be read.
    #[error("reading the Redis CA file {path}: {source}")]
    Ca {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The URL does not parse, or TLS cannot be set up.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// The Redis client for `url` (`redis://`, or `rediss://` for TLS, verified against the
/// PEM file `ca` when given, else the system's roots). Nothing connects yet.
#[cfg(feature = "redis")]
pub fn redis_client(
    url: &str,
    ca: Option<&std::path::Path>,
) -> Result<redis::Client, RedisConfigError> {
    Ok(match ca {
        Some(ca) => {
            let root = std::fs::read(ca).map_err(|source| RedisConfigError::Ca {
                path: ca.to_path_buf(),
                source,
            })?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root),
            };
            redis::Client::build_with_tls(url, certs)?
        }
        None => redis::Client::open(url)?,
    })
}
