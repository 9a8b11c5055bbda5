//! The lake's one error type. Each variant says whether retrying can help, so a caller (an
//! ingest worker, a scheduler) retries only what is worth retrying.

/// Everything that can go wrong in the lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lake location or another URL could not be understood (a user mistake).
    #[error("invalid location {url:?}: {reason}")]
    InvalidLocation {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store failed (I/O, network, permissions).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Encoding or decoding Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow rejected a batch (a schema mismatch is a bug in the caller).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// DataFusion failed while planning or running a query.
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A commit marker could not be parsed: the lake was written by something else.
    #[error("corrupt commit marker {path}: {reason}")]
    CorruptMarker {
        /// Where the marker is.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or committing a table's Delta log failed.
    #[error("table {table}: {source}")]
    Delta {
        /// The table's directory in the lake.
        table: String,
        /// What delta-rs said.
        source: Box<deltalake_core::DeltaTableError>,
    },
    /// A table was written before Pulse's tables were Delta tables: it has data files but no
    /// Delta log, or still holds commit markers of that layout. `pulse lake migrate` makes
    /// it a Delta table.
    #[error(
        "table {table} was written before Pulse's tables were Delta tables ({found}); run \
         `pulse lake migrate`"
    )]
    NotMigrated {
        /// The table's directory in the lake.
        table: String,
        /// What gave it away.
        found: String,
    },
    /// A file a table's Delta log names is not in the store (deleted by hand, or by a tool
    /// that does not follow the log): every Delta reader fails on the table.
    #[error("table {table}: its Delta log names {file}, which is not in the store")]
    MissingFile {
        /// The table's directory in the lake.
        table: String,
        /// The file, relative to the table's directory.
        file: String,
    },
    /// A statement a read-only endpoint refuses (a user mistake): DDL, DML, `SET`, ...
    #[error(
        "{what} is not allowed here: this endpoint is read-only (SELECT, WITH, EXPLAIN, SHOW \
         and DESCRIBE over the lake's tables)"
    )]
    NotAllowed {
        /// What was refused.
        what: String,
    },
    /// A lake file cannot be read (a truncated or corrupt Parquet file).
    #[error("unreadable file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record batch has no usable partition time (a bug in the caller).
    #[error("table {table}: {reason}")]
    Partition {
        /// The table being landed.
        table: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// True when the same call may succeed later (network, throttling, I/O), false for a
    /// mistake or corrupt data that a retry would only repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store(e) => store_error_is_transient(e),
            Error::Delta { source, .. } => match source.as_ref() {
                deltalake_core::DeltaTableError::ObjectStore { source } => {
                    store_error_is_transient(source)
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// True for an object store error a retry may get past (network, throttling, I/O).
pub fn store_error_is_transient(e: &object_store::Error) -> bool {
    // The lake's view failing is about the lake's contents, not the network.
    if let object_store::Error::Generic { store, .. } = e
        && *store == crate::view::VIEW_STORE
    {
        return false;
    }
    !matches!(
        e,
        object_store::Error::NotFound { .. }
            | object_store::Error::InvalidPath { .. }
            | object_store::Error::NotSupported { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotImplemented { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::UnknownConfigurationKey { .. }
    )
}

/// The lake's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
