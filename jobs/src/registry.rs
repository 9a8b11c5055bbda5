//! The one list of jobs. Built-in SQL jobs are the folders under the project's `sql/` that
//! hold a `job.toml` (embedded in the binary at build time); jobs written in Rust implement
//! [`Job`] with the same manifest ([`crate::native`]); users add folders of their own
//! (`--jobs DIR`, or installed into the lake under `jobs/<name>/`). `pulse run`, `pulse
//! submit job`, the nightly DAG and its order, listings, help texts and the empty tables of
//! outputs not yet written all come from here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;
use pulse_lake::Lake;

use crate::manifest::{IntervalKind, Manifest, StepKind};
use crate::outputs::{Output, Overrides};
use crate::params::Params;
use crate::runner::RunReport;
use crate::{Error, Result, RunOptions};

/// What a job runs with.
pub struct Context<'a> {
    /// The lake it reads and writes.
    pub lake: &'a Lake,
    /// A session over the lake (embedded or on a cluster).
    pub ctx: &'a SessionContext,
    /// The registry it was found in (for other jobs' outputs).
    pub registry: &'a Registry,
    /// How the run is guarded.
    pub options: &'a RunOptions,
}

/// A job: its manifest and how it runs. SQL jobs are [`SqlJob`]; a job written in Rust
/// implements this trait itself (an own `pulse` build registers it with
/// [`Registry::add`]).
#[async_trait::async_trait]
pub trait Job: Send + Sync + std::fmt::Debug {
    /// Its definition.
    fn manifest(&self) -> &Manifest;
    /// Runs it over `params`' `[start, end)` (one day when its interval is `day`), with the
    /// parameters of its manifest parsed and checked.
    async fn run(&self, cx: &Context<'_>, params: Params) -> Result<RunReport>;
    /// Its SQL steps, when it is a SQL job (checked by `pulse job check`).
    fn sql(&self) -> Option<&SqlJob> {
        None
    }
}

/// A job of SQL steps: a folder of `job.toml` and the SQL files it names.
#[derive(Debug, Clone)]
pub struct SqlJob {
    /// Its definition.
    pub manifest: Manifest,
    /// Where it came from (a folder), named in errors.
    pub origin: String,
    /// Each step's SQL, in the order of `manifest.steps`.
    pub sql: Vec<String>,
    /// The manifest's text.
    pub toml: String,
}

impl SqlJob {
    /// A job from its files (name, text), found in `origin`; `sibling` reads a step file of
    /// another folder beside it (`../<folder>/<file>`), where there are such.
    pub fn from_files(
        origin: &str,
        files: &BTreeMap<String, String>,
        sibling: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SqlJob> {
        let toml_file = format!("{origin}/job.toml");
        let text = files
            .get("job.toml")
            .ok_or_else(|| Error::Usage(format!("{toml_file}: not found")))?;
        let manifest = Manifest::parse(text, &toml_file)?;
        if manifest.steps.is_empty() {
            return Err(Error::Usage(format!("{toml_file}: no [[steps]]")));
        }
        let mut sql = Vec::new();
        for s in &manifest.steps {
            let text = match s.file.strip_prefix("../") {
                Some(_) => sibling(&s.file),
                None => files.get(&s.file).cloned(),
            };
            let text = text.ok_or_else(|| {
                Error::Usage(format!(
                    "{toml_file}: step {} names {}, which is not in {origin}",
                    s.name, s.file
                ))
            })?;
            sql.push(text);
        }
        Ok(SqlJob {
            manifest,
            origin: origin.to_string(),
            sql,
            toml: text.clone(),
        })
    }

    /// A job from a folder on disk.
    pub fn from_dir(dir: &Path) -> Result<SqlJob> {
        let origin = dir.display().to_string();
        let read = std::fs::read_dir(dir)
            .map_err(|e| Error::Usage(format!("{origin}: cannot read the folder: {e}")))?;
        let mut files = BTreeMap::new();
        for entry in read {
            let entry = entry.map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name == "job.toml" || name.ends_with(".sql") {
                let text = std::fs::read_to_string(entry.path())
                    .map_err(|e| Error::Usage(format!("{}: {e}", entry.path().display())))?;
                files.insert(name, text);
            }
        }
        let base = dir.to_path_buf();
        SqlJob::from_files(&origin, &files, &move |rel: &str| {
            std::fs::read_to_string(base.join(rel)).ok()
        })
    }

    /// Its files, as read, `job.toml` last (for installing it into a lake).
    pub fn files(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (s, sql) in self.manifest.steps.iter().zip(&self.sql) {
            if !out.iter().any(|(f, _)| f == &s.file) {
                out.push((s.file.clone(), sql.clone()));
            }
        }
        out.push(("job.toml".into(), self.toml.clone()));
        out
    }
}

#[async_trait::async_trait]
impl Job for SqlJob {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    async fn run(&self, cx: &Context<'_>, params: Params) -> Result<RunReport> {
        crate::runner::run(cx, self, params).await
    }

    fn sql(&self) -> Option<&SqlJob> {
        Some(self)
    }
}

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Part of Pulse (or of an own build of it).
    BuiltIn,
    /// A user's folder or one installed into the lake: it may write only its own outputs.
    User,
}

/// Every job Pulse knows.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    jobs: Vec<(Arc<dyn Job>, Source)>,
}

/// The built-in SQL jobs' files: (folder, [(file, text)]), generated by `build.rs`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sql_jobs.rs"));
}

/// One job of the nightly DAG.
#[derive(Debug, Clone)]
pub struct Task {
    /// The job.
    pub job: String,
    /// Jobs of the same date that must succeed first.
    pub after: Vec<String>,
    /// Its parameters in the DAG.
    pub set: Vec<(String, String)>,
    /// Whether it needs its own run of the date before (see `chain` in the manifest).
    pub chain: bool,
}

impl Registry {
    /// The built-in jobs: SQL folders and native jobs.
    pub fn builtin() -> Result<Registry> {
        let mut jobs: Vec<Arc<dyn Job>> = Vec::new();
        for (dir, files) in embedded::SQL_JOBS {
            let files = files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            let sibling = |rel: &str| {
                let (folder, file) = rel.strip_prefix("../")?.split_once('/')?;
                let (_, files) = embedded::SQL_JOBS.iter().find(|(d, _)| *d == folder)?;
                let (_, text) = files.iter().find(|(f, _)| *f == file)?;
                Some(text.to_string())
            };
            jobs.push(Arc::new(SqlJob::from_files(
                &format!("sql/{dir}"),
                &files,
                &sibling,
            )?));
        }
        jobs.extend(crate::native::all()?);
        let mut r = Registry::default();
        r.add_all(jobs, Source::BuiltIn)?;
        Ok(r)
    }

    /// The built-in jobs, an own build's `native` ones, those installed in `lake` and the
    /// user jobs in `dirs` (which replace an installed copy).
    pub async fn load(
        lake: &Lake,
        native: &[Arc<dyn Job>],
        dirs: &[std::path::PathBuf],
    ) -> Result<Registry> {
        let mut r = Registry::builtin()?;
        r.add_all(native.to_vec(), Source::BuiltIn)?;
        r.add_installed(lake).await?;
        for d in dirs {
            r.add_dir(d)?;
        }
        Ok(r)
    }

    /// Adds `job`. Its name must be new; a user job's outputs must not be any other job's
    /// and its dependencies must exist without forming a cycle.
    pub fn add(&mut self, job: Arc<dyn Job>, source: Source) -> Result<()> {
        self.add_all(vec![job], source)
    }

    /// Adds `jobs` (see [`add`](Self::add)), which may depend on each other; none of them
    /// when one is wrong.
    pub fn add_all(&mut self, mut jobs: Vec<Arc<dyn Job>>, source: Source) -> Result<()> {
        // A variant after the job it is a variant of.
        let names: Vec<String> = jobs.iter().map(|j| j.manifest().name.clone()).collect();
        jobs.sort_by_key(|j| {
            j.manifest()
                .variant_of
                .as_ref()
                .is_some_and(|v| names.contains(v))
        });
        let before = self.jobs.len();
        for job in jobs {
            if let Err(e) = self.admit(job.as_ref(), source) {
                self.jobs.truncate(before);
                return Err(e);
            }
            self.jobs.push((job, source));
        }
        let checked = self.order(false).and_then(|_| self.order(true)).map(|_| ());
        if let Err((name, e)) = checked {
            let origin = self
                .find(&name)
                .map(|(j, _)| origin_of(j.as_ref()))
                .unwrap_or_default();
            self.jobs.truncate(before);
            return Err(Error::Usage(format!("{origin}: {e}")));
        }
        Ok(())
    }

    /// Checks that `job` may join the registry.
    fn admit(&self, job: &dyn Job, source: Source) -> Result<()> {
        let m = job.manifest();
        let origin = origin_of(job);
        if self.find(&m.name).is_some() {
            return Err(Error::Usage(format!(
                "{origin}: a job named {} is already defined",
                m.name
            )));
        }
        if let Some(v) = &m.variant_of {
            match self.jobs.iter().find(|(j, _)| &j.manifest().name == v) {
                Some((_, s)) if *s == source => {}
                Some(_) => {
                    return Err(Error::Usage(format!(
                        "{origin}: variant_of {v}: a user job may only be a variant of another user job"
                    )));
                }
                None => {
                    return Err(Error::Usage(format!(
                        "{origin}: variant_of names unknown job {v}"
                    )));
                }
            }
        }
        for o in &m.outputs {
            if let Some(other) = self.owner_other_than(m, &o.name, templates_overlap) {
                return Err(Error::Usage(format!(
                    "{origin}: output {} is written by job {other}: a job writes only its own tables",
                    o.name
                )));
            }
        }
        let suffix = m
            .nightly_suffix()
            .map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
        self.claim(m, &suffix)
            .map_err(|e| Error::Usage(format!("{origin}: {e}")))
    }

    /// The job, other than `m` and its variants, whose outputs `name` (a table or a
    /// `{suffix}` template) may be, by `same`.
    fn owner_other_than(
        &self,
        m: &Manifest,
        name: &str,
        same: fn(&str, &str) -> bool,
    ) -> Option<String> {
        let family = |x: &Manifest| x.variant_of.clone().unwrap_or_else(|| x.name.clone());
        self.jobs
            .iter()
            .map(|(j, _)| j.manifest())
            .find(|j| family(j) != family(m) && j.outputs.iter().any(|p| same(&p.name, name)))
            .map(|j| j.name.clone())
    }

    /// Checks that the outputs of `m`, named with `suffix`, are its own: not one of the lake's
    /// tables, a job's optional input, or another job's output.
    pub fn claim(&self, m: &Manifest, suffix: &str) -> Result<()> {
        for o in &m.outputs {
            let table = o.name.replace("{suffix}", suffix);
            if pulse_lake::catalog::is_lake_table(&table)
                || self
                    .jobs()
                    .any(|j| j.manifest().optional_inputs.iter().any(|i| i.name == table))
            {
                return Err(Error::Usage(format!(
                    "output {table} is named like one of the lake's own tables: a job writes \
                     only its own tables"
                )));
            }
            if let Some(other) = self.owner_other_than(m, &table, template_matches) {
                return Err(Error::Usage(format!(
                    "output {table} is written by job {other}: a job writes only its own tables"
                )));
            }
        }
        Ok(())
    }

    /// Adds the user job `job`, replacing a user job of the same name (a folder given on
    /// the command line over its installed copy).
    pub fn add_or_replace(&mut self, job: Arc<dyn Job>) -> Result<()> {
        self.replace_user(vec![job])
    }

    /// Adds the user `jobs`, replacing user jobs of the same names; leaves the registry as
    /// it was when one of them is wrong.
    fn replace_user(&mut self, jobs: Vec<Arc<dyn Job>>) -> Result<()> {
        let names: Vec<String> = jobs.iter().map(|j| j.manifest().name.clone()).collect();
        let kept = self.jobs.clone();
        self.jobs
            .retain(|(j, s)| *s != Source::User || !names.contains(&j.manifest().name));
        let added = self.add_all(jobs, Source::User);
        if added.is_err() {
            self.jobs = kept;
        }
        added
    }

    /// Adds the job in `dir`, or each job in the folders of `dir`. Returns their names.
    pub fn add_dir(&mut self, dir: &Path) -> Result<Vec<String>> {
        let mut jobs: Vec<SqlJob> = Vec::new();
        if dir.join("job.toml").exists() {
            jobs.push(SqlJob::from_dir(dir)?);
        } else {
            let read = std::fs::read_dir(dir).map_err(|e| {
                Error::Usage(format!("{}: cannot read the folder: {e}", dir.display()))
            })?;
            let mut dirs: Vec<_> = read
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.join("job.toml").exists())
                .collect();
            dirs.sort();
            for d in dirs {
                jobs.push(SqlJob::from_dir(&d)?);
            }
        }
        let names = jobs.iter().map(|j| j.manifest.name.clone()).collect();
        // A folder given with --jobs wins over its installed copy.
        self.replace_user(
            jobs.into_iter()
                .map(|j| Arc::new(j) as Arc<dyn Job>)
                .collect(),
        )?;
        Ok(names)
    }

    /// Adds the jobs installed in the lake (`jobs/<name>/`, see [`install`]); before the
    /// folders given with `--jobs`, which replace an installed copy.
    pub async fn add_installed(&mut self, lake: &Lake) -> Result<()> {
        let mut by_dir: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (path, _) in pulse_lake::catalog::list_files(lake, INSTALLED).await? {
            let rel = path.as_ref().to_string();
            let Some((dir, file)) = rel
                .rsplit_once('/')
                .and_then(|(d, f)| d.rsplit_once('/').map(|(_, n)| (n.to_string(), f)))
            else {
                continue;
            };
            let bytes = lake
                .store()
                .get(&path)
                .await
                .map_err(pulse_lake::Error::from)?
                .bytes()
                .await
                .map_err(pulse_lake::Error::from)?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| Error::Usage(format!("{rel}: not UTF-8")))?;
            by_dir
                .entry(dir)
                .or_default()
                .insert(file.to_string(), text);
        }
        // A job that does not load is left out with a warning: it must not stop every
        // command on the lake (`pulse job check` says what is wrong with it).
        let mut pending: Vec<Arc<dyn Job>> = Vec::new();
        for (dir, files) in &by_dir {
            match SqlJob::from_files(&format!("lake {INSTALLED}/{dir}"), files, &|_| None) {
                Ok(job) => pending.push(Arc::new(job)),
                Err(e) => tracing::warn!(error = %e, "an installed job is left out"),
            }
        }
        // In passes, so that a job comes after the installed jobs it depends on.
        loop {
            let before = pending.len();
            let mut failed = Vec::new();
            for job in std::mem::take(&mut pending) {
                if let Err(e) = self.add(job.clone(), Source::User) {
                    failed.push((job, e));
                }
            }
            if failed.len() == before || failed.is_empty() {
                for (_, e) in failed {
                    tracing::warn!(error = %e, "an installed job is left out");
                }
                return Ok(());
            }
            pending = failed.into_iter().map(|(j, _)| j).collect();
        }
    }

    fn find(&self, name: &str) -> Option<&(Arc<dyn Job>, Source)> {
        self.jobs.iter().find(|(j, _)| j.manifest().name == name)
    }

    /// A job by name.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn Job>> {
        self.find(name)
            .map(|(j, _)| j)
            .ok_or_else(|| Error::Usage(format!("unknown job {name:?}: one of {:?}", self.names())))
    }

    /// Where the job `name` came from.
    pub fn source(&self, name: &str) -> Option<Source> {
        self.find(name).map(|(_, s)| *s)
    }

    /// Every job's name, built-in ones first.
    pub fn names(&self) -> Vec<&str> {
        self.jobs
            .iter()
            .map(|(j, _)| j.manifest().name.as_str())
            .collect()
    }

    /// Every job, built-in ones first.
    pub fn jobs(&self) -> impl Iterator<Item = &Arc<dyn Job>> {
        self.jobs.iter().map(|(j, _)| j)
    }

    /// The jobs in an order where each comes after those it depends on (only the nightly
    /// ones when `nightly`); a cycle or an unknown dependency is an error.
    fn order(&self, nightly: bool) -> std::result::Result<Vec<&Manifest>, (String, String)> {
        let all: Vec<&Manifest> = self.jobs.iter().map(|(j, _)| j.manifest()).collect();
        let by_name: BTreeMap<&str, &Manifest> =
            all.iter().map(|m| (m.name.as_str(), *m)).collect();
        let mut out: Vec<&Manifest> = Vec::new();
        // 0: not seen, 1: on the path, 2: done.
        let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            m: &'a Manifest,
            by_name: &BTreeMap<&str, &'a Manifest>,
            mark: &mut BTreeMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
            out: &mut Vec<&'a Manifest>,
        ) -> std::result::Result<(), (String, String)> {
            match mark.get(m.name.as_str()) {
                Some(2) => return Ok(()),
                Some(1) => {
                    let from = path.iter().position(|n| *n == m.name).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[from..].to_vec();
                    cycle.push(&m.name);
                    return Err((
                        m.name.clone(),
                        format!("depends_on forms a cycle: {}", cycle.join(" -> ")),
                    ));
                }
                _ => {}
            }
            mark.insert(&m.name, 1);
            path.push(&m.name);
            for d in &m.depends_on {
                let dep = by_name.get(d.as_str()).ok_or_else(|| {
                    (
                        m.name.clone(),
                        format!("job {} depends on unknown job {d}", m.name),
                    )
                })?;
                visit(dep, by_name, mark, path, out)?;
            }
            path.pop();
            mark.insert(&m.name, 2);
            out.push(m);
            Ok(())
        }
        for m in &all {
            visit(m, &by_name, &mut mark, &mut Vec::new(), &mut out)?;
        }
        if nightly {
            out.retain(|m| m.nightly.is_some());
            for m in &out {
                for d in &m.depends_on {
                    if by_name
                        .get(d.as_str())
                        .is_some_and(|d| d.nightly.as_ref().is_some_and(|n| n.last))
                    {
                        return Err((
                            m.name.clone(),
                            format!("nightly job {} depends on {d}, which runs last", m.name),
                        ));
                    }
                    if by_name.get(d.as_str()).is_some_and(|d| d.nightly.is_none()) {
                        return Err((
                            m.name.clone(),
                            format!(
                                "nightly job {} depends on {d}, which is not nightly",
                                m.name
                            ),
                        ));
                    }
                }
            }
            // Jobs that run last go after every other.
            let (last, mut rest): (Vec<&Manifest>, Vec<&Manifest>) = out
                .into_iter()
                .partition(|m| m.nightly.as_ref().is_some_and(|n| n.last));
            rest.extend(last);
            out = rest;
        }
        Ok(out)
    }

    /// The nightly DAG, each task after the tasks it needs.
    pub fn nightly(&self) -> Result<Vec<Task>> {
        let order = self.order(true).map_err(|(_, e)| Error::Usage(e))?;
        let plain: Vec<String> = order
            .iter()
            .filter(|m| !m.nightly.as_ref().is_some_and(|n| n.last))
            .map(|m| m.name.clone())
            .collect();
        Ok(order
            .iter()
            .map(|m| Task {
                job: m.name.clone(),
                after: if m.nightly.as_ref().is_some_and(|n| n.last) {
                    plain.clone()
                } else {
                    m.depends_on.clone()
                },
                set: m.nightly_set(),
                chain: m.chain,
            })
            .collect())
    }

    /// Every job output, named as the nightly DAG names them (its parameters, then `set`),
    /// with its declared columns (`dt` last).
    pub fn outputs(&self, set: &Overrides) -> Result<Vec<Output>> {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let mut out: Vec<Output> = Vec::new();
        for (job, _) in &self.jobs {
            let m = job.manifest();
            let mut kv = m.nightly_set();
            kv.extend(set.get(&m.name).cloned().unwrap_or_default());
            let p = m.params(start, start + chrono::Duration::days(1), &kv)?;
            let suffix = m.suffix(&p)?;
            for o in &m.outputs {
                let table = o.name.replace("{suffix}", &suffix);
                if out.iter().any(|x| x.table == table) {
                    continue;
                }
                out.push(Output {
                    table,
                    job: m.name.clone(),
                    schema: crate::manifest::columns(o)?,
                });
            }
        }
        Ok(out)
    }

    /// Checks a SQL job against the lake's tables in `ctx`: each step plans with the
    /// job's default parameters, reads only the tables its manifest lists (or earlier
    /// steps), and each output has its declared columns. Errors name the file.
    pub async fn check(&self, job: &SqlJob, ctx: &SessionContext) -> Result<()> {
        let m = &job.manifest;
        let toml_file = format!("{}/job.toml", job.origin);
        let scratch = SessionContext::new_with_config(pulse_lake::catalog::session_config());
        {
            let state = scratch.state_ref();
            let mut state = state.write();
            pulse_udfs::register_all(&mut *state)?;
        }
        if let Some(schema) = ctx.catalog("datafusion").and_then(|c| c.schema("public")) {
            for name in schema.table_names() {
                if let Some(t) = schema.table(&name).await? {
                    scratch.register_table(name.as_str(), t)?;
                }
            }
        }
        let empty = |schema: &arrow::datatypes::SchemaRef| -> Result<_> {
            let batch = arrow::array::RecordBatch::new_empty(schema.clone());
            Ok(Arc::new(datafusion::datasource::MemTable::try_new(
                schema.clone(),
                vec![vec![batch]],
            )?))
        };
        for o in self.outputs(&Overrides::new())? {
            if !scratch.table_exist(o.table.as_str())? {
                scratch.register_table(o.table.as_str(), empty(&o.schema)?)?;
            }
        }
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let mut p = m
            .params(start, start + chrono::Duration::days(1), &m.nightly_set())
            .map_err(|e| Error::Usage(format!("{toml_file}: {e}")))?;
        let mut done = crate::runner::derive(m, &mut p)
            .await
            .map_err(|e| Error::Usage(format!("{toml_file}: {e}")))?;
        for d in &m.data {
            p.insert(&d.name, crate::params::Value::Int(0));
        }
        crate::runner::run_checks(&SessionContext::new(), m, &p, &mut done, true)
            .await
            .map_err(|e| Error::Usage(format!("{toml_file}: {e}")))?;
        let suffix = m.suffix(&p)?;
        for o in &m.optional_inputs {
            let name = o.name.replace("{suffix}", &suffix);
            if !scratch.table_exist(name.as_str())? {
                scratch.register_table(name.as_str(), empty(&crate::manifest::columns(o)?)?)?;
            }
        }
        let reads: Vec<String> = m
            .reads
            .iter()
            .map(|r| r.replace("{suffix}", &suffix))
            .collect();
        let mut made: Vec<String> = Vec::new();
        for (s, sql) in m.steps.iter().zip(&job.sql) {
            let file = format!("{}/{}", job.origin, s.file);
            let name = s.name.replace("{suffix}", &suffix);
            let sql = p
                .render(&sql.replace("{suffix}", &suffix))
                .map_err(|e| Error::Usage(format!("{file}: {e}")))?;
            let df = scratch
                .sql_with_options(&sql, crate::runner::sql_options())
                .await
                .map_err(|e| Error::Usage(format!("{file}: step {name} does not plan: {e}")))?;
            for t in crate::runner::tables_read(&scratch, &name, &sql)? {
                if !reads.contains(&t) && !made.contains(&t) {
                    return Err(Error::Usage(format!(
                        "{file}: step {name} reads {t}, which {toml_file} does not list in reads"
                    )));
                }
            }
            if s.kind == StepKind::Output {
                let declared = m
                    .outputs
                    .iter()
                    .find(|o| o.name == s.name)
                    .map(crate::manifest::columns)
                    .transpose()?
                    .ok_or_else(|| Error::Usage(format!("{toml_file}: no output {name}")))?;
                let planned = df.schema().as_arrow();
                let want: Vec<_> = declared
                    .fields()
                    .iter()
                    .filter(|f| f.name() != "dt")
                    .collect();
                let got: Vec<_> = planned
                    .fields()
                    .iter()
                    .filter(|f| f.name() != "dt")
                    .collect();
                let same = want.len() == got.len()
                    && want.iter().zip(&got).all(|(w, g)| {
                        w.name() == g.name()
                            && crate::manifest::same_type(g.data_type(), w.data_type())
                    });
                if !same || planned.field_with_name("dt").is_err() {
                    let show = |fs: &[&Arc<arrow::datatypes::Field>]| {
                        fs.iter()
                            .map(|f| format!("{} {}", f.name(), f.data_type()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Err(Error::Usage(format!(
                        "{file}: step {name} returns ({}{}), but {toml_file} declares ({}) and dt",
                        show(&got),
                        if planned.field_with_name("dt").is_err() {
                            ", no dt"
                        } else {
                            ""
                        },
                        show(&want)
                    )));
                }
            }
            scratch.deregister_table(name.as_str())?;
            scratch.register_table(name.as_str(), df.into_view())?;
            made.push(name);
        }
        Ok(())
    }

    /// Runs `name` over `[start, end)` (day by day when its interval is `day`) with `set`.
    pub(crate) async fn run_job(
        &self,
        cx: &Context<'_>,
        name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        set: &[(String, String)],
    ) -> Result<RunReport> {
        let job = self.get(name)?;
        let m = job.manifest();
        crate::runner::check_interval(start, end)?;
        let params = m.params(start, end, set)?;
        if m.interval == IntervalKind::Range {
            return job.run(cx, params).await;
        }
        let mut total = RunReport::default();
        let mut day = start;
        while day < end {
            let mut p = params.clone();
            p.insert("start", crate::params::Value::Time(day));
            p.insert(
                "end",
                crate::params::Value::Time(day + chrono::Duration::days(1)),
            );
            total.add(job.run(cx, p).await?);
            day += chrono::Duration::days(1);
        }
        Ok(total)
    }
}

/// Where installed user jobs live in the lake.
pub const INSTALLED: &str = "jobs";

/// Installs the SQL job `job` into the lake (`jobs/<name>/`), replacing an earlier copy.
pub async fn install(lake: &Lake, job: &SqlJob) -> Result<()> {
    if let Some(s) = job.manifest.steps.iter().find(|s| s.file.contains('/')) {
        return Err(Error::Usage(format!(
            "{}/job.toml: step {} reads {} from another folder: a job installed into the lake \
             holds all its files",
            job.origin, s.name, s.file
        )));
    }
    let dir = format!("{INSTALLED}/{}", job.manifest.name);
    let before = pulse_lake::catalog::list_files(lake, &dir).await?;
    let files = job.files();
    // The manifest last: a reader sees the job once all its steps are there.
    for (name, text) in &files {
        lake.store()
            .put(
                &lake.path(&format!("{dir}/{name}")),
                text.clone().into_bytes().into(),
            )
            .await
            .map_err(pulse_lake::Error::from)?;
    }
    // Files of an earlier copy that this one does not have.
    for (path, _) in before {
        let stale = path
            .filename()
            .is_some_and(|f| !files.iter().any(|(n, _)| n == f));
        if stale {
            lake.store()
                .delete(&path)
                .await
                .map_err(pulse_lake::Error::from)?;
        }
    }
    Ok(())
}

/// True when table `name` is one `template` (an output name, maybe with `{suffix}`) names.
fn template_matches(template: &str, name: &str) -> bool {
    match template.split_once("{suffix}") {
        None => template == name,
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
    }
}

/// True when two output templates may name the same table.
fn templates_overlap(a: &str, b: &str) -> bool {
    match (a.split_once("{suffix}"), b.split_once("{suffix}")) {
        (None, _) => template_matches(b, a),
        (_, None) => template_matches(a, b),
        (Some((pa, sa)), Some((pb, sb))) => {
            (pa.starts_with(pb) || pb.starts_with(pa)) && (sa.ends_with(sb) || sb.ends_with(sa))
        }
    }
}

fn origin_of(job: &dyn Job) -> String {
    match job.sql() {
        Some(s) => format!("{}/job.toml", s.origin),
        None => format!("job {}", job.manifest().name),
    }
}
