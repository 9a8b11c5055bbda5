//! The live windows of an ingest worker running in this process, for the Trending page: the
//! worker hands every window it updates to the [`Hub`], which keeps the latest few per window
//! shape and publishes them as one JSON snapshot. `/api/live` streams the snapshots as
//! Server-Sent Events. A `watch` channel holds only the newest snapshot, so a slow or gone
//! browser skips intermediate ones and never slows the worker.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::Value;
use tokio::sync::watch;

/// Windows kept per shape (e.g. `20s_10s`): the open ones and the last closed ones.
pub const KEEP: usize = 12;

/// The latest live windows, by shape and start.
pub struct Hub {
    windows: Mutex<BTreeMap<String, BTreeMap<i64, Value>>>,
    tx: watch::Sender<Arc<String>>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Arc<Hub> {
        let (tx, _) = watch::channel(Arc::new(snapshot(&BTreeMap::new())));
        Arc::new(Hub {
            windows: Mutex::new(BTreeMap::new()),
            tx,
        })
    }

    /// Records window `start` of shape `name` (its JSON as the worker prints it).
    pub fn update(&self, name: &str, start: i64, window: Value) {
        let mut all = match self.windows.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let shape = all.entry(name.to_string()).or_default();
        shape.insert(start, window);
        while shape.len() > KEEP {
            shape.pop_first();
        }
    }

    /// Publishes the current windows to every subscriber.
    pub fn publish(&self) {
        let all = match self.windows.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.tx.send_replace(Arc::new(snapshot(&all)));
    }

    /// The latest snapshot, and its changes to come.
    pub fn subscribe(&self) -> watch::Receiver<Arc<String>> {
        self.tx.subscribe()
    }

    /// The latest snapshot as JSON.
    pub fn latest(&self) -> Value {
        serde_json::from_str(&self.tx.borrow()).unwrap_or(Value::Null)
    }
}

fn snapshot(all: &BTreeMap<String, BTreeMap<i64, Value>>) -> String {
    let windows: Vec<&Value> = all.values().flat_map(|w| w.values()).collect();
    serde_json::json!({ "windows": windows }).to_string()
}

/// The snapshots as Server-Sent Events, the newest first.
pub fn events(hub: &Hub) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let rx = hub.subscribe();
    let stream = futures::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let data = rx.borrow_and_update().to_string();
        Some((Ok(Event::default().data(data)), (rx, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
