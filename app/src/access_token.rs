//! Access tokens: issued as 190 random bits, stored only as their SHA-256 (hex). A copy of
//! the database or its WAL holds no working token, and since a token is high-entropy, an
//! unsalted fast hash is enough: the lookup stays one indexed equality on the hash.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// A new access token for a client (`mxt_` and 32 alphanumerics).
pub(crate) fn issue() -> String {
    format!("mxt_{}", Alphanumeric.sample_string(&mut rand::rng(), 32))
}

/// What the database holds for `token`: where tokens are stored, looked up and deleted.
pub(crate) fn stored_form(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Whether a stored value is already a hash (64 lowercase hex digits) rather than a token
/// stored in plain text by an earlier version (those start with `mxt_`).
pub(crate) fn is_stored_form(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_is_the_sha256_and_never_the_token() {
        assert_eq!(stored_form("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let token = issue();
        assert!(token.starts_with("mxt_") && token.len() == 36);
        assert!(!is_stored_form(&token));
        assert!(is_stored_form(&stored_form(&token)));
        assert_ne!(issue(), token);
    }
}
