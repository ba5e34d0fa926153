//! The handler of the `api-queries` function, a library so that end-to-end tests drive it.

pub mod handler;
