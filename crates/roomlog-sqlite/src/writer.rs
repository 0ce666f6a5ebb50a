//! The single writer: one OS thread owns the only read-write connection and commits in groups.
//!
//! Why: with `synchronous=FULL` every COMMIT costs an fsync, and fsyncs, not SQL, bound the write
//! rate. The writer takes the first queued command, drains whatever else is queued (up to
//! `max_group`), runs them all in ONE transaction — each inside its own SAVEPOINT, so a command
//! that fails (admission rejected, wrong status) rolls back only itself — COMMITs once, and only
//! then answers each caller. Under load many small appends share one fsync; with no load a lone
//! command commits at once (no waiting to fill a group). Funnelling every write through one
//! thread also means there is never lock contention between writers inside the process.
//!
//! A command whose caller went away (its future was dropped) still runs: the answer is discarded.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use roomlog_core::StoreError;

use crate::error::closed;

/// One unit of work for the writer, type-erased so commands of any result type share the queue.
trait Job: Send {
    /// Runs the work on the writer's connection; true if it succeeded (its changes stay).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the outcome is durable: `None` if the transaction committed (the
    /// job's own result stands), or why the whole group failed.
    fn finish(self: Box<Self>, group_failure: Option<&str>);
}

struct Task<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Task<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panic (in an admission closure, say) must not take the writer thread down with it:
        // that would fail every later write. It fails this command only.
        let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
            Err(StoreError::Backend(format!(
                "a write panicked: {}",
                panic_message(&panic)
            )))
        });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, group_failure: Option<&str>) {
        let result = match group_failure {
            None => self
                .result
                .unwrap_or_else(|| Err(StoreError::Backend("the write did not run".into()))),
            Some(why) => Err(StoreError::Backend(why.to_owned())),
        };
        // The caller may have given up waiting; the outcome stands either way.
        let _ = self.reply.send(result);
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

enum Command {
    /// Runs inside the group transaction, in its own savepoint.
    Grouped(Box<dyn Job>),
    /// Runs alone, outside any transaction (after the current group committed): for statements
    /// that cannot run in a transaction or should commit on their own (checkpoint, vacuum).
    Standalone(Box<dyn Job>),
    /// Stop taking commands, finish those already queued, close the connection, then answer.
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Writer {
    sender: mpsc::Sender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
    counters: Arc<Counters>,
}

/// Totals since open, for metrics: `commands / commits` is the average group size.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Group transactions committed (one sync each).
    pub commits: AtomicU64,
    /// Commands run in committed groups (whatever their own outcome).
    pub commands: AtomicU64,
    /// Groups that failed as a whole (BEGIN or COMMIT failed, or SQLite rolled back).
    pub failed_groups: AtomicU64,
}

impl Writer {
    pub(crate) fn spawn(
        conn: Connection,
        queue_depth: usize,
        max_group: usize,
    ) -> Result<Writer, StoreError> {
        let (sender, receiver) = mpsc::channel(queue_depth.max(1));
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let thread = thread::Builder::new()
            .name("roomlog-sqlite-writer".into())
            .spawn(move || run(conn, receiver, max_group.max(1), &shared))
            .map_err(|e| StoreError::Backend(format!("starting the SQLite writer thread: {e}")))?;
        Ok(Writer {
            sender,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Runs `work` in the next group transaction; returns its result once committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(work, Command::Grouped).await
    }

    /// Runs `work` alone on the writer connection, outside any transaction.
    pub(crate) async fn standalone<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(work, Command::Standalone).await
    }

    async fn submit<T, F>(
        &self,
        work: F,
        wrap: fn(Box<dyn Job>) -> Command,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Task {
            work: Some(work),
            result: None,
            reply,
        };
        // A full queue makes callers wait here: backpressure instead of unbounded memory.
        self.sender
            .send(wrap(Box::new(task)))
            .await
            .map_err(|_| closed())?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer stopped before answering".into()))?
    }

    /// Stops the writer once every command queued before this call is done and committed, and
    /// waits for its thread to exit. Later writes fail with "store is closed". Idempotent.
    pub(crate) async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.sender.send(Command::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
        let handle = self.lock_thread().take();
        if let Some(handle) = handle {
            // The thread answered just before returning, so this join is immediate.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    fn lock_thread(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.thread.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Writer {
    /// Dropping the last handle closes the queue; the writer finishes what is queued, commits,
    /// closes the database and exits. We wait for that so the file is released when drop returns
    /// (a test, or the CLI, may reopen it right away).
    fn drop(&mut self) {
        // Replacing our sender with an unconnected one drops the only real sender: the writer
        // sees the queue end once it is empty.
        let (detached, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.sender, detached));
        let handle = self.lock_thread().take();
        // Joining from the writer thread itself (a job holding the last handle) would deadlock.
        if let Some(handle) = handle {
            if thread::current().id() != self.thread_id {
                let _ = handle.join();
            }
        }
    }
}

/// The writer thread's loop.
fn run(
    conn: Connection,
    mut receiver: mpsc::Receiver<Command>,
    max_group: usize,
    counters: &Counters,
) {
    let mut shutdown_acks = Vec::new();
    while let Some(first) = receiver.blocking_recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        // Everything that queued up while the previous group was syncing joins this one.
        while batch.len() < max_group {
            match receiver.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let mut group = Group::new(counters);
        for command in batch {
            match command {
                Command::Grouped(job) => group.run(&conn, job),
                Command::Standalone(mut job) => {
                    group.commit(&conn);
                    job.run(&conn);
                    if !conn.is_autocommit() {
                        // The job left a transaction open: never let it swallow later groups.
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    job.finish(None);
                }
                Command::Shutdown(ack) => {
                    // No new commands; those already queued still run (loop until empty).
                    receiver.close();
                    shutdown_acks.push(ack);
                }
            }
        }
        group.commit(&conn);
    }
    // No `PRAGMA optimize` here: it may ANALYZE, and planner statistics could move the hot
    // queries off the plans `sql::tests` pins. Closing the last connection checkpoints the WAL.
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the SQLite writer connection failed");
    }
    for ack in shutdown_acks {
        let _ = ack.send(());
    }
}

/// The commands of one group transaction, waiting for its COMMIT.
struct Group<'a> {
    counters: &'a Counters,
    jobs: Vec<Box<dyn Job>>,
    open: bool,
    /// Set when BEGIN failed (another process held the lock past busy_timeout): the rest of
    /// this batch fails at once instead of each waiting out the timeout again.
    begin_failed: Option<String>,
}

impl<'a> Group<'a> {
    fn new(counters: &'a Counters) -> Self {
        Group {
            counters,
            jobs: Vec::new(),
            open: false,
            begin_failed: None,
        }
    }

    fn run(&mut self, conn: &Connection, mut job: Box<dyn Job>) {
        if let Some(why) = &self.begin_failed {
            job.finish(Some(why));
            return;
        }
        if !self.open {
            // IMMEDIATE: take the write lock now (waiting up to busy_timeout for another
            // process), so nothing inside the group can fail later for lack of it.
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                let why = format!("starting a write transaction: {e}");
                tracing::error!(error = %e, "could not start a write transaction");
                self.counters.failed_groups.fetch_add(1, Ordering::Relaxed);
                job.finish(Some(&why));
                self.begin_failed = Some(why);
                return;
            }
            self.open = true;
        }
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            self.abort(conn, job, &format!("starting a savepoint: {e}"));
            return;
        }
        let ok = job.run(conn);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back on its own (I/O error, disk full): the
            // earlier commands of the group are gone too.
            self.open = false;
            self.abort(conn, job, "the write transaction was rolled back by SQLite");
            return;
        }
        let closed = if ok {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        if let Err(e) = closed {
            self.abort(conn, job, &format!("closing a savepoint: {e}"));
            return;
        }
        self.jobs.push(job);
    }

    /// Fails the group so far plus `job`, rolling the transaction back.
    fn abort(&mut self, conn: &Connection, job: Box<dyn Job>, why: &str) {
        tracing::error!(
            reason = why,
            commands = self.jobs.len() + 1,
            "write group failed"
        );
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.open = false;
        job.finish(Some(why));
        for job in self.jobs.drain(..) {
            job.finish(Some(why));
        }
    }

    /// COMMITs (one sync for the whole group), then answers every command in it.
    fn commit(&mut self, conn: &Connection) {
        if !self.open {
            return;
        }
        self.open = false;
        let failure = match exec(conn, "COMMIT") {
            Ok(()) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .commands
                    .fetch_add(self.jobs.len() as u64, Ordering::Relaxed);
                None
            }
            Err(e) => {
                self.counters.failed_groups.fetch_add(1, Ordering::Relaxed);
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                tracing::error!(error = %e, commands = self.jobs.len(), "group commit failed");
                Some(format!("committing the write transaction: {e}"))
            }
        };
        for job in self.jobs.drain(..) {
            job.finish(failure.as_deref());
        }
    }
}

/// Runs a statement from the connection's cache (`execute_batch` would parse it every time).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
