//! In-process change notification per room: whoever commits events to a room bumps its
//! counter; live streams wait on it instead of polling the store.

use std::collections::HashMap;
use std::sync::Mutex;

use roomlog_core::RoomId;
use tokio::sync::watch;

#[derive(Default)]
pub struct RoomFeed {
    rooms: Mutex<HashMap<RoomId, watch::Sender<u64>>>,
}

impl RoomFeed {
    /// A receiver that changes whenever the room gets new events.
    pub fn subscribe(&self, room_id: RoomId) -> watch::Receiver<u64> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(room_id)
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// Every watched room may have new events (notices were lost): each watcher looks.
    pub fn publish_all(&self) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.retain(|_, sender| sender.receiver_count() > 0);
        for sender in rooms.values() {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// The room got new events. Rooms nobody watches cost nothing (and are forgotten).
    pub fn publish(&self, room_id: RoomId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = rooms.get(&room_id) {
            if sender.receiver_count() == 0 {
                rooms.remove(&room_id);
            } else {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_wakes_the_rooms_watchers_and_publishing_all_wakes_every_room() {
        let feed = RoomFeed::default();
        let mut one = feed.subscribe(1);
        let mut two = feed.subscribe(2);
        let gone = feed.subscribe(3);
        drop(gone);
        feed.publish(1);
        assert!(one.has_changed().unwrap());
        assert!(!two.has_changed().unwrap());
        one.mark_unchanged();
        feed.publish_all();
        assert!(one.has_changed().unwrap() && two.has_changed().unwrap());
        assert!(
            !feed.rooms.lock().unwrap().contains_key(&3),
            "unwatched rooms are forgotten"
        );
        two.mark_unchanged();
    }
}

/// Open live streams per account on this node: streams outlive the idle timeout, so they are
/// counted instead (`http.max-streams-per-account`).
#[derive(Default)]
pub struct StreamSlots {
    open: std::sync::Arc<Mutex<HashMap<roomlog_core::AccountId, usize>>>,
}

/// One open stream; its slot is freed when it is dropped (the stream ended or the client left).
pub struct StreamSlot {
    open: std::sync::Arc<Mutex<HashMap<roomlog_core::AccountId, usize>>>,
    account: roomlog_core::AccountId,
}

impl StreamSlots {
    /// A slot for one more stream of `account`, if it has fewer than `max` open.
    pub fn try_open(&self, account: roomlog_core::AccountId, max: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(account).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            open: std::sync::Arc::clone(&self.open),
            account,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.account) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod stream_slot_tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_account_and_freed_on_drop() {
        let slots = StreamSlots::default();
        let a1 = slots.try_open(1, 2).unwrap();
        let _a2 = slots.try_open(1, 2).unwrap();
        assert!(slots.try_open(1, 2).is_none());
        let _b = slots
            .try_open(2, 2)
            .expect("another account has its own slots");
        drop(a1);
        assert!(slots.try_open(1, 2).is_some());
    }
}
