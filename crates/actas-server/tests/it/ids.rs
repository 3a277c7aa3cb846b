//! Ids and secrets come from the server's `Ids` source, as time comes from
//! its clock: a seeded source tells the same story with the same names.

use std::sync::Arc;

use actas_core::id::SeededIds;

use actas_server::testing::*;

/// The names one short story gives: the session, Maria's personal token,
/// and every event's id, in order.
async fn story(seed: u64) -> (String, String, Vec<String>) {
    let app = TestApp::configured(move |c| c.ids = Arc::new(SeededIds::new(seed))).await;
    let session = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let events = app.events().await.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    (session, app.maria.clone(), events)
}

#[tokio::test]
async fn a_seeded_source_names_the_same_story_the_same_way() {
    let (first, again, other) = (story(7).await, story(7).await, story(8).await);
    assert!(first.0.starts_with("ses_"), "{first:?}");
    assert!(first.1.starts_with("actas_pat_"), "{first:?}");
    assert!(first.2.len() >= 4 && first.2.iter().all(|id| id.starts_with("evt_")), "{first:?}");
    assert_eq!(first, again);
    assert_ne!(first.0, other.0);
    assert_ne!(first.1, other.1);
}
