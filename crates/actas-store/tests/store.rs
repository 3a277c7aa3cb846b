//! The storage contract, run on SQLite and (when `ACTAS_TEST_PG_URL` is set)
//! PostgreSQL: one body per case, both backends.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use actas_core::audit::data::PolicyLoaded;
use actas_core::audit::{Actor, ChainVerifier, EventData, NewEvent};
use actas_core::Error;
use actas_store::testing::{agent, approved_request, live_session, t0, ticket, wait_for};
use actas_store::{read_fn, write_fn, EventFilter, Options, Store};

/// One case, run on SQLite and on PostgreSQL (skipped, and said so, without
/// `ACTAS_TEST_PG_URL`).
macro_rules! both {
    ($name:ident, $case:ident) => {
        mod $name {
            use actas_store::testing::TestStore;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = TestStore::sqlite().await;
                super::$case(db.store.clone(), &db.url).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(db) = TestStore::postgres().await else { return };
                super::$case(db.store.clone(), &db.url).await;
            }
        }
    };
}

fn event(n: usize) -> NewEvent {
    let data = PolicyLoaded { sha256: format!("{n:064x}"), actions: n, scope_change: "reapprove".into() };
    NewEvent::new(t0(), Actor::system(), format!("event {n}"), EventData::PolicyLoaded(data))
}

async fn all_events(store: &Store) -> Vec<actas_core::audit::Event> {
    store
        .read(read_fn(|tx| {
            Box::pin(async move { tx.list_events(&EventFilter { limit: 100_000, ..Default::default() }).await })
        }))
        .await
        .unwrap()
}

both!(concurrent_writes_commit_in_batches_and_keep_one_chain, concurrent_writes);
async fn concurrent_writes(store: Store, _url: &str) {
    let mut tasks = Vec::new();
    for n in 0..300 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.write(write_fn(move |tx| Box::pin(async move { tx.append_event(event(n)).await }))).await.unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=300).collect::<Vec<i64>>(), "every write acknowledged with its own seq");
    let (batches, writes) = store.write_stats();
    assert_eq!(writes, 300);
    assert!(batches < writes, "group commit: {batches} transactions for {writes} writes");
    let mut chain = ChainVerifier::default();
    let events = all_events(&store).await;
    for e in &events {
        chain.push(e).unwrap();
    }
    assert_eq!(chain.count(), 300);
    // Event ids grow with seq, so the index that finds an event by its id
    // only ever appends, as the trail does, however the writes interleave.
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "event ids sort as their seqs");
}

both!(a_failed_write_rolls_back_alone_within_its_batch, failed_write_alone);
async fn failed_write_alone(store: Store, _url: &str) {
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(write_fn(move |tx| {
                    Box::pin(async move {
                        tx.append_event(event(n)).await?;
                        if n % 4 == 0 {
                            return Err(Error::conflict(actas_core::Code::NothingNew, "this one changes its mind"));
                        }
                        Ok(())
                    })
                }))
                .await
        }));
    }
    let mut failed = 0;
    for t in tasks {
        if t.await.unwrap().is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 10);
    let events = all_events(&store).await;
    assert_eq!(events.len(), 30, "the failed writes left no event");
    let mut chain = ChainVerifier::default();
    for e in &events {
        chain.push(e).unwrap();
    }
}

both!(a_write_that_reads_the_trail_and_then_fails_keeps_the_rest_of_its_batch, read_then_fail);
async fn read_then_fail(store: Store, _url: &str) {
    // Each write appends, some read the trail (which stores what the batch
    // appended so far), and some of those then fail: only their own events
    // go, the events of the writes before them in the batch stay.
    let mut tasks = Vec::new();
    for n in 0..60 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(write_fn(move |tx| {
                    Box::pin(async move {
                        tx.append_event(event(n)).await?;
                        if n % 3 == 0 {
                            let seen = tx.list_events(&EventFilter { limit: 100_000, ..Default::default() }).await?;
                            assert!(seen.iter().any(|e| e.text == format!("event {n}")), "a write sees its own event");
                            tx.append_event(event(1000 + n)).await?;
                        }
                        if n % 6 == 0 {
                            return Err(Error::conflict(actas_core::Code::NothingNew, "this one changes its mind"));
                        }
                        Ok(())
                    })
                }))
                .await
        }));
    }
    let mut kept = Vec::new();
    for (n, t) in tasks.into_iter().enumerate() {
        if t.await.unwrap().is_ok() {
            kept.push(format!("event {n}"));
            if n % 3 == 0 {
                kept.push(format!("event {}", 1000 + n));
            }
        }
    }
    let events = all_events(&store).await;
    let mut texts: Vec<String> = events.iter().map(|e| e.text.clone()).collect();
    texts.sort();
    kept.sort();
    assert_eq!(texts, kept, "exactly the events of the writes that succeeded");
    let mut chain = ChainVerifier::default();
    for e in &events {
        chain.push(e).unwrap();
    }
}

both!(the_database_holds_one_live_session_per_agent, one_live_session);
async fn one_live_session(store: Store, _url: &str) {
    // Foreign keys need the request and ticket; a raw insert shows the rule itself.
    let t = ticket("1", "acct_1");
    let r = approved_request("req_1", &t, "maria");
    let (ra, rb, rc) = (r.clone(), r.clone(), r.clone());
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_ticket(&t).await?;
                tx.insert_request(&r).await
            })
        }))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.write(write_fn(move |tx| Box::pin(async move {
            tx.insert_session(&live_session("ses_a", &ra, "maria")).await
        }))),
        store.write(write_fn(move |tx| Box::pin(async move {
            tx.insert_session(&live_session("ses_b", &rb, "maria")).await
        }))),
    );
    let errors: Vec<_> = [a, b].into_iter().filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0], Error::Conflict { code: actas_core::Code::LiveSessionExists, .. }), "{:?}", errors[0]);
    // Another agent, or the same agent once the first has ended, is fine.
    store
        .write(write_fn(move |tx| Box::pin(async move { tx.insert_session(&live_session("ses_c", &rc, "jon")).await })))
        .await
        .unwrap();
}

both!(a_staff_login_is_unique, unique_staff);
async fn unique_staff(store: Store, _url: &str) {
    let s = agent("maria", "Maria");
    let s2 = s.clone();
    store.write(write_fn(move |tx| Box::pin(async move { tx.insert_staff(&s).await }))).await.unwrap();
    let err = store.write(write_fn(move |tx| Box::pin(async move { tx.insert_staff(&s2).await }))).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { code: actas_core::Code::StaffExists, .. }), "{err:?}");
}

both!(a_staff_profile_is_kept_beside_the_staff_row_and_its_external_id_is_unique, staff_profiles);
async fn staff_profiles(store: Store, _url: &str) {
    use actas_store::StaffProfile;
    let later = t0() + chrono::Duration::minutes(5);
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_staff(&agent("maria", "Maria")).await?;
                tx.insert_staff(&agent("jon", "Jon")).await?;
                let p = StaffProfile {
                    external_id: Some("00u1".into()),
                    email: Some("maria@support.example".into()),
                    updated_at: Some(later),
                    username: Some("maria.lopez@support.example".into()),
                };
                tx.set_staff_profile("maria", &p).await
            })
        }))
        .await
        .unwrap();
    let (maria, all) = store
        .read(read_fn(|tx| {
            Box::pin(async move { Ok((tx.get_staff_profile("maria").await?, tx.list_staff_profiles().await?)) })
        }))
        .await
        .unwrap();
    let (staff, profile) = maria.unwrap();
    assert_eq!(staff, agent("maria", "Maria"), "the staff row reads as get_staff reads it");
    assert_eq!(profile.external_id.as_deref(), Some("00u1"));
    assert_eq!(profile.email.as_deref(), Some("maria@support.example"));
    assert_eq!(profile.updated_at, Some(later));
    assert_eq!(profile.username.as_deref(), Some("maria.lopez@support.example"));
    let logins: Vec<_> = all.iter().map(|(s, p)| (s.id.as_str(), p.external_id.as_deref())).collect();
    assert_eq!(logins, [("jon", None), ("maria", Some("00u1"))], "by login; none kept for jon");
    assert_eq!(all[0].1, StaffProfile::default());

    let taken = StaffProfile { external_id: Some("00u1".into()), ..StaffProfile::default() };
    let err = store
        .write(write_fn(move |tx| Box::pin(async move { tx.set_staff_profile("jon", &taken).await })))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { code: actas_core::Code::StaffExists, .. }), "{err:?}");
    let taken = StaffProfile { username: Some("maria.lopez@support.example".into()), ..StaffProfile::default() };
    let err = store
        .write(write_fn(move |tx| Box::pin(async move { tx.set_staff_profile("jon", &taken).await })))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { code: actas_core::Code::StaffExists, .. }), "a username is one person's");

    // Found by the name given, and by a login never renamed; not by the
    // login of someone renamed.
    let (by_name, by_login, renamed) = store
        .read(read_fn(|tx| {
            Box::pin(async move {
                Ok((
                    tx.find_staff_by_username("maria.lopez@support.example").await?,
                    tx.find_staff_by_username("jon").await?,
                    tx.find_staff_by_username("maria").await?,
                ))
            })
        }))
        .await
        .unwrap();
    assert_eq!(by_name.map(|(s, _)| s.id).as_deref(), Some("maria"));
    assert_eq!(by_login.map(|(s, _)| s.id).as_deref(), Some("jon"));
    assert!(renamed.is_none());
}

both!(the_audit_table_refuses_updates_and_deletes, append_only);
async fn append_only(store: Store, url: &str) {
    store.write(write_fn(|tx| Box::pin(async move { tx.append_event(event(1)).await }))).await.unwrap();
    for statement in ["UPDATE audit_events SET text = 'nothing happened'", "DELETE FROM audit_events"] {
        let refused = if url.starts_with("postgres") {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap_err()
        } else {
            use sqlx::ConnectOptions;
            let mut c = sqlx::sqlite::SqliteConnectOptions::new().filename(url).connect().await.unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap_err()
        };
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    let events = all_events(&store).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].text, "event 1");
}

#[tokio::test]
async fn a_database_with_an_unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("t.db").to_string_lossy().to_string();
    drop(Store::open(&Options::new(url.clone())).await.unwrap());
    {
        use sqlx::ConnectOptions;
        let mut c = sqlx::sqlite::SqliteConnectOptions::new().filename(&url).connect().await.unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', TRUE, x'00', 0)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let err = Store::open(&Options::new(url.clone()).without_migrations()).await.unwrap_err();
    assert!(err.to_string().contains("9999"), "{err}");
    // Opening it the way every command does (migrating first) says the same,
    // in words, and changes nothing.
    let err = format!("{:#}", Store::open(&Options::new(url)).await.unwrap_err());
    assert!(err.contains("schema version 9999, which this actas"), "{err}");
    assert!(err.contains("a newer actas migrated it"), "{err}");
}

#[tokio::test]
async fn an_unmigrated_database_is_refused_without_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("t.db").to_string_lossy().to_string();
    let err = Store::open(&Options::new(url).without_migrations()).await.unwrap_err();
    assert!(err.to_string().contains("actas migrate"), "{err}");
}

both!(console_sessions_are_stored_touched_forward_and_deleted, console_sessions);
async fn console_sessions(store: Store, _url: &str) {
    let staff = agent("maria", "Maria Lopez");
    let cs = actas_store::ConsoleSession {
        id_hash: "ab".repeat(32),
        staff_id: "maria".into(),
        csrf: "csrf-token".into(),
        created_at: t0(),
        last_seen_at: t0(),
    };
    let (s, c) = (staff.clone(), cs.clone());
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_staff(&s).await?;
                tx.insert_console_session(&c).await
            })
        }))
        .await
        .unwrap();
    let later = t0() + chrono::Duration::minutes(5);
    let h = cs.id_hash.clone();
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.touch_console_session(&h, later).await?;
                // Never backwards.
                tx.touch_console_session(&h, t0()).await
            })
        }))
        .await
        .unwrap();
    let h = cs.id_hash.clone();
    let got = store.read(read_fn(move |tx| Box::pin(async move { tx.get_console_session(&h).await }))).await.unwrap();
    assert_eq!(got, Some(actas_store::ConsoleSession { last_seen_at: later, ..cs.clone() }));
    let h = cs.id_hash.clone();
    store.write(write_fn(move |tx| Box::pin(async move { tx.delete_console_session(&h).await }))).await.unwrap();
    let h = cs.id_hash.clone();
    let got = store.read(read_fn(move |tx| Box::pin(async move { tx.get_console_session(&h).await }))).await.unwrap();
    assert_eq!(got, None);
    // A session for nobody is refused by the foreign key.
    let orphan = actas_store::ConsoleSession { id_hash: "cd".repeat(32), staff_id: "nobody".into(), ..cs };
    let refused =
        store.write(write_fn(move |tx| Box::pin(async move { tx.insert_console_session(&orphan).await }))).await;
    assert!(refused.is_err());
}

both!(a_panicking_write_fails_its_batch_and_the_writer_carries_on, panicking_write);
async fn panicking_write(store: Store, _url: &str) {
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(write_fn(move |tx| {
                    Box::pin(async move {
                        tx.append_event(event(n)).await?;
                        assert!(n != 7, "a bug in one write");
                        Ok(())
                    })
                }))
                .await
        }));
    }
    let mut unavailable = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => {}
            Err(Error::Unavailable(_)) => unavailable += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(unavailable >= 1, "the panicking write was refused");
    assert_eq!(store.writer_panics(), 0, "the panic was caught in its batch, not by a restart");
    assert!(store.writer_alive());
    // The writer carries on: later writes commit and the chain is whole.
    store.write(write_fn(|tx| Box::pin(async move { tx.append_event(event(100)).await }))).await.unwrap();
    store.check_writes().await.unwrap();
    let events = all_events(&store).await;
    assert_eq!(events.len(), 20 - unavailable + 1, "refused writes left nothing");
    let mut chain = ChainVerifier::default();
    for e in &events {
        chain.push(e).unwrap();
    }
}

/// Connections of this database that sit inside a transaction: on SQLite,
/// whether a TRUNCATE checkpoint cannot complete (an open read pins the
/// WAL) and the WAL's size after it; on PostgreSQL, the sessions idle in a
/// transaction.
async fn left_in_transaction(url: &str) -> (bool, u64) {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        (n > 0, n as u64)
    } else {
        let opts =
            sqlx::sqlite::SqliteConnectOptions::new().filename(url).busy_timeout(std::time::Duration::from_secs(2));
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        let (busy, _, _): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut c).await.unwrap();
        let wal = std::fs::metadata(format!("{url}-wal")).map(|m| m.len()).unwrap_or(0);
        (busy != 0, wal)
    }
}

both!(reads_and_writes_cut_off_mid_flight_leave_no_connection_in_a_transaction, cut_off_mid_flight);
async fn cut_off_mid_flight(store: Store, url: &str) {
    use std::time::Duration;
    for n in 0..200 {
        store.write(write_fn(move |tx| Box::pin(async move { tx.append_event(event(n)).await }))).await.unwrap();
    }
    // Reads and writes whose callers give up after a few hundred
    // microseconds: some before they start, most in the middle.
    let mut cut = Vec::new();
    for n in 0..300_u64 {
        let store = store.clone();
        let task = tokio::spawn(async move {
            if n % 3 == 0 {
                let _ = store
                    .write(write_fn(move |tx| Box::pin(async move { tx.append_event(event(1000 + n as usize)).await })))
                    .await;
            } else {
                let _ = store
                    .read(read_fn(|tx| {
                        Box::pin(async move {
                            for _ in 0..3 {
                                tx.list_events(&EventFilter { limit: 1000, ..Default::default() }).await?;
                            }
                            Ok(())
                        })
                    }))
                    .await;
            }
        });
        cut.push((task, Duration::from_micros(100 + (n * 397) % 3000)));
    }
    let mut aborted = Vec::new();
    for (task, after) in cut {
        // When each is cut is what is tested.
        tokio::time::sleep(after / 10).await;
        task.abort();
        aborted.push(task);
    }
    // Every cut call has stopped (its future dropped) before the next ones.
    for task in aborted {
        let _ = task.await;
    }
    // Every later call succeeds: many reads at once, each holding its
    // connection for a moment, so every pooled connection is used.
    let mut later = Vec::new();
    for _ in 0..48 {
        let store = store.clone();
        later.push(tokio::spawn(async move {
            store
                .read(read_fn(|tx| {
                    Box::pin(async move {
                        let head = tx.get_event_head().await?;
                        // Held a moment on purpose, so that the reads overlap.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(head)
                    })
                }))
                .await
        }));
    }
    for t in later {
        t.await.unwrap().unwrap();
    }
    store.write(write_fn(|tx| Box::pin(async move { tx.append_event(event(5000)).await }))).await.unwrap();
    let mut chain = ChainVerifier::default();
    for e in all_events(&store).await {
        chain.push(&e).unwrap();
    }
    // Nothing is left inside a transaction: on SQLite the WAL can be
    // checkpointed down to nothing.
    wait_for(Duration::from_secs(5), "no connection left inside a transaction", || async {
        match left_in_transaction(url).await {
            (false, detail) if url.starts_with("postgres") || detail == 0 => Ok(()),
            (_, detail) => Err(detail),
        }
    })
    .await;
}

both!(a_time_range_search_finds_exactly_the_events_in_the_range, time_range_search);
async fn time_range_search(store: Store, _url: &str) {
    // 10,000 events over three blocks of the time index, one a second, with
    // every 97th written late (its time an hour before its neighbours'), as
    // the reaper writes an end at its deadline; the last batch's own search
    // runs before its times are stored.
    fn at(n: usize) -> actas_core::Timestamp {
        let late = if n % 97 == 0 { 3600 } else { 0 };
        t0() + chrono::Duration::seconds(n as i64 - late)
    }
    fn stamped(n: usize) -> NewEvent {
        let mut e = event(n);
        e.at = at(n);
        e
    }
    for chunk in 0..4 {
        store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    for n in chunk * 2500..(chunk + 1) * 2500 {
                        tx.append_event(stamped(n)).await?;
                    }
                    Ok(())
                })
            }))
            .await
            .unwrap();
    }
    let all = all_events(&store).await;
    assert_eq!(all.len(), 10_000);
    let ranges = [
        (Some(0), Some(10)),
        (Some(4000), Some(4200)),
        (Some(8000), None),
        (None, Some(100)),
        (Some(9990), Some(20_000)),
        (Some(-5000), Some(-3000)),
        (Some(20_000), None),
        (None, Some(-4000)),
    ];
    for (since, until) in ranges {
        let since = since.map(|s| t0() + chrono::Duration::seconds(s));
        let until = until.map(|u| t0() + chrono::Duration::seconds(u));
        let want: Vec<i64> = all
            .iter()
            .filter(|e| since.is_none_or(|s| e.at >= s) && until.is_none_or(|u| e.at < u))
            .map(|e| e.seq)
            .collect();
        // Page through in pages of 50, as a client does.
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let f = EventFilter { since, until, after_seq: after, limit: 50, ..Default::default() };
            let page = store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await.unwrap();
            got.extend(page.iter().map(|e| e.seq));
            match page.last() {
                Some(last) if page.len() == 50 => after = Some(last.seq),
                _ => break,
            }
        }
        assert_eq!(got, want, "events from {since:?} until {until:?}");
    }
    // Inside a write, before the batch stores its times, a search sees the
    // batch's own events.
    let found = store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.append_event(stamped(50_000)).await?;
                let f = EventFilter { since: Some(at(49_999)), limit: 10, ..Default::default() };
                tx.list_events(&f).await
            })
        }))
        .await
        .unwrap();
    assert_eq!(found.iter().map(|e| e.body.text.as_str()).collect::<Vec<_>>(), ["event 50000"]);
}

both!(the_reaper_reads_exactly_the_sessions_that_are_due, due_sessions);
async fn due_sessions(store: Store, _url: &str) {
    // 60 sessions of 60 agents: some ended, the live ones with ends and
    // last activities spread around "now" (t0 + 60 min, idle after 10).
    let t = ticket("1", "acct_1");
    let r = approved_request("req_1", &t, "a0");
    let now = t0() + chrono::Duration::minutes(60);
    let idle_since = now - chrono::Duration::minutes(10);
    let mut sessions = Vec::new();
    for n in 0..60i64 {
        let mut s = live_session(&format!("ses_{n}"), &r, &format!("a{n}"));
        s.ends_at = t0() + chrono::Duration::minutes(40 + n % 40);
        s.last_activity_at = t0() + chrono::Duration::minutes(35 + (n * 7) % 30);
        if n % 9 == 0 {
            s.state = actas_core::model::SessionState::Ended;
        }
        sessions.push(s);
    }
    let want: Vec<String> = sessions
        .iter()
        .filter(|s| s.is_live() && (s.ends_at <= now || s.last_activity_at <= idle_since))
        .map(|s| s.id.clone())
        .collect();
    let rows = sessions.clone();
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_ticket(&t).await?;
                tx.insert_request(&r).await?;
                for s in &rows {
                    tx.insert_session(s).await?;
                }
                Ok(())
            })
        }))
        .await
        .unwrap();
    let due = store
        .read(read_fn(move |tx| Box::pin(async move { tx.list_due_sessions(now, idle_since, 1000).await })))
        .await
        .unwrap();
    let mut got: Vec<String> = due.into_iter().map(|s| s.id).collect();
    got.sort();
    let mut want = want;
    want.sort();
    assert!(!want.is_empty() && want.len() < 50, "a mix of due and not due: {want:?}");
    assert_eq!(got, want);
    // At most `limit` of each kind: a backlog is worked off over rounds.
    let few = store
        .read(read_fn(move |tx| Box::pin(async move { tx.list_due_sessions(now, idle_since, 3).await })))
        .await
        .unwrap();
    assert!((3..=6).contains(&few.len()), "{}", few.len());
}

both!(the_chain_read_as_stored_is_the_trail_and_its_checkpoints, chain_as_stored);
async fn chain_as_stored(store: Store, _url: &str) {
    for n in 0..60 {
        let e = event(n);
        // Some with every subject field, some with none.
        let e = if n % 3 == 0 {
            e.account("acct_1").ticket("T-1").request("req_1").session("ses_1").agent("dana")
        } else {
            e
        };
        store.write(write_fn(move |tx| Box::pin(async move { tx.append_event(e).await }))).await.unwrap();
    }
    let events = all_events(&store).await;
    for seq in [5, 10, 11, 30, 31, 50] {
        let cp = actas_core::audit::Checkpoint {
            seq,
            hash: events[seq as usize - 1].hash.clone(),
            kid: "k".into(),
            signature: "s".into(),
            at: t0(),
        };
        store.write(write_fn(move |tx| Box::pin(async move { tx.insert_checkpoint(&cp).await }))).await.unwrap();
    }
    let (page, checkpoints, in_range, after) = store
        .read(read_fn(|tx| {
            Box::pin(async move {
                Ok((
                    tx.read_chain(10, 20).await?,
                    tx.list_checkpoints(0, i64::MAX).await?,
                    tx.list_checkpoints(10, 30).await?,
                    tx.count_checkpoints(30).await?,
                ))
            })
        }))
        .await
        .unwrap();
    assert_eq!(page.len(), 20);
    assert_eq!(page.last_seq(), Some(30));
    let mut chain = ChainVerifier::default();
    for e in &events[..10] {
        chain.push(e).unwrap();
    }
    for (stored, e) in page.iter().zip(&events[10..30]) {
        assert_eq!(&stored.to_event().unwrap(), e);
        chain.push_stored(&stored).unwrap();
    }
    assert_eq!(chain.count(), 30);
    assert_eq!(checkpoints.iter().map(|c| c.seq).collect::<Vec<_>>(), [5, 10, 11, 30, 31, 50]);
    assert_eq!(in_range.iter().map(|c| c.seq).collect::<Vec<_>>(), [11, 30]);
    assert_eq!(after, 2);
    let rest = store.read(read_fn(|tx| Box::pin(async move { tx.read_chain(55, 100).await }))).await.unwrap();
    assert_eq!(rest.len(), 5, "a short last page");
}

both!(session_touches_of_failed_writes_go_with_them_and_reads_see_the_rest, touches);
async fn touches(store: Store, _url: &str) {
    let r = approved_request("req_1", &ticket("T-1", "acct_1"), "dana");
    let s = live_session("ses_1", &r, "dana");
    let start = s.last_activity_at;
    let inserted = s.clone();
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_staff(&agent("dana", "Dana")).await?;
                tx.insert_ticket(&ticket("T-1", "acct_1")).await?;
                tx.insert_request(&r).await?;
                tx.insert_session(&inserted).await
            })
        }))
        .await
        .unwrap();
    // Concurrent writes fall into shared batches: each touches the session,
    // reads it back (its own touch shows), appends, and every third fails
    // after all that.
    let mut tasks = Vec::new();
    for n in 1..=60i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let at = start + chrono::Duration::seconds(n);
            store
                .write(write_fn(move |tx| {
                    Box::pin(async move {
                        tx.touch_session("ses_1", at).await?;
                        let seen = tx.get_session("ses_1").await?.unwrap();
                        assert!(seen.last_activity_at >= at, "a write sees its own touch");
                        tx.append_event(event(n as usize)).await?;
                        if n % 3 == 0 {
                            return Err(Error::conflict(actas_core::Code::NothingNew, "this one changes its mind"));
                        }
                        Ok(())
                    })
                }))
                .await
                .is_ok()
        }));
    }
    let mut latest = start;
    for (n, t) in (1..=60i64).zip(tasks) {
        if t.await.unwrap() {
            latest = latest.max(start + chrono::Duration::seconds(n));
        }
    }
    let read = |store: Store| async move {
        store.read(read_fn(|tx| Box::pin(async move { tx.get_session("ses_1").await }))).await.unwrap().unwrap()
    };
    assert_eq!(read(store.clone()).await.last_activity_at, latest, "the latest touch of a write that succeeded");
    // An ended session is not touched, in the batch or after it.
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let mut s = tx.get_session("ses_1").await?.unwrap();
                s.state = actas_core::model::SessionState::Ended;
                tx.update_session(&s).await?;
                tx.touch_session("ses_1", latest + chrono::Duration::hours(1)).await?;
                let after = tx.get_session("ses_1").await?.unwrap();
                assert_eq!(after.last_activity_at, latest, "an ended session is not touched");
                Ok(())
            })
        }))
        .await
        .unwrap();
    assert_eq!(read(store).await.last_activity_at, latest);
}

both!(sessions_and_requests_are_read_by_any_number_of_ids, by_ids);
async fn by_ids(store: Store, _url: &str) {
    let t = ticket("1", "acct_1");
    let (r1, r2) = (approved_request("req_1", &t, "maria"), approved_request("req_2", &t, "jon"));
    let (s1, s2) = (live_session("ses_1", &r1, "maria"), live_session("ses_2", &r2, "jon"));
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_ticket(&t).await?;
                tx.insert_request(&r1).await?;
                tx.insert_request(&r2).await?;
                tx.insert_session(&s1).await?;
                tx.insert_session(&s2).await
            })
        }))
        .await
        .unwrap();
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (sessions, requests, none) = store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let s = tx.get_sessions(&ids(&["ses_2", "ses_missing", "ses_1"])).await?;
                let r = tx.get_requests(&ids(&["req_1", "req_2", "req_missing"])).await?;
                let none = (tx.get_sessions(&[]).await?.len(), tx.get_requests(&[]).await?.len());
                Ok((s, r, none))
            })
        }))
        .await
        .unwrap();
    let mut found: Vec<String> = sessions.into_iter().map(|s| s.id).collect();
    found.sort();
    assert_eq!(found, ["ses_1", "ses_2"]);
    let mut found: Vec<String> = requests.into_iter().map(|r| r.id).collect();
    found.sort();
    assert_eq!(found, ["req_1", "req_2"]);
    assert_eq!(none, (0, 0));
}
