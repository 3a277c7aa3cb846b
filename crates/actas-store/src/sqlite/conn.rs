//! The two kinds of connection the store uses, and what they share.
//!
//! Every port is implemented once, for anything that has a connection
//! ([`HasConn`]): the readers' [`ReadConn`] gets the read ports that way,
//! and the writer's [`BatchTx`] the same read ports plus the write ports,
//! which only it implements, so a read cannot append.
//!
//! Statements are prepared once per connection and kept
//! (`prepare_cached`); their text is the key, so a statement's text is
//! built the same way every time (static where it can be, from a filter's
//! shape where it cannot: a few shapes each).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actas_core::id::Ids;
use actas_core::{Code, Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Params, Row};

pub(crate) use crate::plan::TimeBlock;
use crate::plan::TimeBlocks;

/// How long a connection waits for a lock another one holds.
const BUSY: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection: every static statement and the
/// shapes of the filtered ones, with room to spare.
const STATEMENTS: usize = 256;

/// Something that runs statements on one SQLite connection, inside the
/// transaction its owner opened.
pub(crate) trait HasConn: Send {
    /// The connection.
    fn conn(&self) -> &Connection;

    /// Time blocks of the events appended in this transaction, not stored
    /// yet: a search inside the writer must see them. Readers have none.
    fn pending_times(&self) -> &[TimeBlock] {
        &[]
    }
}

/// Opens a connection to the file at `path`, which must exist (opening the
/// store made it). A file the process may not write is opened read-only,
/// and every write on it fails.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    #[cfg_attr(not(feature = "testing"), allow(unused_mut))] // the tests' statement observer needs it mutable
    let mut conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    // Sorts and savepoints' sub-journals stay in memory, never in temporary files.
    conn.execute_batch("PRAGMA temp_store = MEMORY")?;
    #[cfg(feature = "testing")]
    super::observe::attach(&mut conn);
    Ok(conn)
}

/// A reader's connection: used by one read at a time, inside a deferred
/// transaction that only ever ends in ROLLBACK.
pub(crate) struct ReadConn {
    conn: Connection,
    /// A statement that ends or opens the transaction failed: the
    /// connection's state is unknown, so it is closed, not pooled.
    pub(crate) spoiled: bool,
}

impl ReadConn {
    pub(crate) fn open(path: &Path) -> Result<ReadConn> {
        Ok(ReadConn { conn: open(path).map_err(db_err)?, spoiled: false })
    }

    /// Runs BEGIN, COMMIT or ROLLBACK; a failure spoils the connection.
    pub(crate) fn control(&mut self, sql: &'static str) -> Result<()> {
        let done = exec(&self.conn, sql, []).map(drop).map_err(db_err);
        self.spoiled |= done.is_err();
        done
    }

    /// Whether the database answers.
    /// Writes a consistent copy of the database to the new file `to`.
    pub(crate) fn vacuum_into(&self, to: &std::path::Path) -> Result<()> {
        let to = to.to_str().ok_or_else(|| {
            actas_core::Error::Unavailable(anyhow::anyhow!("the backup's path is not UTF-8: {}", to.display()))
        })?;
        self.conn.execute("VACUUM INTO ?1", [to]).map(drop).map_err(db_err)
    }

    pub(crate) fn ping(&self) -> Result<()> {
        let mut stmt = self.conn.prepare_cached("SELECT 1").map_err(db_err)?;
        stmt.query_row([], |r| r.get::<_, i64>(0)).map(drop).map_err(db_err)
    }

    /// Whether it may go back to the pool: nothing failed and no
    /// transaction is open.
    pub(crate) fn reusable(&self) -> bool {
        !self.spoiled && self.conn.is_autocommit()
    }
}

impl HasConn for ReadConn {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// The writer's connection and what its batch has done so far.
///
/// Never pooled: after a failed batch the writer drops it, which closes
/// it, and closing ends a transaction left open in the database.
pub(crate) struct BatchTx {
    pub(super) conn: Connection,
    pub(super) ids: Arc<dyn Ids>,
    /// The chain's head as this batch left it.
    pub(super) head: Option<(i64, String)>,
    /// An event was appended in this batch.
    pub(super) appended: bool,
    /// Blocks of `audit_time_index` this batch's events fall in, stored
    /// before commit ([`BatchConn::finish`](crate::writer::BatchConn::finish)).
    pub(super) times: TimeBlocks,
}

impl BatchTx {
    /// The writer's connection: WAL, `synchronous = FULL` (a commit is on
    /// the disk before its answer goes out), foreign keys checked, a page
    /// cache of 16 MiB so that the trail's indexes stay in memory.
    pub(crate) fn open(path: &Path, ids: Arc<dyn Ids>) -> Result<BatchTx> {
        let conn = open(path).map_err(db_err)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Unavailable(anyhow::anyhow!("the database is in journal mode {mode}, not WAL")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384")
            .map_err(db_err)?;
        Ok(BatchTx { conn, ids, head: None, appended: false, times: TimeBlocks::default() })
    }

    /// Runs a statement that changes rows. Only inside the batch's
    /// transaction: once SQLite has rolled it back by itself (a full disk,
    /// an I/O error), a change would otherwise commit on its own, outside
    /// the batch.
    pub(super) fn change(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.change_or(sql, params, db_err)
    }

    /// [`change`](Self::change), with its own mapping of a failure (a
    /// broken uniqueness rule).
    pub(super) fn change_or(
        &self,
        sql: &str,
        params: impl Params,
        failed: impl FnOnce(rusqlite::Error) -> Error,
    ) -> Result<usize> {
        self.in_batch()?;
        exec(&self.conn, sql, params).map_err(failed)
    }

    /// `Ok` while the batch's transaction is open.
    pub(super) fn in_batch(&self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Err(Error::Unavailable(anyhow::anyhow!("the batch's transaction has ended")));
        }
        Ok(())
    }
}

impl HasConn for BatchTx {
    fn conn(&self) -> &Connection {
        &self.conn
    }

    fn pending_times(&self) -> &[TimeBlock] {
        self.times.pending()
    }
}

/// Runs one statement that returns no rows.
pub(super) fn exec(c: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
    let mut stmt = c.prepare_cached(sql)?;
    let changed = stmt.execute(params);
    #[cfg(feature = "testing")]
    super::observe::ran_again(&stmt, sql);
    changed
}

/// The first row of a query, read with `f`.
pub(super) fn one<T>(c: &Connection, sql: &str, params: impl Params, f: fn(&Row) -> Result<T>) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    let first = rows.next().map_err(db_err)?.map(f).transpose();
    drop(rows);
    #[cfg(feature = "testing")]
    super::observe::ran_again(&stmt, sql);
    first
}

/// Every row of a query, read with `f`.
pub(super) fn many<T>(c: &Connection, sql: &str, params: impl Params, f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db_err)? {
        out.push(f(r)?);
    }
    drop(rows);
    #[cfg(feature = "testing")]
    super::observe::ran_again(&stmt, sql);
    Ok(out)
}

/// A statement put together from a filter, its arguments numbered (`?1`,
/// `?2`, ...) in the order they are bound.
pub(super) struct Query {
    sql: String,
    args: Vec<Value>,
}

impl Query {
    pub(super) fn new(sql: impl Into<String>) -> Query {
        Query { sql: sql.into(), args: Vec::new() }
    }

    /// Appends text.
    pub(super) fn push(&mut self, sql: &str) -> &mut Query {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next argument's placeholder and binds `v` to it.
    pub(super) fn bind(&mut self, v: impl Into<Value>) -> &mut Query {
        self.args.push(v.into());
        let _ = write!(self.sql, "?{}", self.args.len());
        self
    }

    /// Every row, read with `f`.
    pub(super) fn many<T>(&self, c: &Connection, f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
        many(c, &self.sql, rusqlite::params_from_iter(self.args.iter()), f)
    }
}

/// A database failure: the database cannot be used right now.
pub(super) fn db_err(e: rusqlite::Error) -> Error {
    Error::Unavailable(anyhow::Error::new(e).context("database"))
}

/// A broken uniqueness rule becomes the conflict `code`; anything else
/// [`db_err`].
pub(super) fn unique_or(e: rusqlite::Error, code: Code, detail: &str) -> Error {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Error::conflict(code, detail)
        }
        _ => db_err(e),
    }
}
