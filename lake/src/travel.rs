//! Time travel: `"presence@v12"` or `"presence@2026-01-05T00:00:00Z"` in SQL reads a lake
//! table as it was at a Delta version or at a time, and [`history`] lists a table's commits.
//!
//! DataFusion resolves a quoted table name through the session's schema; [`TravelSchema`]
//! answers the names it knows as before and a `name@when` one by loading `name`'s Delta
//! table at `when` and scanning it through delta-rs's table provider. What the name `name`
//! stands for (its directory) comes from the table registered under it, so every lake table
//! can travel and no list of them is kept here.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::listing::ListingTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;

use crate::Lake;
pub use crate::delta::At;
use crate::delta::LakeTable;

impl At {
    /// Parses the part after `@`: `v12` or an RFC 3339 time (or a date, its midnight UTC).
    pub fn parse(s: &str) -> Result<At, String> {
        if let Some(v) = s.strip_prefix('v') {
            return v
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .map(At::Version)
                .ok_or_else(|| format!("bad version {s:?}: want v0, v1, ..."));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(At::Time(t.with_timezone(&Utc)));
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(At::Time(d.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
        Err(format!(
            "bad point in time {s:?}: want vN (a version) or an RFC 3339 time such as \
             2026-01-05T00:00:00Z"
        ))
    }
}

/// The session's schema, also answering `name@vN` and `name@TIME`.
#[derive(Debug)]
pub struct TravelSchema {
    inner: Arc<dyn SchemaProvider>,
    lake: Lake,
}

/// Makes `ctx`'s default schema answer time-travel names for tables of `lake`.
pub fn install(ctx: &SessionContext, lake: &Lake) -> DfResult<()> {
    let state = ctx.state();
    let options = &state.config_options().catalog;
    let (catalog, schema) = (
        options.default_catalog.clone(),
        options.default_schema.clone(),
    );
    let Some(catalog) = ctx.catalog(&catalog) else {
        return Ok(());
    };
    let Some(inner) = catalog.schema(&schema) else {
        return Ok(());
    };
    if (inner.as_ref() as &dyn Any).is::<TravelSchema>() {
        return Ok(());
    }
    let travel = TravelSchema {
        inner,
        lake: lake.clone(),
    };
    catalog.register_schema(&schema, Arc::new(travel))?;
    Ok(())
}

/// The directory of the lake table registered as `name` in `ctx` (relative to the lake root).
pub async fn table_dir(ctx: &SessionContext, lake: &Lake, name: &str) -> DfResult<String> {
    let table = ctx.table_provider(name).await?;
    dir_of(lake, name, table.as_ref())
}

fn dir_of(lake: &Lake, name: &str, table: &dyn TableProvider) -> DfResult<String> {
    let not_lake = || DataFusionError::Plan(format!("{name} is not a lake table"));
    if let Some(read) = (table as &dyn Any).downcast_ref::<crate::scan::DeltaRead>() {
        return Ok(read.rel().to_string());
    }
    let listing = (table as &dyn Any)
        .downcast_ref::<ListingTable>()
        .ok_or_else(not_lake)?;
    let url = listing.table_paths().first().ok_or_else(not_lake)?;
    let root = lake.url("");
    url.as_str()
        .strip_prefix(root.trim_end_matches('/'))
        .map(|rel| rel.trim_matches('/').to_string())
        .filter(|rel| !rel.is_empty())
        .ok_or_else(not_lake)
}

#[async_trait]
impl SchemaProvider for TravelSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.inner.table(name).await? {
            return Ok(Some(t));
        }
        let Some((base, when)) = name.rsplit_once('@') else {
            return Ok(None);
        };
        let Some(current) = self.inner.table(base).await? else {
            return Ok(None);
        };
        let at = At::parse(when).map_err(|e| DataFusionError::Plan(format!("{name}: {e}")))?;
        let rel = dir_of(&self.lake, base, current.as_ref())?;
        let table = LakeTable::new(&self.lake, &rel);
        let plan = |e: String| DataFusionError::Plan(format!("{name}: {e}"));
        let newest = table
            .load()
            .await
            .map_err(|e| plan(e.to_string()))?
            .and_then(|t| t.version())
            .ok_or_else(|| plan(format!("{base} has no Delta log")))?;
        let loaded = match at {
            At::Version(v) if v as u64 > newest => {
                return Err(plan(format!("the newest version of {base} is v{newest}")));
            }
            _ => table.load_at(Some(at)).await,
        }
        .map_err(|e| plan(e.to_string()))?
        .ok_or_else(|| plan(format!("{base} has no Delta log")))?;
        if let At::Time(t) = at {
            // delta-rs gives the oldest version for a time before it; Delta readers refuse.
            let version = loaded.version().unwrap_or(0);
            let entry = table
                .log_store()
                .map_err(|e| plan(e.to_string()))?
                .read_commit_entry(version)
                .await?;
            let committed = entry.as_deref().and_then(|b| commit_info(b).0);
            if let Some(c) = committed.filter(|c| *c > t) {
                return Err(plan(format!(
                    "{base} did not exist yet: its oldest version, v{version}, was committed at {}",
                    c.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )));
            }
        }
        Ok(Some(loaded.table_provider().await?))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || name
                .rsplit_once('@')
                .is_some_and(|(base, _)| self.inner.table_exist(base))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }
}

/// One commit of a table, as `pulse lake history` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Its Delta version.
    pub version: i64,
    /// When it was committed.
    pub time: Option<DateTime<Utc>>,
    /// What made it (WRITE, OPTIMIZE, DELETE, CREATE TABLE, ...).
    pub operation: String,
    /// Files it added and the rows in them.
    pub files_added: u64,
    /// Rows in the files it added.
    pub rows_added: u64,
    /// Files it removed.
    pub files_removed: u64,
    /// Rows in the files it removed (as their adds recorded them).
    pub rows_removed: u64,
}

/// Every commit of the table at `rel` still in its log, oldest first. Rows of a removed
/// file come from the commit that added it, when that commit is still in the log.
pub async fn history(lake: &Lake, rel: &str) -> crate::Result<Vec<Commit>> {
    let table = LakeTable::new(lake, rel);
    use deltalake_core::DeltaTableError;
    let Some(loaded) = table.load().await? else {
        return Err(table.error(DeltaTableError::NotATable(format!(
            "{rel} has no Delta log"
        ))));
    };
    let Some(newest) = loaded.version() else {
        return Ok(Vec::new());
    };
    let store = table.log_store()?;
    let mut rows_of: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for version in 0..=newest {
        let Some(bytes) = store
            .read_commit_entry(version)
            .await
            .map_err(|e| table.error(e))?
        else {
            continue; // cleaned up after a checkpoint
        };
        let mut c = Commit {
            version: version as i64,
            time: None,
            operation: String::new(),
            files_added: 0,
            rows_added: 0,
            files_removed: 0,
            rows_removed: 0,
        };
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                table.error(DeltaTableError::Generic(format!("version {version}: {e}")))
            })?;
            if let Some(info) = action.get("commitInfo") {
                (c.time, c.operation) = time_and_operation(info);
            } else if let Some(add) = action.get("add") {
                let path = add.get("path").and_then(|p| p.as_str()).unwrap_or_default();
                let rows = add
                    .get("stats")
                    .and_then(|s| s.as_str())
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                    .and_then(|s| s.get("numRecords").and_then(|n| n.as_u64()))
                    .unwrap_or(0);
                rows_of.insert(path.to_string(), rows);
                c.files_added += 1;
                c.rows_added += rows;
            } else if let Some(remove) = action.get("remove") {
                let path = remove
                    .get("path")
                    .and_then(|p| p.as_str())
                    .unwrap_or_default();
                c.files_removed += 1;
                c.rows_removed += rows_of.get(path).copied().unwrap_or(0);
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// The versions of the table at `rel` that the job run `run` committed (see
/// [`LakeTable::for_run`]), newest first, among those committed at or after `since` (the run's
/// start): the commits are read newest first until one is older.
pub async fn committed_by(
    lake: &Lake,
    rel: &str,
    run: &str,
    since: DateTime<Utc>,
) -> crate::Result<Vec<i64>> {
    let table = LakeTable::new(lake, rel);
    let Some(newest) = table.load().await?.and_then(|t| t.version()) else {
        return Ok(Vec::new());
    };
    let store = table.log_store()?;
    let mut out = Vec::new();
    for version in (0..=newest).rev() {
        let Some(bytes) = store
            .read_commit_entry(version)
            .await
            .map_err(|e| table.error(e))?
        else {
            break;
        };
        let info = bytes
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .find_map(|action| action.get("commitInfo").cloned());
        let Some(info) = info else { continue };
        if time_and_operation(&info).0.is_some_and(|t| t < since) {
            break;
        }
        if info.get(crate::delta::RUN_ID_KEY).and_then(|r| r.as_str()) == Some(run) {
            out.push(version as i64);
        }
    }
    Ok(out)
}

/// The time and operation of a commit, from its `commitInfo` line.
fn commit_info(commit: &[u8]) -> (Option<DateTime<Utc>>, String) {
    commit
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|action| action.get("commitInfo").map(time_and_operation))
        .unwrap_or_default()
}

/// The time and operation a `commitInfo` action records.
fn time_and_operation(info: &serde_json::Value) -> (Option<DateTime<Utc>>, String) {
    let time = info
        .get("timestamp")
        .and_then(|t| t.as_i64())
        .and_then(DateTime::from_timestamp_millis);
    let op = info.get("operation").and_then(|o| o.as_str());
    (time, op.unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_time_parse_or_say_what_is_wanted() {
        assert_eq!(At::parse("v12"), Ok(At::Version(12)));
        let t = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(At::parse("2026-01-05T00:00:00Z"), Ok(At::Time(t)));
        assert_eq!(At::parse("2026-01-05"), Ok(At::Time(t)));
        for bad in ["v", "v-1", "vx", "yesterday", "2026-13-01"] {
            let e = At::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
