//! Leases: at most one runner works on a (date, job) at a time, across processes and machines
//! pointed at the same lake. A lease is a numbered object `sys/leases/<key>/<n>.json`; the
//! highest number is the current one. Taking a lease creates the next number with a
//! conditional put (create only if absent, which the local store and S3 both provide), so
//! of two runners racing for it one wins. A lease expires unless its holder renews it, so a
//! dead runner's lease is taken over after `ttl`; a holder that finds a newer number than
//! its own has lost the lease and must stop.

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions};
use pulse_lake::Lake;

use crate::{Error, Result};

/// One lease object's content.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Doc {
    owner: String,
    expires_at: DateTime<Utc>,
    released: bool,
}

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    lake: Lake,
    dir: String,
    n: u64,
    owner: String,
    ttl: chrono::Duration,
}

/// Who holds a lease another runner wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The holder.
    pub owner: String,
    /// Until when, unless renewed.
    pub expires_at: DateTime<Utc>,
}

async fn current(lake: &Lake, dir: &str) -> Result<Option<(u64, Doc)>> {
    let mut best: Option<u64> = None;
    for (path, _) in pulse_lake::catalog::list_files(lake, dir).await? {
        if let Some(n) = path
            .filename()
            .and_then(|f| f.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            best = best.max(Some(n));
        }
    }
    let Some(n) = best else { return Ok(None) };
    let bytes = lake
        .store()
        .get(&lake.path(&format!("{dir}/{n:020}.json")))
        .await?
        .bytes()
        .await?;
    let doc: Doc = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Usage(format!("lease {dir}/{n}: unreadable ({e})")))?;
    Ok(Some((n, doc)))
}

fn encode(doc: &Doc) -> Result<bytes::Bytes> {
    serde_json::to_vec(doc)
        .map(bytes::Bytes::from)
        .map_err(|e| Error::Usage(format!("lease: {e}")))
}

/// Takes the lease `key` for `owner` for `ttl`, or says who holds it.
pub async fn acquire(
    lake: &Lake,
    key: &str,
    owner: &str,
    ttl: std::time::Duration,
) -> Result<std::result::Result<Lease, Held>> {
    let dir = format!("sys/leases/{key}");
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let next = match current(lake, &dir).await? {
        Some((_, doc)) if !doc.released && doc.expires_at > Utc::now() => {
            return Ok(Err(Held {
                owner: doc.owner,
                expires_at: doc.expires_at,
            }));
        }
        Some((n, _)) => n + 1,
        None => 0,
    };
    let doc = Doc {
        owner: owner.to_string(),
        expires_at: Utc::now() + ttl,
        released: false,
    };
    let opts = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match lake
        .store()
        .put_opts(
            &lake.path(&format!("{dir}/{next:020}.json")),
            encode(&doc)?.into(),
            opts,
        )
        .await
    {
        Ok(_) => Ok(Ok(Lease {
            lake: lake.clone(),
            dir,
            n: next,
            owner: owner.to_string(),
            ttl,
        })),
        // Another runner took this number first.
        Err(object_store::Error::AlreadyExists { .. }) => {
            let held = current(lake, &dir).await?.map(|(_, d)| Held {
                owner: d.owner,
                expires_at: d.expires_at,
            });
            Ok(Err(held.unwrap_or(Held {
                owner: "another runner".into(),
                expires_at: Utc::now(),
            })))
        }
        Err(e) => Err(e.into()),
    }
}

impl Lease {
    async fn write(&self, released: bool) -> Result<()> {
        let doc = Doc {
            owner: self.owner.clone(),
            expires_at: Utc::now() + self.ttl,
            released,
        };
        self.lake
            .store()
            .put(
                &self.lake.path(&format!("{}/{:020}.json", self.dir, self.n)),
                encode(&doc)?.into(),
            )
            .await?;
        Ok(())
    }

    /// Extends the lease; false when another runner has taken it over (then stop working).
    pub async fn renew(&self) -> Result<bool> {
        if current(&self.lake, &self.dir)
            .await?
            .is_some_and(|(n, _)| n != self.n)
        {
            return Ok(false);
        }
        self.write(false).await?;
        Ok(true)
    }

    /// Gives the lease up.
    pub async fn release(self) -> Result<()> {
        if current(&self.lake, &self.dir)
            .await?
            .is_some_and(|(n, _)| n == self.n)
        {
            self.write(true).await?;
        }
        Ok(())
    }

    /// How often to renew: a third of the time to live.
    pub fn renew_every(&self) -> std::time::Duration {
        (self.ttl / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
    }
}

/// True when the lease `key` is held and unexpired (by anyone).
pub async fn is_live(lake: &Lake, key: &str) -> Result<bool> {
    Ok(current(lake, &format!("sys/leases/{key}"))
        .await?
        .is_some_and(|(_, d)| !d.released && d.expires_at > Utc::now()))
}
