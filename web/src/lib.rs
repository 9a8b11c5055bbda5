//! `pulse serve`: Pulse's face. One process serves a JSON API of the saved questions
//! ([`catalog`], described at `/api/openapi.json`) and server-rendered pages ([`pages`]) with
//! charts drawn as SVG ([`svg`]), over the lake's tables through the embedded engine or a
//! cluster. It only reads what jobs committed, so it never waits on a running job; the session
//! is rebuilt every few seconds in the background, so new job outputs show without a restart.
//!
//! Safe on a network: it binds loopback by default and, beyond loopback, needs a viewer's
//! credentials (HTTP Basic) on every route; no SQL from a request runs, only the catalog's,
//! with bound parameters.

pub mod api;
pub mod catalog;
pub mod layout;
pub mod live;
pub mod pages;
pub mod svg;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use pulse_scheduler::security::Credentials;

/// Errors of the web app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request parameter is wrong (HTTP 400).
    #[error("parameter {name}: {why}")]
    BadParam {
        /// The parameter.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// No such endpoint, page or job output (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A bad setting or declaration.
    #[error("{0}")]
    Usage(String),
    /// DataFusion failed.
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed (encoding rows).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// JSON encoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A job's reader failed (profiles).
    #[error(transparent)]
    Jobs(#[from] pulse_jobs::Error),
    /// Binding or serving failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Building a session over the lake failed.
    #[error("session: {0}")]
    Session(String),
}

/// The web app's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Makes a fresh query session over the lake (embedded or on a cluster), with every job
/// output registered (empty until written), and the outputs with the jobs that write them.
pub type Sessions = Arc<
    dyn Fn() -> BoxFuture<'static, Result<(SessionContext, Vec<pulse_jobs::outputs::Output>)>>
        + Send
        + Sync,
>;

/// How `pulse serve` runs.
#[derive(Clone)]
pub struct Options {
    /// HOST:PORT to listen on.
    pub listen: String,
    /// Viewer credentials; required when `listen` is beyond loopback.
    pub credentials: Option<Credentials>,
    /// Serve beyond loopback without credentials (a trusted network).
    pub insecure: bool,
    /// How often the session is rebuilt to see new tables.
    pub refresh: Duration,
    /// The live windows of an ingest worker in this process (`pulse live`), if any.
    pub live: Option<Arc<live::Hub>>,
}

/// What every request reads: the current session and which job writes which table, and
/// the live windows when an ingest worker runs in this process.
pub struct App {
    current: RwLock<Arc<Current>>,
    live: Option<Arc<live::Hub>>,
}

/// One refresh's session.
pub struct Current {
    /// The session the requests query.
    pub ctx: SessionContext,
    /// Job outputs and their jobs.
    pub outputs: Vec<pulse_jobs::outputs::Output>,
}

impl App {
    /// The live windows, when this process ingests.
    pub fn live(&self) -> Option<&Arc<live::Hub>> {
        self.live.as_ref()
    }

    /// The latest session.
    pub fn current(&self) -> Arc<Current> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, c: Current) {
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(c),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(c),
        }
    }
}

impl Current {
    /// The job that writes `table`, if a job does.
    pub fn job_of(&self, table: &str) -> Option<&str> {
        self.outputs
            .iter()
            .find(|o| o.table == table)
            .map(|o| o.job.as_str())
    }
}

fn host_of(listen: &str) -> &str {
    let h = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    h.trim_start_matches('[').trim_end_matches(']')
}

/// Refuses to serve beyond loopback without credentials unless `insecure`.
pub fn check_exposure(o: &Options) -> Result<()> {
    let host = host_of(&o.listen);
    if o.credentials.is_some() || pulse_scheduler::security::is_loopback(host) {
        return Ok(());
    }
    if o.insecure {
        tracing::warn!(listen = %o.listen, "serving the web app without credentials");
        return Ok(());
    }
    Err(Error::Usage(format!(
        "refusing to serve on {} without credentials: set a viewer ([serve] user or --user \
         NAME, and PULSE_SERVE_PASSWORD), listen on 127.0.0.1, or pass --insecure on a \
         network you trust",
        o.listen
    )))
}

/// The app's router (API and pages) over `app`, with credentials when given.
pub fn router(app: Arc<App>, credentials: Option<Credentials>) -> axum::Router {
    let r = api::routes()
        .merge(pages::routes())
        .with_state(app)
        .layer(tower_http::compression::CompressionLayer::new());
    match credentials {
        Some(c) => r.layer(axum::middleware::from_fn_with_state(
            Arc::new(c),
            require_viewer,
        )),
        None => r,
    }
}

async fn require_viewer(
    axum::extract::State(creds): axum::extract::State<Arc<Credentials>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if creds.check(header, request.uri().path()) {
        return next.run(request).await;
    }
    (
        http::StatusCode::UNAUTHORIZED,
        [(http::header::WWW_AUTHENTICATE, "Basic realm=\"pulse\"")],
        "credentials needed\n",
    )
        .into_response()
}

/// Serves the app until `shutdown` resolves. The first session is built before the port
/// opens, so a broken lake fails at start; later refreshes that fail keep the last session.
pub async fn serve(
    o: Options,
    sessions: Sessions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    check_exposure(&o)?;
    let (ctx, outputs) = sessions().await?;
    let app = Arc::new(App {
        current: RwLock::new(Arc::new(Current { ctx, outputs })),
        live: o.live.clone(),
    });
    let listener = tokio::net::TcpListener::bind(&o.listen)
        .await
        .map_err(|source| Error::Io {
            what: format!("binding {}", o.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        what: "reading the bound address".into(),
        source,
    })?;
    // Tests and scripts read this line for the port (`--listen 127.0.0.1:0`).
    println!("serving http://{addr}/");
    let refresher = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(o.refresh).await;
                match sessions().await {
                    Ok((ctx, outputs)) => app.set(Current { ctx, outputs }),
                    Err(e) => {
                        tracing::warn!(error = %e, "refreshing the session failed; keeping the last one")
                    }
                }
            }
        })
    };
    let r = router(app, o.credentials.clone());
    // Requests running at shutdown get a moment to finish; open event streams (a live page)
    // would keep a graceful shutdown waiting for ever, so they are cut after it.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    // Responses go out at once, not after a delayed ACK (Nagle's algorithm).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, r).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stopping.send(());
    });
    let grace = async move {
        if stopped.await.is_ok() {
            tokio::time::sleep(Duration::from_secs(2)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        r = server => r.map_err(|source| Error::Io {
            what: "serving".into(),
            source,
        }),
        () = grace => Ok(()),
    };
    refresher.abort();
    served
}
