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
