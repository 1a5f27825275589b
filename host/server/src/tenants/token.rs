//! API tokens: made from the operating system's random source, stored only
//! as their SHA-256, and matched in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every token wflow makes starts with (so that a leaked one is easy
/// to recognise and search for).
pub const TOKEN_PREFIX: &str = "wflow_";

/// How many random characters follow the prefix: 43 of `[A-Za-z0-9]`
/// carry 256 bits.
const TOKEN_RANDOM_LEN: usize = 43;

/// A token's SHA-256: what a tenants file holds instead of the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses a hash as the tenants file writes it: 64 hex digits,
    /// optionally after `sha256:`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits = text.strip_prefix("sha256:").unwrap_or(text);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| {
            format!("`{text}` is not a SHA-256 (64 hex digits; `wflow token` prints one)")
        })?;
        Ok(Self(bytes))
    }

    /// In constant time: how long the comparison takes says nothing of
    /// where two hashes differ.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Display for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({self})")
    }
}

/// A new token: [`TOKEN_PREFIX`] and 256 random bits.
pub fn new_token() -> String {
    let mut token = String::from(TOKEN_PREFIX);
    token.push_str(&crate::runs::random_id(TOKEN_RANDOM_LEN));
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_own_hash_only() {
        let token = new_token();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + TOKEN_RANDOM_LEN);
        let hash = TokenHash::of(&token);
        let written = hash.to_string();
        let parsed = TokenHash::parse(&written).expect("a written hash parses");
        assert!(parsed.matches(&TokenHash::of(&token)));
        assert!(!parsed.matches(&TokenHash::of(&new_token())));
        let bare = written.trim_start_matches("sha256:");
        assert!(TokenHash::parse(bare).is_ok(), "the prefix is optional");
        let err = TokenHash::parse("abc").expect_err("too short");
        assert!(err.contains("`abc` is not a SHA-256"), "{err}");
    }

    #[test]
    fn the_hash_is_plain_sha256() {
        // The hash an operator gets from `printf %s TOKEN | sha256sum`.
        assert_eq!(
            TokenHash::of("abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
