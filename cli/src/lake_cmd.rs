//! `pulse lake check`: finds the lake's unreadable files and, with `--quarantine`, moves them
//! out of the visible set (see `pulse_lake::check`); and the helper that names such files in
//! the error of a failed query or job.

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
}

/// Runs a lake command.
pub async fn run(lake: &Lake, cmd: LakeCmd) -> anyhow::Result<()> {
    let LakeCmd::Check {
        table,
        date,
        pages,
        quarantine,
    } = cmd;
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
