//! `pulse serve`: the web app over the lake, with the engine's sessions.

use clap::Args;

use crate::config::Flags;
use crate::engine::Engine;

/// `pulse serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// HOST:PORT to listen on [default: 127.0.0.1:8080, or `listen` of pulse.toml's serve section].
    #[arg(long)]
    listen: Option<String>,
    /// The viewer every request must present, with the password in PULSE_SERVE_PASSWORD
    /// [default: `user` of pulse.toml's serve section]; required to listen beyond loopback.
    #[arg(long)]
    user: Option<String>,
    /// Listen beyond loopback without credentials (a network you trust).
    #[arg(long)]
    insecure: bool,
}

impl ServeArgs {
    /// Its flags, over `[serve]`.
    pub fn flags(&self, f: &mut Flags) {
        f.set("serve.listen", self.listen.clone())
            .set("serve.user", self.user.clone())
            .switch("serve.insecure", self.insecure);
    }
}

/// Serves until SIGINT/SIGTERM.
pub async fn run(e: &Engine, _: ServeArgs) -> anyhow::Result<()> {
    let lake = e.lake()?;
    let registry = e.registry(&lake).await?;
    let s = &e.cfg.serve;
    let credentials = s
        .login(None)?
        .map(|(u, p)| pulse_scheduler::Credentials::new(u, &p));
    let o = pulse_web::Options {
        listen: s.listen.clone(),
        credentials,
        insecure: s.insecure,
        refresh: s.refresh,
        live: None,
    };
    let sessions = e.web_sessions(&lake, &registry);
    let mut stop = pulse_ingest::worker::shutdown_signal();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    pulse_web::serve(o, sessions, stopped).await?;
    Ok(())
}
