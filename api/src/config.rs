//! The `[api]` section of the service configuration.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::access::Role;

/// Where the server listens and who may ask it what.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Start the server with `streamflix run` (the demo starts it with `--serve`).
    pub enabled: bool,
    /// Loopback unless configured otherwise.
    pub bind: SocketAddr,
    /// Bearer tokens, each with a role.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

/// One bearer token: who holds it (for the logs) and what it may read.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    pub token: String,
}

/// Tokens are secrets: a `{:?}` of the configuration (in a log line or a
/// panic) shows who holds a token and its role, never the token.
impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("enabled", &self.enabled)
            .field("bind", &self.bind)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// The shortest token accepted: guessing one must be hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            enabled: false,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tokens: Vec::new(),
        }
    }
}

impl ApiConfig {
    /// Names what is wrong: short or repeated tokens, nameless holders.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for token in &self.tokens {
            if token.name.trim().is_empty() {
                return Err("api.tokens: every token needs a name".into());
            }
            if token.token.len() < MIN_TOKEN_LEN || token.token.chars().any(char::is_whitespace) {
                return Err(format!(
                    "api.tokens: the token of {:?} must be at least {MIN_TOKEN_LEN} characters without spaces",
                    token.name
                ));
            }
            if !seen.insert(token.token.as_str()) {
                return Err(format!(
                    "api.tokens: the token of {:?} is also given to another holder",
                    token.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_token() {
        let config = ApiConfig {
            tokens: vec![TokenConfig {
                name: "ci".into(),
                role: Role::Operator,
                token: "s3cret-s3cret-s3cret".into(),
            }],
            ..ApiConfig::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("ci") && text.contains("Operator"), "{text}");
    }

    #[test]
    fn short_and_shared_tokens_are_refused() {
        let token = |name: &str, token: &str| TokenConfig {
            name: name.into(),
            role: Role::Investor,
            token: token.into(),
        };
        let mut config = ApiConfig {
            tokens: vec![token("a", "short")],
            ..ApiConfig::default()
        };
        assert!(config.validate().unwrap_err().contains("at least"));
        config.tokens = vec![
            token("a", "0123456789abcdef"),
            token("b", "0123456789abcdef"),
        ];
        assert!(config.validate().unwrap_err().contains("another holder"));
        config.tokens.pop();
        assert!(config.validate().is_ok());
    }
}
