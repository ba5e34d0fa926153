//! Listings of configuration on every backend: document templates a page at a time in
//! id order, each saying whether it is the active one.

use crate::common::Backend;
use billrun_app::catalog::DocumentTemplate;
use billrun_app::model::audit::{ConfigChange, ConfigVerb, ResourceKind};

pub(super) async fn templates_list_in_id_order_a_page_at_a_time_with_the_active_one_marked(
    b: Backend,
) {
    let c = &b.app.templates;
    let entry = |id: &str| {
        ConfigChange {
            kind: ResourceKind::Template,
            id: id.into(),
            verb: ConfigVerb::Created,
            changes: Vec::new(),
        }
        .entry(None, None, chrono::Utc::now())
    };
    assert!(c.list_templates(None, 10).await.unwrap().is_empty());
    // Put out of order: the list is in byte-wise id order ("T-10" before "T-2").
    for id in ["T-2", "T-10", "T-1", "U-1"] {
        let t = DocumentTemplate {
            id: id.into(),
            name: format!("Template {id}"),
            content: "{}".into(),
            active: false,
            updated_at: chrono::Utc::now(),
        };
        c.put_template(&t, &entry(id)).await.unwrap();
    }
    c.activate_template("T-10", &entry("T-10")).await.unwrap();
    let ids = |page: &[DocumentTemplate]| page.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let first = c.list_templates(None, 2).await.unwrap();
    assert_eq!(ids(&first), ["T-1", "T-10"]);
    assert_eq!(
        first.iter().map(|t| t.active).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(first[0].name, "Template T-1");
    let second = c.list_templates(Some("T-10"), 2).await.unwrap();
    assert_eq!(ids(&second), ["T-2", "U-1"]);
    assert!(second.iter().all(|t| !t.active));
    assert!(c.list_templates(Some("U-1"), 2).await.unwrap().is_empty());
    // Replacing a template lists it once, still active.
    let mut again = first[1].clone();
    again.name = "Renamed".into();
    c.put_template(&again, &entry("T-10")).await.unwrap();
    let all = c.list_templates(None, 10).await.unwrap();
    assert_eq!(ids(&all), ["T-1", "T-10", "T-2", "U-1"]);
    assert_eq!((all[1].name.as_str(), all[1].active), ("Renamed", true));
}

/// Two accounts, a schedule each (imported); a third schedule is put through the port.
const TWO_SCHEDULES: &str = r#"{
  "accounts": [{"id": "A-1", "name": "One", "currency": "USD", "billCycleDay": 1},
               {"id": "A-2", "name": "Two", "currency": "EUR", "billCycleDay": 1}],
  "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
      "charges": [{"id": "C-1", "type": "Recurring", "price": "9.00", "billingPeriod": "Month"}]},
    {"id": "S-2", "accountId": "A-2", "productId": "P", "startDate": "2024-01-01",
      "charges": [{"id": "C-2", "type": "Recurring", "price": "9.00", "billingPeriod": "Month"}]}],
  "invoiceSchedules": [
    {"id": "IS-2", "accountId": "A-1", "subscriptionIds": ["S-1"], "items": [
      {"id": "I-1", "invoiceDate": "2024-01-01", "amount": "100.00"}]},
    {"id": "IS-10", "accountId": "A-2", "subscriptionIds": ["S-2"], "items": [
      {"id": "I-1", "invoiceDate": "2024-02-01", "amount": "200.00"}]}]
}"#;

pub(super) async fn invoice_schedules_list_in_id_order_across_accounts_a_page_at_a_time(
    b: Backend,
) {
    use billrun_domain::book::Book;
    use billrun_domain::ids::ScheduleId;
    let sid = |s: &str| ScheduleId::parse(s).unwrap();
    let s = &b.app.invoice_schedules;
    assert!(s.list_schedules(None, 10).await.unwrap().is_empty());
    b.app
        .reference()
        .import_book(TWO_SCHEDULES.as_bytes())
        .await
        .unwrap();
    let book = Book::parse(TWO_SCHEDULES.as_bytes()).unwrap();
    let mut third = book.invoice_schedules[1].clone();
    third.id = sid("IS-1");
    let entry = ConfigChange {
        kind: ResourceKind::InvoiceSchedule,
        id: "IS-1".into(),
        verb: ConfigVerb::Created,
        changes: Vec::new(),
    }
    .entry(None, None, chrono::Utc::now());
    s.put_schedule(&third, &entry).await.unwrap();
    // Replacing one lists it once.
    s.put_schedule(&third, &entry).await.unwrap();
    let ids = |page: &[billrun_domain::book::InvoiceSchedule]| {
        page.iter().map(|x| x.id.to_string()).collect::<Vec<_>>()
    };
    let first = s.list_schedules(None, 2).await.unwrap();
    assert_eq!(ids(&first), ["IS-1", "IS-10"], "byte-wise id order");
    assert_eq!(first[1].account_id.as_str(), "A-2");
    assert_eq!(first[1].items[0].amount.to_string(), "200.00");
    let rest = s.list_schedules(Some(&sid("IS-10")), 2).await.unwrap();
    assert_eq!(ids(&rest), ["IS-2"]);
    assert_eq!(rest[0].account_id.as_str(), "A-1");
    assert!(s
        .list_schedules(Some(&sid("IS-2")), 2)
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn a_created_invoice_schedule_is_never_replaced_by_another_create(b: Backend) {
    use billrun_domain::book::Book;
    use billrun_domain::ids::ScheduleId;
    let s = &b.app.invoice_schedules;
    b.app
        .reference()
        .import_book(TWO_SCHEDULES.as_bytes())
        .await
        .unwrap();
    let book = Book::parse(TWO_SCHEDULES.as_bytes()).unwrap();
    // Each write its own entry (an entry written already is that change's replay).
    let entry = |verb: ConfigVerb| {
        ConfigChange {
            kind: ResourceKind::InvoiceSchedule,
            id: "IS-7".into(),
            verb,
            changes: Vec::new(),
        }
        .entry(None, None, chrono::Utc::now())
    };
    // An imported schedule's id is taken too.
    let imported = s
        .create_schedule(&book.invoice_schedules[0], &entry(ConfigVerb::Created))
        .await
        .unwrap_err();
    assert!(
        matches!(imported, billrun_app::StoreError::Conflict(_)),
        "{imported:?}"
    );
    let mut new = book.invoice_schedules[1].clone();
    new.id = ScheduleId::parse("IS-7").unwrap();
    s.create_schedule(&new, &entry(ConfigVerb::Created))
        .await
        .unwrap();
    let mut other = new.clone();
    other.items[0].amount = "300.00".parse().unwrap();
    let again = s
        .create_schedule(&other, &entry(ConfigVerb::Created))
        .await
        .unwrap_err();
    assert!(
        matches!(again, billrun_app::StoreError::Conflict(_)),
        "{again:?}"
    );
    let stored = s.get_schedule(&new.id).await.unwrap().unwrap();
    assert_eq!(stored.schedule.items[0].amount.to_string(), "200.00");
    // A replace is still a replace.
    s.put_schedule(&other, &entry(ConfigVerb::Updated))
        .await
        .unwrap();
    let stored = s.get_schedule(&new.id).await.unwrap().unwrap();
    assert_eq!(stored.schedule.items[0].amount.to_string(), "300.00");
}
