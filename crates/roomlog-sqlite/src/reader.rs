//! A small pool of read-only connections for queries.
//!
//! WAL lets readers run concurrently with the writer and see the last committed state, so reads
//! never queue behind the writer's fsyncs. Queries run on tokio's blocking pool. The pool is
//! bounded by a semaphore because each connection has its own page cache: an unbounded burst of
//! readers would multiply the store's memory. Connections are opened on first need and kept.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::Semaphore;

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
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match pool.lock_idle().pop() {
                Some(conn) => conn,
                None => open_reader(&pool.path, &pool.options)?,
            };
            let result = query(&conn);
            // A query that failed half-way may leave a read transaction open (which would pin
            // an old snapshot and stop checkpoints): such a connection is not reused.
            if conn.is_autocommit() {
                let mut idle = pool.lock_idle();
                // Checked under the lock `close` also takes, so nothing slips in after it.
                if !pool.permits.is_closed() {
                    idle.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))?
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
