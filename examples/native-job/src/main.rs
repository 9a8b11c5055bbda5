//! An own `pulse` build: Pulse's command with one more job written in Rust, `channel-peaks`
//! (each day's top channels by peak viewers and the hour of the peak), registered through
//! `pulse_cli::main_with` the way Ballista's custom executor example extends executors.
//! Everything else is Pulse's: `pulse-custom run channel-peaks --date D`, its nightly DAG,
//! `pulse-custom scheduler` and `executor` for a cluster of this build.

use std::sync::Arc;

use datafusion::functions_aggregate::expr_fn::max;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{ExprFunctionExt, col, lit};
use pulse_jobs::manifest::Manifest;
use pulse_jobs::params::Params;
use pulse_jobs::registry::{Context, Job};
use pulse_jobs::runner::{RunReport, write_output};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `channel-peaks`: its manifest is the same format as a SQL job's, without steps.
#[derive(Debug)]
struct ChannelPeaks(Manifest);

#[async_trait::async_trait]
impl Job for ChannelPeaks {
    fn manifest(&self) -> &Manifest {
        &self.0
    }

    /// One day (the manifest's interval is `day`): a plan built with DataFusion's DataFrame
    /// API, written by Pulse where it runs (on a cluster, by the executors).
    async fn run(&self, cx: &Context<'_>, p: Params) -> pulse_jobs::Result<RunReport> {
        let day = p.time("start")?.date_naive().to_string();
        let top = p.int("top")?;
        let hour =
            datafusion::functions::datetime::expr_fn::date_part(lit("hour"), col("snapshot_time"));
        let streams = cx
            .ctx
            .table("streams")
            .await?
            .filter(col("dt").eq(lit(day.clone())))?;
        // Each channel's peak, and the first hour it was reached.
        let peaks = streams.clone().aggregate(
            vec![col("channel_login")],
            vec![max(col("viewers")).alias("peak_viewers")],
        )?;
        let at_peak = streams
            .join_on(
                peaks.clone().select(vec![
                    col("channel_login").alias("c"),
                    col("peak_viewers").alias("p"),
                ])?,
                datafusion::common::JoinType::Inner,
                [
                    col("channel_login").eq(col("c")),
                    col("viewers").eq(col("p")),
                ],
            )?
            .aggregate(
                vec![col("channel_login")],
                vec![datafusion::functions_aggregate::expr_fn::min(hour).alias("peak_hour")],
            )?;
        let ranked = peaks
            .join_on(
                at_peak.select(vec![col("channel_login").alias("c2"), col("peak_hour")])?,
                datafusion::common::JoinType::Inner,
                [col("channel_login").eq(col("c2"))],
            )?
            .window(vec![
                row_number()
                    .order_by(vec![
                        col("peak_viewers").sort(false, true),
                        col("channel_login").sort(true, true),
                    ])
                    .build()?
                    .alias("rank"),
            ])?
            .filter(col("rank").lt_eq(lit(top as u64)))?
            .select(vec![
                col("channel_login"),
                col("peak_viewers"),
                datafusion::logical_expr::cast(
                    col("peak_hour"),
                    datafusion::arrow::datatypes::DataType::Int32,
                )
                .alias("peak_hour"),
                col("rank"),
                lit(day.clone()).alias("dt"),
            ])?;
        let rows = write_output(cx.lake, cx.ctx, "channel_peaks", &[day], ranked).await?;
        Ok(RunReport {
            outputs: vec![("channel_peaks".into(), rows, 1)],
            ..Default::default()
        })
    }
}

fn main() -> std::process::ExitCode {
    let manifest = match Manifest::parse(include_str!("channel_peaks.toml"), "channel_peaks.toml") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    pulse_cli::main_with(vec![Arc::new(ChannelPeaks(manifest))])
}
