//! `pulse job check|add|list`: a user job's folder checked against the lake (its manifest,
//! parameters, SQL and outputs), installed into the lake (`jobs/<name>/`, where every
//! `pulse` on any machine finds it, the nightly daemon included), and the list of jobs with
//! their parameters, from the registry. `list --markdown` prints docs/jobs.md's table.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use pulse_jobs::manifest::{IntervalKind, Manifest, toml_text as text};
use pulse_jobs::registry::{Registry, Source, SqlJob};

use crate::engine::Engine;

/// The job commands.
#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Check a job's folder: its manifest, parameters, dependencies, outputs, and that each
    /// SQL step plans against the lake's tables with the columns the manifest declares.
    Check {
        /// The folder (with job.toml).
        dir: PathBuf,
    },
    /// Check a job's folder and install it into the lake, where `pulse run`, `pulse nightly`
    /// and `pulse schedule` on any machine find it.
    Add {
        /// The folder (with job.toml).
        dir: PathBuf,
    },
    /// The jobs: built in, the user's folders and those installed in the lake; with a name,
    /// its parameters, reads and outputs.
    List {
        /// One job.
        job: Option<String>,
        /// docs/jobs.md's table of jobs, in Markdown.
        #[arg(long)]
        markdown: bool,
    },
}

/// Runs a job command.
pub async fn run(e: &Engine, cmd: JobCmd) -> anyhow::Result<()> {
    let lake = e.lake()?;
    match cmd {
        JobCmd::Check { dir } => {
            let job = check(e, &lake, &dir).await?;
            println!("{}: job {} is fine", dir.display(), job.manifest.name);
        }
        JobCmd::Add { dir } => {
            let job = check(e, &lake, &dir).await?;
            pulse_jobs::registry::install(&lake, &job).await?;
            println!(
                "installed job {} into {lake} ({}/{})",
                job.manifest.name,
                pulse_jobs::registry::INSTALLED,
                job.manifest.name
            );
        }
        JobCmd::List { job, markdown } => {
            let registry = e.registry(&lake).await?;
            match (job, markdown) {
                (Some(name), _) => print!("{}", describe(registry.get(&name)?.manifest())),
                (None, true) => print!("{}", markdown_table(&registry)),
                (None, false) => print!("{}", list(&registry)),
            }
        }
    }
    Ok(())
}

/// Checks the job in `dir` among the lake's jobs and tables.
async fn check(
    e: &Engine,
    lake: &pulse_lake::Lake,
    dir: &std::path::Path,
) -> anyhow::Result<SqlJob> {
    let job = SqlJob::from_dir(dir)?;
    let mut registry = e.registry(lake).await?;
    registry.add_or_replace(Arc::new(job.clone()))?;
    let ctx = pulse_lake::catalog::session(lake).await?;
    registry.check(&job, &ctx).await?;
    Ok(job)
}

fn interval(m: &Manifest) -> &'static str {
    match (m.interval, m.chain) {
        (IntervalKind::Range, _) => "range",
        (IntervalKind::Day, false) => "day",
        (IntervalKind::Day, true) => "day, chained",
    }
}

fn nightly(m: &Manifest) -> String {
    match &m.nightly {
        None => "-".into(),
        Some(n) if n.last => "yes, last".into(),
        Some(_) if m.depends_on.is_empty() => "yes".into(),
        Some(_) => format!("yes, after {}", m.depends_on.join(", ")),
    }
}

/// The jobs, by name.
fn by_name(r: &Registry) -> Vec<&Arc<dyn pulse_jobs::registry::Job>> {
    let mut jobs: Vec<_> = r.jobs().collect();
    jobs.sort_by(|a, b| a.manifest().name.cmp(&b.manifest().name));
    jobs
}

/// One line per job.
fn list(r: &Registry) -> String {
    let mut out = format!(
        "{:<18} {:<6} {:<13} {:<40} description\n",
        "job", "source", "interval", "nightly"
    );
    for j in by_name(r) {
        let m = j.manifest();
        let source = match r.source(&m.name) {
            Some(Source::User) => "user",
            _ => "pulse",
        };
        out += &format!(
            "{:<18} {:<6} {:<13} {:<40} {}\n",
            m.name,
            source,
            interval(m),
            nightly(m),
            m.description
        );
    }
    out
}

/// The table of docs/jobs.md: the built-in jobs.
pub fn markdown_table(r: &Registry) -> String {
    let mut out = String::from(
        "| job | interval | nightly | parameters (default) | writes | what it computes |\n\
         |---|---|---|---|---|---|\n",
    );
    for j in by_name(r) {
        let m = j.manifest();
        if r.source(&m.name) == Some(Source::User) {
            continue;
        }
        let params: Vec<String> = m
            .params
            .iter()
            .map(|(k, p)| match &p.default {
                Some(d) => format!("`{k}` ({})", text(d)),
                None => format!("`{k}`"),
            })
            .collect();
        let writes: Vec<String> = m.outputs.iter().map(|o| format!("`{}`", o.name)).collect();
        out += &format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            m.name,
            interval(m),
            nightly(m),
            params.join(", "),
            writes.join(", "),
            m.description.replace('|', "\\|")
        );
    }
    out
}

/// A job's parameters, reads and outputs.
fn describe(m: &Manifest) -> String {
    let mut out = format!(
        "{}: {}\ninterval: {}\nnightly: {}\n",
        m.name,
        m.description,
        interval(m),
        nightly(m)
    );
    if !m.reads.is_empty() {
        out += &format!("reads: {}\n", m.reads.join(", "));
    }
    if !m.params.is_empty() {
        out += "parameters (--set NAME=VALUE):\n";
        for (k, p) in &m.params {
            let default = p
                .default
                .as_ref()
                .map(text)
                .unwrap_or_else(|| "unset".into());
            out += &format!(
                "  {k:<18} {:<9} {default:<10} {}\n",
                format!("{:?}", p.kind).to_lowercase(),
                p.doc
            );
        }
    }
    for o in &m.outputs {
        out += &format!("writes agg/{}: {}\n", o.name, o.columns.join(", "));
    }
    out
}
