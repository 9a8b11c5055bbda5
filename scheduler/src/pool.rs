//! The executors' pool of shuffle-fetch connections. A task that reads another executor's
//! shuffle output fetches it over Flight; without a pool every fetch opens a new connection
//! (Ballista's own pool lives in a private module of its executor, which Pulse's wrapped
//! execution engine cannot reach). Connections are kept per executor address and closed once
//! idle for longer than the pool's time to live; one that failed a fetch is dropped by
//! Ballista's shuffle reader (`PooledClient::discard`), never reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballista_core::client::BallistaClient;
use ballista_core::client_pool::{BallistaClientPool, PooledClient};
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::utils::GrpcClientConfig;

/// Idle connections by (host, port, TLS), each with when it was returned.
type Idle = HashMap<(String, u16, bool), Vec<(BallistaClient, Instant)>>;

/// Shuffle-fetch connections kept for reuse.
pub(crate) struct ShufflePool {
    idle: Arc<Mutex<Idle>>,
    ttl: Duration,
}

impl std::fmt::Debug for ShufflePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShufflePool")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl ShufflePool {
    /// A pool closing connections idle for longer than `ttl`.
    pub(crate) fn new(ttl: Duration) -> ShufflePool {
        ShufflePool {
            idle: Arc::default(),
            ttl,
        }
    }
}

#[async_trait::async_trait]
impl BallistaClientPool for ShufflePool {
    async fn acquire(
        &self,
        host: &str,
        port: u16,
        config: &GrpcClientConfig,
        customize_endpoint: Option<Arc<BallistaConfigGrpcEndpoint>>,
    ) -> ballista_core::error::Result<PooledClient> {
        self.evict_idle().await;
        let key = (host.to_string(), port, config.use_tls);
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.get_mut(&key).and_then(Vec::pop).map(|(c, _)| c)
        };
        let client = match reused {
            Some(c) => c,
            None => {
                BallistaClient::try_new(
                    host,
                    port,
                    config.max_message_size,
                    config.use_tls,
                    customize_endpoint,
                    config.io_retries_times,
                    config.io_retry_wait_time_ms,
                    config.initial_connection_window_size,
                    config.initial_stream_window_size,
                )
                .await?
            }
        };
        let idle = self.idle.clone();
        Ok(PooledClient::new(
            client,
            Box::new(move |c| {
                let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.entry(key).or_default().push((c, Instant::now()));
            }),
        ))
    }

    async fn evict_idle(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        for clients in idle.values_mut() {
            clients.retain(|(_, at)| at.elapsed() < self.ttl);
        }
        idle.retain(|_, clients| !clients.is_empty());
    }
}
