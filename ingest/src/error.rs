//! Errors of the ingest workers. Bad *records* are not errors: they are quarantined. These
//! are the failures that stop a worker or a call.

/// What can stop an ingest worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing to the lake failed.
    #[error(transparent)]
    Lake(#[from] pulse_lake::Error),
    /// Converting rows to Arrow failed (a bug: rows are typed).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Reading an input file or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An HTTP source failed for good (after retries), e.g. bad credentials.
    #[error("{0}")]
    Http(String),
    /// The user asked for something impossible (a bad flag or option).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The ingest result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
