//! The commit protocol that makes multi-file changes atomic on any object store.
//!
//! Object stores make one object's put atomic and nothing more, so replacing a set of files
//! (compaction, a job rewriting a partition) needs a rule that readers follow. Ours, per
//! directory:
//!
//! 1. The writer puts the new files under names `c-<gen>-<n>.parquet`. Readers hide them while
//!    no marker for `<gen>` exists.
//! 2. The writer puts the marker `_commit-<gen>.json`, which lists the files it replaces. This
//!    single put is the commit: from then on readers see the new files and not the replaced
//!    ones. Before it they saw only the old ones.
//! 3. Cleanup deletes the replaced files and markers a newer marker makes obsolete. A reader
//!    never depends on cleanup having run.
//!
//! Names starting with `_` or `.` are never shown. Markers stay after cleanup so that an
//! ingest replay that rewrites a compacted-away file (same deterministic name) stays hidden:
//! replays remain idempotent after compaction.
//!
//! [`LakeStore`] applies the rule inside `list` and `list_with_delimiter`, so DataFusion (and
//! anything else that lists through it) sees a consistent set without knowing the protocol.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Prefix of commit marker names.
const MARKER_PREFIX: &str = "_commit-";

/// A commit marker: the files a commit replaced in its directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Marker {
    /// Format version of the marker.
    pub version: u32,
    /// The commit's generation: its files are named `c-<gen>-<n>.parquet`.
    pub generation: String,
    /// File names (in the marker's directory) that this commit replaced.
    pub replaces: BTreeSet<String>,
    /// File names this commit added.
    pub adds: BTreeSet<String>,
}

/// The name of the `n`th file of commit `generation`.
pub fn commit_file_name(generation: &str, n: usize) -> String {
    format!("c-{generation}-{n:04}.parquet")
}

fn commit_generation_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("c-")?;
    let (generation, _) = rest.split_once('-')?;
    Some(generation)
}

fn marker_name(generation: &str) -> String {
    format!("{MARKER_PREFIX}{generation}.json")
}

fn split_dir(p: &Path) -> (&str, &str) {
    p.as_ref().rsplit_once('/').unwrap_or(("", p.as_ref()))
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// The object store wrapper that applies the commit protocol to listings. Reads of a named
/// object and all writes pass straight through.
pub struct LakeStore {
    inner: Arc<dyn ObjectStore>,
}

impl fmt::Debug for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeStore({})", self.inner)
    }
}

impl fmt::Display for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeStore({})", self.inner)
    }
}

/// What the markers of one directory say.
#[derive(Default)]
struct DirState {
    replaced: HashSet<String>,
    committed: HashSet<String>,
}

impl DirState {
    fn visible(&self, name: &str) -> bool {
        if is_hidden(name) || self.replaced.contains(name) {
            return false;
        }
        match commit_generation_of(name) {
            Some(g) => self.committed.contains(g),
            None => true,
        }
    }
}

impl LakeStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> LakeStore {
        LakeStore { inner }
    }

    /// The unwrapped store (sees everything, markers and pending files included).
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    async fn read_marker(inner: &dyn ObjectStore, path: &Path) -> Result<Marker> {
        let bytes = inner.get(path).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptMarker {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    async fn dir_states(
        inner: &dyn ObjectStore,
        objects: &[ObjectMeta],
    ) -> Result<HashMap<String, DirState>> {
        let mut states: HashMap<String, DirState> = HashMap::new();
        for o in objects {
            let (dir, name) = split_dir(&o.location);
            if name.starts_with(MARKER_PREFIX) && name.ends_with(".json") {
                let m = Self::read_marker(inner, &o.location).await?;
                let st = states.entry(dir.to_string()).or_default();
                st.replaced.extend(m.replaces);
                st.committed.insert(m.generation);
            }
        }
        Ok(states)
    }

    fn filter(objects: Vec<ObjectMeta>, states: &HashMap<String, DirState>) -> Vec<ObjectMeta> {
        let empty = DirState::default();
        objects
            .into_iter()
            .filter(|o| {
                let (dir, name) = split_dir(&o.location);
                states.get(dir).unwrap_or(&empty).visible(name)
            })
            .collect()
    }

    /// The visible files directly in `dir` (not recursive), sorted by name.
    pub async fn visible_files(&self, dir: &Path) -> Result<Vec<ObjectMeta>> {
        let listed = self.inner.list_with_delimiter(Some(dir)).await?;
        let states = Self::dir_states(self.inner.as_ref(), &listed.objects).await?;
        let mut files = Self::filter(listed.objects, &states);
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(files)
    }

    /// Commits generation `generation` in `dir`: the files `c-<generation>-*` written before
    /// become visible and `replaces` disappear, in one atomic put of the marker. Fails if a
    /// file the marker promises is missing, or if the generation was already committed.
    pub async fn commit(
        &self,
        dir: &Path,
        generation: &str,
        replaces: &[String],
    ) -> Result<Marker> {
        let listed = self.inner.list_with_delimiter(Some(dir)).await?;
        let adds: BTreeSet<String> = listed
            .objects
            .iter()
            .map(|o| split_dir(&o.location).1)
            .filter(|n| commit_generation_of(n) == Some(generation))
            .map(str::to_string)
            .collect();
        // Fold in what older markers replace, so they become obsolete and cleanup may drop them.
        let states = Self::dir_states(self.inner.as_ref(), &listed.objects).await?;
        let mut all_replaced: BTreeSet<String> = replaces.iter().cloned().collect();
        if let Some(st) = states.get(dir.as_ref()) {
            all_replaced.extend(st.replaced.iter().cloned());
        }
        let marker = Marker {
            version: 1,
            generation: generation.to_string(),
            replaces: all_replaced,
            adds,
        };
        let body = serde_json::to_vec_pretty(&marker).map_err(|e| Error::CorruptMarker {
            path: dir.to_string(),
            reason: e.to_string(),
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.inner
            .put_opts(
                &dir.clone().join(marker_name(generation)),
                body.into(),
                opts,
            )
            .await?;
        Ok(marker)
    }

    /// Replaces everything visible in `dir` with `files` (encoded Parquet; none empties the
    /// partition) in one commit, then cleans up what has been hidden for `retention`.
    /// The generation is derived from the directory's current contents and the new bytes.
    pub async fn replace(
        &self,
        dir: &Path,
        files: Vec<Bytes>,
        retention: chrono::Duration,
    ) -> Result<Marker> {
        let listed = self.inner.list_with_delimiter(Some(dir)).await?;
        let states = Self::dir_states(self.inner.as_ref(), &listed.objects).await?;
        let empty = DirState::default();
        let state = states.get(dir.as_ref()).unwrap_or(&empty);
        let mut all: Vec<&str> = listed
            .objects
            .iter()
            .map(|o| split_dir(&o.location).1)
            .collect();
        all.sort_unstable();
        let replaces: Vec<String> = all
            .iter()
            .filter(|n| state.visible(n))
            .map(|n| n.to_string())
            .collect();
        let mut h = blake3::Hasher::new();
        for n in &all {
            h.update(n.as_bytes());
            h.update(b"\n");
        }
        for f in &files {
            h.update(blake3::hash(f).as_bytes());
        }
        let generation = h.finalize().to_hex()[..16].to_string();
        for (n, f) in files.into_iter().enumerate() {
            self.inner
                .put(
                    &dir.clone().join(commit_file_name(&generation, n).as_str()),
                    f.into(),
                )
                .await?;
        }
        pause_before_commit(dir).await;
        let marker = self.commit(dir, &generation, &replaces).await?;
        self.cleanup(dir, retention).await?;
        Ok(marker)
    }

    /// Deletes what no reader can see any more in `dir`, once it has been invisible for
    /// `retention`: files replaced by a marker older than that, markers made obsolete by a
    /// newer marker older than that, and files of commits that never got a marker. The delay
    /// lets a query that listed the old files before a commit finish reading them; a younger
    /// orphan may belong to a commit still being written. Returns how many objects it deleted.
    pub async fn cleanup(&self, dir: &Path, retention: chrono::Duration) -> Result<usize> {
        let listed = self.inner.list_with_delimiter(Some(dir)).await?;
        let cutoff = chrono::Utc::now() - retention;
        let mut markers = Vec::new();
        for o in &listed.objects {
            let name = split_dir(&o.location).1;
            if name.starts_with(MARKER_PREFIX) && name.ends_with(".json") {
                let m = Self::read_marker(self.inner.as_ref(), &o.location).await?;
                markers.push((o.clone(), m));
            }
        }
        let committed: HashSet<&str> = markers.iter().map(|(_, m)| m.generation.as_str()).collect();
        // Only markers old enough may have their replaced files removed.
        let settled: Vec<&(ObjectMeta, Marker)> = markers
            .iter()
            .filter(|(o, _)| o.last_modified <= cutoff)
            .collect();
        let removable: HashSet<&String> = settled.iter().flat_map(|(_, m)| &m.replaces).collect();
        let mut deleted = 0;
        for o in &listed.objects {
            let name = split_dir(&o.location).1.to_string();
            let orphan = commit_generation_of(&name)
                .is_some_and(|g| !committed.contains(g) && o.last_modified <= cutoff);
            if removable.contains(&name) || orphan {
                self.inner.delete(&o.location).await?;
                deleted += 1;
            }
        }
        // A marker is obsolete once a settled newer marker replaced all the files it added;
        // its own replaced set lives on in that newer marker (commit folds it in).
        for (o, m) in &markers {
            if !m.adds.is_empty() && m.adds.iter().all(|a| removable.contains(a)) {
                self.inner.delete(&o.location).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
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
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = self.inner.clone();
        let prefix = prefix.cloned();
        futures::stream::once(async move {
            let objects: Vec<ObjectMeta> = inner.list(prefix.as_ref()).try_collect().await?;
            let states = Self::dir_states(inner.as_ref(), &objects)
                .await
                .map_err(to_store_error)?;
            // Nothing under a hidden directory below the prefix (a Delta log) is data.
            let depth = prefix.as_ref().map_or(0, |p| p.parts().count());
            let objects: Vec<ObjectMeta> = objects
                .into_iter()
                .filter(|o| {
                    !o.location
                        .parts()
                        .skip(depth)
                        .any(|p| is_hidden(p.as_ref()))
                })
                .collect();
            Ok::<_, object_store::Error>(futures::stream::iter(
                Self::filter(objects, &states).into_iter().map(Ok),
            ))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        let states = Self::dir_states(self.inner.as_ref(), &listed.objects)
            .await
            .map_err(to_store_error)?;
        Ok(ListResult {
            common_prefixes: listed
                .common_prefixes
                .into_iter()
                .filter(|p| !is_hidden(split_dir(p).1))
                .collect(),
            objects: Self::filter(listed.objects, &states),
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn to_store_error(e: Error) -> object_store::Error {
    match e {
        Error::Store(e) => e,
        other => object_store::Error::Generic {
            store: "LakeStore",
            source: Box::new(other),
        },
    }
}

/// Fault injection for the crash tests: with `PULSE_PAUSE_BEFORE_COMMIT=<text>`, a replace of
/// a directory whose path contains the text waits a minute after writing its files and before
/// its commit marker, so a test can kill the process there.
async fn pause_before_commit(dir: &Path) {
    if let Ok(t) = std::env::var("PULSE_PAUSE_BEFORE_COMMIT")
        && !t.is_empty()
        && dir.as_ref().contains(&t)
    {
        tracing::warn!(dir = %dir, "PULSE_PAUSE_BEFORE_COMMIT: pausing before the commit marker");
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    async fn names(store: &LakeStore, dir: &Path) -> Vec<String> {
        let mut a: Vec<String> = store
            .visible_files(dir)
            .await
            .unwrap()
            .into_iter()
            .map(|o| split_dir(&o.location).1.to_string())
            .collect();
        // `list` must agree with `list_with_delimiter`.
        let mut b: Vec<String> = store
            .list(Some(dir))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .map(|o| split_dir(&o.location).1.to_string())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        a
    }

    #[tokio::test]
    async fn a_commit_swaps_old_files_for_new_in_one_step() {
        let store = LakeStore::new(Arc::new(InMemory::new()));
        let dir = Path::from("raw/t/dt=2026-01-01/hour=00");
        for n in ["a.parquet", "b.parquet"] {
            store
                .put(&dir.clone().join(n), Bytes::from_static(b"x").into())
                .await
                .unwrap();
        }
        store
            .put(
                &dir.clone().join(commit_file_name("g1", 0)),
                Bytes::from_static(b"y").into(),
            )
            .await
            .unwrap();
        // Before the marker: the old set only.
        assert_eq!(names(&store, &dir).await, ["a.parquet", "b.parquet"]);
        store
            .commit(&dir, "g1", &["a.parquet".into(), "b.parquet".into()])
            .await
            .unwrap();
        // After: the new set only, before and after cleanup.
        assert_eq!(names(&store, &dir).await, ["c-g1-0000.parquet"]);
        // Within the retention nothing is deleted: a reader that listed the old set can
        // still read it.
        assert_eq!(
            store
                .cleanup(&dir, chrono::Duration::hours(1))
                .await
                .unwrap(),
            0
        );
        assert!(
            store
                .inner()
                .head(&dir.clone().join("a.parquet"))
                .await
                .is_ok()
        );
        assert_eq!(
            store.cleanup(&dir, chrono::Duration::zero()).await.unwrap(),
            2
        );
        assert_eq!(names(&store, &dir).await, ["c-g1-0000.parquet"]);
        // Re-landing a compacted-away name (an idempotent replay) stays hidden.
        store
            .put(
                &dir.clone().join("a.parquet"),
                Bytes::from_static(b"x").into(),
            )
            .await
            .unwrap();
        assert_eq!(names(&store, &dir).await, ["c-g1-0000.parquet"]);
        // A second generation supersedes the first; its marker becomes obsolete.
        store
            .put(
                &dir.clone().join("d.parquet"),
                Bytes::from_static(b"x").into(),
            )
            .await
            .unwrap();
        store
            .put(
                &dir.clone().join(commit_file_name("g2", 0)),
                Bytes::from_static(b"z").into(),
            )
            .await
            .unwrap();
        store
            .commit(
                &dir,
                "g2",
                &["c-g1-0000.parquet".into(), "d.parquet".into()],
            )
            .await
            .unwrap();
        assert_eq!(names(&store, &dir).await, ["c-g2-0000.parquet"]);
        store.cleanup(&dir, chrono::Duration::zero()).await.unwrap();
        assert_eq!(names(&store, &dir).await, ["c-g2-0000.parquet"]);
        let left: Vec<String> = store
            .inner()
            .list(Some(&dir))
            .map_ok(|o| split_dir(&o.location).1.to_string())
            .try_collect()
            .await
            .unwrap();
        assert!(!left.contains(&"_commit-g1.json".to_string()), "{left:?}");
        assert!(left.contains(&"_commit-g2.json".to_string()), "{left:?}");
        // The same generation cannot commit twice.
        assert!(store.commit(&dir, "g2", &[]).await.is_err());
    }
}
