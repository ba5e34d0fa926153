//! The audit trail: the table the run and invoice pages show of their own entries.

use crate::fmt::{instant, text};
use maud::{html, Markup};
use serde_json::Value;

/// Audit entries: when, who, what, on which resource.
pub fn audit_table(entries: &[Value]) -> Markup {
    html! {
        section aria-labelledby="audit-h" {
            h2 id="audit-h" { "Audit trail" }
            @if entries.is_empty() { p { "No entries." } } @else {
                div class="scroll" role="region" aria-label="Audit trail" tabindex="0" {
                    table data-testid="audit" {
                        caption { "Changes, oldest first" }
                        thead { tr { th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Resource" } } }
                        tbody { @for e in entries { tr {
                            td { (instant(text(e, "time"))) }
                            td { (e.get("actor").and_then(Value::as_str).unwrap_or("(system)")) }
                            td { (text(e, "action")) }
                            td { (text(&e["resource"], "type")) }
                        } } }
                    }
                }
            }
        }
    }
}
