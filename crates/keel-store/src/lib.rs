//! Keel's embedded store: one SQLite file (WAL, `synchronous=FULL`) that holds the
//! topology versions, link administrative state, services, allocations, the audit
//! log, API tokens and link utilisation history.
//!
//! Documents (topology, service, allocation) are stored as JSON text so the store
//! knows nothing of the controller's types, and operators can read them with the
//! `sqlite3` shell. Every write is one transaction that commits to disk before the
//! call returns: a caller acknowledges a change only after that.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("creating data directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store {path} has schema version {found}; this keel understands up to {supported}")]
    Schema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topology (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS link_state (
    link TEXT PRIMARY KEY,
    drained INTEGER NOT NULL DEFAULT 0,
    capacity_bps REAL
);
CREATE TABLE IF NOT EXISTS service (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    doc TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS allocation (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    cause TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS token (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS link_util (
    link TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    offered_bps REAL NOT NULL,
    carried_bps REAL NOT NULL,
    utilisation REAL NOT NULL,
    PRIMARY KEY (link, at_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS link_util_5m (
    link TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    offered_bps REAL NOT NULL,
    offered_max_bps REAL NOT NULL,
    carried_bps REAL NOT NULL,
    carried_max_bps REAL NOT NULL,
    utilisation REAL NOT NULL,
    utilisation_max REAL NOT NULL,
    PRIMARY KEY (link, at_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS link_util_5m_at ON link_util_5m (at_ms);
CREATE TABLE IF NOT EXISTS link_util_1h (
    link TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    offered_bps REAL NOT NULL,
    offered_max_bps REAL NOT NULL,
    carried_bps REAL NOT NULL,
    carried_max_bps REAL NOT NULL,
    utilisation REAL NOT NULL,
    utilisation_max REAL NOT NULL,
    PRIMARY KEY (link, at_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS link_util_1h_at ON link_util_1h (at_ms);
";

/// Width of a 5-minute rollup bucket.
pub const FIVE_MIN_MS: i64 = 5 * 60_000;
/// Width of a 1-hour rollup bucket.
pub const HOUR_MS: i64 = 3_600_000;
/// Raw samples (one per link per counter interval) are kept 6 hours: enough to
/// look at an incident in full detail, small enough on Kdl (1,790 links at 5 s).
pub const RAW_RETENTION_MS: i64 = 6 * HOUR_MS;
/// 5-minute averages and maxima are kept a week (daily and weekly patterns).
pub const FIVE_MIN_RETENTION_MS: i64 = 7 * 24 * HOUR_MS;
/// 1-hour averages and maxima are kept a year (capacity planning).
pub const HOUR_RETENTION_MS: i64 = 365 * 24 * HOUR_MS;
/// Raw time rolled by one [`Store::downsample`] call at most: on Kdl (1,790
/// links every 5 s) an hour took 1.5 s, too long to hold the event loop.
pub const MAX_ROLL_MS: i64 = 15 * 60_000;

/// One audit record: who did what to which element, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// JSON text with the cause and details.
    pub detail: String,
}

/// What to record with a write; `seq` and the time are the store's.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub id: String,
    pub tenant: String,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkStateRow {
    pub link: String,
    pub drained: bool,
    pub capacity_bps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UtilSample {
    pub at_ms: i64,
    pub offered_bps: f64,
    pub carried_bps: f64,
    pub utilisation: f64,
}

/// A rollup table of link utilisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    FiveMinutes,
    Hour,
}

impl Rollup {
    fn table(self) -> &'static str {
        match self {
            Rollup::FiveMinutes => "link_util_5m",
            Rollup::Hour => "link_util_1h",
        }
    }
}

/// One rollup bucket: averages over the raw samples in it, and their maxima.
/// `at_ms` is the start of the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RollupSample {
    pub at_ms: i64,
    /// Raw samples behind the bucket.
    pub samples: i64,
    pub offered_bps: f64,
    pub offered_max_bps: f64,
    pub carried_bps: f64,
    pub carried_max_bps: f64,
    pub utilisation: f64,
    pub utilisation_max: f64,
}

/// What one [`Store::downsample`] call did, in rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Downsampled {
    pub five_min_rows: usize,
    pub hour_rows: usize,
    pub raw_deleted: usize,
    pub five_min_deleted: usize,
    pub hour_deleted: usize,
    /// More raw samples wait to be rolled: call again soon.
    pub behind: bool,
}

/// The links that have raw samples, one primary-key seek each: with the key
/// (link, at_ms) every later step is a range seek per link, where an index on
/// at_ms alone would cost a lookup per row and slow every sample's insert.
const RAW_LINKS: &str = "WITH RECURSIVE links(l) AS (
        SELECT min(link) FROM link_util
        UNION ALL
        SELECT (SELECT min(link) FROM link_util WHERE link > l) FROM links WHERE l IS NOT NULL
    )";

fn floor_to(t: i64, step: i64) -> i64 {
    t - t.rem_euclid(step)
}

fn watermark(tx: &rusqlite::Transaction, key: &str) -> rusqlite::Result<Option<i64>> {
    let v: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()))
}

fn set_watermark(tx: &rusqlite::Transaction, key: &str, at_ms: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, at_ms.to_string()],
    )?;
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) `keel.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("keel.db");
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        // WAL lets readers run beside the writer; FULL syncs the WAL on every
        // commit so an acknowledged write survives a power cut, not only kill -9.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        let found: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(open_err)?;
        match found.and_then(|v| v.parse::<i64>().ok()) {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::Schema {
                    path,
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(open_err)?;
            }
        }
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // The connection holds no Rust invariants a panic could break.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one transaction with an audit record; commits before returning.
    fn write<T>(
        &self,
        audit: Option<Audit>,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        if let Some(a) = audit {
            insert_audit(&tx, a)?;
        }
        tx.commit()?;
        Ok(out)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(None, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )
        })?;
        Ok(())
    }

    /// Stores a new topology version and returns its number.
    pub fn save_topology(&self, doc: &str, audit: Audit) -> Result<i64> {
        self.write(Some(audit), |tx| {
            tx.execute(
                "INSERT INTO topology (at_ms, doc) VALUES (?1, ?2)",
                params![now_ms(), doc],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    pub fn latest_topology(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT version, doc FROM topology ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_link_state(&self, row: &LinkStateRow, audit: Audit) -> Result<()> {
        self.write(Some(audit), |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO link_state (link, drained, capacity_bps) VALUES (?1, ?2, ?3)",
                params![row.link, row.drained, row.capacity_bps],
            )
        })?;
        Ok(())
    }

    pub fn link_states(&self) -> Result<Vec<LinkStateRow>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT link, drained, capacity_bps FROM link_state")?;
        let rows = st.query_map([], |r| {
            Ok(LinkStateRow {
                link: r.get(0)?,
                drained: r.get(1)?,
                capacity_bps: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Inserts or replaces a service.
    pub fn put_service(&self, row: &ServiceRow, audit: Audit) -> Result<()> {
        self.write(Some(audit), |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO service (id, tenant, doc, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![row.id, row.tenant, row.doc, now_ms()],
            )
        })?;
        Ok(())
    }

    /// Removes a service; false when there was none.
    pub fn delete_service(&self, id: &str, audit: Audit) -> Result<bool> {
        self.write(Some(audit), |tx| {
            Ok(tx.execute("DELETE FROM service WHERE id = ?1", [id])? > 0)
        })
    }

    pub fn services(&self) -> Result<Vec<ServiceRow>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id, tenant, doc FROM service ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(ServiceRow {
                id: r.get(0)?,
                tenant: r.get(1)?,
                doc: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores the allocation now installed; returns its version.
    pub fn save_allocation(&self, cause: &str, doc: &str, audit: Audit) -> Result<i64> {
        self.write(Some(audit), |tx| {
            tx.execute(
                "INSERT INTO allocation (at_ms, cause, doc) VALUES (?1, ?2, ?3)",
                params![now_ms(), cause, doc],
            )?;
            let version = tx.last_insert_rowid();
            // Only the newest few are kept; the audit log keeps the history of why.
            tx.execute("DELETE FROM allocation WHERE version <= ?1", [version - 16])?;
            Ok(version)
        })
    }

    pub fn latest_allocation(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT version, doc FROM allocation ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn audit(&self, audit: Audit) -> Result<()> {
        self.write(Some(audit), |_| Ok(()))
    }

    /// Audit records after `after` (a sequence number), oldest first.
    /// The newest `limit` audit records, oldest first.
    pub fn audit_latest(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT seq, at_ms, actor, action, subject, detail FROM audit
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit as i64], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at_ms: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        let mut out: Vec<AuditEntry> = rows.collect::<rusqlite::Result<_>>()?;
        out.reverse();
        Ok(out)
    }

    pub fn audit_since(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT seq, at_ms, actor, action, subject, detail FROM audit
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![after, limit as i64], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at_ms: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores a token by the hash of its secret.
    pub fn put_token(&self, hash: &str, row: &TokenRow, audit: Audit) -> Result<()> {
        self.write(Some(audit), |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO token (hash, name, role, tenant, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, row.name, row.role, row.tenant, now_ms()],
            )
        })?;
        Ok(())
    }

    pub fn token(&self, hash: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, role, tenant FROM token WHERE hash = ?1",
                [hash],
                |r| {
                    Ok(TokenRow {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        tenant: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn token_count(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM token", [], |r| r.get(0))?)
    }

    /// Appends one utilisation sample per link (link, offered, carried, capacity).
    pub fn record_utilisation(&self, at_ms: i64, rows: &[(&str, f64, f64, f64)]) -> Result<()> {
        self.write(None, |tx| {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO link_util (link, at_ms, offered_bps, carried_bps, utilisation)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (link, offered, carried, capacity) in rows {
                let util = if *capacity > 0.0 { offered / capacity } else { 0.0 };
                st.execute(params![link, at_ms, offered, carried, util])?;
            }
            Ok(())
        })
    }

    /// Samples of one link at or after `since_ms`, oldest first.
    pub fn utilisation(&self, link: &str, since_ms: i64, limit: usize) -> Result<Vec<UtilSample>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT at_ms, offered_bps, carried_bps, utilisation FROM link_util
             WHERE link = ?1 AND at_ms >= ?2 ORDER BY at_ms DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![link, since_ms, limit as i64], |r| {
            Ok(UtilSample {
                at_ms: r.get(0)?,
                offered_bps: r.get(1)?,
                carried_bps: r.get(2)?,
                utilisation: r.get(3)?,
            })
        })?;
        let mut out: Vec<UtilSample> = rows.collect::<rusqlite::Result<_>>()?;
        out.reverse();
        Ok(out)
    }

    /// Rolls raw samples into the 5-minute table and 5-minute rows into the
    /// 1-hour table, then drops what each table keeps no longer (see
    /// [`RAW_RETENTION_MS`], [`FIVE_MIN_RETENTION_MS`], [`HOUR_RETENTION_MS`]).
    ///
    /// Only whole buckets that ended by `now_ms` are rolled, from a watermark
    /// kept in `meta`, so a second call at the same time changes nothing, and
    /// raw rows are deleted only once their bucket is rolled.
    pub fn downsample(&self, now_ms: i64) -> Result<Downsampled> {
        self.write(None, |tx| {
            let mut out = Downsampled::default();
            let five_from = watermark(tx, "rollup_5m_until")?.unwrap_or(i64::MIN);
            let five_end = floor_to(now_ms, FIVE_MIN_MS);
            // At most MAX_ROLL_MS of raw samples per call, from the oldest not yet
            // rolled, so a long backlog (a store from before rollups, a
            // controller that was down) is caught up in short steps that never
            // hold the event loop for long; gaps without samples are skipped.
            let next: Option<i64> = tx.query_row(
                &format!(
                    "{RAW_LINKS} SELECT min((SELECT min(at_ms) FROM link_util
                                             WHERE link = l AND at_ms >= ?1))
                     FROM links WHERE l IS NOT NULL"
                ),
                [five_from],
                |r| r.get(0),
            )?;
            let five_to = match next {
                Some(t) => five_end.min(floor_to(t, FIVE_MIN_MS).max(five_from) + MAX_ROLL_MS),
                None => five_end,
            };
            out.behind = five_to < five_end;
            if five_to > five_from {
                out.five_min_rows = tx.execute(
                    &format!(
                        "{RAW_LINKS} INSERT OR REPLACE INTO link_util_5m
                           (link, at_ms, samples, offered_bps, offered_max_bps, carried_bps,
                            carried_max_bps, utilisation, utilisation_max)
                         SELECT link, at_ms - at_ms % ?3, count(*), avg(offered_bps),
                                max(offered_bps), avg(carried_bps), max(carried_bps),
                                avg(utilisation), max(utilisation)
                         FROM links JOIN link_util ON link = l
                         WHERE at_ms >= ?1 AND at_ms < ?2
                         GROUP BY link, at_ms - at_ms % ?3"
                    ),
                    params![five_from, five_to, FIVE_MIN_MS],
                )?;
                set_watermark(tx, "rollup_5m_until", five_to)?;
            }
            let five_done = five_to.max(five_from);
            let hour_from = watermark(tx, "rollup_1h_until")?.unwrap_or(i64::MIN);
            // An hour is rolled once all its 5-minute buckets are.
            let hour_to = floor_to(five_done, HOUR_MS);
            if hour_to > hour_from {
                // Averages are weighted by the raw samples behind each bucket.
                out.hour_rows = tx.execute(
                    "INSERT OR REPLACE INTO link_util_1h
                       (link, at_ms, samples, offered_bps, offered_max_bps, carried_bps,
                        carried_max_bps, utilisation, utilisation_max)
                     SELECT link, at_ms - at_ms % ?3, sum(samples),
                            sum(offered_bps * samples) / sum(samples), max(offered_max_bps),
                            sum(carried_bps * samples) / sum(samples), max(carried_max_bps),
                            sum(utilisation * samples) / sum(samples), max(utilisation_max)
                     FROM link_util_5m WHERE at_ms >= ?1 AND at_ms < ?2
                     GROUP BY link, at_ms - at_ms % ?3",
                    params![hour_from, hour_to, HOUR_MS],
                )?;
                set_watermark(tx, "rollup_1h_until", hour_to)?;
            }
            let hour_done = hour_to.max(hour_from);
            out.raw_deleted = tx.execute(
                &format!(
                    "{RAW_LINKS} DELETE FROM link_util
                     WHERE link IN (SELECT l FROM links) AND at_ms < ?1"
                ),
                [(now_ms - RAW_RETENTION_MS).min(five_done)],
            )?;
            out.five_min_deleted = tx.execute(
                "DELETE FROM link_util_5m WHERE at_ms < ?1",
                [(now_ms - FIVE_MIN_RETENTION_MS).min(hour_done)],
            )?;
            out.hour_deleted = tx.execute(
                "DELETE FROM link_util_1h WHERE at_ms < ?1",
                [now_ms - HOUR_RETENTION_MS],
            )?;
            Ok(out)
        })
    }

    /// Rolled-up samples of one link at or after `since_ms`, oldest first.
    pub fn utilisation_rollup(
        &self,
        link: &str,
        resolution: Rollup,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<RollupSample>> {
        let conn = self.conn();
        let sql = format!(
            "SELECT at_ms, samples, offered_bps, offered_max_bps, carried_bps, carried_max_bps,
                    utilisation, utilisation_max FROM {}
             WHERE link = ?1 AND at_ms >= ?2 ORDER BY at_ms DESC LIMIT ?3",
            resolution.table()
        );
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(params![link, since_ms, limit as i64], |r| {
            Ok(RollupSample {
                at_ms: r.get(0)?,
                samples: r.get(1)?,
                offered_bps: r.get(2)?,
                offered_max_bps: r.get(3)?,
                carried_bps: r.get(4)?,
                carried_max_bps: r.get(5)?,
                utilisation: r.get(6)?,
                utilisation_max: r.get(7)?,
            })
        })?;
        let mut out: Vec<RollupSample> = rows.collect::<rusqlite::Result<_>>()?;
        out.reverse();
        Ok(out)
    }

    /// Drops utilisation samples older than `before_ms`.
    pub fn prune_utilisation(&self, before_ms: i64) -> Result<usize> {
        self.write(None, |tx| {
            tx.execute("DELETE FROM link_util WHERE at_ms < ?1", [before_ms])
        })
    }
}

fn insert_audit(tx: &rusqlite::Transaction, a: Audit) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms(), a.actor, a.action, a.subject, a.detail],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit<'a>(action: &'a str, subject: &'a str) -> Audit<'a> {
        Audit {
            actor: "test",
            action,
            subject,
            detail: "{}",
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keel-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn writes_survive_reopening_with_their_audit_records() {
        let dir = tempdir("reopen");
        {
            let s = Store::open(&dir).expect("open");
            let row = ServiceRow {
                id: "svc-1".into(),
                tenant: "acme".into(),
                doc: "{\"rate\":1}".into(),
            };
            s.put_service(&row, audit("service.create", "svc-1"))
                .expect("put");
            s.put_service(
                &ServiceRow {
                    id: "svc-2".into(),
                    ..row.clone()
                },
                audit("service.create", "svc-2"),
            )
            .expect("put");
            assert!(
                s.delete_service("svc-2", audit("service.delete", "svc-2"))
                    .expect("del")
            );
            assert!(
                !s.delete_service("svc-9", audit("service.delete", "svc-9"))
                    .expect("del")
            );
            let v = s
                .save_topology("{}", audit("topology.import", "t"))
                .expect("topo");
            assert_eq!(v, 1);
        }
        let s = Store::open(&dir).expect("reopen");
        let services = s.services().expect("services");
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].id, "svc-1");
        assert_eq!(services[0].tenant, "acme");
        let log = s.audit_since(0, 100).expect("audit");
        let actions: Vec<_> = log.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "service.create",
                "service.create",
                "service.delete",
                "service.delete",
                "topology.import"
            ]
        );
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
        let latest = s.audit_latest(2).expect("latest");
        assert_eq!(
            latest.iter().map(|a| a.seq).collect::<Vec<_>>(),
            log[log.len() - 2..]
                .iter()
                .map(|a| a.seq)
                .collect::<Vec<_>>()
        );
        assert_eq!(s.latest_topology().expect("topo").map(|t| t.0), Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn allocations_keep_only_the_newest_versions() {
        let dir = tempdir("alloc");
        let s = Store::open(&dir).expect("open");
        for i in 0..40 {
            s.save_allocation(
                "test",
                &format!("{{\"n\":{i}}}"),
                audit("allocation", "all"),
            )
            .expect("save");
        }
        let (v, doc) = s.latest_allocation().expect("latest").expect("some");
        assert_eq!(v, 40);
        assert_eq!(doc, "{\"n\":39}");
        let kept: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM allocation", [], |r| r.get(0))
            .expect("count");
        assert_eq!(kept, 16);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn utilisation_history_is_ordered_and_prunable() {
        let dir = tempdir("util");
        let s = Store::open(&dir).expect("open");
        for t in 0..5 {
            s.record_utilisation(t * 1000, &[("a", 5.0, 5.0, 10.0), ("b", 1.0, 1.0, 0.0)])
                .expect("record");
        }
        let a = s.utilisation("a", 2000, 10).expect("query");
        assert_eq!(
            a.iter().map(|x| x.at_ms).collect::<Vec<_>>(),
            [2000, 3000, 4000]
        );
        assert_eq!(a[0].utilisation, 0.5);
        assert_eq!(s.utilisation("a", 0, 2).expect("query").len(), 2);
        assert_eq!(s.prune_utilisation(3000).expect("prune"), 6);
        assert_eq!(
            s.utilisation("b", 0, 10).expect("query")[0].utilisation,
            0.0
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn rollups(s: &Store, r: Rollup) -> Vec<RollupSample> {
        s.utilisation_rollup("a", r, i64::MIN, 10_000)
            .expect("rollup")
    }

    /// Link "a" (capacity 10): three samples in the first 5 minutes, one in the next.
    fn known_samples(s: &Store) {
        for (at, offered) in [(0, 1.0), (60_000, 2.0), (120_000, 6.0), (FIVE_MIN_MS, 4.0)] {
            s.record_utilisation(at, &[("a", offered, offered / 2.0, 10.0)])
                .expect("record");
        }
    }

    #[test]
    fn rollups_hold_the_averages_and_maxima_of_their_samples() {
        let dir = tempdir("rollup");
        let s = Store::open(&dir).expect("open");
        known_samples(&s);
        // Ten minutes and a bit: both 5-minute buckets are complete, no hour is.
        let d = s.downsample(2 * FIVE_MIN_MS + 1).expect("downsample");
        assert_eq!((d.five_min_rows, d.hour_rows), (2, 0));
        let five = rollups(&s, Rollup::FiveMinutes);
        assert_eq!(five.len(), 2);
        assert_eq!((five[0].at_ms, five[0].samples), (0, 3));
        assert!(close(five[0].utilisation, 0.3), "{:?}", five[0]);
        assert!(close(five[0].utilisation_max, 0.6));
        assert!(close(five[0].offered_bps, 3.0));
        assert!(close(five[0].offered_max_bps, 6.0));
        assert!(close(five[0].carried_bps, 1.5));
        assert!(close(five[0].carried_max_bps, 3.0));
        assert_eq!((five[1].at_ms, five[1].samples), (FIVE_MIN_MS, 1));
        assert!(close(five[1].utilisation, 0.4));
        assert!(rollups(&s, Rollup::Hour).is_empty());

        // Once the hour has passed it is rolled from the 5-minute rows, weighted
        // by their samples: (0.1 + 0.2 + 0.6 + 0.4) / 4, not (0.3 + 0.4) / 2.
        let d = s.downsample(HOUR_MS + 1).expect("downsample");
        assert_eq!(d.hour_rows, 1);
        let hour = rollups(&s, Rollup::Hour);
        assert_eq!(hour.len(), 1);
        assert_eq!((hour[0].at_ms, hour[0].samples), (0, 4));
        assert!(close(hour[0].utilisation, 0.325), "{:?}", hour[0]);
        assert!(close(hour[0].utilisation_max, 0.6));
        assert!(close(hour[0].offered_bps, 3.25));
        assert!(close(hour[0].carried_max_bps, 3.0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn downsampling_twice_changes_nothing() {
        let dir = tempdir("rollup-twice");
        let s = Store::open(&dir).expect("open");
        known_samples(&s);
        let now = HOUR_MS + 1;
        let (first, _) = catch_up(&s, now);
        assert!(first.five_min_rows > 0 && first.hour_rows > 0);
        let before = (
            s.utilisation("a", i64::MIN, 10_000).expect("raw"),
            rollups(&s, Rollup::FiveMinutes),
            rollups(&s, Rollup::Hour),
        );
        assert_eq!(s.downsample(now).expect("again"), Downsampled::default());
        // A sample in the bucket still open is not rolled either.
        s.record_utilisation(now, &[("a", 9.0, 9.0, 10.0)])
            .expect("record");
        assert_eq!(
            s.downsample(now + 1).expect("again"),
            Downsampled::default()
        );
        let after = (
            s.utilisation("a", i64::MIN, 10_000)
                .expect("raw")
                .into_iter()
                .filter(|r| r.at_ms < now)
                .collect::<Vec<_>>(),
            rollups(&s, Rollup::FiveMinutes),
            rollups(&s, Rollup::Hour),
        );
        assert_eq!(before, after);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Calls `downsample` until it has caught up, adding up what it did.
    fn catch_up(s: &Store, now: i64) -> (Downsampled, usize) {
        let mut total = Downsampled::default();
        for calls in 1..=100 {
            let d = s.downsample(now).expect("downsample");
            total.five_min_rows += d.five_min_rows;
            total.hour_rows += d.hour_rows;
            total.raw_deleted += d.raw_deleted;
            total.five_min_deleted += d.five_min_deleted;
            total.hour_deleted += d.hour_deleted;
            if !d.behind {
                return (total, calls);
            }
        }
        panic!("downsample never caught up");
    }

    #[test]
    fn a_backlog_is_rolled_in_bounded_steps_that_skip_gaps() {
        let dir = tempdir("rollup-backlog");
        let s = Store::open(&dir).expect("open");
        // Three hours of samples, then nothing for a day: the gap costs no call.
        for h in [0, 1, 2, 26] {
            s.record_utilisation(h * HOUR_MS, &[("a", 2.0, 2.0, 10.0)])
                .expect("record");
        }
        let now = 26 * HOUR_MS + 10 * 60_000;
        let first = s.downsample(now).expect("downsample");
        assert!(first.behind);
        assert_eq!(rollups(&s, Rollup::FiveMinutes).len(), 1);
        let (_, calls) = catch_up(&s, now);
        assert_eq!(calls, 3);
        let five = rollups(&s, Rollup::FiveMinutes);
        assert_eq!(
            five.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
            [0, HOUR_MS, 2 * HOUR_MS, 26 * HOUR_MS]
        );
        // The hour from 26 h has not ended: not rolled yet.
        let hours = rollups(&s, Rollup::Hour);
        assert_eq!(
            hours.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
            [0, HOUR_MS, 2 * HOUR_MS]
        );
        assert!(hours.iter().all(|h| close(h.utilisation, 0.2)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn expired_rows_go_and_their_rollups_stay() {
        let dir = tempdir("rollup-expire");
        let s = Store::open(&dir).expect("open");
        known_samples(&s);
        let late = RAW_RETENTION_MS + HOUR_MS;
        s.record_utilisation(late, &[("a", 5.0, 5.0, 10.0)])
            .expect("record");
        let (d, _) = catch_up(&s, late + 1);
        assert_eq!(d.raw_deleted, 4);
        let raw = s.utilisation("a", i64::MIN, 100).expect("raw");
        assert_eq!(raw.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [late]);
        assert_eq!(rollups(&s, Rollup::FiveMinutes)[0].at_ms, 0);

        // A week later the 5-minute rows of the first hour go; the hour stays.
        let (d, _) = catch_up(&s, FIVE_MIN_RETENTION_MS + 2 * HOUR_MS);
        assert_eq!(d.five_min_deleted, 2);
        assert!(
            rollups(&s, Rollup::FiveMinutes)
                .iter()
                .all(|r| r.at_ms >= HOUR_MS)
        );
        let hours = rollups(&s, Rollup::Hour);
        assert_eq!(hours.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [0, late]);

        // After a year the first hour goes too.
        catch_up(&s, HOUR_RETENTION_MS + 2 * HOUR_MS);
        let hours = rollups(&s, Rollup::Hour);
        assert_eq!(hours.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [late]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Cost of the history at Kdl's size: 1,790 links reporting every 5 s.
    /// `cargo test -p keel-store --release -- --ignored --nocapture kdl`.
    #[test]
    #[ignore = "a measurement"]
    fn history_costs_at_kdl_scale() {
        let dir = tempdir("kdl");
        let s = Store::open(&dir).expect("open");
        let names: Vec<String> = (0..1790).map(|i| format!("s{i}->d{i}")).collect();
        let report = |at: i64| {
            let rows: Vec<(&str, f64, f64, f64)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), (i % 97) as f64, (i % 89) as f64, 100.0))
                .collect();
            s.record_utilisation(at, &rows).expect("record");
        };
        let t = std::time::Instant::now();
        let reports = 12 * 65; // 65 minutes at 5 s
        for k in 0..reports {
            report(k * 5_000);
        }
        let per_report = t.elapsed().as_secs_f64() / reports as f64;
        // A backlog of an hour, caught up in bounded steps.
        let mut slowest = 0.0_f64;
        let mut calls = 0;
        let mut rolled = 0;
        loop {
            let t = std::time::Instant::now();
            let d = s.downsample(HOUR_MS).expect("downsample");
            slowest = slowest.max(t.elapsed().as_secs_f64());
            calls += 1;
            rolled += d.five_min_rows;
            if !d.behind {
                break;
            }
        }
        // Then the steady state: one call every 5 minutes.
        report(HOUR_MS + 60_000);
        let t = std::time::Instant::now();
        let five = s.downsample(HOUR_MS + FIVE_MIN_MS).expect("downsample");
        let step = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let plot = s.utilisation(&names[7], 0, 2000).expect("query").len();
        let query = t.elapsed().as_secs_f64();
        println!(
            "record 1,790 samples: {:.1} ms; an hour of backlog: {calls} calls, slowest {:.0} ms; \
             a 5-minute step ({} rows): {:.0} ms; read {plot} raw samples of a link: {:.1} ms",
            per_report * 1e3,
            slowest * 1e3,
            five.five_min_rows,
            step * 1e3,
            query * 1e3,
        );
        assert_eq!(rolled, 1790 * 12);
        assert_eq!(five.five_min_rows, 1790);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tokens_are_found_by_hash() {
        let dir = tempdir("token");
        let s = Store::open(&dir).expect("open");
        assert_eq!(s.token_count().expect("count"), 0);
        let row = TokenRow {
            name: "t1".into(),
            role: "tenant".into(),
            tenant: Some("acme".into()),
        };
        s.put_token("h1", &row, audit("token.create", "t1"))
            .expect("put");
        assert_eq!(s.token("h1").expect("get"), Some(row));
        assert_eq!(s.token("h2").expect("get"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
