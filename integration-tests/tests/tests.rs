//! Streamflix's integration tests: one binary, one module per concern.

mod support;

mod bad_input;
mod engagement_oracle;
mod growth;
mod incremental;
mod replay_oracle;
mod retention;
