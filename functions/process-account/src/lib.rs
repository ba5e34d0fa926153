//! The handler of the `process-account` function, a library so that end-to-end tests drive it.

pub mod handler;
