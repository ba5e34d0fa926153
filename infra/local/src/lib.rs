//! The embedded local mode: sample books and the whole invoice-run pipeline over the
//! in-memory adapters with in-process queue workers.

pub mod aws_backend;
pub mod export_dir;
pub mod mail;
pub mod oidc;
pub mod pipeline;
pub mod sample;
pub mod serve;
pub mod suite;
pub mod tokens;
