//! The service layer: the use cases the actions and the background jobs share, over the
//! [`Store`]. Every write goes through [`Service`], which hands what the store says the write
//! changed ([`Written`]) to [`AppState::wake`], the one place that turns changes into
//! wake-ups: handlers and jobs never wake anyone themselves, so a new use case cannot forget to.
//!
//! [`Store`]: roomlog_core::Store

use std::sync::{Arc, Mutex};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use roomlog_core::attendance::{AttendanceBuilder, Expected, RoomAttendance};
use roomlog_core::callback::AppCallback;
use roomlog_core::ingest;
use roomlog_core::store::{AppendOutcome, PurgeStats};
use roomlog_core::{
    App, Changes, EventType, KickBars, NewEvent, RoomId, RoomSpec, SdkAppId, Store, StoreError,
    StoredEvent, User, Written,
};

use crate::state::AppState;

/// Where an admission check leaves the kick bar it saw for one user.
type KickBarSeen = Arc<Mutex<Option<Option<i64>>>>;

/// Events read per round trip while folding a room's log into its attendance.
const ATTENDANCE_CHUNK: u64 = 5000;
/// Events of one type are read this many at a time while streaming them.
const EVENTS_OF_TYPE_CHUNK: u64 = 1000;

/// The use cases over the store, for the actions and the jobs (see the module documentation).
pub struct Service<'a> {
    state: &'a AppState,
}

impl AppState {
    pub fn service(&self) -> Service<'_> {
        Service { state: self }
    }
}

impl Service<'_> {
    fn store(&self) -> &dyn Store {
        self.state.store()
    }

    /// Wakes whoever waits for what the write changed; its value.
    fn woken<T>(&self, written: Written<T>) -> T {
        self.state.wake(written.changes);
        written.value
    }

    pub async fn create_rooms(
        &self,
        app: &App,
        specs: Vec<RoomSpec>,
        now_ms: i64,
    ) -> Result<Vec<RoomId>, StoreError> {
        let created_at = roomlog_core::time::ms_to_secs(now_ms);
        let written = self.store().create_rooms(app, specs, created_at).await?;
        Ok(self.woken(written))
    }

    pub async fn modify_room(&self, room_id: RoomId, spec: RoomSpec) -> Result<(), StoreError> {
        let written = self.store().modify_room(room_id, spec).await?;
        self.woken(written);
        Ok(())
    }

    pub async fn delete_room(&self, room_id: RoomId) -> Result<(), StoreError> {
        self.store().delete_room(room_id).await
    }

    /// Starts the class (NotStarted -> InClass), recording its RoomStart.
    pub async fn start_room(&self, room_id: RoomId, now_ms: i64) -> Result<(), StoreError> {
        let event = NewEvent::lifecycle(EventType::RoomStart, now_ms);
        let written = self.store().start_room(room_id, event).await?;
        self.woken(written);
        Ok(())
    }

    /// Ends the class (InClass -> Ended), recording its RoomEnd.
    pub async fn end_room(&self, room_id: RoomId, now_ms: i64) -> Result<(), StoreError> {
        let event = NewEvent::lifecycle(EventType::RoomEnd, now_ms);
        let written = self.store().end_room(room_id, event).await?;
        self.woken(written);
        Ok(())
    }

    /// A room that never started by its EndTime (NotStarted -> Expired); records no event.
    pub async fn expire_room(&self, room_id: RoomId) -> Result<(), StoreError> {
        let written = self.store().expire_room(room_id).await?;
        self.woken(written);
        Ok(())
    }

    /// Records the reported events the room does not have yet, if the room admits them.
    pub async fn report_events(
        &self,
        room_id: RoomId,
        events: Vec<NewEvent>,
        now_ms: i64,
    ) -> Result<AppendOutcome, StoreError> {
        self.record_admitted(room_id, events, now_ms, None).await
    }

    /// Records a classroom session's MemberJoin as [`Service::report_events`] would (the same
    /// admission); refused for a kick bar, also says until when (`Some(None)`: for good), which
    /// the gateway tells the client.
    pub async fn join_member(
        &self,
        room_id: RoomId,
        join: NewEvent,
        now_ms: i64,
    ) -> Result<AppendOutcome, (StoreError, Option<Option<i64>>)> {
        let user = join.data.user_id.clone().unwrap_or_default();
        let bar = Arc::new(Mutex::new(None));
        let seen = Some((user, Arc::clone(&bar)));
        match self
            .record_admitted(room_id, vec![join], now_ms, seen)
            .await
        {
            Ok(outcome) => Ok(outcome),
            Err(err) => {
                let bar = bar.lock().unwrap_or_else(|e| e.into_inner()).take();
                Err((err, bar))
            }
        }
    }

    /// `bar_of`: a user whose kick bar (if any) the admission copies out.
    async fn record_admitted(
        &self,
        room_id: RoomId,
        events: Vec<NewEvent>,
        now_ms: i64,
        bar_of: Option<(String, KickBarSeen)>,
    ) -> Result<AppendOutcome, StoreError> {
        let retention_ms = self.state.config().retention_ms();
        let admit = Box::new(move |room: &_, new: &[_], bars: &KickBars| {
            if let Some((user, seen)) = bar_of {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = bars.get(&user).copied();
            }
            ingest::admit(room, new, bars, now_ms, retention_ms)
        });
        let written = self.store().append_events(room_id, events, admit).await?;
        Ok(self.woken(written))
    }

    /// Puts the user out of the room now (recording `quit`) and bars them until `until_ms`
    /// (`None`: for good).
    pub async fn kick_user(
        &self,
        room_id: RoomId,
        user_id: &str,
        until_ms: Option<i64>,
        quit: NewEvent,
    ) -> Result<(), StoreError> {
        let written = self
            .store()
            .kick_user(room_id, user_id, until_ms, quit)
            .await?;
        self.woken(written);
        Ok(())
    }

    pub async fn unblock_user(&self, room_id: RoomId, user_id: &str) -> Result<(), StoreError> {
        self.store().unblock_user(room_id, user_id).await.map(drop)
    }

    pub async fn register_users(
        &self,
        users: Vec<User>,
        overwrite: bool,
    ) -> Result<Vec<User>, StoreError> {
        self.store().register_users(users, overwrite).await
    }

    /// Whether the user (still) exists to get the new token.
    pub async fn set_user_token(
        &self,
        user_id: &str,
        token: &str,
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        self.store()
            .set_user_token(user_id, token, expires_ms)
            .await
    }

    pub async fn set_app_callback(
        &self,
        sdk_app_id: SdkAppId,
        callback: Option<&str>,
        callback_key: Option<&str>,
    ) -> Result<AppCallback, StoreError> {
        let callback = self
            .store()
            .set_app_callback(sdk_app_id, callback, callback_key)
            .await?;
        // Paused deliveries may go again.
        self.state.wake(Changes::DELIVERIES);
        Ok(callback)
    }

    /// Delivers the room's callbacks again (from `from_seq`, or those of `event_ids`); how many.
    pub async fn replay_deliveries(
        &self,
        room_id: RoomId,
        from_seq: Option<u64>,
        event_ids: Option<Vec<String>>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let replayed = self
            .store()
            .replay_deliveries(room_id, from_seq, event_ids, now_ms)
            .await?;
        self.state.wake(Changes::DELIVERIES);
        Ok(replayed)
    }

    /// Folds the room's whole log (read in chunks) into its attendance and stores it.
    pub async fn compute_attendance(&self, room_id: RoomId) -> Result<RoomAttendance, StoreError> {
        let store = self.store();
        let room = store
            .get_room(room_id)
            .await?
            .ok_or(StoreError::RoomNotFound)?;
        let mut builder = AttendanceBuilder::new();
        let mut next_seq = 1;
        loop {
            let chunk = store
                .read_events(room_id, next_seq, ATTENDANCE_CHUNK)
                .await?;
            for event in &chunk {
                builder.push(event);
            }
            if (chunk.len() as u64) < ATTENDANCE_CHUNK {
                break;
            }
            next_seq += ATTENDANCE_CHUNK;
        }
        let expected = Expected {
            teacher_id: room.spec.teacher_id.clone(),
            assistants: room.spec.assistants.clone().unwrap_or_default(),
        };
        let mut ids: Vec<String> = builder.user_ids().map(str::to_owned).collect();
        ids.extend(expected.teacher_id.iter().cloned());
        ids.extend(expected.assistants.iter().cloned());
        let names = store.user_names(room.sdk_app_id, &ids).await?;
        let attendance = builder.finish(&expected, &|user| names.get(user).cloned());
        store.save_attendance(room_id, &attendance).await?;
        self.state.wake(Changes::ATTENDANCE_SAVED);
        Ok(attendance)
    }

    /// Deletes the events of rooms that ended at or before `ended_at_or_before_ms`.
    pub async fn purge_events(&self, ended_at_or_before_ms: i64) -> Result<PurgeStats, StoreError> {
        self.store().purge_events(ended_at_or_before_ms).await
    }

    /// Forgets finished deliveries older than `before_ms`; how many.
    pub async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.store().purge_deliveries(before_ms).await
    }

    /// Every event of one type in the room, in order, read in chunks as the stream is polled.
    pub fn events_of_type(
        &self,
        room_id: RoomId,
        event_type: EventType,
    ) -> BoxStream<'static, Result<Vec<StoredEvent>, StoreError>> {
        let state = self.state.clone();
        futures_util::stream::try_unfold(Some(0u64), move |after| {
            let state = state.clone();
            async move {
                let Some(after) = after else {
                    return Ok(None);
                };
                let chunk = state
                    .store()
                    .read_events_of_type(room_id, event_type, after, EVENTS_OF_TYPE_CHUNK)
                    .await?;
                let next = match chunk.last() {
                    Some(last) if chunk.len() as u64 == EVENTS_OF_TYPE_CHUNK => Some(last.seq),
                    Some(_) => None,
                    None => return Ok(None),
                };
                Ok(Some((chunk, next)))
            }
        })
        .boxed()
    }
}
