//! The tests are in `tests/`, one binary of modules.
