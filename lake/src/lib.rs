//! The Pulse lake: where every byte Pulse lands or computes lives, and the rules that keep it
//! readable while it changes.
//!
//! - [`location`]: a lake is one object-store URL (a local path, `file://`, or `s3://`).
//! - [`schema`]: the raw tables, their Arrow schemas and the schema version stamped in each file.
//! - [`land`]: turns record batches into Hive-partitioned (`dt=`, `hour=`), zstd Parquet files,
//!   each written with one atomic put under a name the caller derives from its input.
//! - [`delta`]: every table is a Delta table: Pulse writes the files, then commits them to the
//!   table's Delta log in one atomic commit (append, replace days, rewrite, remove, vacuum).
//! - [`view`]: what readers see: under each table, exactly the files of its newest version, so
//!   a reader sees an old set or a new set of files, never both or neither, on a local disk
//!   and on S3 alike. [`travel`] reads older versions; [`migrate`] converts an older lake.
//! - [`catalog`]: registers every lake table by name in a DataFusion session: read through
//!   delta-rs's table provider embedded ([`scan`]), as listing tables over the view where plans
//!   travel to a cluster.
//! - [`stage`]: job outputs written by whoever runs the plan (executors on a cluster) as
//!   staged files, which the job then commits.
//! - [`readonly`]: what SQL from the network may run (queries over the lake's tables only).
//! - [`check`]: finds lake files that cannot be read and moves them out of the visible set.
//!
//! What this crate does not do: decide *when* to flush (the ingest workers do) or what to
//! compute (the jobs do).

pub mod catalog;
pub mod check;
pub mod delta;
pub mod error;
pub mod land;
pub mod latest;
pub mod location;
pub mod migrate;
pub mod readonly;
pub mod scan;
pub mod schema;
pub mod stage;
pub mod travel;
pub mod view;

pub use error::{Error, Result};
pub use location::{Lake, S3Config};
