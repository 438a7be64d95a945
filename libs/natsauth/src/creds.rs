//! Credentials files (`.creds`): a user JWT and its nkey seed in the text form every NATS client
//! reads (`nats --creds`, nats.py `user_credentials=`, async-nats `credentials_file`).

use nkeys::KeyPair;

use crate::Error;

/// Writes a user's JWT and seed as a `.creds` file's text.
pub fn render(jwt: &str, user: &KeyPair) -> Result<String, Error> {
    let seed = user.seed().map_err(Error::key)?;
    Ok(format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    ))
}

/// The JWT and the seed in a `.creds` file's text.
pub fn parse(text: &str) -> Result<(String, String), Error> {
    let block = |begin: &str| {
        text.lines()
            .skip_while(|l| !l.trim().starts_with(begin))
            .nth(1)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with("---"))
            .ok_or_else(|| Error::Creds(format!("no `{begin}` block")))
    };
    Ok((
        block("-----BEGIN NATS USER JWT-----")?,
        block("-----BEGIN USER NKEY SEED-----")?,
    ))
}

/// The inbox prefix a credential's permissions give it (`_INBOX_<name>` when it may subscribe
/// to `_INBOX_<name>.>` only): its client must use it, or no reply reaches it.
pub fn inbox_prefix(text: &str) -> Result<Option<String>, Error> {
    let (token, _) = parse(text)?;
    let claims: crate::jwt::Claims<crate::jwt::User> = crate::jwt::decode(&token)?;
    Ok(claims
        .nats
        .subscribe
        .allow
        .iter()
        .filter_map(|s| s.strip_suffix(".>"))
        .find(|p| p.starts_with("_INBOX_"))
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creds_file_reads_back() {
        let user = KeyPair::new_user();
        let text = render("eyJ.a.b", &user).unwrap();
        let (jwt, seed) = parse(&text).unwrap();
        assert_eq!(jwt, "eyJ.a.b");
        assert_eq!(
            KeyPair::from_seed(&seed).unwrap().public_key(),
            user.public_key()
        );
        assert!(parse("nothing here").is_err());
    }
}
