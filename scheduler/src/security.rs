//! What keeps a Pulse scheduler safe on a network: credentials on every client-facing route,
//! a read-only Flight SQL, and the rule that an open scheduler stays on loopback.
//!
//! The scheduler port serves four things: Ballista's scheduler gRPC (clients submit plans,
//! executors poll for work), Flight SQL, the REST API (job list and cancel) and Ballista's
//! web page. With [`Credentials`] configured, [`require_credentials`] refuses every request
//! without them except the executors' own calls (Ballista 55's executors send no metadata, so
//! they cannot authenticate; keep executors on a private network) and Flight SQL, which
//! checks the same credentials in its handshake and a bearer token after it.
//! [`ReadOnlyFlightSql`] refuses any statement but a query before Ballista's Flight SQL plans
//! it (see `pulse_lake::readonly`).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{ActionCreatePreparedStatementRequest, Any, Command};
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, PollInfo,
    PutResult, SchemaResult, Ticket,
};
use base64::Engine;
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

/// A user name and password that clients present as HTTP Basic credentials (the Flight
/// handshake convention; REST and gRPC clients send the same header).
#[derive(Clone)]
pub struct Credentials {
    user: String,
    user_hash: blake3::Hash,
    password_hash: blake3::Hash,
}

/// Base64 that accepts padded and unpadded input: Go's Flight client (ADBC) sends Basic
/// credentials without padding.
const LENIENT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.user)
    }
}

impl Credentials {
    /// Credentials for `user` with `password`.
    pub fn new(user: impl Into<String>, password: &str) -> Credentials {
        let user = user.into();
        Credentials {
            user_hash: blake3::hash(user.as_bytes()),
            user,
            password_hash: blake3::hash(password.as_bytes()),
        }
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `authorization` header value a client sends.
    pub fn header(user: &str, password: &str) -> String {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    }

    /// Checks an `authorization` header. The password is compared as a hash in constant
    /// time (blake3's equality), so neither its content nor its length leaks through timing.
    /// A failure is logged with the claimed user, never the secret.
    pub fn check(&self, header: Option<&str>, what: &str) -> bool {
        let claimed = header
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| LENIENT_BASE64.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let Some(text) = claimed else {
            tracing::warn!(route = what, "request without credentials refused");
            return false;
        };
        let (user, password) = text.split_once(':').unwrap_or((text.as_str(), ""));
        let same_password = blake3::hash(password.as_bytes()) == self.password_hash;
        let same_user = blake3::hash(user.as_bytes()) == self.user_hash;
        if same_password && same_user {
            true
        } else {
            tracing::warn!(route = what, user, "authentication failed");
            false
        }
    }
}

/// The scheduler gRPC methods Ballista 55's executors call; they carry no credentials.
const EXECUTOR_METHODS: &[&str] = &[
    "/ballista.protobuf.SchedulerGrpc/PollWork",
    "/ballista.protobuf.SchedulerGrpc/RegisterExecutor",
    "/ballista.protobuf.SchedulerGrpc/HeartBeatFromExecutor",
    "/ballista.protobuf.SchedulerGrpc/UpdateTaskStatus",
    "/ballista.protobuf.SchedulerGrpc/ExecutorStopped",
];

/// Flight (and so Flight SQL) routes: they authenticate in the handshake themselves.
const FLIGHT_PREFIX: &str = "/arrow.flight.protocol.FlightService/";

/// True when `path` needs the scheduler's credentials: everything but the executors' calls
/// and Flight SQL.
pub fn needs_credentials(path: &str) -> bool {
    !(EXECUTOR_METHODS.contains(&path) || path.starts_with(FLIGHT_PREFIX))
}

/// Axum middleware: refuses a request on a route that [`needs_credentials`] without valid
/// credentials, as gRPC `UNAUTHENTICATED` on gRPC routes and HTTP 401 elsewhere.
pub async fn require_credentials(
    axum::extract::State(creds): axum::extract::State<Arc<Credentials>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path().to_string();
    if !needs_credentials(&path) {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if creds.check(header, &path) {
        return next.run(request).await;
    }
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"));
    if grpc {
        Status::unauthenticated("this scheduler needs credentials (user and password)")
            .into_http::<axum::body::Body>()
    } else {
        let mut r = axum::response::Response::new(axum::body::Body::from(
            "this scheduler needs credentials (HTTP Basic: user and password)\n",
        ));
        *r.status_mut() = http::StatusCode::UNAUTHORIZED;
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"pulse\""),
        );
        r
    }
}

/// True when `host` (an address or a name) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Flight SQL that refuses every statement but a read-only query (named in the error), and
/// every upload, before Ballista's Flight SQL sees it. Everything else passes through.
pub struct ReadOnlyFlightSql<S>(pub S);

fn refuse(e: pulse_lake::Error) -> Status {
    Status::permission_denied(e.to_string())
}

fn not_allowed(what: &str) -> Status {
    refuse(pulse_lake::Error::NotAllowed {
        what: what.to_string(),
    })
}

/// Checks a Flight command: statements must be read-only, substrait plans and updates are
/// refused, metadata commands and prepared-statement handles pass.
fn check_command(cmd: &[u8]) -> Result<(), Status> {
    let Ok(any) = Any::decode(cmd) else {
        return Ok(());
    };
    match Command::try_from(any) {
        Ok(Command::CommandStatementQuery(q)) => {
            pulse_lake::readonly::check_sql(&q.query).map_err(refuse)
        }
        Ok(Command::CommandStatementSubstraitPlan(_)) => Err(not_allowed("a Substrait plan")),
        Ok(
            Command::CommandStatementUpdate(_)
            | Command::CommandPreparedStatementUpdate(_)
            | Command::CommandStatementIngest(_),
        ) => Err(not_allowed("an update")),
        _ => Ok(()),
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl<S: FlightService> FlightService for ReadOnlyFlightSql<S> {
    type HandshakeStream = S::HandshakeStream;
    type ListFlightsStream = S::ListFlightsStream;
    type DoGetStream = S::DoGetStream;
    type DoPutStream = BoxStream<PutResult>;
    type DoExchangeStream = BoxStream<FlightData>;
    type DoActionStream = S::DoActionStream;
    type ListActionsStream = S::ListActionsStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        self.0.handshake(request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.0.list_flights(request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        check_command(&request.get_ref().cmd)?;
        self.0.get_flight_info(request).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        check_command(&request.get_ref().cmd)?;
        self.0.poll_flight_info(request).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        check_command(&request.get_ref().cmd)?;
        self.0.get_schema(request).await
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        self.0.do_get(request).await
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        Err(not_allowed("an upload or update (DoPut)"))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(not_allowed("DoExchange"))
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.get_ref();
        match action.r#type.as_str() {
            "CreatePreparedStatement" => {
                let query = Any::decode(action.body.as_ref())
                    .ok()
                    .and_then(|any| {
                        any.unpack::<ActionCreatePreparedStatementRequest>()
                            .ok()
                            .flatten()
                    })
                    .ok_or_else(|| Status::invalid_argument("bad CreatePreparedStatement"))?;
                pulse_lake::readonly::check_sql(&query.query).map_err(refuse)?;
            }
            "CreatePreparedSubstraitPlan" => {
                return Err(not_allowed("a Substrait plan"));
            }
            _ => {}
        }
        self.0.do_action(request).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.0.list_actions(request).await
    }
}

/// A bound TLS listener: the socket and the acceptor with the scheduler's certificate.
pub struct TlsListener {
    socket: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// Binds the TLS listener of `t`, reading its certificate chain and key (PEM). Offers HTTP/2
/// (gRPC, Flight SQL) and HTTP/1.1 (the REST API) by ALPN.
pub async fn tls_listener(t: &crate::TlsOptions) -> crate::Result<TlsListener> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let usage = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        crate::Error::Usage(format!("TLS {what} {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert)
        .map_err(|e| usage("certificate", &t.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| usage("certificate", &t.cert, &e))?;
    if certs.is_empty() {
        return Err(usage("certificate", &t.cert, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| usage("key", &t.key, &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| usage("setup for", &t.cert, &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| usage("certificate and key", &t.cert, &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let socket = tokio::net::TcpListener::bind(&t.listen)
        .await
        .map_err(|e| crate::Error::Usage(format!("cannot bind TLS to {}: {e}", t.listen)))?;
    Ok(TlsListener {
        socket,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}

/// Serves `router` on the TLS listener until the process ends; a failed handshake only ends
/// its own connection.
pub async fn serve_tls(l: TlsListener, router: axum::Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    loop {
        let (tcp, peer) = match l.socket.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a TLS connection failed");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, router) = (l.acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "TLS connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_need_the_same_user_and_password() {
        let c = Credentials::new("analyst", "open-sesame");
        assert!(c.check(Some(&Credentials::header("analyst", "open-sesame")), "t"));
        for (u, p) in [
            ("analyst", "open-sesam"),
            ("analyst", "open-sesame!"),
            ("analys", "open-sesame"),
            ("", ""),
        ] {
            assert!(!c.check(Some(&Credentials::header(u, p)), "t"), "{u}:{p}");
        }
        assert!(!c.check(None, "t"));
        assert!(!c.check(Some("Bearer x"), "t"));
        assert!(!c.check(Some("Basic !!!"), "t"));
        assert!(!format!("{c:?}").contains("open-sesame"));
    }

    #[test]
    fn unpadded_basic_credentials_from_go_clients_are_accepted() {
        // ADBC's Flight SQL driver (Go) sends `analyst:open-sesame` base64 without padding.
        let c = Credentials::new("analyst", "open-sesame");
        let padded = Credentials::header("analyst", "open-sesame");
        assert!(padded.ends_with('='), "{padded}");
        assert!(c.check(Some(padded.trim_end_matches('=')), "t"));
    }

    #[test]
    fn only_executor_calls_and_flight_go_without_credentials() {
        assert!(!needs_credentials(
            "/ballista.protobuf.SchedulerGrpc/PollWork"
        ));
        assert!(!needs_credentials(
            "/arrow.flight.protocol.FlightService/Handshake"
        ));
        for p in [
            "/ballista.protobuf.SchedulerGrpc/ExecuteQuery",
            "/ballista.protobuf.SchedulerGrpc/CancelJob",
            "/api/jobs",
            "/api/job/abc",
            "/",
            "/anything/else",
        ] {
            assert!(needs_credentials(p), "{p}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "10.0.0.1", "::", "example.org", "192.168.1.2"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
