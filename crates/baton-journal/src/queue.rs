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
//!
//! A writer keeps its connection from one batch to the next while writes keep coming
//! (see [`KEEP_IDLE`]): sqlx tests every connection given back to its pool with a
//! round trip to the database (a `Sync` on PostgreSQL, a request to the connection's
//! thread on SQLite), and the next batch waited for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use baton_core::encoded::EncodedJson;
use baton_core::event::Event;
use baton_core::ids::RunId;
use baton_core::journal::{Commit, CommitChain, JournalError, NewRun, OnCommitted, Urgency};
use baton_core::status::RunStatus;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::codec::{EventRow, event_rows};
use crate::error::db_error;

/// The most writes in one transaction.
const WRITES_PER_BATCH: usize = 256;

/// The longest a writer holds a batch of commits that nobody waits for, so that a
/// commit someone waits for (in a chain of tasks, the next task's start, a moment
/// later) shares their transaction. Their events are published that much later.
pub(crate) const LATER_WINDOW: Duration = Duration::from_millis(2);

/// The longest a writer keeps its connection without writing; then it gives it back
/// to the pool, for reads. Writers also give theirs back when the store closes
/// ([`WriteQueue::release_connections`]).
pub(crate) const KEEP_IDLE: Duration = Duration::from_secs(1);

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

/// A new run as it waits in the queue: its first events already encoded as JSON
/// text, and its request as the engine encoded it (shared with its `run_created`
/// event). Thousands of new runs may wait at once while their first writes queue up
/// behind them.
pub(crate) struct QueuedRun {
    pub(crate) id: RunId,
    pub(crate) tenant: Option<String>,
    pub(crate) request: EncodedJson,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) request_hash: Option<String>,
    pub(crate) status: RunStatus,
    pub(crate) created_at: OffsetDateTime,
    /// Its first events, as rows of `events` (see [`event_rows`]).
    pub(crate) events: Vec<EventRow>,
}

impl QueuedRun {
    /// A new run encoded, its own fields copied (the request is shared).
    pub(crate) fn new(run: &NewRun, events: &[Event]) -> Result<Self, JournalError> {
        Ok(QueuedRun {
            id: run.id,
            tenant: run.tenant.clone(),
            request: run.request.clone(),
            idempotency_key: run.idempotency_key.clone(),
            request_hash: run.request_hash.clone(),
            status: run.status,
            created_at: run.created_at,
            events: event_rows([], &events.iter().collect::<Vec<_>>())?,
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
    /// A connection a writer writes through, and keeps between batches.
    type Connection: Send + 'static;

    /// Takes a connection for a writer from the pool.
    async fn connect(&self) -> Result<Self::Connection, JournalError>;

    /// Writes these jobs in one transaction, in order. The outer error means nothing
    /// was written (and the connection is given up); otherwise each job's own outcome
    /// (only a create can fail alone, with [`JournalError::IdempotencyKeyTaken`],
    /// writing nothing of its own).
    async fn write(
        &self,
        conn: &mut Self::Connection,
        jobs: &[&Job],
    ) -> Result<Vec<Result<(), JournalError>>, JournalError>;

    /// Whether the store was closed (a failed write is then not tried again).
    fn is_closed(&self) -> bool;
}

/// Whether writers keep their connection between batches (see [`KEEP_IDLE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// While writes keep coming.
    BetweenBatches,
    /// Never: the reads share the pool's one connection.
    Never,
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
    /// Once cancelled, writers keep no connection between batches.
    release: CancellationToken,
}

impl WriteQueue {
    /// Starts `writers` writer tasks over the backend. They end when every clone of
    /// the queue is dropped. With `keep` off they keep no connection between batches
    /// (as after [`WriteQueue::release_connections`]): for a pool whose one
    /// connection the reads share.
    pub(crate) fn start(backend: impl Backend, writers: usize, keep: Keep) -> WriteQueue {
        let backend = Arc::new(backend);
        let release = CancellationToken::new();
        if keep == Keep::Never {
            release.cancel();
        }
        let writers = (0..writers.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run_writer(backend.clone(), receiver, release.clone()));
                sender
            })
            .collect();
        WriteQueue {
            writers,
            next: Arc::new(AtomicUsize::new(0)),
            release,
        }
    }

    /// Makes every writer give its connection back to the pool (at once if it waits
    /// for writes, after its batch if it is writing) and take one only for each
    /// batch from now on: a pool closes only once its connections are back.
    pub(crate) fn release_connections(&self) {
        self.release.cancel();
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
/// moment for one somebody does (see [`LATER_WINDOW`]). It keeps its connection
/// between batches until it has written nothing for [`KEEP_IDLE`] or is told to
/// give it back.
async fn run_writer<B: Backend>(
    backend: Arc<B>,
    mut receiver: mpsc::UnboundedReceiver<Queued>,
    release: CancellationToken,
) {
    let mut held: Option<B::Connection> = None;
    let mut batch = Vec::with_capacity(WRITES_PER_BATCH);
    loop {
        let first = if held.is_some() {
            tokio::select! {
                biased;
                first = receiver.recv() => first,
                () = release.cancelled() => {
                    held = None;
                    continue;
                }
                () = tokio::time::sleep(KEEP_IDLE) => {
                    held = None;
                    continue;
                }
            }
        } else {
            receiver.recv().await
        };
        let Some(first) = first else { break };
        batch.push(first);
        take_queued(&mut receiver, &mut batch);
        if batch.iter().all(|queued| queued.urgency == Urgency::Later) {
            hold_for_company(&mut receiver, &mut batch).await;
        }
        write_batch(&*backend, &mut held, &mut batch).await;
        if release.is_cancelled() {
            held = None;
        }
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
async fn write_batch<B: Backend>(
    backend: &B,
    held: &mut Option<B::Connection>,
    batch: &mut Vec<Queued>,
) {
    if batch.len() > 1 && batch.iter().all(|queued| queued.chain_check().is_ok()) {
        let jobs: Vec<&Job> = batch.iter().map(|queued| &queued.job).collect();
        match write_held(backend, held, &jobs).await {
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
        let outcome = write_one(backend, held, &queued.job).await;
        queued.answer(outcome);
    }
}

/// Writes jobs through the writer's kept connection, or one taken from the pool; a
/// connection is kept only while its writes succeed (one whose write failed may be
/// broken, and the pool tests it when it is given back).
async fn write_held<B: Backend>(
    backend: &B,
    held: &mut Option<B::Connection>,
    jobs: &[&Job],
) -> Result<Vec<Result<(), JournalError>>, JournalError> {
    let mut conn = match held.take() {
        Some(conn) => conn,
        None => backend.connect().await?,
    };
    let outcomes = backend.write(&mut conn, jobs).await?;
    *held = Some(conn);
    Ok(outcomes)
}

/// Writes one job in its own transaction, trying again while the database is
/// unavailable.
async fn write_one<B: Backend>(
    backend: &B,
    held: &mut Option<B::Connection>,
    job: &Job,
) -> Result<(), JournalError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match write_held(backend, held, &[job]).await {
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

    /// A backend that writes nothing and records how many jobs each write held, how
    /// many connections it handed out and how many are still held; a write fails
    /// while `fail` is set.
    #[derive(Default)]
    struct Recorder {
        writes: Mutex<Vec<usize>>,
        connects: AtomicUsize,
        open: Arc<AtomicUsize>,
        fail: std::sync::atomic::AtomicBool,
    }

    /// A connection the recorder handed out; it counts itself closed when dropped.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl Backend for Arc<Recorder> {
        type Connection = Counted;

        async fn connect(&self) -> Result<Counted, JournalError> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            self.open.fetch_add(1, Ordering::SeqCst);
            Ok(Counted(self.open.clone()))
        }

        async fn write(
            &self,
            _conn: &mut Counted,
            jobs: &[&Job],
        ) -> Result<Vec<Result<(), JournalError>>, JournalError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(JournalError::Corrupt("the recorder fails".to_owned()));
            }
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

        fn connects(&self) -> usize {
            self.connects.load(Ordering::SeqCst)
        }

        fn open(&self) -> usize {
            self.open.load(Ordering::SeqCst)
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

    /// Waits for a submitted write's answer, which must be that it was written.
    async fn landed(outcome: oneshot::Receiver<Result<(), JournalError>>) {
        outcome.await.expect("an answer").expect("written");
    }

    /// A queue with one writer over a recorder, and a chain to submit on.
    fn one_writer() -> (Arc<Recorder>, WriteQueue, CommitChain) {
        let recorder = Arc::new(Recorder::default());
        let queue = WriteQueue::start(recorder.clone(), 1, Keep::BetweenBatches);
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
        landed(submit(&queue, &chain, 2, Urgency::Now)).await;
        landed(later).await;
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

        landed(submit(&queue, &chain, 1, Urgency::Later)).await;

        assert_eq!(recorder.writes(), vec![1]);
        assert!(began.elapsed() >= LATER_WINDOW, "{:?}", began.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waited_commit_alone_is_written_at_once() {
        let (recorder, queue, chain) = one_writer();
        let began = Instant::now();

        landed(submit(&queue, &chain, 1, Urgency::Now)).await;

        assert_eq!(recorder.writes(), vec![1]);
        assert_eq!(began.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_keeps_its_connection_between_batches() {
        let (recorder, queue, chain) = one_writer();

        for seq in 1..=3 {
            landed(submit(&queue, &chain, seq, Urgency::Now)).await;
        }

        assert_eq!(recorder.writes(), vec![1, 1, 1]);
        assert_eq!(
            recorder.connects(),
            1,
            "one connection for the three batches"
        );
        assert_eq!(recorder.open(), 1, "still held for the next batch");
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_gives_up_a_connection_whose_write_failed() {
        let (recorder, queue, chain) = one_writer();
        recorder.fail.store(true, Ordering::SeqCst);
        let failed = submit(&queue, &chain, 1, Urgency::Now);
        failed
            .await
            .expect("an answer")
            .expect_err("the write failed");
        assert_eq!(recorder.open(), 0, "not kept after a failure");

        recorder.fail.store(false, Ordering::SeqCst);
        let other = CommitChain::for_run(RunId::new());
        landed(submit(&queue, &other, 1, Urgency::Now)).await;

        assert_eq!(
            recorder.connects(),
            2,
            "a fresh connection after the failure"
        );
        assert_eq!(recorder.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_writer_gives_its_connection_back() {
        let (recorder, queue, chain) = one_writer();
        landed(submit(&queue, &chain, 1, Urgency::Now)).await;
        assert_eq!(recorder.open(), 1);

        // Paused time, moved by hand: the writer's idle deadline is `KEEP_IDLE` on.
        tokio::time::advance(KEEP_IDLE - Duration::from_millis(1)).await;
        let_the_writer_run().await;
        assert_eq!(recorder.open(), 1, "kept until it has been idle that long");
        tokio::time::advance(Duration::from_millis(1)).await;
        let_the_writer_run().await;

        assert_eq!(recorder.open(), 0, "given back once idle");
        landed(submit(&queue, &chain, 2, Urgency::Now)).await;
        assert_eq!(recorder.connects(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn released_writers_give_their_connections_back_and_keep_none() {
        let (recorder, queue, chain) = one_writer();
        landed(submit(&queue, &chain, 1, Urgency::Now)).await;
        assert_eq!(recorder.open(), 1);

        queue.release_connections();
        let_the_writer_run().await;
        assert_eq!(recorder.open(), 0, "given back at once");

        landed(submit(&queue, &chain, 2, Urgency::Now)).await;
        assert_eq!(recorder.open(), 0, "a released writer keeps none");
        assert_eq!(recorder.writes(), vec![1, 1]);
    }
}
