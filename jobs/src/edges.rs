//! The edges a graph algorithm runs on: the latest `graph_edges` of a day, or a user's own
//! file. One place for both, so PageRank and betweenness read graphs the same way.

use crate::{Error, Result};

/// Where the edges come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Edges {
    /// `graph_edges` of this day.
    Graph(String),
    /// A Parquet or CSV file (local or `s3://`) with `src`, `dst` (or any two first columns)
    /// and optionally `weight`.
    File(String),
}

impl Edges {
    /// The table a graph algorithm's scores of these edges go to: `job` for the lake's graph
    /// (what `pulse graph` and the web app show), `<job>_file` for a user's edge file, so a
    /// file never shadows the lake graph's latest scores.
    pub fn output_table(&self, job: &str) -> String {
        match self {
            Edges::Graph(_) => job.to_string(),
            Edges::File(_) => format!("{job}_file"),
        }
    }
}

/// A SQL query giving the edges as `(src VARCHAR, dst VARCHAR, weight DOUBLE)`. A file is
/// registered as the table `input` first; without `src` and `dst` columns its first two
/// columns are the ends, and a missing `weight` column reads as 1.
pub async fn source(
    ctx: &datafusion::prelude::SessionContext,
    edges: &Edges,
    input: &str,
) -> Result<String> {
    match edges {
        Edges::Graph(day) => {
            if !ctx.table_exist("graph_edges")? {
                return Err(Error::Usage(
                    "no graph_edges: run `pulse run graph` first, or give edges=FILE".into(),
                ));
            }
            Ok(format!(
                "SELECT src, dst, weight FROM graph_edges WHERE dt = '{}'",
                day.replace('\'', "")
            ))
        }
        Edges::File(path) => {
            ctx.deregister_table(input)?;
            if path.ends_with(".csv") {
                ctx.register_csv(input, path, Default::default()).await?;
            } else {
                pulse_lake::check::check_footers(ctx, path).await?;
                ctx.register_parquet(input, path, Default::default())
                    .await?;
            }
            let schema = ctx.table(input).await?.schema().clone();
            let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let has = |c: &str| names.iter().any(|n| n == c);
            // `src, dst`, or else the first two columns (as in `from,to` of the MUSAE files).
            let (src, dst) = if has("src") && has("dst") {
                ("src".to_string(), "dst".to_string())
            } else if names.len() >= 2 {
                (names[0].clone(), names[1].clone())
            } else {
                return Err(Error::Usage(format!(
                    "the edge file {path} needs src and dst columns (or two columns)"
                )));
            };
            let w = if has("weight") {
                "CAST(weight AS DOUBLE)"
            } else {
                "1.0"
            };
            let q = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
            Ok(format!(
                "SELECT CAST({} AS VARCHAR) AS src, CAST({} AS VARCHAR) AS dst, {w} AS weight FROM {input}",
                q(&src),
                q(&dst)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Property tests of edge files (the fuzz target): any bytes as a CSV or Parquet
    //! edge file give edges or an error, never a panic or a hang.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    async fn read(path: &str) -> std::result::Result<usize, String> {
        let ctx = datafusion::prelude::SessionContext::new();
        let q = source(&ctx, &Edges::File(path.to_string()), "input")
            .await
            .map_err(|e| e.to_string())?;
        let batches = ctx
            .sql(&q)
            .await
            .map_err(|e| e.to_string())?
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    fn csv_text() -> impl Strategy<Value = Vec<u8>> {
        let cell = prop_oneof![
            Just("a".to_string()),
            Just("1".to_string()),
            Just("2.5".to_string()),
            Just("\"q,\"\"x\"".to_string()),
            Just("".to_string()),
            "[ -~]{0,6}",
        ];
        let header = prop_oneof![
            Just("src,dst,weight".to_string()),
            Just("from,to".to_string()),
            Just("only".to_string()),
            "[a-z,]{0,12}",
        ];
        (
            header,
            proptest::collection::vec(proptest::collection::vec(cell, 0..4), 0..8),
            proptest::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(h, rows, noise)| {
                let mut out = h.into_bytes();
                for r in rows {
                    out.push(b'\n');
                    out.extend_from_slice(r.join(",").as_bytes());
                }
                out.extend_from_slice(&noise);
                out
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn any_edge_file_gives_edges_or_an_error(
            csv in csv_text(),
            parquet in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (c, p) = (dir.path().join("e.csv"), dir.path().join("e.parquet"));
            std::fs::write(&c, &csv).unwrap();
            let mut pq = parquet.clone();
            pq.extend_from_slice(b"PAR1");
            std::fs::write(&p, &pq).unwrap();
            let (c, p) = (c.display().to_string(), p.display().to_string());
            let limit = std::time::Duration::from_secs(20);
            let _ = rt.block_on(async { tokio::time::timeout(limit, read(&c)).await }).expect("an edge CSV hangs");
            let parquet = rt.block_on(async { tokio::time::timeout(limit, read(&p)).await });
            prop_assert!(parquet.expect("an edge Parquet file hangs").is_err());
        }
    }

    #[tokio::test]
    async fn a_well_formed_file_reads_all_its_edges() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("e.csv");
        std::fs::write(&c, "from,to\n1,2\n2,3\n").unwrap();
        assert_eq!(read(&c.display().to_string()).await, Ok(2));
    }
}
