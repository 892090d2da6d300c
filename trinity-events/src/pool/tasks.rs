//! Tasks that are aborted when their owner is dropped.

use tokio::task::JoinHandle;

/// The tasks of a server or proxy; dropping the set aborts them all.
#[derive(Debug, Default)]
pub(crate) struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    pub(crate) fn push(&mut self, task: JoinHandle<()>) {
        self.0.push(task);
    }

    /// Whether every task is still running.
    pub(crate) fn all_running(&self) -> bool {
        self.0.iter().all(|task| !task.is_finished())
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
