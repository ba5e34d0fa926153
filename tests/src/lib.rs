//! billrun's end-to-end tests. The tests live in `tests/`: `properties.rs` checks
//! properties of whole invoice runs over generated books, `pipeline.rs` the use cases on
//! the in-memory adapters. The library holds the helpers those tests share ([`local`]).

// Test support: a panic is how a helper fails the test that called it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod local;
