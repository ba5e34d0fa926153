//! `serve --tokens FILE`: named API tokens with scopes. The file is a JSON object
//! `{"tokens": [{"name": "alice", "sha256": "<hex SHA-256 of the token>", "scopes":
//! ["billing:read", ...]}, ...]}`: the server keeps only hashes, and a request's bearer token is hashed and
//! compared with each (in constant time) to find who is calling and what they may do.

use billrun_api::access::{Principal, Scope};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tokens: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    sha256: String,
    scopes: Vec<String>,
}

/// The tokens of a file, by the hash of each.
#[derive(Debug, Clone)]
pub struct Tokens(Vec<([u8; 32], Principal)>);

impl Tokens {
    /// Reads and checks the file: names unique and non-empty, hashes 64 hex digits and
    /// unique, scopes known. The message names the entry and field at fault.
    pub fn read(path: &Path) -> Result<Tokens, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Tokens::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(bytes: &[u8]) -> Result<Tokens, String> {
        let file: File = billrun_domain::error::parse_json(bytes).map_err(|e| e.to_string())?;
        let entries = file.tokens;
        if entries.is_empty() {
            return Err("no token".into());
        }
        let mut out: Vec<([u8; 32], Principal)> = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let at = |field: &str| format!("tokens[{i}].{field}");
            if e.name.trim().is_empty() || e.name.chars().any(char::is_control) {
                return Err(format!("{}: must be a non-empty name", at("name")));
            }
            let hash = hex32(&e.sha256)
                .ok_or_else(|| format!("{}: must be 64 hexadecimal digits", at("sha256")))?;
            let mut scopes = BTreeSet::new();
            for (j, s) in e.scopes.iter().enumerate() {
                let scope = Scope::parse(s).ok_or_else(|| {
                    format!(
                        "{}: unknown scope '{s}' (billing:read, billing:run, billing:post, billing:admin)",
                        at(&format!("scopes[{j}]"))
                    )
                })?;
                scopes.insert(scope);
            }
            if out.iter().any(|(h, p)| *h == hash || p.name == e.name) {
                return Err(format!("tokens[{i}]: a name or token given twice"));
            }
            out.push((
                hash,
                Principal {
                    name: e.name,
                    scopes,
                },
            ));
        }
        Ok(Tokens(out))
    }

    /// Who holds `token`, if anyone.
    pub fn principal(&self, token: &str) -> Option<&Principal> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry is compared, so the time does not say which matched.
        let mut found = None;
        for (h, p) in &self.0 {
            if crate::serve::same(h, &hash) && found.is_none() {
                found = Some(p);
            }
        }
        found
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(t: &str) -> String {
        Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn a_token_is_found_by_its_hash_with_its_scopes_and_bad_files_name_the_fault() {
        let file = format!(
            r#"{{"tokens": [{{"name": "alice", "sha256": "{}", "scopes": ["billing:read", "billing:post"]}},
                {{"name": "bob", "sha256": "{}", "scopes": ["billing:read"]}}]}}"#,
            sha("alice-token"),
            sha("bob-token")
        );
        let tokens = Tokens::parse(file.as_bytes()).unwrap();
        let alice = tokens.principal("alice-token").unwrap();
        assert_eq!(alice.name, "alice");
        assert!(alice.scopes.contains(&Scope::Post) && !alice.scopes.contains(&Scope::Run));
        assert_eq!(tokens.principal("bob-token").unwrap().name, "bob");
        assert!(tokens.principal("carol-token").is_none());
        let x = sha("x");
        for (bad, says) in [
            (r#"{"tokens": []}"#.to_string(), "no token"),
            (
                format!(
                    r#"{{"tokens": [{{"name": "a", "sha256": "{x}", "scopes": ["billing:all"]}}]}}"#
                ),
                "tokens[0].scopes[0]",
            ),
            (
                r#"{"tokens": [{"name": "a", "sha256": "abc", "scopes": []}]}"#.to_string(),
                "tokens[0].sha256",
            ),
            (
                format!(
                    r#"{{"tokens": [{{"name": "a", "sha256": "{x}", "scopes": []}}, {{"name": "b", "sha256": "{x}", "scopes": []}}]}}"#
                ),
                "tokens[1]",
            ),
        ] {
            let e = Tokens::parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
