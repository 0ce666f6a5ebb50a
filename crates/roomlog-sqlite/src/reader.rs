//! A small pool of read-only connections for queries.
//!
//! WAL lets readers run concurrently with the writer and see the last committed state, so reads
//! never queue behind the writer's fsyncs. Queries run on tokio's blocking pool. The pool is
//! bounded by a semaphore because each connection has its own page cache: an unbounded burst of
//! readers would multiply the store's memory. Connections are opened on first need and kept.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use roomlog_core::StoreError;

use crate::connection::open_reader;
use crate::error::closed;
use crate::SqliteOptions;

pub(crate) struct ReadPool {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection that may exist; closed when the store closes.
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, options: SqliteOptions) -> Arc<ReadPool> {
        let size = options.max_readers.max(1);
        Arc::new(ReadPool {
            path,
            options,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Runs `query` on a pooled connection on the blocking pool.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        self.read_on_blocking_pool(permit, query).await
    }

    /// Runs a SHORT `query` (bounded: a page of events, not a scan) right here on the calling
    /// thread when a connection is free at once, else as [`ReadPool::read`] does.
    ///
    /// Why: handing a query to the blocking pool and the answer back costs two thread wake-ups
    /// and context switches, which measured more than reading and rendering a 100-event page
    /// from the page cache (tens of microseconds). The price: if the pages are not in the OS
    /// cache either, the calling tokio worker waits for the disk meanwhile.
    pub(crate) async fn read_short<T, F>(self: &Arc<Self>, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            // All busy (or closed, which `read` reports).
            return self.read(query).await;
        };
        // Opening a connection is slow: only an open idle one is used here.
        let Some(conn) = self.lock_idle().pop() else {
            return self.read_on_blocking_pool(permit, query).await;
        };
        let result = query(&conn);
        self.give_back(conn);
        drop(permit);
        result
    }

    async fn read_on_blocking_pool<T, F>(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        query: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match pool.lock_idle().pop() {
                Some(conn) => conn,
                None => open_reader(&pool.path, &pool.options)?,
            };
            let result = query(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))?
    }

    /// Returns a connection to the idle list after a query (before its permit is released).
    fn give_back(&self, conn: Connection) {
        // A query that failed half-way may leave a read transaction open (which would pin an
        // old snapshot and stop checkpoints): such a connection is not reused.
        if conn.is_autocommit() {
            let mut idle = self.lock_idle();
            // Checked under the lock `close` also takes, so nothing slips in after it.
            if !self.permits.is_closed() {
                idle.push(conn);
            }
        }
    }

    /// Refuses further reads and closes the idle connections (busy ones close when returned).
    pub(crate) fn close(&self) {
        self.permits.close();
        self.lock_idle().clear();
    }

    #[cfg(test)]
    pub(crate) fn idle_connections(&self) -> usize {
        self.lock_idle().len()
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
