//! One installation's chain of trust for NATS (operator mode): the operator, the system account,
//! the application account every service and integrator lives in, and the keys that sign them.
//!
//! - The operator key signs only the operator JWT; an operator *signing key* signs the accounts
//!   (crm-export holds it to publish the application account with new revocations).
//! - The application account (`SHOWROOM`) has two signing keys: one for the services' users
//!   (used when credentials are made, then kept offline), one for integrators' users (held by
//!   crm-export, which issues them).
//! - nats-server trusts the operator JWT and resolves accounts with its `full` resolver, which
//!   takes signed account updates at run time (`$SYS.REQ.CLAIMS.UPDATE`): a revocation needs no
//!   restart and no edited file.

use std::collections::BTreeMap;
use std::path::Path;

use nkeys::KeyPair;
use serde::{Deserialize, Serialize};
use showroom_proto::access::{self, Permissions};
use uuid::Uuid;

use crate::jwt::{self, Account, AccountLimits, Operator, Permission, User};
use crate::{Error, creds};

/// The application account's name.
pub const APP_ACCOUNT: &str = "SHOWROOM";
/// The system account's name.
pub const SYSTEM_ACCOUNT: &str = "SYS";

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The longest protocol line nats-server accepts (its default is 4 KiB). A client's `CONNECT`
/// carries its user JWT, and the gateway's, with every subject it may use, is over 4 KiB.
pub const MAX_CONTROL_LINE: usize = 32 * 1024;

/// The keys of one installation. Keep them secret: whoever has them can mint credentials.
pub struct Trust {
    operator: KeyPair,
    operator_signer: KeyPair,
    system: KeyPair,
    app: KeyPair,
    service_signer: KeyPair,
    integrator_signer: KeyPair,
}

/// The seeds, as saved (`Trust::to_json`).
#[derive(Serialize, Deserialize)]
struct Seeds {
    operator: String,
    operator_signer: String,
    system: String,
    app: String,
    service_signer: String,
    integrator_signer: String,
}

fn seed(k: &KeyPair) -> Result<String, Error> {
    k.seed().map_err(Error::key)
}

fn from_seed(s: &str) -> Result<KeyPair, Error> {
    KeyPair::from_seed(s.trim()).map_err(Error::key)
}

/// A user JWT's claims for `p` in the application account `app` (its public key).
fn user_claims(p: &Permissions, app: &str, tags: Vec<String>) -> User {
    let mut u = User::new(
        Permission {
            allow: p.publish.clone(),
            deny: Vec::new(),
        },
        Permission {
            allow: p.subscribe.clone(),
            deny: Vec::new(),
        },
    );
    u.issuer_account = Some(app.to_string());
    u.tags = tags;
    u
}

impl Trust {
    /// New keys for a new installation.
    pub fn generate() -> Self {
        Self {
            operator: KeyPair::new_operator(),
            operator_signer: KeyPair::new_operator(),
            system: KeyPair::new_account(),
            app: KeyPair::new_account(),
            service_signer: KeyPair::new_account(),
            integrator_signer: KeyPair::new_account(),
        }
    }

    /// Every seed as JSON, to keep the same chain across restarts (the dev launcher).
    pub fn to_json(&self) -> Result<String, Error> {
        let seeds = Seeds {
            operator: seed(&self.operator)?,
            operator_signer: seed(&self.operator_signer)?,
            system: seed(&self.system)?,
            app: seed(&self.app)?,
            service_signer: seed(&self.service_signer)?,
            integrator_signer: seed(&self.integrator_signer)?,
        };
        Ok(serde_json::to_string_pretty(&seeds)?)
    }

    /// The chain saved by [`Trust::to_json`].
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let s: Seeds = serde_json::from_str(text)?;
        Ok(Self {
            operator: from_seed(&s.operator)?,
            operator_signer: from_seed(&s.operator_signer)?,
            system: from_seed(&s.system)?,
            app: from_seed(&s.app)?,
            service_signer: from_seed(&s.service_signer)?,
            integrator_signer: from_seed(&s.integrator_signer)?,
        })
    }

    /// The application account's public key.
    pub fn app_account(&self) -> String {
        self.app.public_key()
    }

    /// The operator JWT nats-server trusts.
    pub fn operator_jwt(&self) -> Result<String, Error> {
        let claims = Operator::new(
            self.system.public_key(),
            vec![self.operator_signer.public_key()],
        );
        jwt::encode(
            "showroom",
            &self.operator.public_key(),
            &claims,
            &self.operator,
            now(),
        )
    }

    /// The system account's JWT.
    pub fn system_account_jwt(&self) -> Result<String, Error> {
        let claims = Account::new(AccountLimits::unlimited(false), Vec::new());
        jwt::encode(
            SYSTEM_ACCOUNT,
            &self.system.public_key(),
            &claims,
            &self.operator_signer,
            now(),
        )
    }

    /// The application account's JWT, with JetStream and the two user signing keys.
    pub fn app_account_jwt(&self) -> Result<String, Error> {
        let claims = Account::new(
            AccountLimits::unlimited(true),
            vec![
                self.service_signer.public_key(),
                self.integrator_signer.public_key(),
            ],
        );
        jwt::encode(
            APP_ACCOUNT,
            &self.app.public_key(),
            &claims,
            &self.operator_signer,
            now(),
        )
    }

    /// The credentials of service `name` (one of `showroom_proto::access::SERVICES`).
    pub fn service_creds(&self, name: &str) -> Result<String, Error> {
        let p = access::service(name).ok_or_else(|| Error::UnknownService(name.to_string()))?;
        self.app_user(name, &p)
    }

    /// The operator's own user in the application account: every subject. For the `nats` CLI
    /// and tests; never given to a service or an integrator.
    pub fn operator_user_creds(&self) -> Result<String, Error> {
        self.app_user("operator", &access::operator_user())
    }

    fn app_user(&self, name: &str, p: &Permissions) -> Result<String, Error> {
        let user = KeyPair::new_user();
        let claims = user_claims(p, &self.app.public_key(), Vec::new());
        let token = jwt::encode(
            name,
            &user.public_key(),
            &claims,
            &self.service_signer,
            now(),
        )?;
        creds::render(&token, &user)
    }

    /// A user of the system account (server events, account updates): for crm-export, which
    /// publishes revocations and watches integrators connect.
    pub fn system_user_creds(&self) -> Result<String, Error> {
        let user = KeyPair::new_user();
        let claims = User::new(
            Permission {
                allow: vec![
                    "$SYS.REQ.CLAIMS.UPDATE".into(),
                    "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP".into(),
                ],
                deny: Vec::new(),
            },
            Permission {
                allow: vec![
                    format!("$SYS.ACCOUNT.{}.CONNECT", self.app.public_key()),
                    "_INBOX.>".into(),
                ],
                deny: Vec::new(),
            },
        );
        let token = jwt::encode(
            "crm-export-system",
            &user.public_key(),
            &claims,
            &self.system,
            now(),
        )?;
        creds::render(&token, &user)
    }

    /// What crm-export holds to issue and revoke integrators' credentials.
    pub fn issuer(&self) -> Result<IssuerKeys, Error> {
        Ok(IssuerKeys {
            app_account: self.app.public_key(),
            integrator_seed: seed(&self.integrator_signer)?,
            operator_seed: seed(&self.operator_signer)?,
        })
    }

    /// Writes what a local nats-server and the services need into `dir`: each service's
    /// `<name>.creds`, the operator user's `operator.creds`, crm-export's `system.creds` and
    /// `issuer.json` (for integrators' credentials), and `accounts/` for the server's resolver. Returns the server configuration that trusts them. For the dev launcher, the
    /// tests and `showroom-trust`; production keeps the credentials in Secrets
    /// (`docs/security.md`).
    pub fn write_local(&self, dir: &Path) -> Result<String, Error> {
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| Error::Io(path.display().to_string(), e))
        };
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.display().to_string(), e))?;
        for name in access::SERVICES {
            write(&format!("{name}.creds"), self.service_creds(name)?)?;
        }
        write("operator.creds", self.operator_user_creds()?)?;
        write("system.creds", self.system_user_creds()?)?;
        write(
            "issuer.json",
            serde_json::to_string_pretty(&self.issuer()?)?,
        )?;
        self.server_config(&dir.join("accounts"))
    }

    /// The part of nats-server's configuration that trusts this chain: the operator (inline),
    /// the system account, the `full` resolver (its store in `resolver_dir`, on a persistent
    /// volume in production) with both accounts preloaded, and a control line long enough for
    /// the services' JWTs. Include it in the server's configuration file.
    pub fn server_config(&self, resolver_dir: &Path) -> Result<String, Error> {
        Ok(format!(
            "max_control_line: {MAX_CONTROL_LINE}\noperator: {op}\nsystem_account: {sys}\n\
             resolver: {{\n  type: full\n  dir: {dir:?}\n  allow_delete: false\n  interval: \"2m\"\n  timeout: \"1.9s\"\n}}\n\
             resolver_preload: {{\n  {sys}: {sysjwt}\n  {app}: {appjwt}\n}}\n",
            op = self.operator_jwt()?,
            sys = self.system.public_key(),
            dir = resolver_dir.display().to_string(),
            sysjwt = self.system_account_jwt()?,
            app = self.app.public_key(),
            appjwt = self.app_account_jwt()?,
        ))
    }
}

/// The seeds crm-export holds (`SHOWROOM_INTEGRATOR_SEED`, `SHOWROOM_OPERATOR_SIGNING_SEED`) and
/// the application account they act for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerKeys {
    /// The application account's public key.
    pub app_account: String,
    /// The account signing key for integrators' users.
    pub integrator_seed: String,
    /// The operator signing key, to publish the account with revocations.
    pub operator_seed: String,
}

/// A new integrator credential.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The `.creds` file's text: shown once, never stored.
    pub creds: String,
    /// The user's public key (stored, for revocation and for "last used").
    pub user: String,
}

impl IssuerKeys {
    /// Signs a credential for an integrator of `group` (credential id `credential`).
    pub fn integrator_creds(
        &self,
        group: Uuid,
        credential: Uuid,
        name: &str,
    ) -> Result<Issued, Error> {
        let signer = from_seed(&self.integrator_seed)?;
        let user = KeyPair::new_user();
        let tags = vec![format!("group:{group}"), format!("credential:{credential}")];
        let claims = user_claims(
            &access::integrator(group, credential),
            &self.app_account,
            tags,
        );
        let token = jwt::encode(name, &user.public_key(), &claims, &signer, now())?;
        Ok(Issued {
            creds: creds::render(&token, &user)?,
            user: user.public_key(),
        })
    }

    /// The application account `current` (its JWT as the server has it) with these users
    /// revoked as of their times, signed anew, to publish on `$SYS.REQ.CLAIMS.UPDATE`; `None`
    /// when it revokes each of them already (at that time or later). Everything else in the
    /// account is kept as it is.
    pub fn with_revocations(
        &self,
        current: &str,
        revoked: &BTreeMap<String, i64>,
    ) -> Result<Option<String>, Error> {
        let claims: jwt::Claims<Account> = jwt::decode(current)?;
        if claims.sub != self.app_account {
            return Err(Error::Jwt(format!(
                "the account JWT is for {}, not the application account {}",
                claims.sub, self.app_account
            )));
        }
        let mut account = claims.nats;
        let mut changed = false;
        for (user, at) in revoked {
            let have = account.revocations.get(user).copied().unwrap_or(i64::MIN);
            if have < *at {
                account.revocations.insert(user.clone(), *at);
                changed = true;
            }
        }
        if !changed {
            return Ok(None);
        }
        let signer = from_seed(&self.operator_seed)?;
        // A later `iat` than the server's copy, or it keeps its own.
        let iat = now().max(claims.iat + 1);
        jwt::encode(&claims.name, &claims.sub, &account, &signer, iat).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nats-server 2.9 keeps, for a connection with a response permission, every message
    /// delivered to it with a reply subject (JetStream's deliveries too) and rescans them all on
    /// each delivery: services answer through publish rights instead (`showroom_proto::access`).
    #[test]
    fn no_credential_carries_a_response_permission() {
        let trust = Trust::generate();
        let mut issued: Vec<(String, String)> = access::SERVICES
            .iter()
            .map(|n| (n.to_string(), trust.service_creds(n).unwrap()))
            .collect();
        issued.push(("operator".into(), trust.operator_user_creds().unwrap()));
        issued.push(("system".into(), trust.system_user_creds().unwrap()));
        let (g, c) = (Uuid::new_v4(), Uuid::new_v4());
        let integrator = trust
            .issuer()
            .unwrap()
            .integrator_creds(g, c, "integrator")
            .unwrap();
        issued.push(("integrator".into(), integrator.creds));
        for (name, text) in issued {
            let (token, _) = creds::parse(&text).unwrap();
            let claims: jwt::Claims<serde_json::Value> = jwt::decode(&token).unwrap();
            assert!(claims.nats.get("pub").is_some(), "{name}: {}", claims.nats);
            assert!(claims.nats.get("resp").is_none(), "{name}: {}", claims.nats);
        }
    }

    #[test]
    fn every_credential_fits_the_servers_control_line() {
        let trust = Trust::generate();
        for name in access::SERVICES {
            let (jwt, _) = creds::parse(&trust.service_creds(name).unwrap()).unwrap();
            // CONNECT adds the signature, the name and options: keep half the line free.
            assert!(
                jwt.len() < MAX_CONTROL_LINE / 2,
                "{name}: {} bytes",
                jwt.len()
            );
        }
    }
}
