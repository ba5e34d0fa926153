//! Email addresses as the book carries them: a plain `local@domain` address (no display
//! name, no comments, no quoted local part), so that a value that passes is safe to put
//! in a message header as it is and is accepted by SMTP servers and Amazon SES alike.

/// Longest address (RFC 5321's path limit less the angle brackets).
pub const MAX_ADDRESS: usize = 254;
/// Copies per document besides the `email` address.
pub const MAX_CC: usize = 10;

/// Why `s` is not an address, or `None` when it is one.
pub fn address_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("must not be empty");
    }
    if s.len() > MAX_ADDRESS {
        return Some("must be at most 254 bytes");
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Some("must be an address of the form name@example.com");
    };
    if local.is_empty() || local.len() > 64 {
        return Some("must have 1 to 64 characters before the @");
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if !local
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(atext))
    {
        return Some("has a character before the @ that an address cannot carry unquoted");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Some("must have a domain with a dot after the @");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(|l| label_ok(l)) {
        return Some("has a domain that is not a host name");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_pass_and_anything_that_could_break_a_header_does_not() {
        for ok in [
            "ap@example.com",
            "first.last+bills@mail.example.co.uk",
            "x@a-b.io",
        ] {
            assert_eq!(address_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "no-at.example.com",
            "@example.com",
            "a@localhost",
            "a@@example.com",
            "a b@example.com",
            "a@example.com\r\nBcc: x@evil.com",
            "Name <a@example.com>",
            "a..b@example.com",
            ".a@example.com",
            "a@-example.com",
            "a@example..com",
            "\"quoted\"@example.com",
            "ä@example.com",
        ] {
            assert!(address_problem(bad).is_some(), "{bad:?}");
        }
        assert!(address_problem(&format!("{}@example.com", "a".repeat(65))).is_some());
        assert!(address_problem(&format!("a@{}.com", "b".repeat(250))).is_some());
    }
}
