//! Pulse's batch jobs over the lake. Every job works on an explicit logical interval (a date
//! for the daily ones) passed in by its caller, never on the clock, and commits its output
//! through the lake's commit protocol, so a rerun replaces rather than appends and a failed
//! run leaves the previous output visible.

pub mod compact;
pub mod jobs;
pub mod params;
pub mod runner;

/// Errors of the jobs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lake failed (I/O, store, a corrupt marker).
    #[error(transparent)]
    Lake(#[from] pulse_lake::Error),
    /// Reading or writing Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow rejected a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A bad argument (a user mistake).
    #[error("{0}")]
    Usage(String),
    /// A job step failed to plan or run.
    #[error("step {step}: {source}")]
    Step {
        /// The step's name.
        step: String,
        /// DataFusion's error.
        source: datafusion::error::DataFusionError,
    },
    /// DataFusion failed outside a step.
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::Lake(e.into())
    }
}

/// The jobs' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
