//! `cargo bench -p billrun-documents`: one typical invoice (8 lines, one page) and a
//! 150-line invoice (7 pages), rendered to PDF/A-2b.

// Bench code: a panic fails the bench (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_documents::{render, sample};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    for (name, lines) in [
        ("render typical invoice (8 lines)", 8),
        ("render 150-line invoice", 150),
    ] {
        let s = sample::invoice("USD", "en-US", lines).expect("sample");
        c.bench_function(name, |b| {
            b.iter(|| {
                render(black_box(&s.document), &s.account, &s.template, &s.context).expect("render")
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
