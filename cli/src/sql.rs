//! `pulse sql`: ad-hoc SQL over the lake, as a one-shot query, a file of statements, or an
//! interactive prompt with history. Results print as a table, CSV or JSON lines, or are
//! written as Parquet.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use arrow::array::RecordBatch;
use clap::ValueEnum;
use datafusion::prelude::SessionContext;

/// Output formats of `pulse sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per row.
    Json,
    /// A Parquet file (needs `--output`).
    Parquet,
}

/// Splits a script into statements at semicolons outside quotes and comments.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.chars().peekable();
    let (mut in_s, mut in_d) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_d => in_s = !in_s,
            '"' if !in_s => in_d = !in_d,
            '-' if !in_s && !in_d && chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                cur.push('\n');
                continue;
            }
            ';' if !in_s && !in_d => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Runs `sql` and returns its batches.
pub async fn query(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    query_with(ctx, sql, &[]).await
}

/// Runs `sql` with `params` bound to `$1`, `$2`, ... (values, never pasted into the SQL).
pub async fn query_with(
    ctx: &SessionContext,
    sql: &str,
    params: &[datafusion::scalar::ScalarValue],
) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(run_one(ctx, sql, params).await?.1)
}

/// Runs one statement: its result schema (also when it returns no batch) and batches. A
/// query (a statement that only reads) that failed transiently, such as an executor lost
/// while it ran, runs again; a statement that writes or defines something runs once.
async fn run_one(
    ctx: &SessionContext,
    sql: &str,
    params: &[datafusion::scalar::ScalarValue],
) -> anyhow::Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>)> {
    use datafusion::logical_expr::LogicalPlan;
    // Planned without running it: `SessionContext::sql` runs DDL as it plans.
    let reads = matches!(
        ctx.state().create_logical_plan(sql).await,
        Ok(p) if !matches!(
            p,
            LogicalPlan::Dml(_) | LogicalPlan::Copy(_) | LogicalPlan::Ddl(_) | LogicalPlan::Statement(_)
        )
    );
    let once = || async {
        let mut df = ctx.sql(sql).await?;
        if !params.is_empty() {
            df = df.with_param_values(params.to_vec())?;
        }
        let schema = df.schema().inner().clone();
        Ok((schema, df.collect().await?))
    };
    let transient = |e: &datafusion::error::DataFusionError| reads && pulse_jobs::df_transient(e);
    Ok(pulse_jobs::with_retries("query", transient, once).await?)
}

/// A `--param` value: an integer when it reads as one, else text.
pub fn param_value(s: &str) -> datafusion::scalar::ScalarValue {
    match s.parse::<i64>() {
        Ok(i) => datafusion::scalar::ScalarValue::Int64(Some(i)),
        Err(_) => datafusion::scalar::ScalarValue::Utf8(Some(s.to_string())),
    }
}

/// Writes batches in `format` to `out`.
pub fn write(
    batches: &[RecordBatch],
    format: OutFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        OutFormat::Table => {
            let s = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{s}")?;
        }
        OutFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutFormat::Parquet => bail!("parquet output needs --output FILE"),
    }
    Ok(())
}

/// Runs each statement of `sql`, printing the results of the last one (and of every one
/// that returns rows when `all` is set).
pub async fn run(
    ctx: &SessionContext,
    sql: &str,
    format: OutFormat,
    output: Option<&Path>,
    params: &[datafusion::scalar::ScalarValue],
) -> anyhow::Result<()> {
    let stmts = split_statements(sql);
    if stmts.is_empty() {
        bail!("no SQL statement given");
    }
    let (mut schema, mut last) = (
        std::sync::Arc::new(arrow::datatypes::Schema::empty()),
        Vec::new(),
    );
    for s in &stmts {
        let p = if s.contains('$') { params } else { &[] };
        (schema, last) = run_one(ctx, s, p).await?;
    }
    if let Some(b) = last.first() {
        schema = b.schema();
    }
    match (format, output) {
        (OutFormat::Parquet, Some(path)) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut w = parquet::arrow::ArrowWriter::try_new(
                file,
                schema,
                Some(pulse_lake::land::writer_properties()),
            )?;
            for b in &last {
                w.write(b)?;
            }
            w.close()?;
        }
        (f, Some(path)) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            write(&last, f, &mut file)?;
        }
        (f, None) => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            if last.is_empty() && f == OutFormat::Table {
                writeln!(lock, "(0 rows)")?;
            } else {
                write(&last, f, &mut lock)?;
            }
        }
    }
    Ok(())
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pulse_history"))
}

/// The interactive prompt: statements end with `;`, `\q` quits, `\d` lists tables.
pub async fn repl(ctx: &SessionContext, format: OutFormat) -> anyhow::Result<()> {
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!("pulse sql: end statements with ';', \\d lists tables, \\q quits");
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() { "pulse> " } else { "   ... " };
        let line = match rl.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buf.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buf.is_empty() && (trimmed == "\\q" || trimmed == "quit" || trimmed == "exit") {
            break;
        }
        if buf.is_empty() && trimmed == "\\d" {
            let _ = rl.add_history_entry(trimmed);
            match query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1").await {
                Ok(b) => write(&b, OutFormat::Table, &mut std::io::stdout())?,
                Err(e) => eprintln!("error: {e:#}"),
            }
            continue;
        }
        buf.push_str(&line);
        buf.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let _ = rl.add_history_entry(buf.trim());
        for stmt in split_statements(&buf) {
            let started = std::time::Instant::now();
            match query(ctx, &stmt).await {
                Ok(b) => {
                    write(&b, format, &mut std::io::stdout())?;
                    let rows: usize = b.iter().map(RecordBatch::num_rows).sum();
                    println!("{rows} row(s) in {:.3}s", started.elapsed().as_secs_f64());
                }
                Err(e) => eprintln!("error: {e:#}"),
            }
        }
        buf.clear();
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        assert_eq!(
            split_statements("select 'a;b'; -- c;d\nselect \"x;\" ;;"),
            ["select 'a;b'", "select \"x;\""]
        );
        assert!(split_statements("  ;  -- only a comment").is_empty());
    }
}

/// `pulse sql`.
#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// The query (omit it, and -f, for the interactive prompt).
    query: Option<String>,
    /// Read statements from this file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutFormat,
    /// Write the result to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// A value for $1, $2, ... in order (an integer, or text); bound, never pasted.
    #[arg(long = "param", value_name = "VALUE")]
    params: Vec<String>,
}

/// `pulse sql`: a query, a file of statements, or the prompt.
pub async fn command(e: &crate::engine::Engine, a: SqlArgs) -> anyhow::Result<()> {
    let SqlArgs {
        query,
        file,
        format,
        output,
        params,
    } = a;
    let params: Vec<_> = params.iter().map(|p| param_value(p)).collect();
    let lake = e.lake()?;
    let registry = e.registry(&lake).await?;
    let ctx = e.query_session(&lake, &registry, None).await?;
    let text = match (query, file) {
        (Some(q), None) => Some(q),
        (None, Some(f)) => {
            Some(std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?)
        }
        (Some(_), Some(_)) => bail!("give a query or -f FILE, not both"),
        (None, None) => None,
    };
    match text {
        Some(t) => {
            if let Err(e) = run(&ctx, &t, format, output.as_deref(), &params).await {
                return Err(crate::lake_cmd::name_unreadable(&lake, &t, e).await);
            }
        }
        None => repl(&ctx, format).await?,
    }
    Ok(())
}
