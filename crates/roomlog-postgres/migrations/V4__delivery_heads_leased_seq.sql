-- The seq a head's lease was given for: a replay may move the head back below a delivery in
-- flight, and then only the attempt of the leased seq may settle the head (an attempt of the
-- head's new seq is stale), or the room would get two deliveries in flight. NULL while not
-- leased. Heads leased before this version keep leased_until_ms with leased_seq NULL: a lease
-- of no known seq, which no attempt settles; it runs out and the head is handed out again
-- (roomlog_core::callback::schedule). Adding a nullable column without a default rewrites
-- nothing.
ALTER TABLE delivery_heads ADD COLUMN leased_seq BIGINT;
