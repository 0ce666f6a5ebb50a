use async_trait::async_trait;

use super::StoreError;
use crate::account::SdkAppId;
use crate::callback::{AppCallback, AttemptOutcome, Delivery, DeliveryStatus};
use crate::page::Page;
use crate::room::RoomId;

/// The callbacks outbox.
///
/// Every event recorded in a room whose app has a callback URL at that moment gets a pending
/// delivery, written in the same transaction as the event (append, start, end and the Reason-5
/// quits it records, kick): an acknowledged event is delivered even if the server dies right
/// after. A delivery carries a copy of its event, so it outlives the room's event purge. Per
/// room, deliveries go in sequence order: only a room's lowest pending delivery ("head of
/// line") is ever handed out.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Sets the app's callback URL and/or key (`Some("")` clears; `None` keeps), returning the
    /// new configuration. `AppNotFound` if unknown.
    async fn set_app_callback(
        &self,
        sdk_app_id: SdkAppId,
        callback: Option<&str>,
        callback_key: Option<&str>,
    ) -> Result<AppCallback, StoreError>;
    /// The app's callback configuration (empty strings when none is set).
    async fn app_callback(&self, sdk_app_id: SdkAppId) -> Result<AppCallback, StoreError>;
    /// Hands out up to `limit` head-of-line deliveries due at `now_ms` (of apps that have a
    /// callback URL now), earliest due first, leasing each until `lease_until_ms` so no other
    /// worker (or node) takes it meanwhile; an expired lease makes it available again (a worker
    /// died). Each returned delivery's room has no other delivery in flight.
    async fn claim_due_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Releases every delivery lease, making leased deliveries due again at their planned time.
    /// Only for a store one server uses at a time (the embedded one): a restarted server calls
    /// it, so the deliveries its previous run had in flight when it died go again at once rather
    /// than after their lease runs out. A store several nodes share keeps its leases (another
    /// node may be delivering): it returns 0. Returns how many leases were released.
    async fn release_orphaned_leases(&self) -> Result<u64, StoreError>;
    /// When the next head-of-line delivery becomes due (unix ms), leases included.
    async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError>;
    /// Records an attempt of the delivery of (`room_id`, `seq`) and releases its lease:
    /// delivered, retried at `retry_at_ms`, or dead (no retry).
    async fn record_attempt(
        &self,
        room_id: RoomId,
        seq: u64,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;
    /// DescribeCallbackDeliveries: `(total, page)` of an app's deliveries, optionally of one
    /// room and one status, ordered by room then seq.
    async fn list_deliveries(
        &self,
        sdk_app_id: SdkAppId,
        room_id: Option<RoomId>,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> Result<(u64, Vec<Delivery>), StoreError>;
    /// ReplayCallbacks: makes the room's kept deliveries with `seq >= from_seq` (all if
    /// `None`) and, if given, with an id in `event_ids`, pending again and due at `now_ms`
    /// (attempt counts go on). Returns how many.
    async fn replay_deliveries(
        &self,
        room_id: RoomId,
        from_seq: Option<u64>,
        event_ids: Option<Vec<String>>,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Forgets delivered and dead deliveries whose last attempt was before `before_ms`.
    async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError>;
}
