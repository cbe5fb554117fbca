//! The server's own tasks: every loop it runs beside the requests, and every connection, is
//! spawned through [`Tasks`], so that shutdown ends them and a server dropped unserved (tests
//! do that) leaves none behind.
//!
//! One cancellation token and one task tracker per server: [`TaskOwner`] (held by the
//! `Switchboard`) cancels on [`TaskOwner::stop`] or when dropped; each task is dropped at its
//! next await once cancelled, and `stop` waits until all have ended.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where one server's tasks are spawned. Cheap to clone; every clone spawns into the same set.
#[derive(Clone)]
pub struct Tasks {
    /// Cancelled once, when the server stops or is dropped.
    stop: CancellationToken,
    /// Every task spawned here, to wait for on shutdown.
    tracker: TaskTracker,
}

impl Tasks {
    /// Runs `task` until it ends or the server stops, whichever comes first. Spawned after
    /// the stop, it does not run at all.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            // Biased: a task woken by the stop and by its own work at once ends.
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Runs `work` on a thread for blocking work. It cannot be cancelled, but a stop waits for
    /// it: what it writes is written before the server says it stopped.
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.tracker.spawn_blocking(work)
    }

    /// Runs `cleanup` to its end once the server stops (what must happen even to a server
    /// dropped without being served, such as leaving the cluster's channels).
    pub fn on_stop(&self, cleanup: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            stop.cancelled().await;
            cleanup.await;
        });
    }
}

/// The one owner of a server's [`Tasks`]: stopping it, or dropping it, ends them all.
pub struct TaskOwner {
    tasks: Tasks,
}

impl TaskOwner {
    /// An empty set, before anything is spawned.
    pub fn new() -> TaskOwner {
        TaskOwner {
            tasks: Tasks {
                stop: CancellationToken::new(),
                tracker: TaskTracker::new(),
            },
        }
    }

    /// A handle to spawn with.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Ends every task and waits until all have (the `on_stop` clean-ups ran to their end).
    pub async fn stop(self) {
        self.tasks.stop.cancel();
        self.tasks.tracker.close();
        self.tasks.tracker.wait().await;
    }
}

impl Drop for TaskOwner {
    fn drop(&mut self) {
        // Dropped without `stop` (a server built and never served, or one whose `serve` was
        // itself dropped): the tasks end at their next await, nobody waits for them.
        self.tasks.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_loops_and_runs_the_clean_ups_to_their_end() {
        let owner = TaskOwner::new();
        let (cleaned_tx, cleaned) = tokio::sync::oneshot::channel();
        owner.tasks().spawn(std::future::pending());
        owner.tasks().on_stop(async move {
            tokio::task::yield_now().await;
            let _ = cleaned_tx.send(());
        });
        let tracker = owner.tasks().tracker.clone();
        assert_eq!(tracker.len(), 2);
        owner.stop().await;
        assert!(tracker.is_empty(), "stop waited for both");
        assert!(cleaned.await.is_ok(), "the clean-up ran");
    }

    #[tokio::test]
    async fn dropping_the_owner_ends_its_tasks_and_later_spawns_do_not_run() {
        let owner = TaskOwner::new();
        let tasks = owner.tasks().clone();
        let (ran_tx, mut ran) = tokio::sync::mpsc::unbounded_channel::<()>();
        tasks.spawn(std::future::pending());
        drop(owner);
        tasks.tracker.close();
        tasks.tracker.wait().await;
        tasks.spawn(async move {
            let _ = ran_tx.send(());
        });
        assert!(
            ran.recv().await.is_none(),
            "a task spawned after the stop never ran"
        );
    }
}
