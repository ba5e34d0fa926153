//! billrun's use cases: import a book, create / start / plan / process / finalize / post /
//! cancel invoice runs. They speak to storage, queues and time only through the small
//! port traits in [`ports`]; [`memory`] has an in-memory adapter of each, used by unit
//! tests and by the embedded local mode.

pub mod catalog;
pub mod docgen;
pub mod error;
pub mod faults;
pub mod memory;
pub mod model;
pub mod ports;
pub mod reference;
pub mod scheduling;
pub mod sweeper;
mod transition;
pub mod usecases;
pub mod worker;

pub use error::{AppError, StoreError};
pub use model::*;
pub use usecases::App;
