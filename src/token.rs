//! A Google OAuth2 access token: a secret that must never reach a log, so its `Debug` redacts.

use std::fmt;

/// A bearer token for Google APIs (and Google-hosted registries). Only [`AccessToken::secret`]
/// reveals it, so every place that sends it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(token.into())
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
}
