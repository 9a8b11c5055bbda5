//! What a reader of the lake sees: under each table, exactly the files its Delta log names at
//! its newest version.
//!
//! Pulse writes a table's Parquet files first and commits them to the table's Delta log after
//! (see [`crate::delta`]); until then, and once a commit has removed them, they sit in the
//! table's directory unseen by any Delta reader. [`LakeStore`] gives everything that lists
//! files through it the same view: DataFusion's listing tables embedded, on the cluster's
//! scheduler and in the web app, and Pulse's own maintenance. A listing under a table shows
//! the files of the table's newest version and the directories that hold them; outside tables
//! (scratch space, reference files) it shows everything. Names starting with `_` or `.` are
//! never shown. Reads of a named object and all writes pass straight through.
//!
//! Each listing refreshes the table's log (only the commits made since, see
//! [`crate::delta::Tables`]), so a long-lived session sees every commit, and one listing is one
//! version: a day a job replaced shows its old files or its new ones, never both or neither.
//!
//! A table directory with data files but no Delta log was written by a Pulse from before lake
//! tables were Delta tables, whose commit protocol used `_commit-<gen>.json` markers:
//! [`legacy_files`] still reads that protocol, for `pulse lake migrate`, and listing such a
//! table fails with an error that says to run it.

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
use serde::Deserialize;

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
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// `p` relative to the lake root, or None when it lies outside the lake.
fn lake_rel(tables: &Tables, p: &Path) -> Option<String> {
    let parts: Vec<String> = p
        .prefix_match(tables.root())?
        .map(|x| x.as_ref().to_string())
        .collect();
    Some(parts.join("/"))
}

/// The live-file sets of the tables one listing touches, each loaded once.
struct Live<'a> {
    tables: &'a Arc<Tables>,
    loaded: HashMap<String, Option<LiveFiles>>,
}

impl Live<'_> {
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
            Some((root, inside)) if !inside.is_empty() => {
                Ok(self.of(root).await?.is_some_and(|l| l.contains(inside)))
            }
            _ => Ok(true),
        }
    }

    /// True when a reader sees the directory at `rel`: inside a table, one holding live files.
    async fn shows_dir(&mut self, rel: &str) -> Result<bool> {
        match table_root(rel) {
            Some((root, inside)) if !inside.is_empty() => {
                let dir = format!("{inside}/");
                Ok(self
                    .of(root)
                    .await?
                    .is_some_and(|l| l.iter().any(|f| f.starts_with(&dir))))
            }
            _ => Ok(true),
        }
    }
}

/// The objects of a listing under `prefix` that a reader sees.
async fn visible(
    tables: &Arc<Tables>,
    prefix: Option<&Path>,
    objects: Vec<ObjectMeta>,
) -> Result<Vec<ObjectMeta>> {
    let depth = prefix.map_or(0, |p| p.parts().count());
    let mut live = Live {
        tables,
        loaded: HashMap::new(),
    };
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
    Ok(out)
}

fn to_store_error(e: Error) -> object_store::Error {
    match e {
        Error::Store(e) => e,
        other => object_store::Error::Generic {
            store: "pulse lake",
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
        self.inner().get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner().get_ranges(location, ranges).await
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
            let objects: Vec<ObjectMeta> =
                tables.store().list(prefix.as_ref()).try_collect().await?;
            let shown = visible(&tables, prefix.as_ref(), objects)
                .await
                .map_err(to_store_error)?;
            Ok::<_, object_store::Error>(futures::stream::iter(shown.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let listed = self.inner().list_with_delimiter(prefix).await?;
        let objects = visible(&self.tables, prefix, listed.objects)
            .await
            .map_err(to_store_error)?;
        let mut live = Live {
            tables: &self.tables,
            loaded: HashMap::new(),
        };
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

/// A commit marker of the layout before Delta tables: the files its commit replaced in its
/// directory.
#[derive(Debug, Deserialize)]
struct Marker {
    generation: String,
    replaces: HashSet<String>,
}

/// What the layout before Delta tables showed under a directory.
#[derive(Debug, Default)]
pub struct Legacy {
    /// The Parquet files a reader saw, sorted: in each directory, files named
    /// `c-<gen>-<n>.parquet` once a marker `_commit-<gen>.json` committed them, other names
    /// always, less those a marker replaced.
    pub files: Vec<ObjectMeta>,
    /// The names markers replaced (compacted away; the files may be gone).
    pub replaced: Vec<String>,
}

/// What the layout before Delta tables showed under `dir`, recursively. Nothing under a Delta
/// log or another hidden name.
pub async fn legacy_files(store: &dyn ObjectStore, dir: &Path) -> Result<Legacy> {
    let depth = dir.parts().count();
    let all: Vec<ObjectMeta> = store.list(Some(dir)).try_collect().await?;
    let split = |p: &Path| -> (String, String) {
        let s = p.as_ref();
        let (d, n) = s.rsplit_once('/').unwrap_or(("", s));
        (d.to_string(), n.to_string())
    };
    let mut replaced: HashMap<String, HashSet<String>> = HashMap::new();
    let mut committed: HashMap<String, HashSet<String>> = HashMap::new();
    for o in &all {
        let (d, name) = split(&o.location);
        if name.starts_with("_commit-") && name.ends_with(".json") {
            let bytes = store.get_opts(&o.location, GetOptions::default()).await?;
            let bytes = bytes.bytes().await?;
            let m: Marker = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptMarker {
                path: o.location.to_string(),
                reason: e.to_string(),
            })?;
            replaced.entry(d.clone()).or_default().extend(m.replaces);
            committed.entry(d).or_default().insert(m.generation);
        }
    }
    let mut out: Vec<ObjectMeta> = all
        .into_iter()
        .filter(|o| {
            if o.location
                .parts()
                .skip(depth)
                .any(|p| is_hidden(p.as_ref()))
            {
                return false;
            }
            let (d, name) = split(&o.location);
            if !name.ends_with(".parquet") || replaced.get(&d).is_some_and(|r| r.contains(&name)) {
                return false;
            }
            match name.strip_prefix("c-").and_then(|r| r.split_once('-')) {
                Some((generation, _)) => committed.get(&d).is_some_and(|c| c.contains(generation)),
                None => true,
            }
        })
        .collect();
    out.sort_by(|a, b| a.location.cmp(&b.location));
    let mut names: Vec<String> = replaced.into_values().flatten().collect();
    names.sort();
    names.dedup();
    Ok(Legacy {
        files: out,
        replaced: names,
    })
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
        // Written, not committed: nothing shows, and a never-committed table is no error.
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
        let t = LakeTable::new(&lake, "raw/presence");
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
        // While young, the file may be a first commit in flight: not shown, no error.
        assert!(listed(&lake, "agg/old").await.0.is_empty());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("agg/old/dt=2026-01-01/c-h-0000.parquet"))
            .unwrap()
            .set_modified(old)
            .unwrap();
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
    }

    /// The old protocol: committed generations show, replaced and uncommitted files do not.
    #[tokio::test]
    async fn legacy_files_follow_the_markers() {
        let store = object_store::memory::InMemory::new();
        let p = |s: &str| Path::from(s);
        for n in [
            "a.parquet",
            "b.parquet",
            "c-g1-0000.parquet",
            "c-g2-0000.parquet",
        ] {
            store
                .put(&p(&format!("t/dt=1/{n}")), Bytes::from_static(b"x").into())
                .await
                .unwrap();
        }
        store
            .put(
                &p("t/dt=1/_commit-g1.json"),
                Bytes::from_static(
                    br#"{"version":1,"generation":"g1","replaces":["a.parquet"],"adds":[]}"#,
                )
                .into(),
            )
            .await
            .unwrap();
        store
            .put(
                &p("t/_delta_log/0.parquet"),
                Bytes::from_static(b"x").into(),
            )
            .await
            .unwrap();
        let legacy = legacy_files(&store, &p("t")).await.unwrap();
        assert_eq!(legacy.replaced, ["a.parquet"]);
        let names: Vec<String> = legacy
            .files
            .into_iter()
            .map(|o| o.location.to_string())
            .collect();
        assert_eq!(names, ["t/dt=1/b.parquet", "t/dt=1/c-g1-0000.parquet"]);
    }
}
