//! The handler of the `generate-documents` function, a library so that end-to-end tests drive it.

pub mod handler;
