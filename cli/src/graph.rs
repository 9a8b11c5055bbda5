//! `pulse graph <query> [ARGS]`: seed 000's graph queries, the `graph` group of the saved
//! questions ([`pulse_web::catalog`], also served at `/api/graph/...`; each file under
//! `sql/queries/graph/` also runs with `pulse sql -f FILE --param ...`). Arguments are bound
//! as parameters in the order the file's `-- params:` line declares them, never pasted into
//! the SQL. `neighbourhood` prints the seed's D3 shape.

use std::io::Write;

use anyhow::bail;
use datafusion::prelude::SessionContext;
use pulse_web::catalog;

use crate::sql::{OutFormat, write};

/// Runs a saved query by name with its arguments.
pub async fn run(
    ctx: &SessionContext,
    name: Option<&str>,
    args: &[String],
    format: OutFormat,
) -> anyhow::Result<()> {
    let graph = || catalog::ENDPOINTS.iter().filter(|e| e.group == "graph");
    let Some(name) = name else {
        for ep in graph() {
            let spec = ep.spec()?;
            let usage: Vec<String> = spec
                .params
                .iter()
                .map(|p| format!("<{}>", p.name))
                .collect();
            writeln!(
                std::io::stdout(),
                "{} {}\n    {}",
                ep.name,
                usage.join(" "),
                spec.about
            )?;
        }
        return Ok(());
    };
    let Some(ep) = catalog::find("graph", name) else {
        let names: Vec<&str> = graph().map(|e| e.name).collect();
        bail!("unknown graph query {name:?}: one of {names:?}");
    };
    let spec = ep.spec()?;
    let bound = catalog::bind_positional(&spec, args).map_err(|e| match e {
        pulse_web::Error::BadParam { name: p, why } => anyhow::anyhow!("{name} <{p}>: {why}"),
        e => anyhow::anyhow!("{name}: {e}"),
    })?;
    let any = ctx
        .sql("SELECT 1 FROM graph_edges LIMIT 1")
        .await?
        .count()
        .await?;
    if any == 0 {
        bail!("no graph in this lake yet: run `pulse run graph --from D1 --to D2` first");
    }
    let answer = catalog::ask(ctx, ep, &bound).await?;
    if ep.shape == catalog::Shape::Graph && format == OutFormat::Table {
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&catalog::graph_json(&answer.batches)?)?
        )?;
        return Ok(());
    }
    write(&answer.batches, format, &mut std::io::stdout())
}

/// `pulse graph`.
#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// The query (a file of sql/queries/graph/).
    query: Option<String>,
    /// Its arguments, in order (e.g. a limit, a streamer's name).
    args: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutFormat,
}

/// `pulse graph`: runs a saved graph query, or lists them.
pub async fn command(e: &crate::engine::Engine, a: GraphArgs) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let registry = e.registry(&lake).await?;
    let ctx = e.query_session(&lake, &registry, None).await?;
    run(&ctx, a.query.as_deref(), &a.args, a.format).await
}
