//! `pulse lake check`: finds the lake's unreadable files and, with `--quarantine`, moves them
//! out of the visible set (see `pulse_lake::check`); `pulse lake history`: a table's commits;
//! `pulse lake migrate`: an older lake becomes Delta tables; and the helper that names
//! unreadable files in the error of a failed query or job.

use clap::Subcommand;
use pulse_lake::Lake;

/// The lake maintenance commands.
#[derive(Subcommand, Debug)]
pub enum LakeCmd {
    /// Read every visible file's footer (and with --pages every page); list the unreadable
    /// ones and the files quarantined before. Exits 1 while unreadable files stay visible.
    Check {
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
        /// Only this day's partition, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
        /// Decode every page, not only the footers.
        #[arg(long)]
        pages: bool,
        /// Move unreadable files out of the visible set (a copy is kept under
        /// sys/quarantined/; nothing is deleted).
        #[arg(long)]
        quarantine: bool,
    },
    /// List a table's commits, oldest first: version, time, operation, and the files and
    /// rows each added and removed. `pulse sql` reads a version as "TABLE@vN", or the table
    /// at a time as "TABLE@2026-01-05T00:00:00Z" (quoted).
    History {
        /// The table, as `pulse sql` names it (presence, hashtag_counts_1h_5m, runs_log, ...).
        table: String,
    },
    /// Turn a lake written before Pulse's tables were Delta tables into Delta tables, in
    /// place: each table's committed files become its first version (files the old layout
    /// hid are left out, for `pulse run vacuum`). Tables that have a Delta log are left alone.
    Migrate,
}

/// Runs a lake command.
pub async fn run(lake: &Lake, cmd: LakeCmd) -> anyhow::Result<()> {
    match cmd {
        LakeCmd::Check {
            table,
            date,
            pages,
            quarantine,
        } => check(lake, table, date, pages, quarantine).await,
        LakeCmd::History { table } => history(lake, &table).await,
        LakeCmd::Migrate => migrate(lake).await,
    }
}

async fn migrate(lake: &Lake) -> anyhow::Result<()> {
    let done = pulse_lake::migrate::migrate(lake).await?;
    if done.is_empty() {
        println!("nothing to migrate: every table has a Delta log");
    }
    for m in done {
        println!("{}\t{} files\t{} rows", m.dir, m.files, m.rows);
        for bad in m.unreadable {
            println!(
                "  left out, unreadable: {} ({}); a copy is under sys/quarantined/",
                bad.path, bad.reason
            );
        }
    }
    Ok(())
}

async fn history(lake: &Lake, table: &str) -> anyhow::Result<()> {
    let ctx = pulse_lake::catalog::session(lake).await?;
    let dir = pulse_lake::travel::table_dir(&ctx, lake, table).await?;
    let commits = pulse_lake::travel::history(lake, &dir).await?;
    println!("version\ttime\toperation\tfiles_added\trows_added\tfiles_removed\trows_removed");
    for c in commits {
        let time = c
            .time
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        println!(
            "{}\t{time}\t{}\t{}\t{}\t{}\t{}",
            c.version, c.operation, c.files_added, c.rows_added, c.files_removed, c.rows_removed
        );
    }
    Ok(())
}

async fn check(
    lake: &Lake,
    table: Option<String>,
    date: Option<String>,
    pages: bool,
    quarantine: bool,
) -> anyhow::Result<()> {
    let o = pulse_lake::check::CheckOptions { table, date, pages };
    let report = pulse_lake::check::check(lake, &o).await?;
    println!("checked {} file(s)", report.checked);
    for b in &report.bad {
        println!("unreadable: {} (table {}): {}", b.path, b.table, b.reason);
    }
    if quarantine && !report.bad.is_empty() {
        for q in pulse_lake::check::quarantine(lake, &report.bad).await? {
            println!("quarantined: {} (kept at {})", q.file.path, q.kept_at);
        }
    }
    let before = pulse_lake::check::quarantined(lake).await?;
    if !before.is_empty() {
        println!("quarantined files (copy one back under a new name to restore it):");
        for q in &before {
            println!(
                "  {} (table {}): {}; kept at {}",
                q.file.path, q.file.table, q.file.reason, q.kept_at
            );
        }
    }
    if !quarantine && !report.bad.is_empty() {
        anyhow::bail!(
            "{} unreadable file(s); `pulse lake check --quarantine` moves them out of the way",
            report.bad.len()
        );
    }
    Ok(())
}

/// Adds the unreadable files of the tables `sql` names to `err` when it looks like a file
/// that could not be decoded (DataFusion's own message names none).
pub async fn name_unreadable(lake: &Lake, sql: &str, err: anyhow::Error) -> anyhow::Error {
    if !pulse_lake::check::looks_like_bad_file(&format!("{err:#}")) {
        return err;
    }
    match pulse_lake::check::unreadable_in(lake, sql).await {
        Ok(bad) if !bad.is_empty() => {
            let files: Vec<String> = bad
                .iter()
                .map(|b| format!("{} ({})", b.path, b.reason))
                .collect();
            err.context(format!(
                "unreadable file(s) in the lake: {}; `pulse lake check --quarantine` moves \
                 them out of the way",
                files.join(", ")
            ))
        }
        _ => err,
    }
}

/// `pulse compact`.
#[derive(clap::Args, Debug)]
pub struct CompactArgs {
    /// The day (UTC), YYYY-MM-DD.
    #[arg(long)]
    date: chrono::NaiveDate,
    /// Target file size, e.g. 128MiB.
    #[arg(long, default_value = "128MiB", value_parser = crate::config::parse_bytes)]
    target_size: u64,
}

/// `pulse compact`: merges a day's small files, and prints what it did.
pub async fn compact(e: &crate::engine::Engine, a: CompactArgs) -> anyhow::Result<()> {
    let CompactArgs { date, target_size } = a;
    let lake = e.lake()?;
    let spin = crate::progress::spinner(&format!("compacting {date}"));
    let report = pulse_jobs::compact::compact_day(&lake, date, target_size).await;
    spin.finish_and_clear();
    let report = report?;
    if report.is_empty() {
        println!("nothing landed on {date}");
    }
    println!(
        "{:<12} {:>8} {:>14} {:>8} {:>14} {:>12}",
        "table", "files", "bytes", "files'", "bytes'", "rows"
    );
    for (t, c) in report {
        println!(
            "{:<12} {:>8} {:>14} {:>8} {:>14} {:>12}",
            t.name(),
            c.files_before,
            c.bytes_before,
            c.files_after,
            c.bytes_after,
            c.rows
        );
    }
    Ok(())
}
