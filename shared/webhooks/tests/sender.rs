//! The sender against receivers on loopback, and names pinned to addresses (no DNS, no
//! traffic beyond 127.0.0.1): what is refused before a connection, what a redirect or a
//! silent receiver comes to, and the headers a receiver gets.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::ports::{OutgoingWebhook, WebhookSendError, WebhookSender};
use billrun_webhooks::{HttpWebhookSender, UrlPolicy};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn webhook(url: String) -> OutgoingWebhook {
    OutgoingWebhook {
        url,
        message_id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
        timestamp: chrono::DateTime::from_timestamp(1_614_265_330, 0).unwrap(),
        body: r#"{"test": 2432232314}"#.into(),
        secrets: vec![SECRET.into()],
    }
}

fn pinned(name: &str, ip: &str) -> HashMap<String, Vec<IpAddr>> {
    HashMap::from([(name.to_string(), vec![ip.parse().unwrap()])])
}

/// A receiver that answers each connection with `answer` (or never, when empty) and
/// hands back what it read.
async fn receiver(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        if answer.is_empty() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        } else {
            s.write_all(answer.as_bytes()).await.unwrap();
        }
        String::from_utf8_lossy(&buf[..n]).to_string()
    });
    (port, task)
}

#[tokio::test]
async fn a_name_resolving_to_a_private_or_loopback_address_is_refused_at_send() {
    for (name, ip) in [
        ("internal.example", "10.0.0.5"),
        ("meta.example", "169.254.169.254"),
        ("rebound.example", "127.0.0.1"),
        ("v6.example", "fd00:ec2::254"),
    ] {
        let sender = HttpWebhookSender::with_pinned(
            UrlPolicy::default(),
            Duration::from_secs(2),
            pinned(name, ip),
        )
        .unwrap();
        // The name passes when stored (it is not an address)...
        assert!(sender.check_url(&format!("https://{name}/hook")).is_ok());
        // ...and is refused when it resolves to a forbidden address.
        let err = sender
            .send(&webhook(format!("https://{name}/hook")))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WebhookSendError::Refused(m) if m.contains(ip)),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_receiver_gets_the_standard_headers_and_a_redirect_is_not_followed() {
    let (port, got) = receiver(
        "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let sender = HttpWebhookSender::new(
        UrlPolicy {
            allow_loopback: true,
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let answer = sender
        .send(&webhook(format!("http://127.0.0.1:{port}/hook")))
        .await
        .unwrap();
    assert_eq!(answer.status, 302);
    let request = got.await.unwrap().to_ascii_lowercase();
    assert!(request.starts_with("post /hook http/1.1"));
    assert!(request.contains("webhook-id: msg_p5jxn8aqm9lwm0d4lokwxjek"));
    assert!(request.contains("webhook-timestamp: 1614265330"));
    // The specification's example signature.
    assert!(request.contains("webhook-signature: v1,g0hm9sse+otpjtgt/tmiktsyzle3ufjelvlniolj1oe="));
}

#[tokio::test]
async fn a_silent_receiver_times_out() {
    let (port, _got) = receiver("").await;
    let sender = HttpWebhookSender::new(
        UrlPolicy {
            allow_loopback: true,
        },
        Duration::from_millis(300),
    )
    .unwrap();
    let err = sender
        .send(&webhook(format!("http://127.0.0.1:{port}/hook")))
        .await
        .unwrap_err();
    assert_eq!(err, WebhookSendError::Timeout);
}

#[tokio::test]
async fn without_the_local_flag_loopback_is_refused_before_any_connection() {
    let sender = HttpWebhookSender::new(UrlPolicy::default(), Duration::from_secs(1)).unwrap();
    let err = sender
        .send(&webhook("https://127.0.0.1:9/hook".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookSendError::Refused(_)), "{err:?}");
}
