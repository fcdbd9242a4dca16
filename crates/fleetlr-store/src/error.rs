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

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
