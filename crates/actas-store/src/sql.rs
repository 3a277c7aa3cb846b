//! The SQL behind the store's ports, written once for both backends.
//!
//! Both schemas use the same column types (BIGINT times, TEXT lists and
//! JSON), and SQLite accepts PostgreSQL's `$1` placeholders, so one SQL text
//! serves both; the macro stamps the implementation out per backend.

macro_rules! sql_tx {
    ($Db:ty, $Row:ty, $indexed_by:expr) => {
        use actas_core::audit::{Actor, Checkpoint, Event, NewEvent};
        use actas_core::model::{App, Decision, Notice, Request, Session, SessionState, Staff, Ticket};
        use actas_core::{Result, Timestamp};
        use async_trait::async_trait;
        use sqlx::pool::PoolConnection;
        use sqlx::{QueryBuilder, Row};

        use crate::convert::*;
        use crate::ports::*;
        use crate::{ConsoleSession, EntryCode, EventFilter, KeyRecord, KeyRole, RequestFilter, SessionFilter};

        /// A transaction on one pooled connection.
        ///
        /// Dropped while its transaction is open (the future running it was
        /// cancelled, a closure panicked, ROLLBACK failed), or after the
        /// writer gave up on it, the connection is closed instead of going
        /// back to the pool: closing ends the transaction in the database,
        /// and no later caller inherits it.
        pub(crate) struct SqlTx {
            pub(crate) conn: PoolConnection<$Db>,
            pub(crate) head: Option<(i64, String)>,
            pub(crate) appended: bool,
            /// Blocks of `audit_time_index` this batch's events fall in,
            /// with their earliest and latest `at`, stored before commit.
            times: Vec<(i64, String, String)>,
            ids: std::sync::Arc<dyn actas_core::id::Ids>,
            /// A transaction is open on `conn`.
            open: bool,
            /// `conn` must not be used again.
            discard: bool,
        }

        impl SqlTx {
            pub(crate) fn new(conn: PoolConnection<$Db>, ids: std::sync::Arc<dyn actas_core::id::Ids>) -> Self {
                SqlTx { conn, head: None, appended: false, times: Vec::new(), ids, open: false, discard: false }
            }

            /// Runs a statement that opens, keeps or ends the transaction,
            /// and tracks whether one is open.
            async fn control(&mut self, sql: &str) -> Result<()> {
                let opens = sql.starts_with("BEGIN");
                let ends = sql == "COMMIT" || sql == "ROLLBACK";
                if opens {
                    // Open as soon as BEGIN is sent: cancelled before its
                    // answer, the connection may be inside a transaction.
                    self.open = true;
                }
                sqlx::query(sql).execute(&mut *self.conn).await.map_err(db_err)?;
                if ends {
                    self.open = false;
                }
                Ok(())
            }
        }

        impl Drop for SqlTx {
            fn drop(&mut self) {
                if self.open || self.discard {
                    self.conn.close_on_drop();
                }
            }
        }

        const TICKET_COLS: &str = "ref, account_id, account_name, subject, url, created_by, created_at";
        const STAFF_COLS: &str = "id, name, roles, disabled, created_at";
        const APP_COLS: &str = "id, name, tickets, origins, entry_url, created_at";
        const REQUEST_COLS: &str = "id, kind, ticket, account_id, account_name, requester, requester_name, reason, actions, minutes, status, session_id, granted_actions, granted_minutes, decided_by, decided_by_name, decided_at, decision_note, start_by, created_at, updated_at";
        const DECISION_COLS: &str = "id, request_id, kind, decider, decider_name, actions, minutes, removed, added, note, at";
        const SESSION_COLS: &str = "id, request_id, ticket, account_id, account_name, agent, agent_name, approver, approver_name, scope, reason, started_at, ends_at, last_activity_at, state, end_reason, ended_at, ended_by, end_note, app_id, approvers";
        const EVENT_COLS: &str = "seq, id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash";
        const NOTICE_COLS: &str = "seq, id, session_id, account_id, text, data, created_at, delivered_at";

        fn get<'r, T>(row: &'r $Row, col: &str) -> Result<T>
        where
            T: sqlx::Decode<'r, $Db> + sqlx::Type<$Db>,
        {
            row.try_get(col).map_err(|e| corrupt(format!("{col}: {e}")))
        }

        fn ticket_from(r: &$Row) -> Result<Ticket> {
            Ok(Ticket {
                reference: get(r, "ref")?,
                account_id: get(r, "account_id")?,
                account_name: get(r, "account_name")?,
                subject: get(r, "subject")?,
                url: get(r, "url")?,
                created_by: get(r, "created_by")?,
                created_at: time(get(r, "created_at")?)?,
            })
        }

        fn staff_from(r: &$Row) -> Result<Staff> {
            let roles: String = get(r, "roles")?;
            Ok(Staff {
                id: get(r, "id")?,
                name: get(r, "name")?,
                roles: split(&roles).iter().map(|s| parse(s)).collect::<Result<_>>()?,
                disabled: get(r, "disabled")?,
                created_at: time(get(r, "created_at")?)?,
            })
        }

        fn app_from(r: &$Row) -> Result<App> {
            Ok(App {
                id: get(r, "id")?,
                name: get(r, "name")?,
                tickets: get(r, "tickets")?,
                origins: split(&get::<String>(r, "origins")?),
                entry_url: get(r, "entry_url")?,
                created_at: time(get(r, "created_at")?)?,
            })
        }

        fn request_from(r: &$Row) -> Result<Request> {
            Ok(Request {
                id: get(r, "id")?,
                kind: parse(&get::<String>(r, "kind")?)?,
                ticket: get(r, "ticket")?,
                account_id: get(r, "account_id")?,
                account_name: get(r, "account_name")?,
                requester: get(r, "requester")?,
                requester_name: get(r, "requester_name")?,
                reason: get(r, "reason")?,
                actions: split(&get::<String>(r, "actions")?),
                minutes: minutes(get(r, "minutes")?)?,
                status: parse(&get::<String>(r, "status")?)?,
                session_id: get(r, "session_id")?,
                granted_actions: get::<Option<String>>(r, "granted_actions")?.map(|s| split(&s)),
                granted_minutes: get::<Option<i64>>(r, "granted_minutes")?.map(minutes).transpose()?,
                decided_by: get(r, "decided_by")?,
                decided_by_name: get(r, "decided_by_name")?,
                decided_at: opt_time(get(r, "decided_at")?)?,
                decision_note: get(r, "decision_note")?,
                start_by: opt_time(get(r, "start_by")?)?,
                created_at: time(get(r, "created_at")?)?,
                updated_at: time(get(r, "updated_at")?)?,
            })
        }

        fn decision_from(r: &$Row) -> Result<Decision> {
            Ok(Decision {
                id: get(r, "id")?,
                request_id: get(r, "request_id")?,
                kind: parse(&get::<String>(r, "kind")?)?,
                decider: get(r, "decider")?,
                decider_name: get(r, "decider_name")?,
                actions: split(&get::<String>(r, "actions")?),
                minutes: minutes(get(r, "minutes")?)?,
                removed: split(&get::<String>(r, "removed")?),
                added: split(&get::<String>(r, "added")?),
                note: get(r, "note")?,
                at: time(get(r, "at")?)?,
            })
        }

        fn session_from(r: &$Row) -> Result<Session> {
            let state: String = get(r, "state")?;
            Ok(Session {
                id: get(r, "id")?,
                request_id: get(r, "request_id")?,
                ticket: get(r, "ticket")?,
                account_id: get(r, "account_id")?,
                account_name: get(r, "account_name")?,
                agent: get(r, "agent")?,
                agent_name: get(r, "agent_name")?,
                approver: get(r, "approver")?,
                approver_name: get(r, "approver_name")?,
                scope: split(&get::<String>(r, "scope")?),
                reason: get(r, "reason")?,
                started_at: time(get(r, "started_at")?)?,
                ends_at: time(get(r, "ends_at")?)?,
                last_activity_at: time(get(r, "last_activity_at")?)?,
                state: if state == "live" { SessionState::Live } else { SessionState::Ended },
                end_reason: get::<Option<String>>(r, "end_reason")?.map(|s| parse(&s)).transpose()?,
                ended_at: opt_time(get(r, "ended_at")?)?,
                ended_by: get(r, "ended_by")?,
                end_note: get(r, "end_note")?,
                app_id: get(r, "app_id")?,
                approvers: approvers_from(&get::<String>(r, "approvers")?)?,
            })
        }

        fn entry_code_from(r: &$Row) -> Result<EntryCode> {
            Ok(EntryCode {
                hash: get(r, "hash")?,
                session_id: get(r, "session_id")?,
                created_at: time(get(r, "created_at")?)?,
                expires_at: time(get(r, "expires_at")?)?,
                used_at: opt_time(get(r, "used_at")?)?,
            })
        }

        fn key_from(r: &$Row) -> Result<KeyRecord> {
            Ok(KeyRecord {
                kid: get(r, "kid")?,
                role: {
                    let role: String = get(r, "role")?;
                    KeyRole::parse(&role).ok_or_else(|| corrupt(format!("key role {role}")))?
                },
                private_key: get(r, "private_key")?,
                public_key: get(r, "public_key")?,
                created_at: time(get(r, "created_at")?)?,
                retired_at: opt_time(get(r, "retired_at")?)?,
            })
        }

        fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
            serde_json::from_str(s).map_err(|e| corrupt(format!("json: {e}")))
        }

        fn event_from(r: &$Row) -> Result<Event> {
            let actor = json(&get::<String>(r, "actor")?)?;
            Ok(Event {
                seq: get(r, "seq")?,
                body: NewEvent {
                    id: get(r, "id")?,
                    at: parse_audit_at(&get::<String>(r, "at")?)?,
                    kind: parse(&get::<String>(r, "type")?)?,
                    actor: Actor::from_json(&actor).map_err(corrupt)?,
                    account_id: get(r, "account_id")?,
                    ticket: get(r, "ticket")?,
                    request_id: get(r, "request_id")?,
                    session_id: get(r, "session_id")?,
                    agent: get(r, "agent")?,
                    data: json(&get::<String>(r, "data")?)?,
                    text: get(r, "text")?,
                },
                prev_hash: get(r, "prev_hash")?,
                hash: get(r, "hash")?,
            })
        }

        fn checkpoint_from(r: &$Row) -> Result<Checkpoint> {
            Ok(Checkpoint {
                seq: get(r, "seq")?,
                hash: get(r, "hash")?,
                kid: get(r, "kid")?,
                signature: get(r, "signature")?,
                at: time(get(r, "at")?)?,
            })
        }

        fn console_session_from(r: &$Row) -> Result<ConsoleSession> {
            Ok(ConsoleSession {
                id_hash: get(r, "id_hash")?,
                staff_id: get(r, "staff_id")?,
                csrf: get(r, "csrf")?,
                created_at: time(get(r, "created_at")?)?,
                last_seen_at: time(get(r, "last_seen_at")?)?,
            })
        }

        fn notice_from(r: &$Row) -> Result<Notice> {
            Ok(Notice {
                seq: get(r, "seq")?,
                id: get(r, "id")?,
                session_id: get(r, "session_id")?,
                account_id: get(r, "account_id")?,
                text: get(r, "text")?,
                data: json(&get::<String>(r, "data")?)?,
                created_at: time(get(r, "created_at")?)?,
                delivered_at: opt_time(get(r, "delivered_at")?)?,
            })
        }

        impl SqlTx {
            async fn one<T>(&mut self, sql: &str, key: &str, f: fn(&$Row) -> Result<T>) -> Result<Option<T>> {
                let row = sqlx::query(sql).bind(key).fetch_optional(&mut *self.conn).await.map_err(db_err)?;
                row.as_ref().map(f).transpose()
            }

            async fn many<T>(&mut self, mut qb: QueryBuilder<'_, $Db>, f: fn(&$Row) -> Result<T>) -> Result<Vec<T>> {
                let rows = qb.build().fetch_all(&mut *self.conn).await.map_err(db_err)?;
                rows.iter().map(f).collect()
            }

            /// The seqs `f` can match, `[from, to)`: after its cursor, and
            /// inside the blocks whose times meet its time range. `None`
            /// when no event can match.
            async fn seq_window(&mut self, f: &EventFilter) -> Result<Option<(i64, i64)>> {
                let mut from = f.after_seq.map_or(0, |s| s.saturating_add(1));
                let mut to = i64::MAX;
                if let Some(since) = f.since {
                    let since = audit_at(since);
                    let stored: Option<i64> =
                        sqlx::query_scalar("SELECT min(block) FROM audit_time_index WHERE last_at >= $1")
                            .bind(&since)
                            .fetch_one(&mut *self.conn)
                            .await
                            .map_err(db_err)?;
                    let pending = self.times.iter().filter(|(_, _, last)| *last >= since).map(|t| t.0).min();
                    let Some(block) = stored.into_iter().chain(pending).min() else { return Ok(None) };
                    from = from.max(block.saturating_mul(crate::plan::TIME_BLOCK));
                }
                if let Some(until) = f.until {
                    let until = audit_at(until);
                    let stored: Option<i64> =
                        sqlx::query_scalar("SELECT max(block) FROM audit_time_index WHERE first_at < $1")
                            .bind(&until)
                            .fetch_one(&mut *self.conn)
                            .await
                            .map_err(db_err)?;
                    let pending = self.times.iter().filter(|(_, first, _)| *first < until).map(|t| t.0).max();
                    let Some(block) = stored.into_iter().chain(pending).max() else { return Ok(None) };
                    to = block.saturating_add(1).saturating_mul(crate::plan::TIME_BLOCK);
                }
                Ok((from < to).then_some((from, to)))
            }

            /// Events matching `f` with seqs in `window`, oldest first: one
            /// walk of one index (see [`crate::plan::driver`]) in seq order.
            async fn events_in(&mut self, f: &EventFilter, (from, to): (i64, i64)) -> Result<Vec<Event>> {
                let hint: fn(&str) -> String = $indexed_by;
                let indexed = crate::plan::driver(f).map(hint).unwrap_or_default();
                let mut qb = QueryBuilder::new(format!("SELECT {EVENT_COLS} FROM audit_events{indexed} WHERE seq >= "));
                qb.push_bind(from);
                if to < i64::MAX {
                    qb.push(" AND seq < ").push_bind(to);
                }
                if let Some(v) = &f.session_id {
                    qb.push(" AND session_id = ").push_bind(v.clone());
                }
                if let Some(v) = &f.ticket {
                    qb.push(" AND ticket = ").push_bind(v.clone());
                }
                if let Some(v) = &f.account_id {
                    qb.push(" AND account_id = ").push_bind(v.clone());
                }
                if let Some(v) = &f.agent {
                    qb.push(" AND agent = ").push_bind(v.clone());
                }
                if let Some(v) = &f.request_id {
                    qb.push(" AND request_id = ").push_bind(v.clone());
                }
                if !f.types.is_empty() {
                    qb.push(" AND type IN (");
                    let mut sep = qb.separated(", ");
                    for t in &f.types {
                        sep.push_bind(t.as_str());
                    }
                    qb.push(")");
                }
                if let Some(v) = f.since {
                    qb.push(" AND at >= ").push_bind(audit_at(v));
                }
                if let Some(v) = f.until {
                    qb.push(" AND at < ").push_bind(audit_at(v));
                }
                qb.push(" ORDER BY seq LIMIT ").push_bind(f.limit);
                self.many(qb, event_from).await
            }

            /// Stores the time blocks of this batch's events.
            pub(crate) async fn store_times(&mut self) -> Result<()> {
                for (block, first, last) in std::mem::take(&mut self.times) {
                    sqlx::query(
                        "INSERT INTO audit_time_index (block, first_at, last_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (block) DO UPDATE SET \
                         first_at = CASE WHEN excluded.first_at < audit_time_index.first_at THEN excluded.first_at ELSE audit_time_index.first_at END, \
                         last_at = CASE WHEN excluded.last_at > audit_time_index.last_at THEN excluded.last_at ELSE audit_time_index.last_at END",
                    )
                    .bind(block)
                    .bind(first)
                    .bind(last)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                }
                Ok(())
            }

            /// Notes an appended event's time in its block.
            fn note_time(&mut self, seq: i64, at: String) {
                let block = seq / crate::plan::TIME_BLOCK;
                match self.times.last_mut() {
                    Some((b, first, last)) if *b == block => {
                        if at < *first {
                            *first = at;
                        } else if at > *last {
                            *last = at;
                        }
                    }
                    _ => self.times.push((block, at.clone(), at)),
                }
            }
        }

        #[async_trait]
        impl crate::ports::TicketReads for SqlTx {
            async fn get_ticket(&mut self, reference: &str) -> Result<Option<Ticket>> {
                self.one(&format!("SELECT {TICKET_COLS} FROM tickets WHERE ref = $1"), reference, ticket_from).await
            }
        }

        #[async_trait]
        impl crate::ports::TicketWrites for SqlTx {
            async fn insert_ticket(&mut self, t: &Ticket) -> Result<()> {
                sqlx::query(
                    "INSERT INTO tickets (ref, account_id, account_name, subject, url, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.reference)
                .bind(&t.account_id)
                .bind(&t.account_name)
                .bind(&t.subject)
                .bind(&t.url)
                .bind(&t.created_by)
                .bind(micros(t.created_at))
                .execute(&mut *self.conn)
                .await
                .map_err(|e| unique_or(e, actas_core::Code::TicketExists, "A ticket with this reference exists already."))?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::StaffReads for SqlTx {
            async fn get_staff(&mut self, id: &str) -> Result<Option<Staff>> {
                self.one(&format!("SELECT {STAFF_COLS} FROM staff WHERE id = $1"), id, staff_from).await
            }

            async fn list_staff(&mut self) -> Result<Vec<Staff>> {
                self.many(QueryBuilder::new(format!("SELECT {STAFF_COLS} FROM staff ORDER BY id")), staff_from).await
            }

            async fn get_staff_password(&mut self, id: &str) -> Result<Option<String>> {
                let row = sqlx::query("SELECT password_hash FROM staff WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                match row {
                    Some(r) => get(&r, "password_hash"),
                    None => Ok(None),
                }
            }
        }

        #[async_trait]
        impl crate::ports::StaffWrites for SqlTx {
            async fn insert_staff(&mut self, s: &Staff) -> Result<()> {
                let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
                sqlx::query("INSERT INTO staff (id, name, roles, disabled, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&s.id)
                    .bind(&s.name)
                    .bind(join(&roles))
                    .bind(s.disabled)
                    .bind(micros(s.created_at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(|e| unique_or(e, actas_core::Code::StaffExists, "A staff member with this login exists already."))?;
                Ok(())
            }

            async fn update_staff(&mut self, s: &Staff) -> Result<()> {
                let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
                sqlx::query("UPDATE staff SET name = $2, roles = $3, disabled = $4 WHERE id = $1")
                    .bind(&s.id)
                    .bind(&s.name)
                    .bind(join(&roles))
                    .bind(s.disabled)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn set_staff_password(&mut self, id: &str, hash: Option<&str>) -> Result<()> {
                sqlx::query("UPDATE staff SET password_hash = $2 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::ConsoleReads for SqlTx {
            async fn get_console_session(&mut self, id_hash: &str) -> Result<Option<ConsoleSession>> {
                self.one(
                    "SELECT id_hash, staff_id, csrf, created_at, last_seen_at FROM console_sessions WHERE id_hash = $1",
                    id_hash,
                    console_session_from,
                )
                .await
            }
        }

        #[async_trait]
        impl crate::ports::ConsoleWrites for SqlTx {
            async fn insert_console_session(&mut self, s: &ConsoleSession) -> Result<()> {
                sqlx::query(
                    "INSERT INTO console_sessions (id_hash, staff_id, csrf, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&s.id_hash)
                .bind(&s.staff_id)
                .bind(&s.csrf)
                .bind(micros(s.created_at))
                .bind(micros(s.last_seen_at))
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn touch_console_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2")
                    .bind(id_hash)
                    .bind(micros(at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn delete_console_session(&mut self, id_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::CredentialReads for SqlTx {
            async fn find_credential(&mut self, hash: &str) -> Result<Option<(String, String)>> {
                let row = sqlx::query("SELECT owner_kind, owner_id FROM credentials WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                row.map(|r| Ok((get(&r, "owner_kind")?, get(&r, "owner_id")?))).transpose()
            }
        }

        #[async_trait]
        impl crate::ports::CredentialWrites for SqlTx {
            async fn insert_credential(&mut self, hash: &str, owner_kind: &str, owner_id: &str, at: Timestamp) -> Result<()> {
                sqlx::query("INSERT INTO credentials (hash, owner_kind, owner_id, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(hash)
                    .bind(owner_kind)
                    .bind(owner_id)
                    .bind(micros(at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::AppReads for SqlTx {
            async fn get_app(&mut self, id: &str) -> Result<Option<App>> {
                self.one(&format!("SELECT {APP_COLS} FROM apps WHERE id = $1"), id, app_from).await
            }

            async fn list_apps(&mut self) -> Result<Vec<App>> {
                self.many(QueryBuilder::new(format!("SELECT {APP_COLS} FROM apps ORDER BY name")), app_from).await
            }

            async fn get_entry_code(&mut self, hash: &str) -> Result<Option<EntryCode>> {
                self.one(
                    "SELECT hash, session_id, created_at, expires_at, used_at FROM entry_codes WHERE hash = $1",
                    hash,
                    entry_code_from,
                )
                .await
            }
        }

        #[async_trait]
        impl crate::ports::AppWrites for SqlTx {
            async fn insert_app(&mut self, a: &App) -> Result<()> {
                sqlx::query(&format!("INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                    .bind(&a.id)
                    .bind(&a.name)
                    .bind(a.tickets)
                    .bind(join(&a.origins))
                    .bind(&a.entry_url)
                    .bind(micros(a.created_at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(|e| unique_or(e, actas_core::Code::AppExists, "An app with this name exists already."))?;
                Ok(())
            }

            async fn insert_entry_code(&mut self, c: &EntryCode) -> Result<()> {
                // A new code voids the session's unused ones.
                sqlx::query("DELETE FROM entry_codes WHERE session_id = $1 AND used_at IS NULL")
                    .bind(&c.session_id)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                sqlx::query("INSERT INTO entry_codes (hash, session_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&c.hash)
                    .bind(&c.session_id)
                    .bind(micros(c.created_at))
                    .bind(micros(c.expires_at))
                    .bind(opt_micros(c.used_at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn use_entry_code(&mut self, hash: &str, at: Timestamp) -> Result<bool> {
                let done = sqlx::query("UPDATE entry_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
                    .bind(hash)
                    .bind(micros(at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl crate::ports::RequestReads for SqlTx {
            async fn get_request(&mut self, id: &str) -> Result<Option<Request>> {
                self.one(&format!("SELECT {REQUEST_COLS} FROM requests WHERE id = $1"), id, request_from).await
            }

            async fn list_requests(&mut self, f: &RequestFilter) -> Result<Vec<Request>> {
                let mut qb = QueryBuilder::new(format!("SELECT {REQUEST_COLS} FROM requests WHERE 1 = 1"));
                if let Some(s) = f.status {
                    qb.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(v) = &f.requester {
                    qb.push(" AND requester = ").push_bind(v.clone());
                }
                if let Some(v) = &f.ticket {
                    qb.push(" AND ticket = ").push_bind(v.clone());
                }
                if let Some(v) = &f.session_id {
                    qb.push(" AND session_id = ").push_bind(v.clone());
                }
                qb.push(" ORDER BY created_at, id LIMIT ").push_bind(f.limit.unwrap_or(1000));
                self.many(qb, request_from).await
            }

            async fn list_lapsed_requests(&mut self, now: Timestamp) -> Result<Vec<Request>> {
                let mut qb = QueryBuilder::new(format!(
                    "SELECT {REQUEST_COLS} FROM requests WHERE status = 'approved' AND start_by <= "
                ));
                qb.push_bind(micros(now)).push(" ORDER BY start_by LIMIT 500");
                self.many(qb, request_from).await
            }

            async fn list_decisions(&mut self, request_id: &str) -> Result<Vec<Decision>> {
                let mut qb = QueryBuilder::new(format!("SELECT {DECISION_COLS} FROM decisions WHERE request_id = "));
                qb.push_bind(request_id.to_string()).push(" ORDER BY at");
                self.many(qb, decision_from).await
            }
        }

        #[async_trait]
        impl crate::ports::RequestWrites for SqlTx {
            async fn insert_request(&mut self, r: &Request) -> Result<()> {
                sqlx::query(&format!(
                    "INSERT INTO requests ({REQUEST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
                ))
                .bind(&r.id)
                .bind(r.kind.as_str())
                .bind(&r.ticket)
                .bind(&r.account_id)
                .bind(&r.account_name)
                .bind(&r.requester)
                .bind(&r.requester_name)
                .bind(&r.reason)
                .bind(join(&r.actions))
                .bind(i64::from(r.minutes))
                .bind(r.status.as_str())
                .bind(&r.session_id)
                .bind(r.granted_actions.as_deref().map(join))
                .bind(r.granted_minutes.map(i64::from))
                .bind(&r.decided_by)
                .bind(&r.decided_by_name)
                .bind(opt_micros(r.decided_at))
                .bind(&r.decision_note)
                .bind(opt_micros(r.start_by))
                .bind(micros(r.created_at))
                .bind(micros(r.updated_at))
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn update_request(&mut self, r: &Request) -> Result<()> {
                sqlx::query(
                    "UPDATE requests SET status = $2, session_id = $3, granted_actions = $4, granted_minutes = $5, decided_by = $6, decided_by_name = $7, decided_at = $8, decision_note = $9, start_by = $10, updated_at = $11 WHERE id = $1",
                )
                .bind(&r.id)
                .bind(r.status.as_str())
                .bind(&r.session_id)
                .bind(r.granted_actions.as_deref().map(join))
                .bind(r.granted_minutes.map(i64::from))
                .bind(&r.decided_by)
                .bind(&r.decided_by_name)
                .bind(opt_micros(r.decided_at))
                .bind(&r.decision_note)
                .bind(opt_micros(r.start_by))
                .bind(micros(r.updated_at))
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn insert_decision(&mut self, d: &Decision) -> Result<()> {
                sqlx::query(&format!(
                    "INSERT INTO decisions ({DECISION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&d.id)
                .bind(&d.request_id)
                .bind(d.kind.as_str())
                .bind(&d.decider)
                .bind(&d.decider_name)
                .bind(join(&d.actions))
                .bind(i64::from(d.minutes))
                .bind(join(&d.removed))
                .bind(join(&d.added))
                .bind(&d.note)
                .bind(micros(d.at))
                .execute(&mut *self.conn)
                .await
                .map_err(|e| unique_or(e, actas_core::Code::AlreadyDecided, "The request was decided already."))?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::SessionReads for SqlTx {
            async fn get_session(&mut self, id: &str) -> Result<Option<Session>> {
                self.one(&format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1"), id, session_from).await
            }

            async fn find_live_session(&mut self, agent: &str) -> Result<Option<Session>> {
                self.one(&format!("SELECT {SESSION_COLS} FROM sessions WHERE agent = $1 AND state = 'live'"), agent, session_from)
                    .await
            }

            async fn list_sessions(&mut self, f: &SessionFilter) -> Result<Vec<Session>> {
                let mut qb = QueryBuilder::new(format!("SELECT {SESSION_COLS} FROM sessions WHERE 1 = 1"));
                if let Some(v) = &f.account_id {
                    qb.push(" AND account_id = ").push_bind(v.clone());
                }
                if let Some(v) = &f.ticket {
                    qb.push(" AND ticket = ").push_bind(v.clone());
                }
                if let Some(v) = &f.agent {
                    qb.push(" AND agent = ").push_bind(v.clone());
                }
                if let Some(v) = &f.request_id {
                    qb.push(" AND request_id = ").push_bind(v.clone());
                }
                if let Some(v) = &f.app_id {
                    qb.push(" AND app_id = ").push_bind(v.clone());
                }
                if f.live_only {
                    qb.push(" AND state = 'live'");
                }
                qb.push(" ORDER BY started_at DESC, id LIMIT ").push_bind(f.limit.unwrap_or(1000));
                self.many(qb, session_from).await
            }

            async fn list_due_sessions(&mut self, ends_by: Timestamp, idle_since: Timestamp, limit: i64) -> Result<Vec<Session>> {
                let mut due = Vec::new();
                for (sql, at) in [
                    (format!("SELECT {SESSION_COLS} FROM sessions WHERE state = 'live' AND ends_at <= $1 ORDER BY ends_at LIMIT $2"), ends_by),
                    (format!("SELECT {SESSION_COLS} FROM sessions WHERE state = 'live' AND last_activity_at <= $1 ORDER BY last_activity_at LIMIT $2"), idle_since),
                ] {
                    let rows = sqlx::query(&sql).bind(micros(at)).bind(limit).fetch_all(&mut *self.conn).await.map_err(db_err)?;
                    for r in &rows {
                        let s = session_from(r)?;
                        if !due.iter().any(|d: &Session| d.id == s.id) {
                            due.push(s);
                        }
                    }
                }
                Ok(due)
            }
        }

        #[async_trait]
        impl crate::ports::SessionWrites for SqlTx {
            async fn insert_session(&mut self, s: &Session) -> Result<()> {
                sqlx::query(&format!(
                    "INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
                ))
                .bind(&s.id)
                .bind(&s.request_id)
                .bind(&s.ticket)
                .bind(&s.account_id)
                .bind(&s.account_name)
                .bind(&s.agent)
                .bind(&s.agent_name)
                .bind(&s.approver)
                .bind(&s.approver_name)
                .bind(join(&s.scope))
                .bind(&s.reason)
                .bind(micros(s.started_at))
                .bind(micros(s.ends_at))
                .bind(micros(s.last_activity_at))
                .bind(s.state.as_str())
                .bind(s.end_reason.map(|r| r.as_str()))
                .bind(opt_micros(s.ended_at))
                .bind(&s.ended_by)
                .bind(&s.end_note)
                .bind(&s.app_id)
                .bind(approvers_json(&s.approvers))
                .execute(&mut *self.conn)
                .await
                .map_err(|e| unique_or(e, actas_core::Code::LiveSessionExists, "The agent has a live session already; end it first."))?;
                Ok(())
            }

            async fn update_session(&mut self, s: &Session) -> Result<()> {
                sqlx::query(
                    "UPDATE sessions SET scope = $2, ends_at = $3, last_activity_at = $4, state = $5, end_reason = $6, ended_at = $7, ended_by = $8, end_note = $9, approvers = $10 WHERE id = $1",
                )
                .bind(&s.id)
                .bind(join(&s.scope))
                .bind(micros(s.ends_at))
                .bind(micros(s.last_activity_at))
                .bind(s.state.as_str())
                .bind(s.end_reason.map(|r| r.as_str()))
                .bind(opt_micros(s.ended_at))
                .bind(&s.ended_by)
                .bind(&s.end_note)
                .bind(approvers_json(&s.approvers))
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn touch_session(&mut self, id: &str, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE sessions SET last_activity_at = $2 WHERE id = $1 AND state = 'live' AND last_activity_at < $2")
                    .bind(id)
                    .bind(micros(at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::KeyReads for SqlTx {
            async fn list_keys(&mut self) -> Result<Vec<KeyRecord>> {
                self.many(
                    QueryBuilder::new("SELECT kid, role, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at, kid"),
                    key_from,
                )
                .await
            }
        }

        #[async_trait]
        impl crate::ports::KeyWrites for SqlTx {
            async fn insert_key(&mut self, k: &KeyRecord) -> Result<()> {
                sqlx::query("INSERT INTO signing_keys (kid, role, private_key, public_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&k.kid)
                    .bind(k.role.as_str())
                    .bind(&k.private_key)
                    .bind(&k.public_key)
                    .bind(micros(k.created_at))
                    .bind(opt_micros(k.retired_at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn retire_key(&mut self, kid: &str, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL")
                    .bind(kid)
                    .bind(micros(at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn update_key_secret(&mut self, kid: &str, private_key: &str) -> Result<()> {
                sqlx::query("UPDATE signing_keys SET private_key = $2 WHERE kid = $1")
                    .bind(kid)
                    .bind(private_key)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::AuditReads for SqlTx {
            async fn list_events(&mut self, f: &EventFilter) -> Result<Vec<Event>> {
                let Some(window) = self.seq_window(f).await? else { return Ok(Vec::new()) };
                if f.types.len() > 1 && crate::plan::driver(f).is_none() {
                    // Several types and nothing narrower: one walk of the type
                    // index per type, each in seq order, merged here.
                    let mut all = Vec::new();
                    for t in &f.types {
                        let one = EventFilter { types: vec![*t], ..f.clone() };
                        all.extend(self.events_in(&one, window).await?);
                    }
                    all.sort_by_key(|e| e.seq);
                    all.truncate(usize::try_from(f.limit).unwrap_or(0));
                    return Ok(all);
                }
                self.events_in(f, window).await
            }

            async fn get_event_head(&mut self) -> Result<Option<(i64, String)>> {
                let row = sqlx::query("SELECT seq, hash FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)")
                    .fetch_optional(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                row.map(|r| Ok((get(&r, "seq")?, get(&r, "hash")?))).transpose()
            }

            async fn list_checkpoints(&mut self) -> Result<Vec<Checkpoint>> {
                self.many(QueryBuilder::new("SELECT seq, hash, kid, signature, at FROM audit_checkpoints ORDER BY seq"), checkpoint_from)
                    .await
            }
        }

        #[async_trait]
        impl crate::ports::AuditWrites for SqlTx {
            async fn append_event(&mut self, mut e: NewEvent) -> Result<Event> {
                e.id = self.ids.id("evt");
                let head = match self.head.clone() {
                    Some(h) => Some(h),
                    None => self.get_event_head().await?,
                };
                let (seq, prev) = match head {
                    Some((seq, hash)) => (seq + 1, hash),
                    None => (1, actas_core::audit::GENESIS.to_string()),
                };
                let ev = e.seal(seq, &prev);
                let at = audit_at(ev.at);
                sqlx::query(&format!(
                    "INSERT INTO audit_events ({EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                ))
                .bind(ev.seq)
                .bind(&ev.id)
                .bind(&at)
                .bind(ev.kind.as_str())
                .bind(ev.actor.to_json().to_string())
                .bind(&ev.account_id)
                .bind(&ev.ticket)
                .bind(&ev.request_id)
                .bind(&ev.session_id)
                .bind(&ev.agent)
                .bind(ev.data.to_string())
                .bind(&ev.text)
                .bind(&ev.prev_hash)
                .bind(&ev.hash)
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                self.head = Some((ev.seq, ev.hash.clone()));
                self.appended = true;
                self.note_time(ev.seq, at);
                Ok(ev)
            }

            async fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_checkpoints (seq, hash, kid, signature, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
                )
                .bind(c.seq)
                .bind(&c.hash)
                .bind(&c.kid)
                .bind(&c.signature)
                .bind(micros(c.at))
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::ports::NoticeReads for SqlTx {
            async fn list_notices(&mut self, app_id: &str, after: i64, limit: i64) -> Result<Vec<Notice>> {
                let cols = NOTICE_COLS.split(", ").map(|c| format!("n.{c}")).collect::<Vec<_>>().join(", ");
                let mut qb = QueryBuilder::new(format!(
                    "SELECT {cols} FROM notices n JOIN sessions s ON s.id = n.session_id WHERE s.app_id = "
                ));
                qb.push_bind(app_id.to_string()).push(" AND n.seq > ").push_bind(after).push(" ORDER BY n.seq LIMIT ").push_bind(limit);
                self.many(qb, notice_from).await
            }

            async fn get_notice(&mut self, id: &str) -> Result<Option<Notice>> {
                self.one(&format!("SELECT {NOTICE_COLS} FROM notices WHERE id = $1"), id, notice_from).await
            }
        }

        #[async_trait]
        impl crate::ports::NoticeWrites for SqlTx {
            async fn insert_notice(&mut self, n: &Notice) -> Result<Notice> {
                let row = sqlx::query(
                    "INSERT INTO notices (id, session_id, account_id, text, data, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                )
                .bind(&n.id)
                .bind(&n.session_id)
                .bind(&n.account_id)
                .bind(&n.text)
                .bind(serde_json::to_string(&n.data).map_err(|e| actas_core::Error::Internal(e.into()))?)
                .bind(micros(n.created_at))
                .fetch_one(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(Notice { seq: get(&row, "seq")?, ..n.clone() })
            }

            async fn set_notice_delivered(&mut self, id: &str, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE notices SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL")
                    .bind(id)
                    .bind(micros(at))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }

        impl crate::ports::WriteTx for SqlTx {
            fn new_id(&self, prefix: &str) -> String {
                self.ids.id(prefix)
            }
        }

        #[async_trait]
        impl crate::writer::BatchConn for SqlTx {
            async fn begin(&mut self) -> Result<()> {
                self.head = None;
                self.appended = false;
                self.times.clear();
                for stmt in BEGIN_BATCH {
                    self.control(stmt).await?;
                }
                Ok(())
            }

            async fn exec(&mut self, sql: &'static str) -> Result<()> {
                self.control(sql).await
            }

            async fn probe(&mut self) -> Result<()> {
                sqlx::query(
                    "INSERT INTO writer_probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = writer_probe.n + 1",
                )
                .execute(&mut *self.conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            fn discard(&mut self) {
                self.discard = true;
            }

            fn tx(&mut self) -> &mut dyn WriteTx {
                self
            }

            fn cached_head(&self) -> Option<(i64, String)> {
                self.head.clone()
            }

            fn set_cached_head(&mut self, head: Option<(i64, String)>) {
                self.head = head;
            }

            fn appended(&self) -> bool {
                self.appended
            }

            async fn finish(&mut self) -> Result<()> {
                self.store_times().await
            }
        }

        /// Runs a read closure in a read-only transaction. Cancelled at any
        /// await, the connection is closed rather than pooled (see [`SqlTx`]).
        pub(crate) async fn read_in<T>(
            pool: &sqlx::Pool<$Db>,
            ids: &std::sync::Arc<dyn actas_core::id::Ids>,
            f: crate::ReadFn<T>,
        ) -> Result<T> {
            let conn = pool.acquire().await.map_err(db_err)?;
            let mut tx = SqlTx::new(conn, ids.clone());
            tx.control(BEGIN_READ).await?;
            let out = f(&mut tx).await;
            if let Err(e) = tx.control("ROLLBACK").await {
                tracing::warn!(error = %e, "could not end a read transaction; closing its connection");
            }
            out
        }
    };
}

pub(crate) use sql_tx;
