//! Synapse's shared-secret registration (`/_synapse/admin/v1/register`): single-use
//! nonces that expire after a minute, and the HMAC-SHA1 over
//! `nonce \0 username \0 password \0 admin|notadmin [\0 user_type]` keyed with
//! `registration_shared_secret`, in Synapse's exact format, so `register_new_matrix_user`
//! and `mxmod register-user` both work against mxmod.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// How long a nonce is accepted (Synapse's `NONCE_TIMEOUT`).
pub(crate) const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// At most this many nonces are outstanding; more requests are refused until some expire,
/// so a flood of `GET`s cannot grow the table without bound.
pub(crate) const MAX_OUTSTANDING_NONCES: usize = 10_000;

/// The outstanding nonces and when each was issued.
#[derive(Default)]
pub(crate) struct Nonces {
    issued: Mutex<HashMap<String, Instant>>,
}

impl Nonces {
    /// A new nonce (128 hex digits, as Synapse's `token_hex(64)`), or `None` when
    /// [`MAX_OUTSTANDING_NONCES`] unexpired ones are outstanding.
    pub(crate) fn issue(&self) -> Option<String> {
        let mut issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        issued.retain(|_, at| now.duration_since(*at) <= NONCE_LIFETIME);
        if issued.len() >= MAX_OUTSTANDING_NONCES {
            return None;
        }
        let mut bytes = [0u8; 64];
        rand::rng().fill_bytes(&mut bytes);
        let nonce = hex(&bytes);
        issued.insert(nonce.clone(), now);
        Some(nonce)
    }

    /// Whether `nonce` was issued and has not expired; it is used up either way.
    pub(crate) fn take(&self, nonce: &str) -> bool {
        let mut issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        issued.remove(nonce).is_some_and(|at| at.elapsed() <= NONCE_LIFETIME)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The MAC a registration request must carry, as lowercase hex.
pub(crate) fn mac(
    secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(username.as_bytes());
    mac.update(b"\x00");
    mac.update(password.as_bytes());
    mac.update(b"\x00");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    if let Some(user_type) = user_type.filter(|t| !t.is_empty()) {
        mac.update(b"\x00");
        mac.update(user_type.as_bytes());
    }
    hex(&mac.finalize().into_bytes())
}

/// Compares the expected MAC with the one received in constant time.
pub(crate) fn mac_matches(expected: &str, received: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_is_synapses_hmac_sha1() {
        // Python: hmac.new(b"secret", b"abc\x00alice\x00pw\x00notadmin", hashlib.sha1).hexdigest()
        let expected = "42e32623fe124933c326f9d2d67ff7c617915a10";
        assert_eq!(mac("secret", "abc", "alice", "pw", false, None), expected);
        assert_eq!(expected.len(), 40);
        assert_ne!(mac("secret", "abc", "alice", "pw", true, None), expected);
        assert_ne!(mac("secret", "abc", "alice", "pw", false, Some("bot")), expected);
        assert!(mac_matches(expected, expected));
        assert!(!mac_matches(expected, &expected[..39]));
    }

    #[test]
    fn a_nonce_is_used_once() {
        let nonces = Nonces::default();
        let nonce = nonces.issue().unwrap();
        assert_eq!(nonce.len(), 128);
        assert!(nonces.take(&nonce));
        assert!(!nonces.take(&nonce));
        assert!(!nonces.take("never issued"));
    }
}
