//! What a reader of the lake sees: under each table, exactly the files its Delta log names at
//! its newest version.
//!
//! Pulse writes a table's Parquet files first and commits them to the table's Delta log after
//! (see [`crate::delta`]); until then, and once a commit has removed them, they sit in the
//! table's directory unseen by any Delta reader. [`LakeStore`] gives everything that lists
//! files through it the same view: DataFusion's listing tables on the cluster's scheduler and
//! executors, and Pulse's own maintenance (embedded sessions read through delta-rs's scan,
//! [`crate::scan`], over this store too). A listing under a table shows
//! the files of the table's newest version and the directories that hold them; outside tables
//! (scratch space, reference files) it shows everything. Names starting with `_` or `.` are
//! never shown. Reads of a named object and all writes pass straight through.
//!
//! Each listing refreshes the table's log (only the commits made since, see
//! [`crate::delta::Tables`]), so a long-lived session sees every commit, and one listing is one
//! version: a day a job replaced shows its old files or its new ones, never both or neither.
//! (A scan lists once; two scans of one table in one query may see two versions.)
//!
//! A table directory with data files but no Delta log was written by a Pulse from before lake
//! tables were Delta tables (writers create a table before its first file): listing it fails
//! with an error that says to run `pulse lake migrate` (see [`crate::migrate`]). So does a
//! listing that misses a file the log names, and a read of such a file: Pulse would otherwise
//! answer from less data than every other Delta reader, which fails on it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::delta::{LiveFiles, Tables, table_root};
use crate::{Error, Result};

/// The object store wrapper that shows each table as its Delta log says.
pub struct LakeStore {
    tables: Arc<Tables>,
}

impl fmt::Debug for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeStore({})", self.tables.store())
    }
}

impl fmt::Display for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeStore({})", self.tables.store())
    }
}

impl LakeStore {
    /// The view of the lake whose tables are `tables`.
    pub fn new(tables: Arc<Tables>) -> LakeStore {
        LakeStore { tables }
    }

    /// The unwrapped store (sees everything: Delta logs, files no commit added or still live).
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        self.tables.store()
    }

    /// The lake's tables.
    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// A read's error, or [`Error::MissingFile`] when the read did not find a file that the
    /// newest version of its table names (what a scan that follows the log meets).
    async fn not_found(&self, location: &Path, e: object_store::Error) -> object_store::Error {
        if !matches!(e, object_store::Error::NotFound { .. }) {
            return e;
        }
        let Some(rel) = lake_rel(&self.tables, location) else {
            return e;
        };
        let Some((root, inside)) = table_root(&rel) else {
            return e;
        };
        if inside.split('/').any(is_hidden) {
            return e; // the log itself
        }
        match self.tables.live(root).await {
            Ok(Some(live)) if live.files.contains(inside) => to_store_error(Error::MissingFile {
                table: root.to_string(),
                file: inside.to_string(),
            }),
            _ => e,
        }
    }
}

pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// `p` relative to `root` (`/`-separated), or None when it lies outside it.
pub fn rel_under(p: &Path, root: &Path) -> Option<String> {
    let parts: Vec<String> = p
        .prefix_match(root)?
        .map(|x| x.as_ref().to_string())
        .collect();
    Some(parts.join("/"))
}

/// `p` relative to the lake root, or None when it lies outside the lake.
fn lake_rel(tables: &Tables, p: &Path) -> Option<String> {
    rel_under(p, tables.root())
}

/// The live-file sets of the tables one listing touches, each loaded once.
struct Live<'a> {
    tables: &'a Arc<Tables>,
    loaded: HashMap<String, Option<LiveFiles>>,
}

impl<'a> Live<'a> {
    /// The live files of the table `prefix` lies in, loaded before the listing it filters:
    /// a file the log names was then put before the listing began, so a listing that misses
    /// it means it is gone.
    async fn before_listing(tables: &'a Arc<Tables>, prefix: Option<&Path>) -> Result<Live<'a>> {
        let mut live = Live {
            tables,
            loaded: HashMap::new(),
        };
        if let Some(rel) = prefix.and_then(|p| lake_rel(tables, p))
            && let Some((root, _)) = table_root(&rel)
        {
            live.of(root).await?;
        }
        Ok(live)
    }

    async fn of(&mut self, root: &str) -> Result<Option<LiveFiles>> {
        if let Some(l) = self.loaded.get(root) {
            return Ok(l.clone());
        }
        let l = self.tables.live(root).await?;
        self.loaded.insert(root.to_string(), l.clone());
        Ok(l)
    }

    /// True when a reader sees the object at `rel` (relative to the lake root).
    async fn shows_file(&mut self, rel: &str) -> Result<bool> {
        match table_root(rel) {
            Some((root, inside)) if !inside.is_empty() => Ok(self
                .of(root)
                .await?
                .is_some_and(|l| l.files.contains(inside))),
            _ => Ok(true),
        }
    }

    /// True when a reader sees the directory at `rel`: inside a table, one holding live files.
    async fn shows_dir(&mut self, rel: &str) -> Result<bool> {
        match table_root(rel) {
            Some((root, inside)) if !inside.is_empty() => Ok(self
                .of(root)
                .await?
                .is_some_and(|l| l.dirs.contains(inside))),
            _ => Ok(true),
        }
    }
}

/// The objects of a listing under `prefix` (of its direct children only when `direct`) that
/// a reader sees. Fails when a live file of the table the prefix lies in is missing.
async fn visible(
    live: &mut Live<'_>,
    prefix: Option<&Path>,
    objects: Vec<ObjectMeta>,
    direct: bool,
) -> Result<Vec<ObjectMeta>> {
    let tables = live.tables;
    let depth = prefix.map_or(0, |p| p.parts().count());
    let mut out = Vec::with_capacity(objects.len());
    for o in objects {
        // Nothing under a hidden name below the prefix (a Delta log) is data.
        if o.location
            .parts()
            .skip(depth)
            .any(|p| is_hidden(p.as_ref()))
        {
            continue;
        }
        let shown = match lake_rel(tables, &o.location) {
            Some(rel) => live.shows_file(&rel).await?,
            None => true,
        };
        if shown {
            out.push(o);
        }
    }
    let Some(rel) = prefix.and_then(|p| lake_rel(tables, p)) else {
        return Ok(out);
    };
    let Some((root, inside)) = table_root(&rel) else {
        return Ok(out);
    };
    let Some(l) = live.of(root).await? else {
        return Ok(out);
    };
    let dir = if inside.is_empty() {
        String::new()
    } else {
        format!("{inside}/")
    };
    let root_path = tables.path(root);
    let seen: HashSet<String> = out
        .iter()
        .filter_map(|o| rel_under(&o.location, &root_path))
        .collect();
    let missing = l.files.iter().find(|f| {
        f.strip_prefix(dir.as_str())
            .is_some_and(|rest| !(direct && rest.contains('/')))
            && !seen.contains(*f)
    });
    match missing {
        Some(f) => Err(Error::MissingFile {
            table: root.to_string(),
            file: f.clone(),
        }),
        None => Ok(out),
    }
}

/// True when `e` is the view's error for a file a table's log names that is not in the store.
pub fn is_missing_file(e: &Error) -> bool {
    match e {
        Error::MissingFile { .. } => true,
        Error::Store(object_store::Error::Generic { store, source }) if *store == VIEW_STORE => {
            source
                .downcast_ref::<Error>()
                .is_some_and(|e| matches!(e, Error::MissingFile { .. }))
        }
        _ => false,
    }
}

/// The store name of the errors the view itself raises (an unmigrated table, a missing file).
pub const VIEW_STORE: &str = "pulse lake";

/// The view's error as the store error DataFusion sees: the store's own errors (also while
/// reading a log) as they were, so retries still tell a network failure from a bad lake.
pub(crate) fn to_store_error(e: Error) -> object_store::Error {
    match e {
        Error::Store(e) => e,
        Error::Delta { source, table } => match *source {
            deltalake_core::DeltaTableError::ObjectStore { source } => source,
            source => object_store::Error::Generic {
                store: "delta log",
                source: Box::new(Error::Delta {
                    table,
                    source: Box::new(source),
                }),
            },
        },
        other => object_store::Error::Generic {
            store: VIEW_STORE,
            source: Box::new(other),
        },
    }
}

#[async_trait]
impl ObjectStore for LakeStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner().put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner().put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.inner().get_opts(location, options).await {
            Err(e) => Err(self.not_found(location, e).await),
            ok => ok,
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        match self.inner().get_ranges(location, ranges).await {
            Err(e) => Err(self.not_found(location, e).await),
            ok => ok,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner().delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let tables = self.tables.clone();
        let prefix = prefix.cloned();
        futures::stream::once(async move {
            let mut live = Live::before_listing(&tables, prefix.as_ref())
                .await
                .map_err(to_store_error)?;
            let objects: Vec<ObjectMeta> =
                tables.store().list(prefix.as_ref()).try_collect().await?;
            let shown = visible(&mut live, prefix.as_ref(), objects, false)
                .await
                .map_err(to_store_error)?;
            Ok::<_, object_store::Error>(futures::stream::iter(shown.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut live = Live::before_listing(&self.tables, prefix)
            .await
            .map_err(to_store_error)?;
        let listed = self.inner().list_with_delimiter(prefix).await?;
        let objects = visible(&mut live, prefix, listed.objects, true)
            .await
            .map_err(to_store_error)?;
        let mut common_prefixes = Vec::new();
        for p in listed.common_prefixes {
            if p.filename().is_some_and(is_hidden) {
                continue;
            }
            let shown = match lake_rel(&self.tables, &p) {
                Some(rel) => live.shows_dir(&rel).await.map_err(to_store_error)?,
                None => true,
            };
            if shown {
                common_prefixes.push(p);
            }
        }
        Ok(ListResult {
            common_prefixes,
            objects,
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner().copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{Change, DataFile, LakeTable};
    use crate::schema::RawTable;
    use crate::{Lake, S3Config};
    use object_store::ObjectStoreExt;

    async fn listed(lake: &Lake, rel: &str) -> (Vec<String>, Vec<String>) {
        let store = lake.store();
        let root = format!("{}/", lake.path(""));
        let name = |p: &Path| p.as_ref().trim_start_matches(&root).to_string();
        let mut all: Vec<String> = store
            .list(Some(&lake.path(rel)))
            .map_ok(|o| name(&o.location))
            .try_collect()
            .await
            .unwrap();
        all.sort();
        let dirs = store
            .list_with_delimiter(Some(&lake.path(rel)))
            .await
            .unwrap()
            .common_prefixes
            .iter()
            .map(name)
            .collect();
        (all, dirs)
    }

    async fn put(lake: &Lake, rel: &str, bytes: &[u8]) {
        lake.raw_store()
            .put(&lake.path(rel), Bytes::copy_from_slice(bytes).into())
            .await
            .unwrap();
    }

    /// A table shows the files of its newest version, and only the directories holding them;
    /// outside tables everything shows; a table written before Delta is refused until migrated.
    #[tokio::test]
    async fn listings_follow_each_tables_delta_log() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &S3Config::default()).unwrap();
        let shape = RawTable::Presence.shape();
        let batch = arrow::array::RecordBatch::new_empty(shape.schema.clone());
        let bytes = crate::land::encode_parquet(&shape.schema, &[batch]).unwrap();
        let file = |path: &str| {
            DataFile::from_bytes(
                path.into(),
                &bytes,
                crate::delta::partitions_of(path, &shape.partitions),
                &shape.schema,
            )
            .unwrap()
        };
        // Written, not committed: nothing shows. (A writer creates the table first.)
        let t = LakeTable::new(&lake, "raw/presence");
        t.ensure(&shape).await.unwrap();
        put(
            &lake,
            "raw/presence/dt=2026-01-01/hour=00/a.parquet",
            &bytes,
        )
        .await;
        put(
            &lake,
            "raw/presence/dt=2026-01-01/hour=00/c-g-0000.parquet",
            &bytes,
        )
        .await;
        put(
            &lake,
            "raw/presence/dt=2026-01-02/hour=00/b.parquet",
            &bytes,
        )
        .await;
        assert_eq!(listed(&lake, "raw/presence").await, (vec![], vec![]));
        t.commit(
            &shape,
            &[file("dt=2026-01-01/hour=00/a.parquet")],
            Change::Append { txns: vec![] },
        )
        .await
        .unwrap();
        let (files, dirs) = listed(&lake, "raw/presence").await;
        assert_eq!(files, ["raw/presence/dt=2026-01-01/hour=00/a.parquet"]);
        assert_eq!(dirs, ["raw/presence/dt=2026-01-01"]);
        // A rewrite swaps a for the c- file in one step.
        t.commit(
            &shape,
            &[file("dt=2026-01-01/hour=00/c-g-0000.parquet")],
            Change::Rewrite(vec!["dt=2026-01-01/hour=00/a.parquet".into()]),
        )
        .await
        .unwrap();
        let (files, _) = listed(&lake, "raw/presence/dt=2026-01-01/hour=00").await;
        assert_eq!(
            files,
            ["raw/presence/dt=2026-01-01/hour=00/c-g-0000.parquet"]
        );
        // Outside tables: everything but hidden names.
        put(&lake, "tmp/x/part.parquet", b"x").await;
        put(&lake, "tmp/x/_SUCCESS", b"").await;
        assert_eq!(listed(&lake, "tmp").await.0, ["tmp/x/part.parquet"]);
        // Files of a commit-less table written before Delta: an error naming the migration;
        // files no marker committed are not data.
        put(&lake, "agg/old/dt=2026-01-01/c-h-0000.parquet", &bytes).await;
        assert!(listed(&lake, "agg").await.1.len() == 1);
        assert!(
            lake.store()
                .list(Some(&lake.path("agg/old")))
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .is_empty()
        );
        put(
            &lake,
            "agg/old/dt=2026-01-01/_commit-h.json",
            br#"{"version":1,"generation":"h","replaces":[],"adds":["c-h-0000.parquet"]}"#,
        )
        .await;
        let e = lake
            .store()
            .list(Some(&lake.path("agg/old")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agg/old") && e.contains("pulse lake migrate"),
            "{e}"
        );
        // A live file gone from the store: an error, not an answer from less data.
        std::fs::remove_file(
            dir.path()
                .join("raw/presence/dt=2026-01-01/hour=00/c-g-0000.parquet"),
        )
        .unwrap();
        for rel in ["raw/presence", "raw/presence/dt=2026-01-01/hour=00"] {
            let e = lake
                .store()
                .list_with_delimiter(Some(&lake.path(rel)))
                .await
                .and(
                    lake.store()
                        .list(Some(&lake.path(rel)))
                        .try_collect::<Vec<_>>()
                        .await,
                )
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("c-g-0000.parquet") && e.contains("not in the store"),
                "{e}"
            );
        }
    }
}
