//! The handler of the `api-commands` function, a library so that end-to-end tests drive it.

pub mod handler;
