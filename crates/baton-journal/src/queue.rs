//! The write queue both backends share (group commit): one or more writer tasks,
//! each taking writes from its own queue in arrival order and writing those that
//! queued up behind each other in one transaction, so many runs share one `fsync`
//! (SQLite) or one WAL flush (PostgreSQL).
//!
//! A chain (one run's commits) always goes to the same writer, so its commits land
//! and are answered in submission order. A batch that fails is written again one
//! write at a time, so a bad write fails alone and writes nothing; a write that
//! fails as `Unavailable` is tried again a few times before it is given up; and once
//! a chain's commit is given up, its later commits fail unwritten (see
//! [`CommitChain`]).
//!
//! A batch of commits nobody waits for ([`Urgency::Later`]) is held for up to
//! [`LATER_WINDOW`], until a commit someone waits for joins it: in a chain of tasks, a
//! task's end and the next task's start then share one transaction and one flush
//! instead of taking one each, one after the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use baton_core::event::Event;
use baton_core::ids::RunId;
use baton_core::journal::{Commit, CommitChain, JournalError, NewRun, OnCommitted, Urgency};
use baton_core::status::RunStatus;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{event_json, to_json};
use crate::error::db_error;

/// The most writes in one transaction.
const WRITES_PER_BATCH: usize = 256;

/// The longest a writer holds a batch of commits that nobody waits for, so that a
/// commit someone waits for (in a chain of tasks, the next task's start, a moment
/// later) shares their transaction. Their events are published that much later.
pub(crate) const LATER_WINDOW: Duration = Duration::from_millis(2);

/// How often a write that failed as `Unavailable` is tried before it is given up.
/// Writes are idempotent, so trying again after an unknown outcome is harmless.
const WRITE_ATTEMPTS: u32 = 3;

/// One write the queue holds.
pub(crate) enum Job {
    /// A new run with its first events; refused if its idempotency key is taken.
    Create(QueuedRun),
    /// A commit.
    Commit(Commit),
}

/// A new run as it waits in the queue: its request and its first events already
/// encoded as JSON text. A request as a JSON tree takes several times the room of its
/// text, it is there twice (the run's and its `run_created` event's), and thousands of
/// new runs may wait at once while their first writes queue up behind them.
pub(crate) struct QueuedRun {
    pub(crate) id: RunId,
    pub(crate) tenant: Option<String>,
    pub(crate) request: String,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) request_hash: Option<String>,
    pub(crate) status: RunStatus,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) events: Vec<EncodedEvent>,
}

/// An event with its JSON text (see [`event_json`]).
pub(crate) struct EncodedEvent {
    pub(crate) run_id: RunId,
    pub(crate) seq: u64,
    pub(crate) kind: &'static str,
    pub(crate) ts: OffsetDateTime,
    pub(crate) data: String,
}

impl QueuedRun {
    /// A new run encoded, its own fields copied (the request is only read).
    pub(crate) fn new(run: &NewRun, events: &[Event]) -> Result<Self, JournalError> {
        Ok(QueuedRun {
            id: run.id,
            tenant: run.tenant.clone(),
            request: to_json(&run.request, "run request")?,
            idempotency_key: run.idempotency_key.clone(),
            request_hash: run.request_hash.clone(),
            status: run.status,
            created_at: run.created_at,
            events: events
                .iter()
                .map(EncodedEvent::new)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl EncodedEvent {
    fn new(event: &Event) -> Result<Self, JournalError> {
        Ok(EncodedEvent {
            run_id: event.run_id,
            seq: event.seq,
            kind: event.name(),
            ts: event.ts,
            data: event_json(event)?,
        })
    }
}

/// The commits among a batch's jobs, in order.
pub(crate) fn commits_of<'a>(jobs: &[&'a Job]) -> Vec<&'a Commit> {
    jobs.iter()
        .filter_map(|job| match job {
            Job::Commit(commit) => Some(commit),
            Job::Create(_) => None,
        })
        .collect()
}

/// What a backend does for the queue.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Writes these jobs in one transaction, in order. The outer error means nothing
    /// was written; otherwise each job's own outcome (only a create can fail alone,
    /// with [`JournalError::IdempotencyKeyTaken`], writing nothing of its own).
    async fn write(&self, jobs: &[&Job]) -> Result<Vec<Result<(), JournalError>>, JournalError>;

    /// Whether the store was closed (a failed write is then not tried again).
    fn is_closed(&self) -> bool;
}

/// A write waiting for its writer, with where its outcome goes.
struct Queued {
    job: Job,
    chain: Option<CommitChain>,
    urgency: Urgency,
    done: OnCommitted,
}

impl Queued {
    /// Answers the write's caller (a new run hands back no commit).
    fn answer(self, result: Result<(), JournalError>) {
        if result.is_err()
            && let Some(chain) = &self.chain
        {
            chain.break_chain();
        }
        let commit = match self.job {
            Job::Commit(commit) => commit,
            Job::Create(_) => Commit::default(),
        };
        (self.done)(result, commit);
    }

    /// `Err` when an earlier commit of the write's chain failed.
    fn chain_check(&self) -> Result<(), JournalError> {
        self.chain.as_ref().map_or(Ok(()), CommitChain::check)
    }
}

/// The queues of a store's writers. Cloning shares them.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    writers: Arc<[mpsc::UnboundedSender<Queued>]>,
    /// Spreads writes without a chain over the writers.
    next: Arc<AtomicUsize>,
}

impl WriteQueue {
    /// Starts `writers` writer tasks over the backend. They end when every clone of
    /// the queue is dropped.
    pub(crate) fn start(backend: impl Backend, writers: usize) -> WriteQueue {
        let backend = Arc::new(backend);
        let writers = (0..writers.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run_writer(backend.clone(), receiver));
                sender
            })
            .collect();
        WriteQueue {
            writers,
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Queues a new run (on the writer of its own chain, so that it lands before
    /// the run's commits) and waits for its outcome.
    pub(crate) async fn create_run(
        &self,
        run: &NewRun,
        events: &[Event],
    ) -> Result<(), JournalError> {
        let (done, outcome) = oneshot::channel();
        let chain = CommitChain::for_run(run.id);
        self.submit_run(&chain, run, events, Urgency::Now, answer_to(done));
        outcome.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Queues a commit and waits until the transaction that holds it is committed.
    pub(crate) async fn commit(&self, commit: &Commit) -> Result<(), JournalError> {
        if commit.is_empty() {
            return Ok(());
        }
        let (done, outcome) = oneshot::channel();
        self.enqueue(
            None,
            Queued {
                job: Job::Commit(commit.clone()),
                chain: None,
                urgency: Urgency::Now,
                done: answer_to(done),
            },
        );
        outcome.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Queues a chain's commit (see [`baton_core::journal::Journal::submit`]).
    pub(crate) fn submit(
        &self,
        chain: &CommitChain,
        commit: Commit,
        urgency: Urgency,
        done: OnCommitted,
    ) {
        if let Err(err) = chain.check() {
            return done(Err(err), commit);
        }
        if commit.is_empty() {
            return done(Ok(()), commit);
        }
        self.enqueue(
            Some(chain.key()),
            Queued {
                job: Job::Commit(commit),
                chain: Some(chain.clone()),
                urgency,
                done,
            },
        );
    }

    /// Queues a new run as the first write of its chain (see
    /// [`baton_core::journal::Journal::submit_run`]): it goes to the chain's writer,
    /// ahead of the commits submitted after it, and its failure breaks the chain.
    pub(crate) fn submit_run(
        &self,
        chain: &CommitChain,
        run: &NewRun,
        events: &[Event],
        urgency: Urgency,
        done: OnCommitted,
    ) {
        let queued = chain.check().and_then(|()| QueuedRun::new(run, events));
        let queued = match queued {
            Ok(queued) => queued,
            Err(err) => {
                chain.break_chain();
                return done(Err(err), Commit::default());
            }
        };
        self.enqueue(
            Some(chain.key()),
            Queued {
                job: Job::Create(queued),
                chain: Some(chain.clone()),
                urgency,
                done,
            },
        );
    }

    fn enqueue(&self, key: Option<u64>, queued: Queued) {
        let index = match key {
            Some(key) => (key % self.writers.len() as u64) as usize,
            None => self.next.fetch_add(1, Ordering::Relaxed) % self.writers.len(),
        };
        if let Err(mpsc::error::SendError(queued)) = self.writers[index].send(queued) {
            queued.answer(Err(writer_gone()));
        }
    }
}

/// One writer: takes the first write waiting, and every write queued behind it (up
/// to a batch), and writes them together; a batch nobody waits for first waits a
/// moment for one somebody does (see [`LATER_WINDOW`]).
async fn run_writer(backend: Arc<impl Backend>, mut receiver: mpsc::UnboundedReceiver<Queued>) {
    let mut batch = Vec::with_capacity(WRITES_PER_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        take_queued(&mut receiver, &mut batch);
        if batch.iter().all(|queued| queued.urgency == Urgency::Later) {
            hold_for_company(&mut receiver, &mut batch).await;
        }
        write_batch(&*backend, &mut batch).await;
    }
}

/// Adds the writes queued now to the batch, up to its size.
fn take_queued(receiver: &mut mpsc::UnboundedReceiver<Queued>, batch: &mut Vec<Queued>) {
    while batch.len() < WRITES_PER_BATCH {
        match receiver.try_recv() {
            Ok(queued) => batch.push(queued),
            Err(_) => break,
        }
    }
}

/// Adds arriving writes to a batch nobody waits for, until one arrives that somebody
/// waits for (with whatever queued behind it), the batch is full, or
/// [`LATER_WINDOW`] has passed.
async fn hold_for_company(receiver: &mut mpsc::UnboundedReceiver<Queued>, batch: &mut Vec<Queued>) {
    let window = tokio::time::sleep(LATER_WINDOW);
    tokio::pin!(window);
    while batch.len() < WRITES_PER_BATCH {
        tokio::select! {
            biased;
            queued = receiver.recv() => {
                let Some(queued) = queued else { return };
                let urgency = queued.urgency;
                batch.push(queued);
                if urgency == Urgency::Now {
                    take_queued(receiver, batch);
                    return;
                }
            }
            () = &mut window => return,
        }
    }
}

/// Writes a batch in one transaction and answers each caller, in queue order; when
/// that fails, writes each job in its own transaction, so only a bad one fails.
async fn write_batch(backend: &impl Backend, batch: &mut Vec<Queued>) {
    if batch.len() > 1 && batch.iter().all(|queued| queued.chain_check().is_ok()) {
        let jobs: Vec<&Job> = batch.iter().map(|queued| &queued.job).collect();
        match backend.write(&jobs).await {
            Ok(outcomes) => {
                for (queued, outcome) in batch.drain(..).zip(outcomes) {
                    queued.answer(outcome);
                }
                return;
            }
            Err(err) => {
                tracing::debug!(writes = batch.len(), error = %err, "a batch of writes failed; writing them one at a time");
            }
        }
    }
    for queued in batch.drain(..) {
        if let Err(err) = queued.chain_check() {
            queued.answer(Err(err));
            continue;
        }
        let outcome = write_one(backend, &queued.job).await;
        queued.answer(outcome);
    }
}

/// Writes one job in its own transaction, trying again while the database is
/// unavailable.
async fn write_one(backend: &impl Backend, job: &Job) -> Result<(), JournalError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match backend.write(&[job]).await {
            Ok(mut outcomes) => return outcomes.pop().unwrap_or(Ok(())),
            Err(err @ JournalError::Unavailable(_))
                if tries < WRITE_ATTEMPTS && !backend.is_closed() =>
            {
                tracing::warn!(error = %err, "a journal write failed; trying again");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(tries))).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Sends a write's outcome to a caller who waits for it (one that went away no
/// longer needs it).
fn answer_to(caller: oneshot::Sender<Result<(), JournalError>>) -> OnCommitted {
    Box::new(move |result, _| drop(caller.send(result)))
}

fn writer_gone() -> JournalError {
    db_error(sqlx::Error::PoolClosed)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use baton_core::event::{Event, EventPayload};
    use baton_core::ids::{RunId, TaskId};
    use time::OffsetDateTime;
    use tokio::time::Instant;

    use super::*;

    /// A backend that writes nothing and records how many jobs each write held.
    #[derive(Default)]
    struct Recorder {
        writes: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl Backend for Arc<Recorder> {
        async fn write(
            &self,
            jobs: &[&Job],
        ) -> Result<Vec<Result<(), JournalError>>, JournalError> {
            self.writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(jobs.len());
            Ok(jobs.iter().map(|_| Ok(())).collect())
        }

        fn is_closed(&self) -> bool {
            false
        }
    }

    impl Recorder {
        fn writes(&self) -> Vec<usize> {
            self.writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }
    }

    fn commit(run_id: RunId, seq: u64) -> Commit {
        Commit {
            events: vec![Event {
                run_id,
                seq,
                ts: OffsetDateTime::now_utc(),
                payload: EventPayload::TaskDelta {
                    task_id: TaskId::parse("t").unwrap_or_else(|_| unreachable!()),
                    text: "x".to_owned(),
                },
            }],
            ..Commit::default()
        }
    }

    fn submit(
        queue: &WriteQueue,
        chain: &CommitChain,
        seq: u64,
        urgency: Urgency,
    ) -> oneshot::Receiver<Result<(), JournalError>> {
        let (done, outcome) = oneshot::channel();
        let run_id = RunId::new();
        queue.submit(chain, commit(run_id, seq), urgency, answer_to(done));
        outcome
    }

    /// A queue with one writer over a recorder, and a chain to submit on.
    fn one_writer() -> (Arc<Recorder>, WriteQueue, CommitChain) {
        let recorder = Arc::new(Recorder::default());
        let queue = WriteQueue::start(recorder.clone(), 1);
        (recorder, queue, CommitChain::for_run(RunId::new()))
    }

    /// Lets the writer task run until it waits again.
    async fn let_the_writer_run() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_commit_is_held_until_a_waited_one_shares_its_transaction() {
        let (recorder, queue, chain) = one_writer();
        let began = Instant::now();

        let later = submit(&queue, &chain, 1, Urgency::Later);
        let_the_writer_run().await;
        assert!(recorder.writes().is_empty(), "the later commit is held");
        let now = submit(&queue, &chain, 2, Urgency::Now);

        now.await.expect("an answer").expect("written");
        later.await.expect("an answer").expect("written");
        assert_eq!(recorder.writes(), vec![2], "one transaction for both");
        assert!(
            began.elapsed() < LATER_WINDOW,
            "the waited commit did not wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_commit_alone_is_written_once_the_window_has_passed() {
        let (recorder, queue, chain) = one_writer();
        let began = Instant::now();

        let later = submit(&queue, &chain, 1, Urgency::Later);
        later.await.expect("an answer").expect("written");

        assert_eq!(recorder.writes(), vec![1]);
        assert!(began.elapsed() >= LATER_WINDOW, "{:?}", began.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waited_commit_alone_is_written_at_once() {
        let (recorder, queue, chain) = one_writer();
        let began = Instant::now();

        let now = submit(&queue, &chain, 1, Urgency::Now);
        now.await.expect("an answer").expect("written");

        assert_eq!(recorder.writes(), vec![1]);
        assert_eq!(began.elapsed(), Duration::ZERO);
    }
}
