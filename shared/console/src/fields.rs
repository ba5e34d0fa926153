//! A form's field as every console form writes it: its label, its hint, the API's
//! error about it (`aria-invalid`, tied by `aria-describedby`, `data-testid`
//! `error-<name>` for the tests), and a text input or a select.

use maud::{html, Markup};

/// A field: its name (the request's path to it: `targetDate`, `recurrence.dayOfMonth`),
/// label, hint, and choices (a select) or none (a text input), with the id of a
/// `datalist` of suggestions for a text input.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub hint: &'a str,
    pub choices: &'a [&'a str],
    pub suggestions: Option<&'a str>,
}

/// A text field.
pub const fn text<'a>(name: &'a str, label: &'a str, hint: &'a str) -> Field<'a> {
    Field {
        name,
        label,
        hint,
        choices: &[],
        suggestions: None,
    }
}

/// The field with its value and the API's error about it, if any. Its element id is
/// its name with `-` for `.` (a CSS-safe id).
pub fn field(f: &Field, value: &str, error: Option<&str>) -> Markup {
    let id = f.name.replace('.', "-");
    let hint = format!("{id}-hint");
    let described = match error {
        Some(_) => format!("{hint} {id}-error"),
        None => hint.clone(),
    };
    html! {
        div class="field" {
            label for=(id) { (f.label) }
            span class="hint" id=(hint) { (f.hint) }
            @if let Some(e) = error { span class="error" id={ (id) "-error" } data-testid={ "error-" (f.name) } { (e) } }
            @if f.choices.is_empty() {
                input type="text" id=(id) name=(f.name) value=(value) list=[f.suggestions]
                    aria-invalid=[error.map(|_| "true")] aria-describedby=(described);
            } @else {
                select id=(id) name=(f.name) aria-invalid=[error.map(|_| "true")] aria-describedby=(described) {
                    @for c in f.choices { option value=(c) selected[value == *c] { @if c.is_empty() { "(none)" } @else { (c) } } }
                }
            }
        }
    }
}

/// A multi-line text field (a template's JSON), written as [`field`] writes a text
/// input: label, hint, the API's error tied to it.
pub fn textarea(f: &Field, value: &str, error: Option<&str>, rows: u32) -> Markup {
    let id = f.name.replace('.', "-");
    let hint = format!("{id}-hint");
    let described = match error {
        Some(_) => format!("{hint} {id}-error"),
        None => hint.clone(),
    };
    html! {
        div class="field" {
            label for=(id) { (f.label) }
            span class="hint" id=(hint) { (f.hint) }
            @if let Some(e) = error { span class="error" id={ (id) "-error" } data-testid={ "error-" (f.name) } { (e) } }
            textarea id=(id) name=(f.name) rows=(rows) spellcheck="false"
                aria-invalid=[error.map(|_| "true")] aria-describedby=(described) { (value) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_tied_to_its_field() {
        let f = text("recurrence.dayOfMonth", "Day", "1 to 31");
        let html = field(&f, "32", Some("must be 1..=31")).into_string();
        assert!(html.contains(r#"id="recurrence-dayOfMonth""#), "{html}");
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(html.contains(
            r#"aria-describedby="recurrence-dayOfMonth-hint recurrence-dayOfMonth-error""#
        ));
        assert!(html.contains(r#"data-testid="error-recurrence.dayOfMonth""#));
        let fine = field(&f, "31", None).into_string();
        assert!(!fine.contains("aria-invalid"), "{fine}");
    }
}
