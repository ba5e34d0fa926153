//! The embedded fonts: Liberation Sans Regular and Bold 2.1.5 (SIL OFL 1.1, see
//! `fonts/LICENSE-OFL-1.1.txt`), compiled into the binary and embedded into each PDF as
//! subsets by krilla.
//!
//! Text is laid out here, not by a shaper: one glyph per character from the font's
//! character map, advanced by its horizontal metric (no kerning, no ligatures: invoices
//! are Latin, Greek or Cyrillic text and numbers). So the width used to right-align a
//! number is exactly the width drawn, and a character the font lacks is replaced by `?`
//! before it reaches the PDF (a `.notdef` glyph would make the file non-conforming
//! PDF/A).

use crate::format::CurrencyMark;
use billrun_domain::money::Currency;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::TableProvider;
use skrifa::{FontRef, MetadataProvider};
use std::borrow::Cow;
use std::sync::OnceLock;

static REGULAR_TTF: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../fonts/LiberationSans-Bold.ttf");

/// Characters below this are looked up once, at load.
const TABLE: usize = 0x2200;

/// One face: the krilla font plus a glyph/advance table for layout.
pub(crate) struct Face {
    pub(crate) font: Font,
    /// (glyph id, advance in em) for each character below `TABLE`; glyph 0 = missing.
    table: Vec<(u16, f32)>,
    data: &'static [u8],
}

pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

impl Face {
    fn load(data: &'static [u8]) -> Option<Face> {
        let font = Font::new(data.into(), 0)?;
        let fr = FontRef::new(data).ok()?;
        let charmap = fr.charmap();
        let metrics = fr.glyph_metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(fr.head().ok()?.units_per_em());
        let table = (0..TABLE as u32)
            .map(|cp| lookup(&charmap, &metrics, upem, cp))
            .collect();
        Some(Face { font, table, data })
    }

    /// (glyph id, advance in em) of `c`; `None` when the font has no glyph for it.
    fn glyph(&self, c: char) -> Option<(u16, f32)> {
        let cp = c as usize;
        let g = if cp < TABLE {
            self.table[cp]
        } else {
            let fr = FontRef::new(self.data).ok()?;
            let metrics = fr.glyph_metrics(Size::unscaled(), LocationRef::default());
            let upem = f32::from(fr.head().ok()?.units_per_em());
            lookup(&fr.charmap(), &metrics, upem, c as u32)
        };
        (g.0 != 0).then_some(g)
    }

    pub(crate) fn has_glyph(&self, c: char) -> bool {
        !c.is_control() && self.glyph(c).is_some()
    }

    /// `text` with control characters as spaces and characters the font lacks as `?`.
    pub(crate) fn clean<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.chars().all(|c| self.has_glyph(c)) {
            return Cow::Borrowed(text);
        }
        Cow::Owned(
            text.chars()
                .map(|c| match c {
                    c if c.is_control() => ' ',
                    c if self.has_glyph(c) => c,
                    _ => '?',
                })
                .collect(),
        )
    }

    /// Width of already-cleaned text at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| self.glyph(c).map_or(0.0, |g| g.1))
            .sum::<f32>()
            * size
    }

    /// Glyphs of already-cleaned text.
    pub(crate) fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .filter_map(|(i, c)| {
                let (gid, adv) = self.glyph(c)?;
                Some(KrillaGlyph {
                    glyph_id: GlyphId::new(u32::from(gid)),
                    text_range: i..i + c.len_utf8(),
                    x_advance: adv,
                    x_offset: 0.0,
                    y_offset: 0.0,
                    y_advance: 0.0,
                    location: None,
                })
            })
            .collect()
    }
}

fn lookup(
    charmap: &skrifa::charmap::Charmap<'_>,
    metrics: &GlyphMetrics<'_>,
    upem: f32,
    cp: u32,
) -> (u16, f32) {
    match charmap.map(cp) {
        Some(gid) => {
            let adv = metrics.advance_width(gid).unwrap_or(0.0) / upem;
            (u16::try_from(gid.to_u32()).unwrap_or(0), adv)
        }
        None => (0, 0.0),
    }
}

static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();

/// The embedded fonts, parsed once per process; `None` only if the vendored files were
/// corrupt.
pub(crate) fn fonts() -> Option<&'static Fonts> {
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: Face::load(REGULAR_TTF)?,
                bold: Face::load(BOLD_TTF)?,
            })
        })
        .as_ref()
}

/// Whether both embedded faces have a glyph for `c`.
pub fn has_glyph(c: char) -> bool {
    fonts().is_some_and(|f| f.regular.has_glyph(c) && f.bold.has_glyph(c))
}

/// How `currency` is written with the embedded fonts (see [`crate::format`]).
pub fn currency_mark(currency: Currency) -> CurrencyMark {
    CurrencyMark::choose(currency, has_glyph)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_fonts_load_and_cover_latin_and_the_common_currency_symbols() {
        for c in "Aa0$€£¥–·".chars() {
            assert!(has_glyph(c), "{c}");
        }
        assert!(!has_glyph('ك'));
        assert!(!has_glyph('\u{7}'));
    }

    /// Every currency billrun invoices in: each three-letter code that parses.
    fn currencies() -> Vec<Currency> {
        let letters = || b'A'..=b'Z';
        letters()
            .flat_map(|a| letters().flat_map(move |b| letters().map(move |c| [a, b, c])))
            .filter_map(|code| Currency::parse(std::str::from_utf8(&code).ok()?).ok())
            .collect()
    }

    #[test]
    fn emails_write_every_currency_with_the_mark_its_pdf_uses() {
        let currencies = currencies();
        assert!(currencies.len() > 150, "{}", currencies.len());
        let mut drawn: Vec<char> = currencies
            .iter()
            .flat_map(|c| c.symbol().chars().collect::<Vec<_>>())
            .filter(|c| !c.is_ascii() && has_glyph(*c))
            .collect();
        drawn.sort_unstable();
        drawn.dedup();
        let drawn: String = drawn.into_iter().collect();
        for c in &currencies {
            assert_eq!(
                currency_mark(*c),
                CurrencyMark::as_on_documents(*c),
                "{c}: format.rs SYMBOL_GLYPHS_BEYOND_ASCII must be \"{drawn}\""
            );
        }
        for c in currencies
            .iter()
            .flat_map(|c| c.symbol().chars().collect::<Vec<_>>())
        {
            assert!(!c.is_ascii_graphic() || has_glyph(c), "{c}");
        }
    }

    #[test]
    fn characters_the_font_lacks_become_question_marks() {
        let f = fonts().unwrap();
        assert_eq!(f.regular.clean("Café 東京\tok"), "Café ?? ok");
    }

    #[test]
    fn a_wider_string_measures_wider() {
        let f = fonts().unwrap();
        assert!(f.regular.width("1,000.00", 10.0) > f.regular.width("100.00", 10.0));
        assert!(f.bold.width("Total", 10.0) > f.regular.width("Total", 10.0));
    }
}
