use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billrun_app::App;

/// One record at a time; only the records to deliver again are reported (a chunk with a
/// document whose send is worth retrying, or held by another sender, comes again).
pub async fn handle(app: &App, event: SqsEvent, max_receives: u32) -> SqsBatchResponse {
    billrun_lambda::handle_sqs(app, event, max_receives).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use billrun_app::app::DeliveryPorts;
    use billrun_app::memory::{MemoryQueue, MemoryStore, Receive};
    use billrun_app::model::deliveries::{DeliveryRequestStatus, OutgoingMail};
    use billrun_app::model::Message;
    use billrun_app::ports::{Accepted, Mailer, SendFailed};
    use billrun_domain::request::RunRequest;
    use parking_lot::Mutex;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../events/sqs-account.json");

    #[derive(Default)]
    struct Recorder(Mutex<Vec<OutgoingMail>>);

    #[async_trait]
    impl Mailer for Recorder {
        async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
            self.0.lock().push(mail.clone());
            Ok(Accepted {
                provider_id: Some("m-1".into()),
            })
        }
    }

    /// Two accounts, one with an address.
    fn book() -> String {
        let account = |id: &str, bill_to: serde_json::Value| {
            serde_json::json!({"id": id, "name": format!("Customer {id}"), "currency": "USD",
                "billCycleDay": 1, "billTo": bill_to})
        };
        let sub = |i: u32| {
            serde_json::json!({"id": format!("S-{i}"), "accountId": format!("A-{i}"),
                "productId": "P", "startDate": "2024-01-15", "charges": [{"id": format!("C-{i}"),
                "type": "Recurring", "price": "31.00", "billingPeriod": "Month"}]})
        };
        serde_json::json!({
            "accounts": [account("A-1", serde_json::json!({"email": "ap@a.example.com"})),
                         account("A-2", serde_json::json!({"name": "No address"}))],
            "subscriptions": [sub(1), sub(2)]})
        .to_string()
    }

    /// The sample SQS event with `bodies` as its records (receive 1).
    fn event(bodies: &[(String, String)]) -> SqsEvent {
        let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let template = v["Records"][0].clone();
        v["Records"] = bodies
            .iter()
            .map(|(id, body)| {
                let mut r = template.clone();
                r["messageId"] = id.as_str().into();
                r["body"] = body.as_str().into();
                r["attributes"]["ApproximateReceiveCount"] = "1".into();
                r
            })
            .collect();
        serde_json::from_value(v).unwrap()
    }

    /// Every message queued now, as SQS bodies.
    fn queued(queue: &MemoryQueue) -> Vec<Message> {
        let mut out = Vec::new();
        while let Receive::Delivery(d) = queue.try_receive() {
            queue.ack();
            out.push(d.message);
        }
        out
    }

    #[tokio::test]
    async fn an_auto_email_message_makes_the_request_and_its_deliver_messages_email_each_document_once(
    ) {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let mailer = Arc::new(Recorder::default());
        let app = App::in_memory(
            store.clone(),
            queue.clone(),
            Arc::new(billrun_documents::PdfRenderer),
        )
        .with_delivery(DeliveryPorts {
            store,
            mailer: mailer.clone(),
            from: "billing@example.com".into(),
        });
        app.reference()
            .import_book(book().as_bytes())
            .await
            .unwrap();
        let content =
            serde_json::to_string(&billrun_documents::sample::demo_template("en-US")).unwrap();
        let put = serde_json::json!({"name": "Default", "content": content});
        app.templates()
            .put_template("T-1", put.to_string().as_bytes())
            .await
            .unwrap();
        app.templates().activate_template("T-1").await.unwrap();
        let mut request = RunRequest::for_target("2024-02-01".parse().unwrap());
        request.auto_post = true;
        request.auto_email = true;
        let run = app
            .pipeline()
            .create_run(request, None)
            .await
            .unwrap()
            .run()
            .id;
        // Plan and process in process; the queue keeps what the run sends on.
        let mut messages = queued(&queue);
        for _ in 0..20 {
            for m in std::mem::take(&mut messages) {
                if !matches!(m, Message::AutoEmail { .. }) {
                    app.handle(&m).await.unwrap();
                }
                if matches!(m, Message::AutoEmail { .. }) {
                    messages.push(m);
                }
            }
            let more = queued(&queue);
            if more.is_empty() {
                break;
            }
            messages.extend(more);
        }
        assert!(
            matches!(messages.as_slice(), [Message::AutoEmail { run_id }] if *run_id == run),
            "{messages:?}"
        );
        // The delivery queue's records, through the handler, until nothing is left (a
        // malformed record fails alone).
        let mut bodies = vec![("bad".to_string(), "{not json".to_string())];
        bodies.extend(
            messages
                .iter()
                .map(|m| ("m-auto".to_string(), serde_json::to_string(m).unwrap())),
        );
        let mut rounds = 0;
        while !bodies.is_empty() {
            rounds += 1;
            assert!(rounds < 10, "the queue did not drain");
            let response = handle(&app, event(&bodies), 5).await;
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            assert_eq!(failed, if rounds == 1 { vec!["bad"] } else { vec![] });
            bodies = queued(&queue)
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("m-{rounds}-{i}"), serde_json::to_string(m).unwrap()))
                .collect();
        }
        let sent = mailer.0.lock().clone();
        assert_eq!(sent.len(), 1, "one account has an address");
        assert_eq!(sent[0].to, ["ap@a.example.com"]);
        let pdf = sent[0].attachment.as_ref().unwrap();
        assert!(pdf.bytes.starts_with(b"%PDF-"));
        let deliveries = app.deliveries().unwrap();
        let requests = app
            .delivery
            .as_ref()
            .unwrap()
            .store
            .latest_delivery_request(run)
            .await
            .unwrap()
            .unwrap();
        let view = deliveries.delivery_request(requests).await.unwrap();
        assert_eq!(view.status, DeliveryRequestStatus::Completed);
        assert_eq!((view.counters.sent, view.counters.skipped), (1, 1));

        // SES's events, as the template's EventBridge rule puts them on the queue: the
        // bounce of the sent document (twice: at least once) is recorded once; a
        // delivery event and an untagged bounce are acknowledged and change nothing.
        let (request_id, document_id) = OutgoingMail::ids_in(&sent[0].message_id)
            .map(|(r, d)| (r.to_string(), d.to_string()))
            .unwrap();
        let ses = |detail_type: &str, tags: serde_json::Value| {
            serde_json::json!({"version": "0", "id": "e-1", "detail-type": detail_type,
                "source": "aws.ses", "account": "123456789012",
                "time": "2024-02-01T10:05:00Z", "region": "us-east-1", "resources": [],
                "detail": {"eventType": "Bounce",
                    "mail": {"timestamp": "2024-02-01T10:00:00Z", "messageId": "ses-1",
                             "destination": ["ap@a.example.com"], "tags": tags},
                    "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                        "bouncedRecipients": [{"emailAddress": "ap@a.example.com",
                            "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                        "timestamp": "2024-02-01T10:01:00Z"}}})
            .to_string()
        };
        let tags = serde_json::json!({"ses:configuration-set": ["billrun"],
            "request": [request_id], "document": [document_id]});
        let bodies = [
            ("b-1".to_string(), ses("Email Bounced", tags.clone())),
            ("b-2".to_string(), ses("Email Bounced", tags.clone())),
            ("d-1".to_string(), ses("Email Delivered", tags)),
            (
                "u-1".to_string(),
                ses(
                    "Email Bounced",
                    serde_json::json!({"ses:configuration-set": ["billrun"]}),
                ),
            ),
        ];
        let response = handle(&app, event(&bodies), 5).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
        let view = deliveries.delivery_request(requests).await.unwrap();
        assert_eq!(
            (view.counters.sent, view.counters.bounced),
            (1, 1),
            "{:?}",
            view.counters
        );
        let record = app
            .delivery
            .as_ref()
            .unwrap()
            .store
            .document_delivery(document_id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record.status,
            billrun_app::model::deliveries::DeliveryStatus::Bounced
        );
    }
}
