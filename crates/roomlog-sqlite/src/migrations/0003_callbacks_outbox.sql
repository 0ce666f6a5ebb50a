-- roomlog schema, version 3: callbacks (webhooks) through a transactional outbox.
--
-- Every command that records events also writes, in the same transaction, one pending
-- `deliveries` row per event if the room's app has a callback URL at that moment: an
-- acknowledged event cannot lose its callback, even if the process dies right after.

-- An app's callback: where its rooms' events are pushed ('' = nowhere: no new deliveries are
-- created and pending ones wait, "paused") and the key that signs them.
ALTER TABLE apps ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN callback_key TEXT NOT NULL DEFAULT '';

-- The outbox: one row per event to deliver, kept after delivery (for inspection and replay)
-- until `purge_deliveries` forgets it. It carries a copy of its event (same columns and codes
-- as `events`) so it outlives the retention purge of the room's events. A room's deletion
-- deletes its deliveries with it. WITHOUT ROWID: always reached by (room_id, seq), like events.
CREATE TABLE deliveries (
    room_id           INTEGER NOT NULL,
    seq               INTEGER NOT NULL,
    event_id          TEXT    NOT NULL,
    event_type        INTEGER NOT NULL,
    timestamp_ms      INTEGER NOT NULL,
    user_id           TEXT,
    device            INTEGER,
    role              INTEGER,
    reason            INTEGER,
    duration          INTEGER,                -- u64 stored bit-for-bit as i64
    record_size       INTEGER,                -- u64 stored bit-for-bit as i64
    record_url        TEXT,
    sdk_app_id        INTEGER NOT NULL,
    status            INTEGER NOT NULL CHECK (status IN (0, 1, 2)),  -- pending, delivered, dead
    attempts          INTEGER NOT NULL DEFAULT 0,
    first_attempt_ms  INTEGER,                -- of this round (replay starts a new one): give-up
    last_attempt_ms   INTEGER,
    last_status       INTEGER,                -- HTTP status of the last attempt, if answered
    last_error        TEXT,
    next_attempt_ms   INTEGER,                -- pending only
    created_ms        INTEGER NOT NULL,       -- wall clock at commit: delivery lag
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
-- DescribeCallbackDeliveries of an app by status (dead letters, pending), ordered by room then
-- seq; of the whole app too, by merging its three status ranges (an index of its own would
-- cost every queued delivery one more b-tree insert). Also a room's lowest pending delivery in
-- one seek, which is how the head of line moves on.
CREATE INDEX deliveries_by_app_status ON deliveries (sdk_app_id, status, room_id, seq);
-- purge_deliveries: finished deliveries by age. Partial: pending ones are never purged.
CREATE INDEX deliveries_finished ON deliveries (last_attempt_ms) WHERE status <> 0;

-- Per room with a pending delivery, its lowest one ("head of line"): the only delivery of the
-- room ever handed out, so a room's callbacks go in sequence order. `ready_ms` is when it may
-- be handed out next: its delivery's next_attempt_ms, or the end of the lease while a worker
-- holds it (`leased_until_ms`, kept apart so an in-flight head is recognisable). One indexed
-- column for both makes "what is due" a single range seek. Kept by every write that changes a
-- room's lowest pending delivery. `paused` mirrors "the app's callback URL is empty": such
-- heads are left out of the index the worker reads, so a paused app costs it nothing.
CREATE TABLE delivery_heads (
    room_id          INTEGER PRIMARY KEY,
    sdk_app_id       INTEGER NOT NULL,
    head_seq         INTEGER NOT NULL,
    ready_ms         INTEGER NOT NULL,
    leased_until_ms  INTEGER,
    paused           INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))
);
-- The worker: the heads due, earliest first, and when the next one is.
CREATE INDEX delivery_heads_ready ON delivery_heads (ready_ms) WHERE paused = 0;
-- Pausing and resuming an app (its callback URL cleared or set) flips its heads.
CREATE INDEX delivery_heads_by_app ON delivery_heads (sdk_app_id);
