//! Fresh databases: a SQLite file in the run's temporary folder, or a new
//! database `actas_bench_<random>` on the PostgreSQL server, dropped at
//! the end. Each has its own key-encryption key file beside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rand::Rng;
use sqlx::Connection;

/// Whether `ACTAS_BENCH_KEEP` asks to keep the temporary folder and the
/// databases after the run (to look at them, or run `actas audit verify`
/// on a seeded trail).
pub fn keep() -> bool {
    std::env::var_os("ACTAS_BENCH_KEEP").is_some_and(|v| !v.is_empty())
}

/// A backend to measure.
#[derive(Debug, Clone)]
pub enum Target {
    /// A SQLite file in the temporary folder.
    Sqlite,
    /// A database made on this PostgreSQL server.
    Postgres(String),
}

impl Target {
    /// `sqlite` or `postgres`.
    pub fn label(&self) -> &'static str {
        match self {
            Target::Sqlite => "sqlite",
            Target::Postgres(_) => "postgres",
        }
    }
}

/// A database made for one part of the run.
pub struct Db {
    /// What the server is given as `--database`.
    pub url: String,
    /// The key-encryption key of its signing keys.
    pub kek: PathBuf,
    /// The KEK, loaded.
    pub kek_loaded: Arc<actas_server::Kek>,
    /// On PostgreSQL: the server's URL and the database's name, to drop it.
    pg: Option<(String, String)>,
    /// On SQLite: the file.
    file: Option<PathBuf>,
}

impl Db {
    /// A new, empty database named after `part`.
    pub async fn fresh(target: &Target, dir: &Path, part: &str) -> anyhow::Result<Db> {
        let kek_path = dir.join(format!("{part}.kek"));
        let kek = actas_server::Kek::write_new(&kek_path)?;
        let (url, pg, file) = match target {
            Target::Sqlite => {
                let file = dir.join(format!("{part}.db"));
                (file.to_string_lossy().into_owned(), None, Some(file))
            }
            Target::Postgres(server) => {
                let name = format!("actas_bench_{:08x}", rand::thread_rng().gen::<u32>());
                let mut admin = sqlx::PgConnection::connect(server)
                    .await
                    .with_context(|| format!("cannot connect to PostgreSQL at {server}"))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("cannot create the database {name}"))?;
                admin.close().await.ok();
                (with_database(server, &name)?, Some((server.clone(), name)), None)
            }
        };
        Ok(Db { url, kek: kek_path, kek_loaded: Arc::new(kek), pg, file })
    }

    /// Removes the database (`DROP DATABASE ... WITH (FORCE)`, or the file
    /// and its WAL).
    pub async fn remove(self) -> anyhow::Result<()> {
        if keep() {
            eprintln!("bench: kept the database {} (key-encryption key {})", self.url, self.kek.display());
            return Ok(());
        }
        if let Some((server, name)) = &self.pg {
            let mut admin = sqlx::PgConnection::connect(server).await.context("cannot connect to PostgreSQL")?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot drop the database {name}"))?;
            admin.close().await.ok();
        }
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = file.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
        let _ = std::fs::remove_file(&self.kek);
        Ok(())
    }

    /// The PostgreSQL database's name, when it is one.
    pub fn pg_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, n)| n.as_str())
    }

    /// The SQLite file, when it is one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let after_scheme = url.find("://").map(|i| i + 3).context("the PostgreSQL URL is not a postgres:// URL")?;
    let (head, rest) = url.split_at(after_scheme);
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Ok(format!("{head}{authority}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(with_database("postgres://u@h:5432/test", "x").unwrap(), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x").unwrap(), "postgres://h/x");
    }
}
