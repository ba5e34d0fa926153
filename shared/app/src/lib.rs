//! billrun's use cases over small port traits, laid out so that each change has one home:
//!
//! - [`ports`]: the port traits, one file per port group; [`memory`]: an in-memory
//!   adapter of each (unit tests, the embedded local mode).
//! - [`model`]: what the use cases store and return.
//! - one module per feature, each a service over only the ports it uses:
//!   [`pipeline`] (create / plan / process / finalize / post / cancel / retry a run),
//!   [`reference`] (the book by entity), [`queries`] (views and listings; a run's diff
//!   against the run before it in [`run_diff`]),
//!   [`templates`], [`schedules`] (run schedules, due entries, invoice-schedule items, the
//!   tick), [`docgen`] (PDF generation), [`deliveries`] (email), [`sweeper`] (stuck runs).
//! - [`app`]: the composition, [`App`], which holds every port once and hands out the
//!   services (`app.pipeline().post_run(id)`); [`worker`]: the queue consumer contract.

pub mod actor;
pub mod app;
pub mod audit;
pub mod controls;
pub mod deliveries;
pub mod dispatch;
pub mod docgen;
pub mod document_events;
pub mod error;
pub mod exports;
pub mod memory;
pub mod model;
pub mod payments;
pub mod pipeline;
pub mod ports;
pub mod queries;
pub mod reference;
pub mod run_diff;
pub mod schedules;
pub mod sweeper;
pub mod templates;
pub mod webhooks;
pub mod worker;

pub use app::App;
pub use error::{AppError, Cause, ConflictCode, StoreError};
pub use model::*;

/// The paths of the layout before feature modules, kept for importers.
pub mod usecases {
    pub use crate::app::App;
    pub use crate::pipeline::{Finalizing, DEFAULT_FINALIZE_PAGE, DEFAULT_PLAN_PAGE};
}

/// The listing, reference-data and template types and ports under their former path.
pub mod catalog {
    pub use crate::model::documents::DocumentTemplate;
    pub use crate::model::listing::*;
    pub use crate::model::schedules::{ProcessedItem, StoredSchedule};
    pub use crate::ports::{
        AccountListing, DocumentListing, RunListing, ScheduleStore, SubscriptionIndex,
        TemplateStore,
    };
}

/// The schedules module under its former path.
pub mod scheduling {
    pub use crate::ports::{DueIndex, RunScheduleStore};
    pub use crate::schedules::*;
}
