//! Errors of the store.

/// Something the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening database {path}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the database schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("submission {id} is {state}, not intended; it was already resolved")]
    AlreadyResolved { id: i64, state: String },
    #[error("{0}")]
    Conflict(String),
    #[error("database integrity check failed: {0}")]
    Corrupt(String),
    #[error("stored value `{value}` in {column} is not one fleetlr writes")]
    UnknownValue { column: &'static str, value: String },
}

/// Why the database cannot be written for now: a condition outside fleetlr that passes, after
/// which the same request succeeds. Callers answer "retry" rather than "failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Another connection (another process) holds the write lock beyond the busy timeout.
    Busy,
    /// The disk (or the file system's quota) holding the database is full.
    Full,
    /// The file system refused a read or write (I/O error, read-only).
    Io,
}

impl Unavailable {
    /// What an operator is told, without paths or SQL.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Busy => "the database is locked by another connection",
            Self::Full => "the disk holding the database is full",
            Self::Io => "the file system holding the database refused a read or write",
        }
    }
}

impl StoreError {
    /// `Some` when the error is a passing condition of the database rather than a fault of
    /// the request or of fleetlr: locked, disk full, an I/O error, or no connection free in time.
    pub fn unavailable(&self) -> Option<Unavailable> {
        let source = match self {
            Self::Query(source) | Self::Open { source, .. } => source,
            _ => return None,
        };
        match source {
            sqlx::Error::Database(db) => {
                // SQLite reports extended result codes; the primary code is the low byte.
                let code = db.code()?.parse::<i64>().ok()? & 0xff;
                match code {
                    SQLITE_BUSY | SQLITE_LOCKED => Some(Unavailable::Busy),
                    SQLITE_FULL => Some(Unavailable::Full),
                    SQLITE_IOERR | SQLITE_READONLY | SQLITE_CANTOPEN => Some(Unavailable::Io),
                    _ => None,
                }
            }
            sqlx::Error::PoolTimedOut => Some(Unavailable::Busy),
            sqlx::Error::Io(_) => Some(Unavailable::Io),
            _ => None,
        }
    }
}

// SQLite's primary result codes (https://sqlite.org/rescode.html).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
