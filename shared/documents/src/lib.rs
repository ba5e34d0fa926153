//! billrun's invoice and credit memo PDFs.
//!
//! [`render`] lays out one document (seller block from the [`DocumentTemplate`], bill-to
//! and ship-to, facts, the run's message, the lines table, totals by bucket, tax, total;
//! pages with the header row repeated and "Page x of y") and writes it with krilla as
//! PDF/A-2b: fonts embedded as subsets, validation on, so non-conforming output is an
//! error rather than a file. Rendering is deterministic: the same inputs give the same
//! bytes.

mod adapter;
#[cfg(feature = "render")]
pub mod bench;
pub mod email;
#[cfg(feature = "render")]
pub mod fonts;
pub mod format;
mod outcome;
#[cfg(feature = "render")]
mod render;
#[cfg(not(feature = "render"))]
#[path = "render_off.rs"]
mod render;
pub mod sample;
pub mod template;

pub use adapter::{PdfRenderer, SAMPLE_CUSTOMER, SAMPLE_MESSAGE, SAMPLE_NUMBER};
#[cfg(feature = "render")]
pub use bench::{bench_documents, CaseFigures, Chromium, Measured};
pub use email::TemplateEmail;
pub use format::{money, CurrencyMark, Locale};
pub use render::{render, RenderContext, RenderError};
pub use template::{DocumentTemplate, Rgb, TemplateAddress, TemplateError};
