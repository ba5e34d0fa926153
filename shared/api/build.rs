//! The OpenAPI document the API serves: `docs/openapi.json` without the whitespace
//! between its tokens. The checked-in file stays indented for readers; the served copy
//! is half its size in every binary that links the route (about 150 KB of api-queries).

use std::path::Path;

fn main() {
    // Read when the script runs, not baked in when it is compiled: a build script's
    // binary is reused wherever the same crate builds into the same target directory.
    let dir = match std::env::var("CARGO_MANIFEST_DIR") {
        Ok(d) => d,
        Err(e) => panic!("CARGO_MANIFEST_DIR: {e}"),
    };
    let source = Path::new(&dir).join("../../docs/openapi.json");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = match std::fs::read_to_string(&source) {
        Ok(t) => t,
        Err(e) => panic!("reading {}: {e}", source.display()),
    };
    let out = match std::env::var("OUT_DIR") {
        Ok(d) => Path::new(&d).join("openapi.min.json"),
        Err(e) => panic!("OUT_DIR: {e}"),
    };
    if let Err(e) = std::fs::write(&out, compact(&text)) {
        panic!("writing {}: {e}", out.display());
    }
}

/// JSON text without the whitespace outside its strings (the same document, token for
/// token: no parsing, so no key is reordered).
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
