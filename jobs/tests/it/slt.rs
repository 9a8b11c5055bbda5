//! Runs `tests/slt/*.slt` against a DataFusion session over a temp lake. Besides SQL, a file
//! can say `RUN JOB <name> FROM '<t1>' TO '<t2>' [SET k=v, ...]`, which runs the real job
//! (its SQL files and runner) over the tables the file created, writing outputs to the lake.

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

use super::Env;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(String);

struct Db(Env);

pub fn format_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                fmts.iter()
                    .map(|f| {
                        let s = f.value(r).to_string();
                        if s.is_empty() {
                            "(empty)".to_string()
                        } else {
                            s
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

/// A parsed `RUN JOB` line: job, from, to and `SET` pairs.
type RunJob = (String, String, String, Vec<(String, String)>);

fn parse_run_job(rest: &str) -> Result<RunJob, DbError> {
    let bad = || {
        DbError(format!(
            "expected RUN JOB <name> FROM '<t>' TO '<t>' [SET k=v, ...], got {rest:?}"
        ))
    };
    let (head, set) = match rest.split_once(" SET ") {
        Some((h, s)) => (h, Some(s)),
        None => (rest, None),
    };
    let mut words = head.split_whitespace();
    let name = words.next().ok_or_else(bad)?.to_string();
    let unquote = |w: Option<&str>| w.map(|s| s.trim_matches('\'').to_string()).ok_or_else(bad);
    (words.next() == Some("FROM"))
        .then_some(())
        .ok_or_else(bad)?;
    let from = unquote(words.next())?;
    (words.next() == Some("TO")).then_some(()).ok_or_else(bad)?;
    let to = unquote(words.next())?;
    let sets = set
        .map(|s| {
            s.split(',')
                .filter_map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((name, from, to, sets))
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let sql = sql.trim().trim_end_matches(';');
        if let Some(rest) = sql.strip_prefix("RUN JOB ") {
            let (name, from, to, sets) = parse_run_job(rest)?;
            let sets: Vec<(&str, &str)> =
                sets.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let report = self
                .0
                .run(&name, &from, &to, &sets)
                .await
                .map_err(|e| DbError(e.to_string()))?;
            return Ok(DBOutput::StatementComplete(
                report.outputs.iter().map(|o| o.1 as u64).sum(),
            ));
        }
        let df = self
            .0
            .ctx
            .sql(sql)
            .await
            .map_err(|e| DbError(e.to_string()))?;
        let is_query = sql.trim_start().to_ascii_lowercase().starts_with("select")
            || sql.trim_start().to_ascii_lowercase().starts_with("with");
        let batches = df.collect().await.map_err(|e| DbError(e.to_string()))?;
        if !is_query {
            return Ok(DBOutput::StatementComplete(0));
        }
        let rows = format_rows(&batches);
        let width = batches.first().map_or(0, |b| b.num_columns());
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; width],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "pulse"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let mut runner =
            sqllogictest::Runner::new(|| async { Ok::<_, DbError>(Db(Env::new().await)) });
        runner.with_column_validator(|_, _| true);
        if let Err(e) = runner.run_file_async(&f).await {
            panic!("{}: {e}", f.display());
        }
    }
}
