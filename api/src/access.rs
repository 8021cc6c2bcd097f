//! Roles, bearer tokens, and which role may read what: the one place the
//! mapping lives. Tables are named here, never their columns: keys and
//! columns come from the tables the engine produces, so a table that is
//! added later (the profit tables) appears with its own metadata and only
//! needs a line here to be shown to a role other than `operator`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::config::TokenConfig;

/// What a token holder may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Weekly and monthly aggregates, and the checks.
    Investor,
    /// Daily and per-variant tables, and unit profit.
    Experiment,
    /// Everything, plus acknowledging and resolving incidents.
    Operator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Investor, Role::Experiment, Role::Operator];

    pub fn name(self) -> &'static str {
        match self {
            Role::Investor => "investor",
            Role::Experiment => "experiment",
            Role::Operator => "operator",
        }
    }
}

/// The tables each role other than `operator` reads. `operator` reads
/// every table, including ones not named here (`data_quality`, tables
/// added later).
const INVESTOR_TABLES: &[&str] = &[
    "engagement_weekly",
    "growth_weekly",
    "profit_monthly",
    "checks",
];
const EXPERIMENT_TABLES: &[&str] = &[
    "engagement_daily",
    "growth_daily",
    "growth_daily_by_variant",
    "profit_subscriber_monthly",
];

/// Whether `role` may read `table`.
pub fn can_read(role: Role, table: &str) -> bool {
    match role {
        Role::Operator => true,
        Role::Investor => INVESTOR_TABLES.contains(&table),
        Role::Experiment => EXPERIMENT_TABLES.contains(&table),
    }
}

/// The roles that may read `table`.
pub fn readers(table: &str) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| can_read(*role, table))
        .collect()
}

/// Whether `role` may see pipeline status, incidents and `/metrics`, and
/// acknowledge or resolve incidents.
pub fn can_operate(role: Role) -> bool {
    role == Role::Operator
}

/// Who presented a valid token: the holder's name (safe to log) and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// The configured tokens, looked up by their text.
#[derive(Clone, Default)]
pub struct Tokens {
    by_token: HashMap<String, Caller>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.by_token.len())
            .finish()
    }
}

impl Tokens {
    pub fn new(tokens: &[TokenConfig]) -> Tokens {
        Tokens {
            by_token: tokens
                .iter()
                .map(|token| {
                    (
                        token.token.clone(),
                        Caller {
                            name: token.name.clone(),
                            role: token.role,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The caller of an `Authorization` header value, if it carries a
    /// known bearer token.
    pub fn caller(&self, authorization: Option<&str>) -> Option<&Caller> {
        let value = authorization?.trim();
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.by_token.get(token.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_see_their_tables_and_operators_see_everything() {
        assert!(can_read(Role::Investor, "engagement_weekly"));
        assert!(can_read(Role::Investor, "checks"));
        assert!(!can_read(Role::Investor, "growth_daily_by_variant"));
        assert!(can_read(Role::Experiment, "growth_daily_by_variant"));
        assert!(can_read(Role::Experiment, "profit_subscriber_monthly"));
        assert!(!can_read(Role::Experiment, "profit_monthly"));
        assert!(!can_read(Role::Experiment, "data_quality"));
        assert!(can_read(Role::Operator, "data_quality"));
        assert!(can_read(Role::Operator, "a_table_added_later"));
        assert_eq!(
            readers("profit_monthly"),
            vec![Role::Investor, Role::Operator]
        );
    }

    #[test]
    fn only_bearer_tokens_that_are_configured_are_callers() {
        let tokens = Tokens::new(&[TokenConfig {
            name: "ana".into(),
            role: Role::Experiment,
            token: "abcdefghijklmnopqrstuvwxyz".into(),
        }]);
        let caller = tokens
            .caller(Some("Bearer abcdefghijklmnopqrstuvwxyz"))
            .unwrap();
        assert_eq!(caller.role, Role::Experiment);
        assert!(
            tokens
                .caller(Some("bearer abcdefghijklmnopqrstuvwxyz"))
                .is_some()
        );
        assert!(
            tokens
                .caller(Some("Basic abcdefghijklmnopqrstuvwxyz"))
                .is_none()
        );
        assert!(
            tokens
                .caller(Some("Bearer abcdefghijklmnopqrstuvwxy"))
                .is_none()
        );
        assert!(tokens.caller(None).is_none());
    }
}
