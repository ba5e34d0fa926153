//! The handler of the `execute-schedules` function, a library so that end-to-end tests drive it.

pub mod handler;
