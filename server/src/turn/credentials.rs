//! Short-lived TURN credentials (the TURN REST API scheme, coturn's `use-auth-secret`): the
//! username is `expiry:user-id` (expiry in Unix seconds), the password
//! `base64(HMAC-SHA1(secret, username))`. Whoever knows the secret can issue them; the relay
//! checks them with the same secret, so coturn with the same `static-auth-secret` accepts ours.

use std::io;
use std::path::Path;

use base64::Engine as _;
use ring::hmac;

/// The longest time ahead an expiry may lie: coturn's own client asks for now + 24 h; a few
/// minutes more for clocks that differ.
pub const MAX_AHEAD_SECONDS: u64 = 86_400 + 300;

/// The file in the data directory that keeps a generated secret.
const SECRET_FILE: &str = "turn-secret";

/// Credentials for `user_id` valid until `now + ttl` (Unix seconds): `(username, password)`.
/// The pages' issuer and the tests use this one function.
pub fn credentials(secret: &str, user_id: &str, now: u64, ttl: u64) -> (String, String) {
    let username = format!("{}:{user_id}", now.saturating_add(ttl));
    let password = password(secret, &username);
    (username, password)
}

/// The password that belongs to `username` under `secret`.
pub fn password(secret: &str, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, username.as_bytes()))
}

/// Why a username is refused before its password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not `expiry:user-id`.
    Malformed,
    /// Its expiry has passed.
    Expired,
    /// Its expiry lies further ahead than anyone issues.
    TooFarAhead,
}

/// The user-id of a username that is still valid at `now` (Unix seconds).
pub fn user_of(username: &str, now: u64) -> Result<&str, Refused> {
    let (expiry, user) = username.split_once(':').ok_or(Refused::Malformed)?;
    let expiry: u64 = expiry.parse().map_err(|_| Refused::Malformed)?;
    if user.is_empty() {
        return Err(Refused::Malformed);
    }
    if expiry <= now {
        return Err(Refused::Expired);
    }
    if expiry - now > MAX_AHEAD_SECONDS {
        return Err(Refused::TooFarAhead);
    }
    Ok(user)
}

/// How long an allocation may go on after the expiry of the credentials it was made with
/// (refreshed, with new permissions and channels, by the same client with the same username):
/// a page's credentials expire an hour after it loaded, and a call that began then must not
/// drop mid-sentence. New allocations always need valid credentials.
pub const KEPT_AFTER_EXPIRY_SECONDS: u64 = 86_400;

/// The user-id of a username that has expired at `now`, at most
/// [`KEPT_AFTER_EXPIRY_SECONDS`] ago (for requests on the allocation made with it).
pub fn user_of_expired(username: &str, now: u64) -> Option<&str> {
    let (expiry, user) = username.split_once(':')?;
    let expiry: u64 = expiry.parse().ok()?;
    let expired = expiry <= now && now - expiry < KEPT_AFTER_EXPIRY_SECONDS;
    (expired && !user.is_empty()).then_some(user)
}

/// The secret: `given` (the flag), else the one kept in `data_dir`, made on first start in a
/// file only this user may read.
pub fn load_or_create_secret(given: Option<&str>, data_dir: &Path) -> io::Result<String> {
    if let Some(secret) = given.filter(|s| !s.is_empty()) {
        return Ok(secret.to_owned());
    }
    let path = data_dir.join(SECRET_FILE);
    if let Ok(kept) = std::fs::read_to_string(&path) {
        let kept = kept.trim();
        if !kept.is_empty() {
            crate::private::restrict(&path)?;
            return Ok(kept.to_owned());
        }
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| io::Error::other("no randomness for the TURN secret"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    crate::private::write(&path, secret.as_bytes())?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_turn_rest_scheme() {
        // As coturn (and `openssl dgst -sha1 -hmac secret -binary | base64`) computes it.
        let (username, password) = credentials("secret", "alice", 1_700_000_000, 3600);
        assert_eq!(username, "1700003600:alice");
        assert_eq!(password, "LLPLO4qjdVL2qZhwr3eImhn7J20=");
        assert_eq!(password.len(), 28, "20 bytes in base64");
        assert_ne!(
            password,
            credentials("other", "alice", 1_700_000_000, 3600).1
        );
    }

    #[test]
    fn usernames_must_be_unexpired_and_not_too_far_ahead() {
        let now = 1_700_000_000;
        assert_eq!(user_of("1700003600:alice", now), Ok("alice"));
        assert_eq!(user_of("1700086400:a:b", now), Ok("a:b"));
        assert_eq!(user_of("1700000000:alice", now), Err(Refused::Expired));
        assert_eq!(user_of("1800000000:alice", now), Err(Refused::TooFarAhead));
        for bad in ["alice", ":alice", "x:alice", "1700003600:", ""] {
            assert_eq!(user_of(bad, now), Err(Refused::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(None, dir.path()).unwrap();
        assert!(first.len() >= 40);
        assert_eq!(load_or_create_secret(None, dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            load_or_create_secret(Some("given"), dir.path()).unwrap(),
            "given"
        );
    }
}
