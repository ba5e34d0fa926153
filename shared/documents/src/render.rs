//! Lays out one invoice or credit memo and writes it as PDF/A-2b with krilla.
//!
//! krilla has no layout engine, so layout is done here in two steps: the document is laid
//! out into a display list per page (texts at baselines, filled rectangles, the logo),
//! which fixes the page count; then the list is written, with "Page x of y" on each page.
//! Coordinates are points from the top-left corner (floats only for coordinates; every
//! amount is a `Decimal` formatted by [`crate::format`]).

use crate::fonts::{currency_mark, fonts, Face, Fonts};
use crate::format::{money, CurrencyMark, Locale};
use crate::template::{DocumentTemplate, Rgb};
use billrun_domain::book::{Account, Address};
use billrun_domain::document::{Document, DocumentKind, DocumentStatus, Line};
use chrono::{Datelike, Days, NaiveDate};
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::{Document as PdfDocument, SerializeSettings};
use std::collections::BTreeSet;

pub use crate::outcome::{RenderContext, RenderError};

const MARGIN: f32 = 48.0;
const INK: Rgb = Rgb(33, 37, 41);
const MUTED: Rgb = Rgb(108, 117, 125);
const RULE: Rgb = Rgb(222, 226, 230);

const BODY: f32 = 9.0;
const SMALL: f32 = 7.5;
const ROW_PAD: f32 = 5.0;
const ROW_LEADING: f32 = 11.0;
const HEADER_ROW: f32 = 20.0;
const TOTAL_ROW: f32 = 16.0;

enum Op {
    Text {
        x: f32,
        y: f32,
        bold: bool,
        size: f32,
        color: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    Logo {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// Column geometry of the lines table.
struct Columns {
    desc_x: f32,
    desc_w: f32,
    period_x: f32,
    qty_right: f32,
    amount_right: f32,
}

struct Row {
    desc: Vec<String>,
    period: String,
    qty: String,
    amount: String,
    height: f32,
}

struct Layout<'a> {
    f: &'a Fonts,
    locale: Locale,
    accent: Rgb,
    width: f32,
    height: f32,
    pages: Vec<Vec<Op>>,
    ops: Vec<Op>,
}

impl Layout<'_> {
    fn face(&self, bold: bool) -> &Face {
        if bold {
            &self.f.bold
        } else {
            &self.f.regular
        }
    }

    fn left(&self) -> f32 {
        MARGIN
    }

    fn right(&self) -> f32 {
        self.width - MARGIN
    }

    fn text(&mut self, x: f32, y: f32, bold: bool, size: f32, color: Rgb, text: &str) {
        let text = self.face(bold).clean(text).into_owned();
        if !text.trim().is_empty() {
            self.ops.push(Op::Text {
                x,
                y,
                bold,
                size,
                color,
                text,
            });
        }
    }

    fn text_right(&mut self, right: f32, y: f32, bold: bool, size: f32, color: Rgb, text: &str) {
        let w = self.face(bold).width(&self.face(bold).clean(text), size);
        self.text(right - w, y, bold, size, color, text);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        self.ops.push(Op::Rect { x, y, w, h, color });
    }

    fn rule(&mut self, y: f32, color: Rgb, thickness: f32) {
        let (l, r) = (self.left(), self.right());
        self.rect(l, y, r - l, thickness, color);
    }

    /// Breaks `text` into lines no wider than `width` (words longer than a line are cut).
    fn wrap(&self, text: &str, bold: bool, size: f32, width: f32) -> Vec<String> {
        let face = self.face(bold);
        let text = face.clean(text);
        let space = face.width(" ", size);
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            let mut line_w = 0.0;
            for word in paragraph.split_whitespace() {
                let mut word = word.to_string();
                let mut w = face.width(&word, size);
                if !line.is_empty() && line_w + space + w <= width {
                    line.push(' ');
                    line.push_str(&word);
                    line_w += space + w;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                while w > width {
                    let mut cut = String::new();
                    let mut cut_w = 0.0;
                    let mut rest = word.chars().peekable();
                    while let Some(&c) = rest.peek() {
                        let cw = face.width(c.encode_utf8(&mut [0; 4]), size);
                        if cut_w + cw > width && !cut.is_empty() {
                            break;
                        }
                        cut.push(c);
                        cut_w += cw;
                        rest.next();
                    }
                    lines.push(cut);
                    word = rest.collect();
                    w = face.width(&word, size);
                }
                line = word;
                line_w = w;
            }
            if !line.is_empty() || lines.is_empty() {
                lines.push(line);
            }
        }
        lines
    }

    fn new_page(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(ops);
    }
}

/// Renders one invoice or credit memo as a PDF/A-2b file.
///
/// The output depends only on the arguments: the same document, account, template and
/// context give the same bytes (metadata dates come from the invoice date, ids from the
/// document id and number).
pub fn render(
    document: &Document,
    account: &Account,
    template: &DocumentTemplate,
    ctx: &RenderContext,
) -> Result<Vec<u8>, RenderError> {
    template.validate()?;
    let number = document
        .number
        .clone()
        .ok_or_else(|| RenderError::Unnumbered(document.id.to_string()))?;
    let f = fonts().ok_or(RenderError::Fonts)?;
    let locale = template.parsed_locale()?;
    let logo = match template.logo_png()? {
        Some(bytes) => Some(Image::from_png(bytes.into(), false).map_err(RenderError::Logo)?),
        None => None,
    };
    let (width, height) = locale.page_size();
    let mut l = Layout {
        f,
        locale,
        accent: template.accent()?,
        width,
        height,
        pages: Vec::new(),
        ops: Vec::new(),
    };
    let logo_size = logo.as_ref().map(|img| {
        let (iw, ih) = img.size();
        let (iw, ih) = (iw.max(1) as f32, ih.max(1) as f32);
        let h = 44.0_f32.min(160.0 * ih / iw);
        (h * iw / ih, h)
    });
    lay_out(&mut l, document, account, template, ctx, &number, logo_size);
    write_pdf(l, document, template, &number, logo)
}

fn kind_title(kind: DocumentKind) -> (&'static str, &'static str) {
    match kind {
        DocumentKind::Invoice => ("INVOICE", "Invoice"),
        DocumentKind::CreditMemo => ("CREDIT MEMO", "Credit memo"),
    }
}

fn lay_out(
    l: &mut Layout<'_>,
    doc: &Document,
    account: &Account,
    template: &DocumentTemplate,
    ctx: &RenderContext,
    number: &str,
    logo_size: Option<(f32, f32)>,
) {
    let mark = currency_mark(doc.currency);
    let mut y = first_page_header(l, doc, account, template, ctx, number, logo_size);
    let cols = columns(l);
    let rows: Vec<Row> = doc
        .lines
        .iter()
        .map(|line| row(l, &cols, line, doc, &mark))
        .collect();
    let totals = totals_rows(l, doc, account, &mark);
    let totals_h = 14.0 + totals.len() as f32 * TOTAL_ROW + 20.0;
    let footer_lines = template
        .footer
        .as_deref()
        .map(|t| l.wrap(t, false, SMALL, l.right() - l.left() - 90.0))
        .unwrap_or_default();
    let footer_lines: Vec<String> = footer_lines.into_iter().take(3).collect();
    let footer_top = l.height - MARGIN + 8.0 - 10.0 * footer_lines.len().max(1) as f32 - 8.0;
    let bottom = footer_top - 10.0;

    y = table_header(l, &cols, y);
    let n = rows.len();
    for (i, r) in rows.iter().enumerate() {
        let need = r.height + if i + 1 == n { totals_h } else { 0.0 };
        if y + need > bottom {
            l.new_page();
            y = continuation_header(l, doc, number);
            y = table_header(l, &cols, y);
        }
        draw_row(l, &cols, r, y);
        y += r.height;
    }
    if n == 0 && y + totals_h > bottom {
        l.new_page();
        y = continuation_header(l, doc, number);
        y = table_header(l, &cols, y);
    }
    draw_totals(l, &cols, &totals, y + 14.0);
    l.new_page();

    let count = l.pages.len();
    for i in 0..count {
        l.ops = std::mem::take(&mut l.pages[i]);
        footer(l, &footer_lines, footer_top, number, i + 1, count);
        l.pages[i] = std::mem::take(&mut l.ops);
    }
}

fn address_lines(a: &Address, locale: Locale) -> Vec<String> {
    let mut out = Vec::new();
    for v in [&a.line1, &a.line2].into_iter().flatten() {
        out.push(v.clone());
    }
    let parts = |first: &Option<String>, second: &Option<String>| -> Option<String> {
        let s: Vec<&str> = [first, second]
            .into_iter()
            .flatten()
            .map(|s| s.as_str())
            .filter(|s| !s.trim().is_empty())
            .collect();
        (!s.is_empty()).then(|| s.join(" "))
    };
    let city_line = match locale {
        Locale::EnUs => {
            let city_state = parts(&a.city, &a.state).map(|_| {
                [&a.city, &a.state]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            parts(&city_state, &a.postal_code)
        }
        Locale::EnGb => parts(&parts(&a.city, &a.state), &a.postal_code),
        Locale::DeDe | Locale::FrFr => parts(&a.postal_code, &parts(&a.city, &a.state)),
    };
    out.extend(city_line);
    out.extend(a.country.clone());
    out
}

fn payment_term(account: &Account) -> String {
    match (&account.payment_term_name, account.payment_term_days) {
        (Some(name), _) if !name.trim().is_empty() => name.clone(),
        (_, 0) => "Due on receipt".to_string(),
        (_, days) => format!("Net {days}"),
    }
}

/// Numbers of the invoices a credit memo credits, each once, in order.
fn credited(doc: &Document, ctx: &RenderContext) -> Vec<String> {
    let mut seen = BTreeSet::new();
    doc.lines
        .iter()
        .filter_map(|line| line.credits_document.clone().flatten())
        .chain(ctx.credited_invoices.iter().cloned())
        .filter(|n| seen.insert(n.clone()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn first_page_header(
    l: &mut Layout<'_>,
    doc: &Document,
    account: &Account,
    template: &DocumentTemplate,
    ctx: &RenderContext,
    number: &str,
    logo_size: Option<(f32, f32)>,
) -> f32 {
    let (left, right) = (l.left(), l.right());
    let top = MARGIN;

    // Seller block, left.
    let mut ly = top;
    if let Some((w, h)) = logo_size {
        l.ops.push(Op::Logo {
            x: left,
            y: ly,
            w,
            h,
        });
        ly += h + 12.0;
    }
    ly += 13.0;
    let seller_w = (right - left) * 0.5;
    for (i, name) in l
        .wrap(&template.company_name, true, 13.0, seller_w)
        .iter()
        .enumerate()
    {
        if i > 0 {
            ly += 15.0;
        }
        l.text(left, ly, true, 13.0, INK, name);
    }
    ly += 4.0;
    let seller_address = Address {
        name: None,
        line1: template.address.line1.clone(),
        line2: template.address.line2.clone(),
        city: template.address.city.clone(),
        state: None,
        postal_code: template.address.postal_code.clone(),
        country: template.address.country.clone(),
        ..Address::default()
    };
    let mut seller = address_lines(&seller_address, l.locale);
    if let Some(tax_id) = &template.tax_id {
        seller.push(format!("Tax ID: {tax_id}"));
    }
    for s in seller {
        ly += 12.0;
        l.text(left, ly, false, BODY, MUTED, &s);
    }

    // Title and document facts, right.
    let (title, kind_name) = kind_title(doc.kind);
    let accent = l.accent;
    let mut ry = top + 18.0;
    l.text_right(right, ry, true, 20.0, accent, title);
    let note = match doc.status {
        DocumentStatus::Draft => Some("Draft"),
        DocumentStatus::Canceled => Some("Canceled"),
        DocumentStatus::Voided => Some("Voided"),
        DocumentStatus::Approved | DocumentStatus::Posted => None,
    };
    if let Some(note) = note {
        ry += 14.0;
        l.text_right(right, ry, true, BODY, MUTED, note);
    }
    ry += 8.0;
    let mut facts: Vec<(String, String, bool)> =
        vec![(format!("{kind_name} number"), number.to_string(), true)];
    match doc.kind {
        DocumentKind::Invoice => {
            facts.push((
                "Invoice date".into(),
                l.locale.date(doc.invoice_date),
                false,
            ));
            facts.push(("Due date".into(), l.locale.date(doc.due_date), false));
            facts.push(("Payment terms".into(), payment_term(account), false));
        }
        DocumentKind::CreditMemo => {
            facts.push((
                "Credit memo date".into(),
                l.locale.date(doc.invoice_date),
                false,
            ));
        }
    }
    facts.push(("Account".into(), account.id.to_string(), false));
    facts.push(("Currency".into(), doc.currency.code().to_string(), false));
    let label_x = right - 230.0;
    for (label, value, bold) in facts {
        ry += 13.0;
        l.text(label_x, ry, false, BODY, MUTED, &label);
        l.text_right(right, ry, bold, BODY, INK, &value);
    }

    let mut y = ly.max(ry) + 16.0;
    l.rule(y, RULE, 0.75);
    y += 20.0;

    // Bill to / ship to.
    let col_w = (right - left) * 0.42;
    let mut blocks: Vec<(&str, Vec<String>)> = Vec::new();
    let party = |a: Option<&Address>| -> Vec<String> {
        let mut lines = vec![a
            .and_then(|a| a.name.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| account.name.clone())];
        if let Some(a) = a {
            lines.extend(address_lines(a, l.locale));
        }
        lines
    };
    blocks.push(("BILL TO", party(account.bill_to.as_ref())));
    if let Some(ship) = &account.ship_to {
        blocks.push(("SHIP TO", party(Some(ship))));
    }
    let mut block_bottom = y;
    for (i, (label, lines)) in blocks.into_iter().enumerate() {
        let x = left + i as f32 * (col_w + 24.0);
        let mut by = y;
        l.text(x, by, true, SMALL, MUTED, label);
        for (j, line) in lines.iter().enumerate() {
            for part in l.wrap(line, j == 0, if j == 0 { 10.0 } else { BODY }, col_w) {
                by += if j == 0 { 14.0 } else { 12.0 };
                l.text(x, by, j == 0, if j == 0 { 10.0 } else { BODY }, INK, &part);
            }
        }
        block_bottom = block_bottom.max(by);
    }
    y = block_bottom;

    // What a credit memo credits, and the run's message.
    if doc.kind == DocumentKind::CreditMemo {
        let numbers = credited(doc, ctx);
        let text = match numbers.len() {
            0 => "Credits periods billed before this billing system.".to_string(),
            1 => format!("Credits invoice {}", numbers[0]),
            _ => format!("Credits invoices {}", numbers.join(", ")),
        };
        y += 10.0;
        for line in l.wrap(&text, true, BODY, right - left) {
            y += 13.0;
            l.text(left, y, true, BODY, INK, &line);
        }
    }
    let message = ctx
        .invoice_message
        .as_deref()
        .or(doc.invoice_message.as_deref())
        .filter(|m| !m.trim().is_empty());
    if let Some(message) = message {
        y += 10.0;
        for line in l.wrap(message, false, BODY, right - left) {
            y += 12.0;
            l.text(left, y, false, BODY, INK, &line);
        }
    }
    y + 22.0
}

fn continuation_header(l: &mut Layout<'_>, doc: &Document, number: &str) -> f32 {
    let (left, right) = (l.left(), l.right());
    let top = MARGIN + 11.0;
    let company = l.pages[0]
        .iter()
        .find_map(|op| match op {
            Op::Text {
                bold: true,
                size,
                text,
                ..
            } if *size == 13.0 => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default();
    l.text(left, top, true, 11.0, INK, &company);
    let (_, kind_name) = kind_title(doc.kind);
    let date = l.locale.date(doc.invoice_date);
    l.text_right(
        right,
        top,
        false,
        BODY,
        MUTED,
        &format!("{kind_name} {number} · {date} · continued"),
    );
    let y = top + 10.0;
    l.rule(y, RULE, 0.75);
    y + 16.0
}

fn columns(l: &Layout<'_>) -> Columns {
    let (left, right) = (l.left(), l.right());
    let gap = 12.0;
    let (amount_w, qty_w, period_w) = (88.0, 48.0, 118.0);
    let desc_x = left + 6.0;
    let amount_right = right - 6.0;
    let qty_right = amount_right - amount_w - gap;
    let period_x = qty_right - qty_w - gap - period_w;
    Columns {
        desc_x,
        desc_w: period_x - gap - desc_x,
        period_x,
        qty_right,
        amount_right,
    }
}

fn table_header(l: &mut Layout<'_>, c: &Columns, y: f32) -> f32 {
    let (left, right) = (l.left(), l.right());
    let tint = l.accent.tint(0.1);
    let accent = l.accent;
    l.rect(left, y, right - left, HEADER_ROW, tint);
    l.rect(left, y + HEADER_ROW - 1.0, right - left, 1.0, accent);
    let base = y + 13.0;
    l.text(c.desc_x, base, true, 8.5, INK, "Description");
    l.text(c.period_x, base, true, 8.5, INK, "Period");
    l.text_right(c.qty_right, base, true, 8.5, INK, "Quantity");
    l.text_right(c.amount_right, base, true, 8.5, INK, "Amount");
    y + HEADER_ROW
}

/// The description without the period the rating engine appends to it
/// (`"Pro plan 2024-02-01 – 2024-03-01"`), which the period column shows.
fn description(line: &Line) -> &str {
    if let (Some(s), Some(e)) = (line.period_start, line.period_end) {
        let suffix = format!(" {s} – {e}");
        if let Some(d) = line.description.strip_suffix(&suffix) {
            if !d.trim().is_empty() {
                return d;
            }
        }
    }
    &line.description
}

/// The service period as a reader counts it: `[start, end)` is shown with its last day.
fn period(line: &Line, locale: Locale) -> String {
    let last = |e: NaiveDate| e.checked_sub_days(Days::new(1)).unwrap_or(e);
    match (line.period_start, line.period_end) {
        (Some(s), Some(e)) if last(e) > s => {
            if s.year() == last(e).year() && locale == Locale::EnUs {
                // "Feb 1 – Feb 29, 2024": the year once.
                let short = locale.date(s);
                let short = short
                    .rsplit_once(", ")
                    .map_or(short.clone(), |(md, _)| md.to_string());
                format!("{short} – {}", locale.date(last(e)))
            } else {
                format!("{} – {}", locale.date(s), locale.date(last(e)))
            }
        }
        (Some(s), _) => locale.date(s),
        (None, Some(e)) => format!("through {}", locale.date(last(e))),
        (None, None) => String::new(),
    }
}

fn row(l: &Layout<'_>, c: &Columns, line: &Line, doc: &Document, mark: &CurrencyMark) -> Row {
    let desc = l.wrap(description(line), false, BODY, c.desc_w);
    let height = 2.0 * ROW_PAD + desc.len().max(1) as f32 * ROW_LEADING + 2.0;
    Row {
        desc,
        period: period(line, l.locale),
        qty: l.locale.quantity(line.quantity),
        amount: money(line.amount, doc.currency, l.locale, mark),
        height,
    }
}

fn draw_row(l: &mut Layout<'_>, c: &Columns, r: &Row, y: f32) {
    let base = y + ROW_PAD + 9.5;
    for (i, d) in r.desc.iter().enumerate() {
        l.text(c.desc_x, base + i as f32 * ROW_LEADING, false, BODY, INK, d);
    }
    l.text(c.period_x, base, false, BODY, MUTED, &r.period);
    l.text_right(c.qty_right, base, false, BODY, INK, &r.qty);
    l.text_right(c.amount_right, base, false, BODY, INK, &r.amount);
    let (left, right) = (l.left(), l.right());
    l.rect(left, y + r.height - 0.5, right - left, 0.5, RULE);
}

/// (label, amount, is the grand total)
fn totals_rows(
    l: &Layout<'_>,
    doc: &Document,
    account: &Account,
    mark: &CurrencyMark,
) -> Vec<(String, String, bool)> {
    let t = &doc.totals;
    let m = |v| money(v, doc.currency, l.locale, mark);
    let mut rows: Vec<(String, String, bool)> = [
        ("Recurring charges", t.recurring),
        ("Evergreen charges", t.evergreen),
        ("One-time charges", t.one_time),
        ("Usage", t.usage),
        ("Adjustments", t.adjustments),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_zero())
    .map(|(label, v)| (label.to_string(), m(v), false))
    .collect();
    rows.push(("Subtotal".into(), m(t.sub_total), false));
    let tax_label = if account.tax_rate.is_zero() {
        "Tax".to_string()
    } else {
        format!("Tax ({})", l.locale.percent(account.tax_rate))
    };
    rows.push((tax_label, m(t.tax), false));
    let total_label = match doc.kind {
        DocumentKind::Invoice => format!("Total due ({})", doc.currency.code()),
        DocumentKind::CreditMemo => format!("Total credit ({})", doc.currency.code()),
    };
    rows.push((total_label, m(t.total), true));
    rows
}

fn draw_totals(l: &mut Layout<'_>, c: &Columns, rows: &[(String, String, bool)], y: f32) {
    let label_x = l.right() - 230.0;
    let mut y = y;
    let accent = l.accent;
    for (label, value, grand) in rows {
        if label == "Subtotal" {
            l.rect(
                label_x - 6.0,
                y + 4.0,
                c.amount_right - label_x + 12.0,
                0.5,
                RULE,
            );
            y += 4.0;
        }
        if *grand {
            l.rect(
                label_x - 6.0,
                y + 3.0,
                c.amount_right - label_x + 12.0,
                1.0,
                accent,
            );
            y += 6.0;
        }
        y += TOTAL_ROW;
        let size = if *grand { 11.0 } else { BODY };
        let color = if *grand || label == "Subtotal" {
            INK
        } else {
            MUTED
        };
        l.text(label_x, y, *grand, size, color, label);
        l.text_right(c.amount_right, y, *grand, size, INK, value);
    }
}

fn footer(l: &mut Layout<'_>, lines: &[String], top: f32, number: &str, page: usize, pages: usize) {
    let (left, right) = (l.left(), l.right());
    l.rule(top, RULE, 0.5);
    let mut y = top + 8.0;
    for line in lines {
        y += 10.0;
        l.text(left, y, false, SMALL, MUTED, line);
    }
    let base = top + 18.0;
    l.text_right(
        right,
        base,
        false,
        SMALL,
        MUTED,
        &format!("Page {page} of {pages}"),
    );
    l.text_right(right, base + 10.0, false, SMALL, MUTED, number);
}

fn fill(c: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(c.0, c.1, c.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn pdf_date(d: NaiveDate) -> DateTime {
    let year = u16::try_from(d.year()).unwrap_or(1900);
    DateTime::new(year)
        .month(d.month() as u8)
        .day(d.day() as u8)
        .hour(0)
        .minute(0)
        .second(0)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

fn write_pdf(
    l: Layout<'_>,
    doc: &Document,
    template: &DocumentTemplate,
    number: &str,
    logo: Option<Image>,
) -> Result<Vec<u8>, RenderError> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_B)
        .finish()
        .map_err(|e| RenderError::Pdf(format!("{e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: false,
        ..SerializeSettings::default()
    };
    let mut pdf = PdfDocument::new_with(settings);
    let (_, kind_name) = kind_title(doc.kind);
    pdf.set_metadata(
        Metadata::new()
            .title(format!("{kind_name} {number}"))
            .authors(vec![template.company_name.clone()])
            .creator("billrun".to_string())
            .language(l.locale.tag().to_string())
            .creation_date(pdf_date(doc.invoice_date))
            .document_id(format!("billrun:{}:{number}", doc.id)),
    );
    let page_settings = PageSettings::from_wh(l.width, l.height)
        .ok_or_else(|| RenderError::Pdf("page size".into()))?;
    for ops in &l.pages {
        let mut page = pdf.start_page_with(page_settings.clone());
        let mut surface = page.surface();
        surface.set_stroke(None);
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    bold,
                    size,
                    color,
                    text,
                } => {
                    let face = l.face(*bold);
                    surface.set_fill(Some(fill(*color)));
                    surface.draw_glyphs(
                        Point::from_xy(*x, *y),
                        &face.glyphs(text),
                        face.font.clone(),
                        text,
                        *size,
                        false,
                    );
                }
                Op::Rect { x, y, w, h, color } => {
                    let mut pb = PathBuilder::new();
                    if let Some(r) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(r);
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_fill(Some(fill(*color)));
                        surface.draw_path(&path);
                    }
                }
                Op::Logo { x, y, w, h } => {
                    if let (Some(img), Some(size)) = (&logo, Size::from_wh(*w, *h)) {
                        surface.push_transform(&Transform::from_translate(*x, *y));
                        surface.draw_image(img.clone(), size);
                        surface.pop();
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    pdf.finish().map_err(|e| RenderError::Pdf(format!("{e:?}")))
}
