//! billrun's billing model and rules (`docs/billing-rules.md`, with the choices where they
//! are silent in `docs/decisions.md`).
//!
//! Pure: no I/O, no async. Everything here is a function over plain values, so the same
//! rules run in Lambda, in the local mode and in tests.

pub mod book;
pub mod calendar;
pub mod document;
pub mod email;
pub mod error;
pub mod export;
pub mod gl;
pub mod ids;
pub mod journal;
pub mod money;
pub mod rating;
pub mod recurrence;
pub mod request;
pub mod run;
pub mod schedule;
pub mod state;
pub mod zone;

pub use book::{Account, Book, Charge, ChargeKind, Subscription};
pub use document::{Document, DocumentKind, DocumentStatus, Line, LineType, Totals};
pub use error::FieldError;
pub use ids::*;
pub use money::Currency;
pub use request::RunRequest;
