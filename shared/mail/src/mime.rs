//! The one MIME builder: an [`OutgoingMail`] as the bytes every transport sends.
//!
//! ```text
//! multipart/mixed
//! ├── multipart/alternative     (or text/plain alone when there is no HTML)
//! │   ├── text/plain; charset=utf-8      quoted-printable
//! │   └── text/html; charset=utf-8       quoted-printable
//! └── application/pdf (attachment)      base64
//! ```
//!
//! Header values come from book data (account names, addresses) and templates, so none
//! is trusted: addresses are parsed as lettre [`Mailbox`]es (a bad one fails the message
//! naming its header, never quoting the address), and control characters (CR and LF
//! above all, which would start a new header) in the subject, display names and the
//! attachment's file name become spaces before lettre encodes them.

use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::ports::SendFailed;
use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use std::time::SystemTime;

/// The boundaries are fixed rather than lettre's random ones so that the same mail at the
/// same date is the same bytes (an `.eml` written again is identical). A fixed boundary is
/// safe because every part is quoted-printable or base64: neither encoding can produce
/// `=_` (quoted-printable writes `=` as `=3D`; base64 has no `_`), so no content line
/// can be taken for a boundary.
const MIXED_BOUNDARY: &str = "=_billrun-mixed";
const ALTERNATIVE_BOUNDARY: &str = "=_billrun-alternative";

/// `mail` as an RFC 5322 message dated now.
pub fn to_mime(mail: &OutgoingMail) -> Result<Vec<u8>, SendFailed> {
    to_mime_at(mail, SystemTime::now())
}

/// `mail` as an RFC 5322 message with `date` as its `Date`: the same arguments give the
/// same bytes.
pub fn to_mime_at(mail: &OutgoingMail, date: SystemTime) -> Result<Vec<u8>, SendFailed> {
    Ok(message(mail, date)?.formatted())
}

/// The lettre message: its `formatted()` bytes are [`to_mime_at`]'s, and its envelope
/// (From; To and Cc) is what SMTP sends them with.
pub(crate) fn message(mail: &OutgoingMail, date: SystemTime) -> Result<Message, SendFailed> {
    if mail.to.is_empty() {
        return Err(permanent("To: the message has no recipient"));
    }
    let mut builder = Message::builder()
        .from(mailbox("From", &mail.from)?)
        .message_id(Some(message_id(&mail.message_id)?))
        .date(date)
        .subject(clean(&mail.subject));
    for to in &mail.to {
        builder = builder.to(mailbox("To", to)?);
    }
    for cc in &mail.cc {
        builder = builder.cc(mailbox("Cc", cc)?);
    }
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(mailbox("Reply-To", reply_to)?);
    }

    let text = text_part(ContentType::TEXT_PLAIN, &mail.text)?;
    let mixed = MultiPart::mixed().boundary(MIXED_BOUNDARY);
    let mut mixed = if mail.html.is_empty() {
        mixed.singlepart(text)
    } else {
        let html = text_part(ContentType::TEXT_HTML, &mail.html)?;
        mixed.multipart(
            MultiPart::alternative()
                .boundary(ALTERNATIVE_BOUNDARY)
                .singlepart(text)
                .singlepart(html),
        )
    };
    if let Some(a) = &mail.attachment {
        let content_type = ContentType::parse(&a.content_type)
            .map_err(|_| permanent("attachment: not a valid content type"))?;
        let body = Body::new_with_encoding(a.bytes.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| permanent("attachment: cannot be encoded as base64"))?;
        mixed = mixed.singlepart(
            SinglePart::builder()
                .header(content_type)
                .header(ContentDisposition::attachment(&clean(&a.filename)))
                .body(body),
        );
    }
    builder
        .multipart(mixed)
        .map_err(|e| permanent(&format!("the message cannot be built: {e}")))
}

/// A text part, always quoted-printable (lettre would pick 7bit for plain ASCII, which
/// the fixed boundaries must not meet).
fn text_part(content_type: ContentType, text: &str) -> Result<SinglePart, SendFailed> {
    let body = Body::new_with_encoding(text.to_string(), ContentTransferEncoding::QuotedPrintable)
        .map_err(|_| permanent("body: cannot be encoded as quoted-printable"))?;
    Ok(SinglePart::builder().header(content_type).body(body))
}

/// `value` parsed as one mailbox (`a@b.example` or `Name <a@b.example>`). The error
/// names the header only: the address is personal data and this reason can reach a log.
fn mailbox(header: &str, value: &str) -> Result<Mailbox, SendFailed> {
    clean(value)
        .trim()
        .parse::<Mailbox>()
        .map_err(|_| permanent(&format!("{header}: not a valid email address")))
}

/// A `Message-ID` is `<left@right>` in visible ASCII. Ours are built by
/// `OutgoingMail::message_id_of`; anything else is refused rather than passed on into
/// a header.
fn message_id(id: &str) -> Result<String, SendFailed> {
    let inner = id
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or_default();
    let valid = inner
        .split_once('@')
        .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
        && inner
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    if valid {
        Ok(id.to_string())
    } else {
        Err(permanent("Message-ID: not of the form <left@right>"))
    }
}

/// `s` with every control character (CR, LF, TAB, NUL, DEL, C1...) as a space.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn permanent(reason: &str) -> SendFailed {
    SendFailed::Permanent(reason.to_string())
}
