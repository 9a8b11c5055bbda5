//! Pulse's ingest workers. Every source (the Twitch Helix poller, TCP text streams, file
//! replay, the world generator) turns its input into [`records::Record`]s and hands them to
//! one [`worker::Worker`], which buffers, flushes on rows, time or shutdown, lands Parquet
//! through the lake's [`Lander`](pulse_lake::land::Lander), and keeps bad input in quarantine
//! instead of failing or dropping the good records around it.

pub mod error;
pub mod generate;
pub mod live;
pub mod parse;
pub mod records;
pub mod replay;
pub mod rng;
pub mod socket;
pub mod twitch;
pub mod wal;
pub mod worker;

pub use error::{Error, Result};
