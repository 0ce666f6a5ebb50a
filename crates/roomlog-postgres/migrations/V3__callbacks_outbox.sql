-- roomlog schema, version 3 (SQLite migration 0003): callbacks (webhooks) through a
-- transactional outbox.

-- An app's callback: where its rooms' events are pushed ('' = nowhere: no new deliveries, and
-- pending ones wait, "paused") and the key that signs them.
ALTER TABLE apps ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN callback_key TEXT NOT NULL DEFAULT '';

-- The outbox: one row per event to deliver, written in the transaction that records the event,
-- carrying a copy of it (same columns and codes as `events`).
CREATE TABLE deliveries (
    room_id           BIGINT NOT NULL,
    seq               BIGINT NOT NULL,
    event_id          TEXT   NOT NULL,
    event_type        BIGINT NOT NULL,
    timestamp_ms      BIGINT NOT NULL,
    user_id           TEXT,
    device            BIGINT,
    role              BIGINT,
    reason            BIGINT,
    duration          BIGINT,                 -- u64 stored bit-for-bit as i64
    record_size       BIGINT,                 -- u64 stored bit-for-bit as i64
    record_url        TEXT,
    sdk_app_id        BIGINT NOT NULL,
    status            BIGINT NOT NULL CHECK (status IN (0, 1, 2)),  -- pending, delivered, dead
    attempts          BIGINT NOT NULL DEFAULT 0,
    first_attempt_ms  BIGINT,                 -- of this round (replay starts a new one)
    last_attempt_ms   BIGINT,
    last_status       BIGINT,                 -- HTTP status of the last attempt, if answered
    last_error        TEXT,
    next_attempt_ms   BIGINT,                 -- pending only
    created_ms        BIGINT NOT NULL,        -- wall clock at commit: delivery lag
    PRIMARY KEY (room_id, seq)
);
-- DescribeCallbackDeliveries by app and status, ordered by room then seq (all of an app's: a
-- merge of its three status ranges); a room's lowest pending delivery in one seek.
CREATE INDEX deliveries_by_app_status ON deliveries (sdk_app_id, status, room_id, seq);
-- purge_deliveries: finished deliveries by age. Pending ones are never purged.
CREATE INDEX deliveries_finished ON deliveries (last_attempt_ms) WHERE status <> 0;

-- Per room with a pending delivery, its lowest one ("head of line"): the only delivery of the
-- room ever handed out. `ready_ms` is when it may be handed out next (its next attempt, or the
-- end of the lease a worker holds, `leased_until_ms`). The head row is also the room's outbox
-- lock: every transaction that changes the room's pending deliveries locks it first.
CREATE TABLE delivery_heads (
    room_id          BIGINT PRIMARY KEY,
    sdk_app_id       BIGINT NOT NULL,
    head_seq         BIGINT NOT NULL,
    ready_ms         BIGINT NOT NULL,
    leased_until_ms  BIGINT,
    paused           BIGINT NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))
);
-- The workers: the heads due, earliest first (ties by room), and when the next one is.
CREATE INDEX delivery_heads_ready ON delivery_heads (ready_ms, room_id) WHERE paused = 0;
-- Pausing and resuming an app (its callback URL cleared or set) flips its heads.
CREATE INDEX delivery_heads_by_app ON delivery_heads (sdk_app_id);
