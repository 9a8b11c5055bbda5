//! The cluster's size as the planner sees it, and pull scheduling without the executors' idle
//! sleep.
//!
//! Ballista plans every stage into `target_partitions` tasks (16 by default) whatever the
//! cluster's size, and each task costs a scheduling round trip: on two one-vcore executors
//! that overhead, not the work, was most of a job set's time. Pulse's scheduler plans with
//! as many partitions as its executors have vcores ([`Slots`]), as Spark's default
//! parallelism is the executors' cores, unless the client set another number.
//!
//! Under pull scheduling an executor that finds no task sleeps 50 ms before asking again, and
//! a job's next stage becomes runnable just after the poll that reported its last task: each
//! stage waited out a sleep. An idle executor's empty poll now waits at the scheduler (at
//! most [`IDLE_POLL`]) until Ballista says new tasks are runnable ([`Work`]), then asks
//! again. (Tasks made runnable again after a failure send no signal; the wait's end finds
//! them.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ballista_scheduler::config::{OnWorkAvailableFn, WorkAvailableReason};
use datafusion::prelude::SessionConfig;
use tokio::sync::Notify;

/// Longest an empty poll of an idle executor waits (its polls are its heartbeats, and a
/// task that ends while its executor polls is reported only by the next poll). An executor
/// running tasks is answered at once: it reports their ends with its polls.
pub const IDLE_POLL: Duration = Duration::from_millis(200);

/// The vcores of each executor the scheduler knows.
#[derive(Default)]
pub struct Slots(Mutex<HashMap<String, u32>>);

impl Slots {
    /// Records (or updates) an executor's vcores.
    pub fn set(&self, executor: &str, vcores: u32) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(executor.to_string(), vcores);
        }
    }

    /// Forgets a removed executor.
    pub fn remove(&self, executor: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(executor);
        }
    }

    /// The vcores of all executors (at least 1).
    pub fn total(&self) -> usize {
        let sum: u64 = self
            .0
            .lock()
            .map(|m| m.values().map(|v| u64::from(*v)).sum())
            .unwrap_or(0);
        usize::try_from(sum).unwrap_or(usize::MAX).max(1)
    }

    /// `config` to plan with: the cluster's vcores as target partitions, unless the client
    /// chose a number other than Ballista's default (16: a client asking for exactly 16
    /// gets the cluster's vcores).
    pub fn plan_config(&self, config: SessionConfig) -> SessionConfig {
        let default = crate::cluster_config().target_partitions();
        if config.target_partitions() == default {
            config.with_target_partitions(self.total())
        } else {
            config
        }
    }
}

/// Counts Ballista's "new tasks are runnable" signals and wakes the polls that wait for one.
#[derive(Default)]
pub struct Work {
    generation: AtomicU64,
    notify: Notify,
}

impl Work {
    /// The callback to hand Ballista (`SchedulerConfig::on_work_available`).
    pub fn callback(self: &Arc<Self>) -> OnWorkAvailableFn {
        let work = self.clone();
        Arc::new(move |_: WorkAvailableReason| {
            work.generation.fetch_add(1, Ordering::SeqCst);
            work.notify.notify_waiters();
        })
    }

    /// How many signals there were so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Waits until there was a signal after `seen` (true) or `deadline` passes (false).
    pub async fn wait_past(&self, seen: u64, deadline: tokio::time::Instant) -> bool {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.generation() != seen {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.generation() != seen;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_add_up_and_keep_a_clients_own_choice() {
        let s = Slots::default();
        assert_eq!(s.total(), 1, "no executor yet still plans one partition");
        s.set("a", 2);
        s.set("b", 3);
        s.set("a", 4);
        assert_eq!(s.total(), 7);
        s.remove("b");
        assert_eq!(s.total(), 4);
        let planned = s.plan_config(crate::cluster_config());
        assert_eq!(planned.target_partitions(), 4);
        let own = s.plan_config(crate::cluster_config().with_target_partitions(3));
        assert_eq!(own.target_partitions(), 3);
    }

    #[tokio::test]
    async fn a_signal_wakes_a_waiting_poll_and_none_times_out() {
        let w = Arc::new(Work::default());
        let seen = w.generation();
        let soon = tokio::time::Instant::now() + Duration::from_millis(20);
        assert!(!w.wait_past(seen, soon).await, "no signal: timed out");
        let cb = w.callback();
        let waiter = {
            let w = w.clone();
            tokio::spawn(async move {
                let later = tokio::time::Instant::now() + Duration::from_secs(30);
                w.wait_past(seen, later).await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        cb(WorkAvailableReason::JobSubmitted {
            job_id: "j".to_string().into(),
        });
        assert!(waiter.await.unwrap(), "woken by the signal");
        // A signal before the wait starts is not missed.
        let seen = w.generation();
        cb(WorkAvailableReason::JobSubmitted {
            job_id: "k".to_string().into(),
        });
        let later = tokio::time::Instant::now() + Duration::from_secs(30);
        assert!(w.wait_past(seen, later).await);
    }
}
