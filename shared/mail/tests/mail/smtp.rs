//! The SMTP mailer, against the fake server on loopback, and its URL rules.

use crate::fake_smtp::{FakeSmtp, Replies};
use crate::sample_mail;
use base64::Engine;
use billrun_app::ports::{Mailer, SendFailed};
use billrun_mail::{to_mime_at, MailConfigError, Security, SmtpMailer, SEND_TIMEOUT};
use mail_parser::MessageParser;
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn a_message_is_sent_as_the_mime_bytes_with_an_envelope_of_to_and_cc() {
    let server = FakeSmtp::start(Replies::default()).await;
    let mailer = SmtpMailer::from_url(&server.url()).unwrap();
    assert_eq!(mailer.security(), Security::Plain);
    let mail = sample_mail();
    let accepted = mailer.send(&mail).await.unwrap();
    assert_eq!(accepted.provider_id, None);

    let commands = server.commands();
    let envelope: Vec<&str> = commands
        .iter()
        .filter(|c| c.starts_with("MAIL") || c.starts_with("RCPT"))
        .map(|c| c.split_whitespace().take(2).last().unwrap())
        .collect();
    assert_eq!(
        envelope,
        [
            "FROM:<billing@northwind.example>",
            "TO:<ada@customer.example>",
            "TO:<ap@customer.example>",
            "TO:<controller@customer.example>",
        ]
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    // The bytes sent are to_mime's, dated when they were sent.
    let received = MessageParser::default().parse(&messages[0]).unwrap();
    let sent_at = received.date().unwrap().to_timestamp();
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(sent_at as u64);
    let expected = to_mime_at(&mail, date).unwrap();
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .unwrap()
            .trim_end()
            .to_string()
    };
    let (sent, expected) = (text(&messages[0]), text(&expected));
    for (a, b) in sent.lines().zip(expected.lines()) {
        assert_eq!(a, b);
    }
    assert_eq!(sent, expected);
}

/// One send of the sample mail through a fake server answering RCPT with `rcpt`.
async fn send_with_rcpt_reply(rcpt: &'static str) -> (FakeSmtp, Result<(), SendFailed>) {
    let server = FakeSmtp::start(Replies {
        rcpt,
        ..Replies::default()
    })
    .await;
    let mailer = SmtpMailer::from_url(&server.url()).unwrap();
    let sent = mailer.send(&sample_mail()).await.map(|_| ());
    (server, sent)
}

#[tokio::test]
async fn a_4xx_reply_is_transient_and_a_5xx_reply_permanent() {
    let (_, sent) = send_with_rcpt_reply("451 4.3.0 mailbox busy, try later").await;
    let Err(SendFailed::Transient(reason)) = sent else {
        panic!("451 is transient");
    };
    assert!(reason.contains("451"), "{reason}");

    let (refusing, sent) = send_with_rcpt_reply("550 5.1.1 no such user").await;
    let Err(SendFailed::Permanent(reason)) = sent else {
        panic!("550 is permanent");
    };
    assert!(reason.contains("550"), "{reason}");
    assert!(refusing.messages().is_empty());
}

#[tokio::test]
async fn a_relay_that_cannot_be_reached_is_a_transient_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mailer = SmtpMailer::from_url(&format!("smtp://{addr}")).unwrap();
    let Err(SendFailed::Transient(_)) = mailer.send(&sample_mail()).await else {
        panic!("a refused connection is transient");
    };
}

#[tokio::test]
async fn a_bad_address_fails_before_any_connection() {
    let server = FakeSmtp::start(Replies::default()).await;
    let mailer = SmtpMailer::from_url(&server.url()).unwrap();
    let mut mail = sample_mail();
    mail.cc = vec!["nobody".to_string()];
    let Err(SendFailed::Permanent(reason)) = mailer.send(&mail).await else {
        panic!("a bad address is permanent");
    };
    assert_eq!(reason, "Cc: not a valid email address");
    assert!(server.commands().is_empty());
}

#[tokio::test]
async fn the_urls_user_and_password_are_sent_with_auth_plain() {
    let server = FakeSmtp::start(Replies {
        auth: true,
        ..Replies::default()
    })
    .await;
    let url = format!(
        "smtp://billing%40northwind.example:p%3Ass%20w@{}",
        server.addr
    );
    let mailer = SmtpMailer::from_url(&url).unwrap();
    mailer.send(&sample_mail()).await.unwrap();
    let commands = server.commands();
    let auth = commands
        .iter()
        .find(|c| c.starts_with("AUTH PLAIN"))
        .unwrap();
    let token = auth.split_whitespace().nth(2).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    assert_eq!(decoded, b"\0billing@northwind.example\0p:ss w");
    assert!(!format!("{mailer:?}").contains("p:ss"));
}

#[tokio::test]
async fn required_starttls_sends_nothing_to_a_relay_that_does_not_offer_it() {
    let server = FakeSmtp::start(Replies::default()).await;
    let mailer = SmtpMailer::from_url(&format!("{}?tls=required", server.url())).unwrap();
    assert_eq!(mailer.security(), Security::StartTls);
    let Err(SendFailed::Transient(_)) = mailer.send(&sample_mail()).await else {
        panic!("no STARTTLS is a transient failure (the configuration is at fault)");
    };
    let commands = server.commands();
    assert!(
        !commands
            .iter()
            .any(|c| c.starts_with("MAIL") || c.starts_with("AUTH")),
        "{commands:?}"
    );
    assert!(server.messages().is_empty());
}

#[test]
fn plain_smtp_is_only_for_loopback_and_any_other_host_requires_tls() {
    let security = |url: &str| SmtpMailer::from_url(url).unwrap().security();
    for loopback in [
        "smtp://127.0.0.1:1025",
        "smtp://127.8.9.10",
        "smtp://localhost:25",
        "smtp://LOCALHOST",
        "smtp://[::1]:25",
        "smtp://localhost?tls=none",
    ] {
        assert_eq!(security(loopback), Security::Plain, "{loopback}");
    }
    for remote in [
        "smtp://mail.example.com:587",
        "smtp://10.0.0.5:25",
        "smtp://[2001:db8::1]",
        "smtp://user:pw@mail.example.com",
        "smtp://mail.example.com?tls=required",
    ] {
        assert_eq!(security(remote), Security::StartTls, "{remote}");
    }
    assert_eq!(security("smtps://mail.example.com"), Security::ImplicitTls);
    assert_eq!(security("smtps://127.0.0.1:465"), Security::ImplicitTls);

    // Asking for plain SMTP to another host is refused when the mailer is built, and the
    // error never repeats the password.
    let err = SmtpMailer::from_url("smtp://u:secret@mail.example.com:25?tls=none").unwrap_err();
    assert_eq!(
        err,
        MailConfigError::PlaintextToRemote("mail.example.com".to_string())
    );
    assert!(!err.to_string().contains("secret"));
    let err = SmtpMailer::from_url("smtp://192.168.1.10?tls=none").unwrap_err();
    assert!(matches!(err, MailConfigError::PlaintextToRemote(_)));
}

#[test]
fn a_url_that_is_not_an_smtp_relay_is_refused() {
    let any = String::new;
    let cases = [
        ("not a url", MailConfigError::Url(any())),
        ("http://mail.example.com", MailConfigError::Scheme(any())),
        ("smtp://mail.example.com/inbox", MailConfigError::Path),
        (
            "smtp://mail.example.com?tls=maybe",
            MailConfigError::Option(any()),
        ),
        (
            "smtps://mail.example.com?tls=none",
            MailConfigError::Option(any()),
        ),
        (
            "smtp://mail.example.com?debug=1",
            MailConfigError::Option(any()),
        ),
        (
            "smtp://:pw@mail.example.com",
            MailConfigError::PasswordWithoutUser,
        ),
        ("smtp:///", MailConfigError::NoHost),
    ];
    for (url, expected) in cases {
        let err = SmtpMailer::from_url(url).unwrap_err();
        assert_eq!(
            std::mem::discriminant(&err),
            std::mem::discriminant(&expected),
            "{url}: {err}"
        );
    }
}

#[test]
fn a_send_gives_up_well_before_the_delivery_claim_expires() {
    let lease = billrun_app::model::deliveries::SENDING_LEASE_SECONDS;
    assert!(SEND_TIMEOUT.as_secs() * 2 <= lease.unsigned_abs());
}
