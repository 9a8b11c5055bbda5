//! Pulse's SQL functions. [`register_all`] is the one place they are registered, and every
//! process that plans or runs Pulse SQL (the embedded engine, and the cluster's client,
//! scheduler and executors) calls it, so a query means the same thing everywhere.

pub mod brandes;
pub mod calendar;
pub mod hashtags;
pub mod pagerank;
pub mod pagerank_native;
pub mod watch;

use datafusion::execution::FunctionRegistry;

/// Registers every Pulse function in `registry` (a `SessionContext` or `SessionState`).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> datafusion::error::Result<()> {
    registry.register_udf(std::sync::Arc::new(hashtags::udf()))?;
    registry.register_udf(std::sync::Arc::new(calendar::udf()))?;
    registry.register_udf(std::sync::Arc::new(pagerank::udf()))?;
    registry.register_udaf(std::sync::Arc::new(brandes::udaf()))?;
    registry.register_udaf(std::sync::Arc::new(pagerank_native::udaf()))?;
    registry.register_udaf(std::sync::Arc::new(watch::udaf()))?;
    Ok(())
}
