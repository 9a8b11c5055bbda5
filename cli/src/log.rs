//! Logs go to stderr (results are on stdout): warnings and errors by default, Pulse's info
//! lines with `-v`, debug with `-vv`; `RUST_LOG` overrides both. Text for people, or one
//! JSON object per line (`--log-format json`) with the fields of the spans it is in (`run`
//! with `run_id` and `job`, `task`, `steps`, `iteration`), so a run's lines can be filtered.

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Starts logging.
pub fn init(verbose: u8, format: Format) {
    use tracing_subscriber::EnvFilter;
    let pulse = [
        "pulse",
        "pulse_cli",
        "pulse_ingest",
        "pulse_jobs",
        "pulse_lake",
        "pulse_scheduler",
    ];
    let default = match verbose {
        0 => "warn".to_string(),
        n => {
            let level = if n == 1 { "info" } else { "debug" };
            let crates: Vec<String> = pulse.iter().map(|c| format!("{c}={level}")).collect();
            format!("warn,{}", crates.join(","))
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Pulse's executors send no per-operator task metrics (scheduler::NoTaskMetrics); the
    // scheduler would warn about that for every stage.
    // delta-rs warns of every commit that found another writer's commit before it, which it
    // then checks and retries: routine for concurrent writers, not the user's to act on.
    let filter = [
        "ballista_scheduler::state::execution_stage=error",
        "deltalake_core::kernel::transaction=error",
    ]
    .into_iter()
    .fold(filter, |f, d| match d.parse() {
        Ok(d) => f.add_directive(d),
        Err(_) => f,
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        Format::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init(),
        Format::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
