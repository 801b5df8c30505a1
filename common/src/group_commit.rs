//! Group commit: many concurrent callers, one transaction per batch.
//!
//! Each caller hands its item to one collector task and waits on a oneshot; the
//! collector takes the first waiting item plus whatever else is queued (up to
//! `max_batch`) and commits them together. There is no timer: batches grow by
//! themselves while the previous transaction commits, so an idle service answers
//! at once and a busy one pays a transaction (and any hot row's lock) once per
//! batch instead of once per item. db_proxy writes orders this way, health_check
//! single reports.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What a collector does with a batch.
pub trait Committer: Send + 'static {
    type Item: Send + 'static;
    type Answer: Send + 'static;

    /// Commits `items` and answers each one, in the same order. Callers hear
    /// back only after this returns.
    fn commit(&mut self, items: Vec<Self::Item>) -> impl Future<Output = Vec<Self::Answer>> + Send;
}

struct Pending<T, A> {
    item: T,
    reply: oneshot::Sender<A>,
}

/// The callers' side of a collector. Cheap to clone; the collector stops when
/// the last clone is dropped.
pub struct GroupCommit<T, A> {
    tx: mpsc::Sender<Pending<T, A>>,
}

impl<T, A> Clone for GroupCommit<T, A> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<T, A> std::fmt::Debug for GroupCommit<T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish()
    }
}

impl<T: Send + 'static, A: Send + 'static> GroupCommit<T, A> {
    /// Starts the collector task. Room is kept for eight batches; beyond that
    /// callers wait to enqueue (backpressure).
    pub fn spawn<C>(committer: C, max_batch: usize) -> (Self, JoinHandle<()>)
    where
        C: Committer<Item = T, Answer = A>,
    {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(8));
        (Self { tx }, tokio::spawn(run(committer, rx, max_batch)))
    }

    /// Queues an item and waits for its batch. `None` when the collector has
    /// stopped. Holds nothing but its oneshot while waiting.
    pub async fn submit(&self, item: T) -> Option<A> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Pending { item, reply }).await.ok()?;
        answer.await.ok()
    }
}

async fn run<C: Committer>(
    mut committer: C,
    mut rx: mpsc::Receiver<Pending<C::Item, C::Answer>>,
    max_batch: usize,
) {
    let mut buf = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut buf, max_batch).await == 0 {
            return;
        }
        // A caller that has gone (disconnected, timed out) is not committed for:
        // nobody would learn the outcome.
        let (items, replies): (Vec<_>, Vec<_>) = buf
            .drain(..)
            .filter(|p| !p.reply.is_closed())
            .map(|p| (p.item, p.reply))
            .unzip();
        if items.is_empty() {
            continue;
        }
        let answers = committer.commit(items).await;
        debug_assert_eq!(answers.len(), replies.len(), "one answer per item");
        for (reply, answer) in replies.into_iter().zip(answers) {
            // The caller may have gone meanwhile; what was committed stands.
            let _ = reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Doubles each item and records the batch sizes it saw.
    struct Doubler {
        sizes: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    }

    impl Committer for Doubler {
        type Item = u32;
        type Answer = u32;

        async fn commit(&mut self, items: Vec<u32>) -> Vec<u32> {
            self.sizes.lock().unwrap().push(items.len());
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            items.into_iter().map(|i| i * 2).collect()
        }
    }

    #[tokio::test]
    async fn every_caller_gets_its_own_answer_and_batches_form_under_load() {
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (sink, task) = GroupCommit::spawn(Doubler { sizes: sizes.clone() }, 16);
        let calls: Vec<_> = (0..200u32)
            .map(|i| {
                let sink = sink.clone();
                tokio::spawn(async move { (i, sink.submit(i).await) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.unwrap();
            assert_eq!(answer, Some(i * 2));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.iter().all(|s| (1..=16).contains(s)), "{sizes:?}");
        assert!(sizes.len() < 200, "no batch held more than one item: {sizes:?}");
        drop(sink);
        task.await.unwrap();
    }
}
