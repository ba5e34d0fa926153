//! Renders a sample document: `cargo run -p billrun-documents --example render_sample --
//! [invoice|credit-memo] CURRENCY LOCALE LINES OUT.pdf`
//! (docs/invoice-example.png is `invoice USD en-US 7`, page 1 by `pdftoppm -png -r 80`).

use billrun_documents::{render, sample};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let kind = arg(0, "invoice");
    let (currency, locale) = (arg(1, "USD"), arg(2, "en-US"));
    let lines: usize = arg(3, "8").parse()?;
    let out = arg(4, "invoice.pdf");
    let s = if kind == "credit-memo" {
        sample::credit_memo(&currency, &locale)?
    } else {
        sample::invoice(&currency, &locale, lines)?
    };
    let pdf = render(&s.document, &s.account, &s.template, &s.context)?;
    std::fs::write(&out, &pdf)?;
    println!("{out}: {} bytes", pdf.len());
    Ok(())
}
