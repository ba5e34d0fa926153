//! What billrun's tests share, so that no test file defines its own copy: fault
//! injection over every port ([`faults`]) and fixtures ([`fixtures`]). A dev-dependency
//! only: nothing in production links it. It depends on the application layer only, so
//! that the adapter crates' tests can use it too; the helpers that drive the whole local
//! mode live in `billrun-tests` (`tests/src/local.rs`).

// Test support: a panic is how a helper fails the test that called it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod faults;
pub mod fixtures;
