//! Streamflix's integration tests: one binary, one module per concern.

mod support;

mod engagement_oracle;
mod incremental;
mod retention;
