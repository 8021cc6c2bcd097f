//! Streamflix's integration tests: one binary, one module per concern.

mod support;

mod api_view;
mod bad_input;
mod engagement_oracle;
mod growth;
mod incremental;
mod profit_oracle;
mod profit_restatement;
mod replay_oracle;
