//! The commit feed: every node learns which rooms got events, whichever node recorded them
//! (for live streams and callback workers on every node), through PostgreSQL's LISTEN/NOTIFY.
//!
//! After a command that recorded events commits, the store sends `pg_notify(<channel>, <room
//! id>)` in a transaction of its own with `synchronous_commit` off. Not inside the recording
//! transaction: PostgreSQL serialises the commits of notifying transactions cluster-wide, and
//! the recording transaction's commit waits for its WAL flush — every append would then flush
//! one at a time. The notifying transaction writes nothing that must survive, so it commits
//! without waiting, and ingest keeps committing in groups. The cost: a notification is lost if
//! the process dies between the two commits, and one more round trip per command.
//!
//! The feed is a wake-up, not a log: notifications sent while a listener was reconnecting are
//! lost (once listening again, the feed says so, [`CommitNotice::MaybeMissed`], so that
//! whoever waits looks at the log instead of waiting for a wake-up that will not come), and a
//! room may be named more than once. A listener that needs every event reads the log.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use roomlog_core::{CommitNotice, RoomId};

use crate::error::describe;

/// Room ids the feed holds for a slow reader before it waits for it.
const FEED_CAPACITY: usize = 4096;
/// The first wait before reconnecting a lost listening connection, doubling per failed attempt
/// up to [`MAX_BACKOFF`] (and back to this once a connection listened again).
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// How long a lost listening connection waits before reconnecting, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The notification channel of a store: per schema, so deployments sharing a database do not
/// hear each other. A hash keeps it a plain identifier within PostgreSQL's 63 bytes. (FNV-1a,
/// spelled out: it must be the same on every node and every build.)
pub(crate) fn channel(schema: Option<&str>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schema.unwrap_or("").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("roomlog_commits_{hash:016x}")
}

/// The statement that announces a commit to `room_id`: its own transaction, committed without
/// waiting for the flush. (`channel` is ours, a plain identifier; the room id a number.)
pub(crate) fn notify_sql(channel: &str, room_id: RoomId) -> String {
    format!(
        "BEGIN; SET LOCAL synchronous_commit TO off; \
         SELECT pg_notify('{channel}', '{room_id}'); COMMIT"
    )
}

/// Listens on `channel` (reconnecting as needed) and sends each room id heard to the returned
/// receiver, and [`CommitNotice::MaybeMissed`] each time it listens again after losing its
/// connection, until the receiver is dropped or `closed` turns true (the store was closed; the
/// receiver then sees the feed end).
pub(crate) fn listen(
    config: tokio_postgres::Config,
    channel: String,
    mut closed: watch::Receiver<bool>,
) -> mpsc::Receiver<CommitNotice> {
    let (rooms, receiver) = mpsc::channel(FEED_CAPACITY);
    tokio::spawn(async move {
        let mut backoff = INITIAL_BACKOFF;
        // Until the first LISTEN, nothing was promised: there is nothing to have missed.
        let mut ever_listened = false;
        loop {
            if *closed.borrow() {
                return;
            }
            let mut listened = false;
            let ended = tokio::select! {
                ended = listen_once(&config, &channel, &rooms, ever_listened, &mut listened) => ended,
                _ = closed.wait_for(|closed| *closed) => return,
            };
            ever_listened |= listened;
            if listened {
                // The connection worked before it failed: a new blip, not a server still down.
                backoff = INITIAL_BACKOFF;
            }
            match ended {
                Ended::ReceiverGone => return,
                Ended::Failed(why) => {
                    tracing::warn!(error = %why, retry_in = ?backoff,
                        "the PostgreSQL commit feed lost its connection; events other nodes \
                         record meanwhile wake nothing here");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = rooms.closed() => return,
                _ = closed.wait_for(|closed| *closed) => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    receiver
}

enum Ended {
    ReceiverGone,
    Failed(String),
}

/// One listening connection, until it fails or nobody reads the feed any more. `reconnected`:
/// an earlier connection listened and was lost, so notices may have been missed meanwhile.
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    rooms: &mpsc::Sender<CommitNotice>,
    reconnected: bool,
    listened: &mut bool,
) -> Ended {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(connected) => connected,
        Err(e) => return Ended::Failed(describe(&e)),
    };
    // The connection must be driven while LISTEN runs, and afterwards to receive: a task
    // forwards its notifications.
    let (heard, mut notifications) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(note))) => {
                    if heard.send(note).is_err() {
                        return None;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(describe(&e)),
                None => return Some("the server closed the connection".to_owned()),
            }
        }
    });
    let ended = async {
        if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")).await {
            return Ended::Failed(describe(&e));
        }
        *listened = true;
        // Said after LISTEN: whatever commits from now on is heard, so looking now covers the gap.
        if reconnected && rooms.send(CommitNotice::MaybeMissed).await.is_err() {
            return Ended::ReceiverGone;
        }
        loop {
            tokio::select! {
                note = notifications.recv() => {
                    let Some(note) = note else {
                        return Ended::Failed("the connection ended".to_owned());
                    };
                    let Ok(room) = note.payload().parse::<RoomId>() else {
                        tracing::debug!(payload = note.payload(), "ignoring a commit notification");
                        continue;
                    };
                    if rooms.send(CommitNotice::Room(room)).await.is_err() {
                        return Ended::ReceiverGone;
                    }
                }
                _ = rooms.closed() => return Ended::ReceiverGone,
            }
        }
    }
    .await;
    drop(client);
    let failure = driver.await.ok().flatten();
    match (ended, failure) {
        (Ended::Failed(_), Some(why)) => Ended::Failed(why),
        (ended, _) => ended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_per_schema_stable_identifiers() {
        assert_eq!(channel(None), channel(None));
        assert_ne!(channel(None), channel(Some("a")));
        assert_ne!(channel(Some("a")), channel(Some("b")));
        // Stable across builds: every node must compute the same name.
        assert_eq!(channel(Some("roomlog")), "roomlog_commits_82d122d076e09630");
        let name = channel(Some(&"x".repeat(63)));
        assert!(name.len() <= 63 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
