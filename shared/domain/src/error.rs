use serde::Serialize;

/// An input error that names the offending field with a dotted path (`accounts[3].currency`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Marker that a custom deserializer puts in front of its message to name a sub-field of
/// the value it rejects: `"@price: is required"` at path `charges[1]` becomes
/// `charges[1].price: is required`.
pub(crate) const SUBFIELD_MARK: char = '@';

/// Parses JSON into `T`, reporting the first error with its field path.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    // Every document billrun reads is an object. serde's derived structs also accept
    // an array of their fields in order, which would take `[]` for an empty book.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(FieldError::new("$", "must be a JSON object, not an array"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        path_error(path, err.inner())
    })?;
    de.end()
        .map_err(|_| FieldError::new("$", "trailing characters after the JSON value"))?;
    Ok(value)
}

pub(crate) fn path_error(path: String, inner: &serde_json::Error) -> FieldError {
    let mut message = inner.to_string();
    // serde_json appends " at line L column C"; the path says where instead.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    let mut field = if path == "." { String::new() } else { path };
    if let Some(rest) = message.strip_prefix(SUBFIELD_MARK) {
        if let Some((sub, msg)) = rest.split_once(": ") {
            field = join(&field, sub);
            message = msg.to_string();
        }
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((name, _)) = rest.split_once('`') {
            // serde_path_to_error already ends the path with the unknown key.
            if !(field == name || field.ends_with(&format!(".{name}"))) {
                field = join(&field, name);
            }
            message = "unknown field".to_string();
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            field = join(&field, name);
            message = "is required".to_string();
        }
    }
    if field.is_empty() {
        field = "$".to_string();
    }
    FieldError {
        field: printable(&field),
        message: printable(&message),
    }
}

/// Longest field path or parser message echoed back, in characters: a path holds keys
/// of the input, and an unknown key can be megabytes long.
const MAX_ECHO: usize = 300;

/// `s` with control characters escaped (`\n`, `\u{1b}`) and cut at [`MAX_ECHO`]
/// characters, so that an error naming a key of the input cannot forge lines in a log
/// or a terminal, nor echo a huge key.
pub(crate) fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_ECHO));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_ECHO {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn join(base: &str, sub: &str) -> String {
    if base.is_empty() {
        sub.to_string()
    } else {
        format!("{base}.{sub}")
    }
}
