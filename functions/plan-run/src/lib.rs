//! The handler of the `plan-run` function, a library so that end-to-end tests drive it.

pub mod handler;
