//! A Google OAuth2 access token: a secret that must never reach a log, so its `Debug` redacts,
//! and text a server sent is cleaned of every token this process holds before it becomes part of
//! an error (a hostile or buggy server, or a proxy's error page, may echo the request's
//! `Authorization` header back).

use std::fmt;
use std::sync::RwLock;

/// Every token made into an [`AccessToken`] in this process (a few per run).
static HELD: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shorter values are not tokens (a real one is over 100 characters) and are left alone, so
/// that a test token like `t` cannot blank every `t` of a message.
const MIN_HELD: usize = 8;

/// What stands in for a token removed from text.
pub const REDACTED: &str = "<redacted>";

/// `text` (a server's error message or body) with every token this process holds replaced by
/// [`REDACTED`].
pub fn redact(text: &str) -> String {
    let held = HELD.read().unwrap_or_else(|e| e.into_inner());
    let mut text = text.to_string();
    for token in held.iter() {
        if text.contains(token.as_str()) {
            text = text.replace(token.as_str(), REDACTED);
        }
    }
    text
}

/// Adds `secret` (a key's password, a registry password) to what [`redact`] removes, so a
/// server or a library that echoes it never carries it into a message.
pub fn hold_secret(secret: &str) {
    if secret.len() >= MIN_HELD {
        let mut held = HELD.write().unwrap_or_else(|e| e.into_inner());
        if !held.iter().any(|h| h == secret) {
            held.push(secret.to_string());
        }
    }
}

/// A bearer token for Google APIs (and Google-hosted registries). Only [`AccessToken::secret`]
/// reveals it, so every place that sends it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        hold_secret(&token);
        AccessToken(token)
    }

    /// The token itself, for an `Authorization` header and nothing else.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let t = AccessToken::new("ya29.secret-value");
        assert_eq!(format!("{t:?}"), "AccessToken(<redacted>)");
        assert_eq!(format!("{:?}", Some(t)), "Some(AccessToken(<redacted>))");
    }

    #[test]
    fn every_held_token_is_removed_from_server_text() {
        let _a = AccessToken::new("ya29.held-one-a1b2c3");
        let _b = AccessToken::new("ghs_held-two-d4e5f6");
        let echoed =
            "401: Bearer ya29.held-one-a1b2c3 (token ghs_held-two-d4e5f6, ya29.held-one-a1b2c3)";
        assert_eq!(
            redact(echoed),
            "401: Bearer <redacted> (token <redacted>, <redacted>)"
        );
        assert_eq!(redact("nothing secret"), "nothing secret");
        let _short = AccessToken::new("tok");
        assert_eq!(redact("a token"), "a token");
    }
}
