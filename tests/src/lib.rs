//! billrun's end-to-end tests. The tests live in `tests/`: `properties.rs` checks
//! properties of whole invoice runs over generated books, `pipeline.rs` the use cases on
//! the in-memory adapters. This library is intentionally empty.
