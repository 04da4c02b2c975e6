//! The single writer: the one task that owns the game state.
//!
//! Adapters send typed [`Command`]s over a bounded channel together with a reply handle. The
//! engine takes everything that is queued (a batch), runs each command through the domain, writes
//! all resulting events to the store in **one** durable commit, and only then replies to the
//! callers, publishes the events to the hub and publishes a fresh read-only [`Published`] view.
//!
//! Invariant: no reply leaves before the commit that holds its events returned. If the commit
//! fails, every command of the batch that changed something gets [`EngineError::Storage`], and
//! the state is rebuilt from the log, so nothing unacknowledged is half applied.
//!
//! A command sent inside [`acting_as`] is done by someone the staff's trail names: when it
//! changes anything and is not play ([`Command::is_play`]), an [`AuditEntry`] joins its events
//! in the same commit.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use crate::clock::wall_clock_ms;
use crate::domain::{
    order_for_first_write_wins, Actor, AuditEntry, Command, Contract, Domain, DomainError, Event,
    Outcome, TvChoice, Views,
};
use crate::hub::Hub;
use crate::store::{EncodedSnapshot, Store, StoreError};

/// Commands taken into one batch at most; bounds the latency of the first in the batch.
pub const MAX_BATCH: usize = 1024;

/// Log reads (resuming clients) that may run at once. Each holds a blocking thread and reads
/// up to the resume window; a viewer asking for resumes in a loop must not turn into hundreds
/// of threads reading the card.
pub const CONCURRENT_LOG_READS: usize = 2;

/// A thread of the engine's own for one kind of work, rather than tokio's blocking pool, which
/// log reads and other blocking work share. The commit thread runs the store work (commits,
/// fsyncs, reopening after a fault): nothing a client asks for can queue in front of a commit
/// and delay an ack. The snapshot thread encodes snapshots: always the same thread, so the
/// megabytes each one allocates are reused by the next rather than left behind in the memory
/// pool of whichever short-lived pool thread encoded it.
struct JobThread {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl JobThread {
    fn start(name: &str) -> Result<Self, StoreError> {
        let (jobs, inbox) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in inbox {
                    // A panicking job loses its own answer (the engine sees a failed commit and
                    // retries as for any storage fault), never the thread the next job needs.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        Ok(Self { jobs })
    }

    /// Runs `job` on the thread and waits for its result.
    async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        self.submit(job).wait().await
    }

    /// Starts `job` on the thread; its result is waited for later.
    fn submit<R: Send + 'static>(&self, job: impl FnOnce() -> R + Send + 'static) -> Submitted<R> {
        let (answer, result) = oneshot::channel();
        let sent = self.jobs.send(Box::new(move || {
            let _ = answer.send(job());
        }));
        Submitted(sent.map(|()| result).map_err(|_| StoreError::Closed))
    }
}

/// A job running on a [`JobThread`].
struct Submitted<R>(Result<oneshot::Receiver<R>, StoreError>);

impl<R> Submitted<R> {
    async fn wait(self) -> Result<R, StoreError> {
        self.0?
            .await
            .map_err(|_| StoreError::Thread("a job failed without an answer".into()))
    }

    /// The result if the job has finished, without waiting; `None` while it runs.
    fn finished(&mut self) -> Option<Result<R, StoreError>> {
        let receiver = match &mut self.0 {
            Ok(receiver) => receiver,
            // The thread had stopped when the job was sent.
            Err(_) => return Some(Err(StoreError::Closed)),
        };
        match receiver.try_recv() {
            Ok(result) => Some(Ok(result)),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(StoreError::Thread(
                "a job failed without an answer".into(),
            ))),
        }
    }
}

/// A batch decided and on its way to disk: its events are applied to the live state, not yet
/// to the committed one, and no caller has been answered.
struct Decided {
    replies: Vec<Answer>,
    changed: Vec<Contract>,
    /// The commit, when the batch has events: its first sequence number and the job writing it.
    commit: Option<(u64, Submitted<CommitResult>)>,
}

/// A caller's answer channel, the answer the domain gave, and whether the command changed
/// anything (if so, a failed commit turns its answer into a storage error).
type Answer = (
    oneshot::Sender<Result<Outcome, EngineError>>,
    Result<Outcome, EngineError>,
    bool,
);

/// What the commit thread hands back: the append's result, the events and whether a snapshot
/// rode along.
type CommitResult = (Result<(), StoreError>, Vec<Event>, bool);

/// A batch whose commit finished, one way or the other.
struct Settled {
    replies: Vec<Answer>,
    changed: Vec<Contract>,
    committed_events: Option<(u64, Vec<Event>)>,
    failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("storage failure, nothing was saved: {0}")]
    Storage(String),
    #[error("the engine has stopped")]
    Stopped,
}

/// What readers see: the state after the last commit.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Each contract's read model; a commit replaces only the ones it changed.
    pub views: Views,
    /// Sequence number of the last committed event.
    pub seq: u64,
    /// Set while the last commit failed; cleared by the next successful one.
    pub storage_fault: Option<String>,
    /// What staff last chose for the venue TVs, as logged.
    pub tv_shown: Option<Arc<TvChoice>>,
}

struct Request {
    command: Command,
    reply: oneshot::Sender<Result<Outcome, EngineError>>,
    /// Who the staff's trail names for it, if anyone.
    actor: Option<Actor>,
}

tokio::task_local! {
    static ACTING: Actor;
}

/// Runs `work` with every command it sends to the engine done by `actor`: what they change is
/// logged in the staff's trail with who, when and from where. The HTTP layer wraps a staff
/// request in it, so a contract's routes need not remember to.
pub async fn acting_as<F: std::future::Future>(actor: Actor, work: F) -> F::Output {
    ACTING.scope(actor, work).await
}

/// [`acting_as`] when there is an actor; `work` as it is when there is none.
pub async fn acting_as_if<F: std::future::Future>(actor: Option<Actor>, work: F) -> F::Output {
    match actor {
        Some(actor) => acting_as(actor, work).await,
        None => work.await,
    }
}

/// The actor [`acting_as`] set for the running task, to carry it into work spawned from it.
pub fn current_actor() -> Option<Actor> {
    ACTING.try_with(Clone::clone).ok()
}

/// Cloneable handle the adapters use.
#[derive(Clone)]
pub struct EngineHandle {
    requests: mpsc::Sender<Request>,
    published: watch::Receiver<Arc<Published>>,
    hub: Arc<Hub>,
    /// For reading the log (resumes); only the writer task writes.
    store: Arc<Store>,
    /// Bounds the log reads in flight, box-wide.
    log_reads: Arc<tokio::sync::Semaphore>,
}

impl EngineHandle {
    /// Runs `command` and waits until its effects are durable.
    pub async fn execute(&self, command: Command) -> Result<Outcome, EngineError> {
        let (reply, answer) = oneshot::channel();
        let actor = current_actor();
        self.requests
            .send(Request {
                command,
                reply,
                actor,
            })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// The state after the last commit.
    pub fn published(&self) -> Arc<Published> {
        self.published.borrow().clone()
    }

    /// Watches for new commits.
    pub fn watch(&self) -> watch::Receiver<Arc<Published>> {
        self.published.clone()
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Up to `limit` logged events after `after_seq`, read off the async threads.
    pub async fn read_log(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Event)>, StoreError> {
        self.read_log_if(after_seq, limit, || true)
            .await
            .map(Option::unwrap_or_default)
    }

    /// Like [`EngineHandle::read_log`], but waits its turn among the reads first and then reads
    /// only if `still_wanted()` (the client may have left meanwhile); `None` when it did not.
    pub async fn read_log_if(
        &self,
        after_seq: u64,
        limit: usize,
        still_wanted: impl FnOnce() -> bool,
    ) -> Result<Option<Vec<(u64, Event)>>, StoreError> {
        let _permit = self
            .log_reads
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        if !still_wanted() {
            return Ok(None);
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.read_from(after_seq + 1, limit))
            .await
            .map_err(|_| StoreError::Closed)?
            .map(Some)
    }
}

impl EngineHandle {
    /// The staff's trail, newest first: at most `limit` entries logged before `before`, read
    /// off the async threads in turn with the resumes' reads.
    pub async fn read_audit(
        &self,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, AuditEntry, Option<bool>)>, StoreError> {
        // The permit goes with the read: a request given up meanwhile still holds its slot
        // until the read it started ends.
        let permit = self
            .log_reads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            store.read_audit(before, limit)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// A snapshot is written after this many committed events, so boot replays at most about this
/// many events after reading the snapshot.
pub const SNAPSHOT_EVERY: u64 = 10_000;

/// Rebuilds the state: the newest snapshot made with this catalogue, then the log after it.
/// Returns the state, the next sequence number and how many events were replayed.
fn load_state(store: &Store, empty: Domain) -> Result<(Domain, u64, u64), StoreError> {
    let restored = store.latest_snapshot()?.and_then(|(seq, snapshot)| {
        Domain::restore(
            empty.catalog().clone(),
            empty.gm().limits().clone(),
            snapshot,
        )
        .map(|domain| (domain, seq))
    });
    let (mut domain, covered) = restored.unwrap_or((empty, 0));
    let mut last = covered;
    let replayed = store.replay_after(covered, |seq, event| {
        domain.apply(&event);
        last = seq;
    })?;
    Ok((domain, last + 1, replayed))
}

/// The running writer task. The engine also stops by itself once every handle is gone, but
/// handles live in connection tasks the box does not wait for: [`EngineTask::stop`] is how a
/// shutdown makes sure the database is closed when it returns.
pub struct EngineTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl EngineTask {
    /// Refuses new commands, commits the ones already queued, closes the database and waits
    /// for the writer to end. Handles that outlive it get [`EngineError::Stopped`].
    pub async fn stop(self) -> Result<(), tokio::task::JoinError> {
        // The writer may already have ended (every handle dropped); then there is no one to tell.
        let _ = self.stop.send(());
        self.task.await
    }
}

/// Replays the log into `domain` and starts the writer task.
pub fn start(
    store: Store,
    domain: Domain,
    hub: Arc<Hub>,
    queue_capacity: usize,
) -> Result<(EngineHandle, EngineTask), StoreError> {
    start_with_batch_limit(store, domain, hub, queue_capacity, MAX_BATCH)
}

/// [`start`] with a chosen batch limit; 1 means one commit per command (the benchmarks compare).
pub fn start_with_batch_limit(
    store: Store,
    domain: Domain,
    hub: Arc<Hub>,
    queue_capacity: usize,
    max_batch: usize,
) -> Result<(EngineHandle, EngineTask), StoreError> {
    let (domain, next_seq, replayed) = load_state(&store, domain)?;
    if replayed >= SNAPSHOT_EVERY {
        // A long replay (first start of this build, or a new token file): do it only once.
        store.write_snapshot(next_seq - 1, &domain.snapshot())?;
    }
    let (published_tx, published_rx) = watch::channel(Arc::new(Published {
        views: domain.views(),
        seq: next_seq - 1,
        storage_fault: None,
        tv_shown: domain.tv_shown(),
    }));
    let (requests, inbox) = mpsc::channel(queue_capacity.max(1));
    let store = Arc::new(store);
    let writer = Writer {
        commit_thread: JobThread::start("commit")?,
        snapshot_thread: JobThread::start("snapshot")?,
        store: store.clone(),
        committed: domain.clone(),
        domain,
        next_seq,
        hub: hub.clone(),
        published: published_tx,
        fault: None,
        max_batch: max_batch.max(1),
        since_snapshot: 0,
        encoding: None,
    };
    let (stop, stop_requested) = oneshot::channel();
    let task = tokio::spawn(writer.run(inbox, stop_requested));
    Ok((
        EngineHandle {
            requests,
            published: published_rx,
            hub,
            store,
            log_reads: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LOG_READS)),
        },
        EngineTask { stop, task },
    ))
}

struct Writer {
    commit_thread: JobThread,
    snapshot_thread: JobThread,
    store: Arc<Store>,
    /// The live state: commands of the current batch are applied here before the commit.
    domain: Domain,
    /// The state as of the last durable commit; the live state falls back to it when a commit
    /// fails, so nothing unacknowledged stays applied even if the log cannot be read back.
    committed: Domain,
    next_seq: u64,
    hub: Arc<Hub>,
    published: watch::Sender<Arc<Published>>,
    /// The storage failure in force, if any; cleared when the store accepts a write again.
    fault: Option<String>,
    max_batch: usize,
    /// Events committed since the last snapshot was taken.
    since_snapshot: u64,
    /// A snapshot of the committed state being encoded on the blocking pool; the first commit
    /// after it is ready carries it.
    encoding: Option<Submitted<Result<EncodedSnapshot, StoreError>>>,
}

/// How often a faulted store is tried again when no command arrives to try it.
const FAULT_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

impl Writer {
    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Request>,
        mut stop_requested: oneshot::Receiver<()>,
    ) {
        let mut batch = Vec::with_capacity(self.max_batch);
        // An `EngineTask` dropped without `stop` leaves the engine running on its handles.
        let mut may_be_stopped = true;
        loop {
            tokio::select! {
                received = inbox.recv_many(&mut batch, self.max_batch) => {
                    if received == 0 {
                        break;
                    }
                    self.process(std::mem::take(&mut batch), &mut inbox).await;
                }
                asked = &mut stop_requested, if may_be_stopped => {
                    if asked.is_err() {
                        may_be_stopped = false;
                        continue;
                    }
                    // No new commands; what is queued already was sent in good faith and is
                    // committed before the store closes.
                    inbox.close();
                    while inbox.recv_many(&mut batch, self.max_batch).await > 0 {
                        self.process(std::mem::take(&mut batch), &mut inbox).await;
                    }
                    break;
                }
                () = tokio::time::sleep(FAULT_RETRY), if self.fault.is_some() => {
                    if self.recover_store().await {
                        self.publish(&[]);
                    }
                }
            }
        }
        self.write_pending_snapshot().await;
        self.store.close();
        tracing::info!("engine stopped: every queued command was processed");
    }

    /// Commits `batch` and every batch that queues up meanwhile, back to back: once a commit is
    /// durable, the next batch is decided and handed to the commit thread before the finished
    /// one is published and answered, so nothing but the fsync sits between two commits.
    async fn process(&mut self, batch: Vec<Request>, inbox: &mut mpsc::Receiver<Request>) {
        let mut decided = self.decide(batch).await;
        loop {
            let settled = self.settle(decided).await;
            let next = if settled.failure.is_none() {
                let mut queued = Vec::new();
                while queued.len() < self.max_batch {
                    match inbox.try_recv() {
                        Ok(request) => queued.push(request),
                        Err(_) => break,
                    }
                }
                queued
            } else {
                Vec::new()
            };
            let next = if next.is_empty() {
                None
            } else {
                Some(self.decide(next).await)
            };
            self.announce(settled);
            match next {
                Some(following) => decided = following,
                None => break,
            }
        }
    }

    /// Runs a batch through the domain and starts its commit.
    async fn decide(&mut self, mut batch: Vec<Request>) -> Decided {
        if self.fault.is_some() {
            self.recover_store().await;
        }
        let now = wall_clock_ms();
        let wall_clock_confirmed = crate::clock::is_confirmed();
        order_for_first_write_wins(&mut batch, |r| r.command.scan_time(now));
        let mut events: Vec<Event> = Vec::new();
        let mut replies = Vec::with_capacity(batch.len());
        for request in batch {
            match self.domain.execute(&request.command, now) {
                Ok((outcome, new_events)) => {
                    let changed = !new_events.is_empty();
                    let audited = changed && !request.command.is_play();
                    if let Some(actor) = request.actor.as_ref().filter(|_| audited) {
                        let kinds = new_events.iter().map(Event::kind);
                        events.push(Event::Audit(AuditEntry::new(actor, now, kinds)));
                    }
                    events.extend(new_events);
                    replies.push((request.reply, Ok(outcome), changed));
                }
                Err(e) => replies.push((request.reply, Err(EngineError::from(e)), false)),
            }
        }
        let mut changed: Vec<Contract> = events.iter().filter_map(Event::contract).collect();
        changed.sort_by_key(|c| c.tag());
        changed.dedup();
        let commit = (!events.is_empty()).then(|| {
            let first_seq = self.next_seq;
            let store = self.store.clone();
            // A snapshot encoded meanwhile rides in this commit: it costs no fsync of its own.
            let snapshot = self.take_encoded_snapshot();
            // redb's commit blocks on fsync: keep it off the async worker threads.
            let job = self.commit_thread.submit(move || {
                let result = store.append_with_snapshot(
                    first_seq,
                    &events,
                    snapshot.as_ref(),
                    wall_clock_confirmed,
                );
                (result, events, snapshot.is_some())
            });
            (first_seq, job)
        });
        Decided {
            replies,
            changed,
            commit,
        }
    }

    /// Waits for a batch's commit. A failed one is undone from the live state, which goes back
    /// to the committed one.
    async fn settle(&mut self, decided: Decided) -> Settled {
        let Decided {
            replies,
            mut changed,
            commit,
        } = decided;
        let mut failure = None;
        let mut committed_events = None;
        if let Some((first_seq, job)) = commit {
            match job.wait().await {
                Ok((Ok(()), events, _)) => {
                    self.next_seq += events.len() as u64;
                    self.since_snapshot += events.len() as u64;
                    committed_events = Some((first_seq, events));
                }
                Ok((Err(e), _, snapshotted)) => {
                    failure = Some(e.to_string());
                    if snapshotted {
                        // Lost with the commit: take another.
                        self.since_snapshot = SNAPSHOT_EVERY;
                    }
                }
                Err(e) => failure = Some(format!("commit task failed: {e}")),
            }
        }
        if let Some(message) = &failure {
            tracing::error!(error = %message, "commit failed; nothing of this batch was applied");
            self.domain = self.committed.clone();
            self.fault = Some(message.clone());
            // A failed batch changed nothing.
            changed.clear();
            // redb refuses further work on a handle that saw an I/O error: start afresh.
            let store = self.store.clone();
            if let Ok(Err(e)) = self.commit_thread.run(move || store.reopen()).await {
                tracing::warn!(error = %e, "storage still failing; will retry");
            }
        }
        Settled {
            replies,
            changed,
            committed_events,
            failure,
        }
    }

    /// Makes a settled batch known: the committed state, the views, the events, the answers.
    fn announce(&mut self, settled: Settled) {
        let Settled {
            replies,
            changed,
            committed_events,
            failure,
        } = settled;
        if let Some((_, events)) = &committed_events {
            for event in events {
                self.committed.apply(event);
            }
        }
        self.start_snapshot_if_due();
        // The view first, then the events: a listener that reacts to an event and reads the
        // published state sees that event's effects.
        self.publish(&changed);
        if let Some((first_seq, events)) = committed_events {
            self.hub.publish_committed(first_seq, events);
        }
        for (reply, result, changed) in replies {
            let result = match (&failure, changed) {
                (Some(message), true) => Err(EngineError::Storage(message.clone())),
                _ => result,
            };
            // The caller may have gone away (client disconnected); its command still counts.
            let _ = reply.send(result);
        }
    }

    /// Every [`SNAPSHOT_EVERY`] committed events, starts encoding the committed state on the
    /// snapshot thread, while the next batch's fsync runs. Only durable state is snapshotted, so
    /// a failed commit later never makes a snapshot wrong.
    fn start_snapshot_if_due(&mut self) {
        if self.since_snapshot < SNAPSHOT_EVERY || self.encoding.is_some() {
            return;
        }
        let state = self.committed.snapshot();
        let seq = self.next_seq - 1;
        self.encoding = Some(
            self.snapshot_thread
                .submit(move || EncodedSnapshot::encode(seq, &state)),
        );
        self.since_snapshot = 0;
    }

    /// The snapshot being encoded, if it is ready.
    fn take_encoded_snapshot(&mut self) -> Option<EncodedSnapshot> {
        let finished = self.encoding.as_mut()?.finished()?;
        self.encoding = None;
        let failure = match finished {
            Ok(Ok(encoded)) => return Some(encoded),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %failure, "a snapshot could not be encoded; the log is replayed instead");
        None
    }

    /// On the way out: a snapshot still being encoded is waited for and written, so the next
    /// start replays as little as it can.
    async fn write_pending_snapshot(&mut self) {
        let Some(encoding) = self.encoding.take() else {
            return;
        };
        let Ok(Ok(encoded)) = encoding.wait().await else {
            return;
        };
        let store = self.store.clone();
        if let Ok(Err(e)) = self
            .commit_thread
            .run(move || store.write_encoded_snapshot(&encoded))
            .await
        {
            tracing::warn!(error = %e, "the last snapshot could not be written");
        }
    }

    /// Tries to make the store writable again; clears the fault when it is.
    async fn recover_store(&mut self) -> bool {
        let store = self.store.clone();
        let recovered = self
            .commit_thread
            .run(move || {
                store.probe_write().or_else(|_| {
                    store.reopen()?;
                    store.probe_write()
                })
            })
            .await;
        match recovered {
            Ok(Ok(())) => {
                tracing::info!("storage works again; accepting writes");
                self.fault = None;
                true
            }
            _ => false,
        }
    }

    /// Publishes the committed state, rebuilding the views of the contracts a batch `changed`.
    /// It is read from the committed state, not the live one: the next batch may already be
    /// applied to the live state, on its way to disk.
    fn publish(&self, changed: &[Contract]) {
        let views = self
            .committed
            .views_after(&self.published.borrow().views, changed);
        self.published.send_replace(Arc::new(Published {
            views,
            // Advanced only when a commit is durable: the last committed event.
            seq: self.next_seq - 1,
            storage_fault: self.fault.clone(),
            tv_shown: self.committed.tv_shown(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm::domain::{
        DeviceKind, GmCommand, GmError, GmEvent, GmOutcome, Limits, ScanRequest,
    };
    use crate::gm::tokens::{ScoringRules, TokenCatalog};
    use crate::predictions::domain::PredictionCommand;

    fn domain() -> Domain {
        Domain::new(
            TokenCatalog::demo(&ScoringRules::default()),
            Limits::default(),
        )
    }

    fn create_session() -> Command {
        GmCommand::CreateSession {
            session_id: "s1".into(),
            name: "night".into(),
            teams: None,
        }
        .into()
    }

    fn scan(token: &str, client: &str) -> Command {
        GmCommand::Scan(ScanRequest {
            token_id: token.into(),
            team_id: Some("TEAM_A".into()),
            device_id: "GM_1".into(),
            device_kind: DeviceKind::Gm,
            scanned_at: Some(1),
            client_scan_id: Some(client.into()),
        })
        .into()
    }

    #[tokio::test]
    async fn acknowledged_commands_are_in_the_log_and_come_back_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let tokens: Vec<String> = domain().catalog().tokens().map(|t| t.id.clone()).collect();
        let before_restart;
        {
            let store = Store::open(&path).unwrap();
            let (engine, task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
            engine.execute(create_session()).await.unwrap();
            // Many concurrent callers: they share commits, and every one gets its answer.
            let mut calls = Vec::new();
            for (i, token) in tokens.iter().take(20).enumerate() {
                let engine = engine.clone();
                let command = scan(token, &format!("c{i}"));
                calls.push(tokio::spawn(async move { engine.execute(command).await }));
            }
            for call in calls {
                call.await.unwrap().unwrap();
            }
            let published = engine.published();
            assert_eq!(published.views.gm.recent_transactions.len(), 20);
            // The session, the scans, and what some of them set off (a video, a group).
            assert!(published.seq >= 21, "{} events", published.seq);
            before_restart = published.views.gm.clone();
            drop(engine);
            task.stop().await.unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (engine, _task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
        let view = engine.published().views.gm.clone();
        assert_eq!(view, before_restart);
        let seq_after_restart = engine.published().seq;
        let expected: u64 = view.recent_transactions.iter().map(|t| t.points).sum();
        assert_eq!(view.scores[0].base_score, expected);
        // A resend after the restart gets the original answer and logs nothing new.
        let again = engine.execute(scan(&tokens[0], "c0")).await.unwrap();
        assert!(matches!(
            again,
            Outcome::Gm(GmOutcome::Transaction { replayed: true, .. })
        ));
        assert_eq!(engine.published().seq, seq_after_restart);
    }

    #[tokio::test]
    async fn what_an_actor_changes_is_in_the_trail_with_who_and_where_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let tokens: Vec<String> = domain().catalog().tokens().map(|t| t.id.clone()).collect();
        let staff = Actor {
            role: "admin".into(),
            who: "admin".into(),
            since: Some(1_700_000_000),
            address: Some("10.42.0.7".into()),
        };
        {
            let store = Store::open(&path).unwrap();
            let (engine, task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
            acting_as(staff.clone(), engine.execute(create_session()))
                .await
                .unwrap();
            // Not staff: no entry.
            engine.execute(scan(&tokens[0], "c0")).await.unwrap();
            // Staff, but play (a scanner holding a staff token): not in it either.
            let played = acting_as(staff.clone(), engine.execute(scan(&tokens[1], "c1")))
                .await
                .unwrap();
            assert!(matches!(
                played,
                Outcome::Gm(GmOutcome::Transaction {
                    replayed: false,
                    ..
                })
            ));
            drop(engine);
            task.stop().await.unwrap();
        }
        // Durable: read back after a restart.
        let store = Store::open(&path).unwrap();
        let trail = store.read_audit(u64::MAX, 10).unwrap();
        assert_eq!(trail.len(), 1, "{trail:?}");
        let (seq, entry, clock_confirmed) = &trail[0];
        assert_eq!(entry.who, "admin");
        // Nothing in this process confirmed the wall clock, and the record says so.
        assert_eq!(*clock_confirmed, Some(false));
        assert_eq!(entry.address, staff.address);
        assert_eq!(entry.since, staff.since);
        assert!(entry.did.iter().any(|d| d == "SessionCreated"), "{entry:?}");
        // The entry is logged beside the events it accounts for.
        let logged = store.read_from(*seq, 2).unwrap();
        assert!(matches!(logged[0].1, Event::Audit(_)));
        assert_eq!(logged[1].1.kind(), "SessionCreated");
        assert!(store.read_audit(*seq, 10).unwrap().is_empty());
    }

    #[tokio::test]
    async fn stopping_commits_what_is_queued_and_closes_the_database_while_handles_live() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let tokens: Vec<String> = domain().catalog().tokens().map(|t| t.id.clone()).collect();
        let store = Store::open(&path).unwrap();
        let (engine, task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
        engine.execute(create_session()).await.unwrap();
        // Queued, not yet answered, when the stop arrives: still committed and answered.
        let (reply, answer) = oneshot::channel();
        let command = scan(&tokens[0], "queued");
        engine
            .requests
            .send(Request {
                command,
                reply,
                actor: None,
            })
            .await
            .unwrap();
        task.stop().await.unwrap();
        let queued = answer.await.expect("answered before the stop");
        assert!(
            matches!(queued, Ok(Outcome::Gm(GmOutcome::Transaction { .. }))),
            "{queued:?}"
        );

        // A handle that outlived the stop is refused, and the file is free for the next start.
        assert_eq!(
            engine.execute(scan(&tokens[1], "late")).await.unwrap_err(),
            EngineError::Stopped
        );
        assert!(engine.read_log(0, 10).await.is_err());
        let store = Store::open(&path).expect("the stopped engine let go of the database");
        let (again, _task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
        assert_eq!(
            again.published().views.gm.recent_transactions.len(),
            1,
            "the scan acknowledged during the stop survives it"
        );
    }

    #[tokio::test]
    async fn a_full_disk_refuses_writes_keeps_state_and_recovers_when_freed() {
        use crate::store::faults::{FaultKind, FaultPlan};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let plan = FaultPlan::new();
        let tokens: Vec<String> = domain().catalog().tokens().map(|t| t.id.clone()).collect();
        {
            let store = Store::open_with_faults(&path, plan.clone()).unwrap();
            let (engine, task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
            engine.execute(create_session()).await.unwrap();
            engine.execute(scan(&tokens[0], "ok-1")).await.unwrap();
            let before = engine.published();

            plan.fail_now(FaultKind::DiskFull);
            let err = engine
                .execute(scan(&tokens[1], "lost-1"))
                .await
                .unwrap_err();
            assert!(matches!(err, EngineError::Storage(_)), "{err:?}");
            let during = engine.published();
            assert!(during.storage_fault.is_some());
            assert_eq!(
                during.views.gm, before.views.gm,
                "nothing of the refused scan is visible"
            );
            // Commands that change nothing still answer.
            let refused = engine.execute(scan("no-such-token-at-all", "x")).await;
            assert!(refused.is_err());

            plan.clear();
            let again = engine.execute(scan(&tokens[1], "ok-2")).await.unwrap();
            assert!(matches!(
                again,
                Outcome::Gm(GmOutcome::Transaction {
                    replayed: false,
                    ..
                })
            ));
            let after = engine.published();
            assert!(after.storage_fault.is_none());
            assert_eq!(after.views.gm.recent_transactions.len(), 2);
            drop(engine);
            task.stop().await.unwrap();
        }
        let store = Store::open(&path).unwrap();
        let mut ids = Vec::new();
        store
            .replay(|_, event| {
                if let Event::Gm(GmEvent::ScanRecorded(t)) = event {
                    ids.push(t.client_scan_id.clone().unwrap_or_default());
                }
            })
            .unwrap();
        assert_eq!(ids, vec!["ok-1".to_string(), "ok-2".to_string()]);
    }

    #[tokio::test]
    async fn the_answer_waits_for_the_fsync_of_its_commit() {
        use crate::store::faults::FaultPlan;
        let dir = tempfile::tempdir().unwrap();
        // A slow card: the fsync is counted only once its delay is over.
        let plan = FaultPlan::with_fsync_delay(std::time::Duration::from_millis(200));
        let store = Store::open_with_faults(&dir.path().join("log.redb"), plan.clone()).unwrap();
        let (engine, _task) = start(store, domain(), Arc::new(Hub::new(8)), 8).unwrap();
        let syncs_before = plan.sync_count();
        let started = std::time::Instant::now();
        engine.execute(create_session()).await.unwrap();
        assert!(
            plan.sync_count() > syncs_before,
            "the answer came before its commit's fsync had finished"
        );
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_batch_that_queues_during_a_commit_is_written_next_and_shown_only_once_durable() {
        use crate::store::faults::FaultPlan;
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::with_fsync_delay(std::time::Duration::from_millis(300));
        let store = Store::open_with_faults(&dir.path().join("log.redb"), plan.clone()).unwrap();
        let (engine, _task) = start(store, domain(), Arc::new(Hub::new(64)), 64).unwrap();
        let tokens: Vec<String> = domain().catalog().tokens().map(|t| t.id.clone()).collect();
        engine.execute(create_session()).await.unwrap();
        let session_seq = engine.published().seq;

        let first = tokio::spawn({
            let (engine, command) = (engine.clone(), scan(&tokens[0], "first"));
            async move { engine.execute(command).await }
        });
        // The first scan's commit is on its way to the card when the second arrives.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            engine.published().seq,
            session_seq,
            "the first is not durable yet"
        );
        let second = tokio::spawn({
            let (engine, command) = (engine.clone(), scan(&tokens[1], "second"));
            async move { engine.execute(command).await }
        });
        first.await.unwrap().unwrap();
        let syncs_at_first_answer = plan.sync_count();
        // Decided and already being written, but not durable: nobody may see it yet.
        let shown = engine.published();
        let scans: Vec<&str> = shown
            .views
            .gm
            .recent_transactions
            .iter()
            .filter_map(|t| t.client_scan_id.as_deref())
            .collect();
        assert_eq!(scans, ["first"], "only what is durable is published");

        second.await.unwrap().unwrap();
        assert!(
            plan.sync_count() > syncs_at_first_answer,
            "the second answer came before its own fsync"
        );
        let shown = engine.published();
        assert_eq!(shown.views.gm.recent_transactions.len(), 2);
        assert_eq!(
            engine.read_log(0, 100).await.unwrap().len() as u64,
            shown.seq,
            "every published event is in the log"
        );
    }

    // Real time: commits run on the engine's own thread, which paused tokio time cannot see,
    // so a paused clock would jump past the retry before the thread answered.
    #[tokio::test]
    async fn a_faulted_store_is_retried_without_new_commands() {
        use crate::store::faults::{FaultKind, FaultPlan};
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::new();
        let store = Store::open_with_faults(&dir.path().join("log.redb"), plan.clone()).unwrap();
        let (engine, _task) = start(store, domain(), Arc::new(Hub::new(8)), 8).unwrap();
        plan.fail_now(FaultKind::IoError);
        let create = create_session();
        assert!(engine.execute(create.clone()).await.is_err());
        let mut watch = engine.watch();
        assert!(watch.borrow_and_update().storage_fault.is_some());
        plan.clear();
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed())
            .await
            .expect("the engine retries on its own")
            .unwrap();
        assert!(engine.published().storage_fault.is_none());
        engine.execute(create).await.unwrap();
    }

    #[tokio::test]
    async fn boot_from_a_snapshot_and_the_tail_equals_a_full_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let tokens: Vec<String> = domain().catalog().tokens().map(|t| t.id.clone()).collect();
        let mut live = domain();
        let mut log = Vec::new();
        let mut snapshot_at = 0;
        let mut commands = vec![create_session()];
        commands.extend((0..60).map(|i| scan(&tokens[i % tokens.len()], &format!("c{i}"))));
        let store = Store::open(&path).unwrap();
        for (i, command) in commands.iter().enumerate() {
            let (_, events) = live.execute(command, 1_000 + i as u64).unwrap();
            store.append(log.len() as u64 + 1, &events).unwrap();
            log.extend(events);
            if i == 30 {
                snapshot_at = log.len();
                store
                    .write_snapshot(log.len() as u64, &live.snapshot())
                    .unwrap();
            }
        }
        let (from_snapshot, next_seq, replayed) = load_state(&store, domain()).unwrap();
        assert_eq!(next_seq, log.len() as u64 + 1);
        assert_eq!(
            replayed,
            (log.len() - snapshot_at) as u64,
            "only the tail after the snapshot is replayed"
        );
        assert_eq!(from_snapshot.views().gm, live.views().gm);

        // A snapshot made with another token file is not used: the whole log is replayed.
        let other = TokenCatalog::from_venue_json(
            r#"{"x": {"SF_ValueRating": 1, "SF_MemoryType": "Personal"}}"#,
            &ScoringRules::default(),
        )
        .unwrap();
        let (_, _, replayed) = load_state(&store, Domain::new(other, Limits::default())).unwrap();
        assert_eq!(replayed, log.len() as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_is_encoded_aside_and_rides_in_a_later_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let late_grants;
        {
            let store = Store::open(&path).unwrap();
            let (engine, task) = start(store, domain(), Arc::new(Hub::new(64)), 4096).unwrap();
            // Grants are cheap commands that each log one event.
            let mut calls = Vec::new();
            for i in 0..SNAPSHOT_EVERY + 5 {
                let engine = engine.clone();
                calls.push(tokio::spawn(async move {
                    let grant = Command::Predictions(PredictionCommand::Grant {
                        user_id: format!("u{}", i % 50),
                        amount: 1,
                        reason: "bench".into(),
                        client_grant_id: None,
                    });
                    engine.execute(grant).await
                }));
            }
            for call in calls {
                call.await.unwrap().unwrap();
            }
            // The snapshot is encoded off the commit path; a later commit carries it.
            let grant = |n: u64| {
                Command::Predictions(PredictionCommand::Grant {
                    user_id: format!("late{n}"),
                    amount: 1,
                    reason: "bench".into(),
                    client_grant_id: None,
                })
            };
            let mut n = 0;
            while engine.store.latest_snapshot().unwrap().is_none() {
                assert!(n < 500, "no commit carried the snapshot");
                engine.execute(grant(n)).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                n += 1;
            }
            // More after it: they are in the log only, past the snapshot.
            for _ in 0..3 {
                engine.execute(grant(n)).await.unwrap();
                n += 1;
            }
            late_grants = n;
            drop(engine);
            task.stop().await.unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (seq, _) = store
            .latest_snapshot()
            .unwrap()
            .expect("a snapshot was written");
        assert!(seq >= SNAPSHOT_EVERY, "covers {seq}");
        let (restored, next_seq, replayed) = load_state(&store, domain()).unwrap();
        assert!(replayed < SNAPSHOT_EVERY);
        assert_eq!(restored.predictions().balance("u0"), 201);
        // The snapshot's seq matches what it covers: the grants after it are replayed once.
        assert_eq!(next_seq, SNAPSHOT_EVERY + 5 + late_grants + 1);
        for n in 0..late_grants {
            assert_eq!(
                restored.predictions().balance(&format!("late{n}")),
                1,
                "late{n}"
            );
        }
    }

    #[tokio::test]
    async fn refused_commands_reply_with_the_domain_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("log.redb")).unwrap();
        let (engine, _task) = start(store, domain(), Arc::new(Hub::new(8)), 8).unwrap();
        let err = engine.execute(scan("x", "c")).await.unwrap_err();
        assert_eq!(
            err,
            EngineError::Domain(DomainError::Gm(GmError::NoSession))
        );
        assert_eq!(engine.published().seq, 0);
    }
}
