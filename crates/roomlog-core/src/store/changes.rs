use std::ops::Deref;

use super::CommitNotice;
use crate::room::RoomId;

/// What a write changed, as far as anyone waits for it. The store's writes return it
/// ([`Written`]), as the rules decide it (`lifecycle::Recording::changes`); the server turns it
/// into wake-ups in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    /// Events were recorded in this room: its live streams and the callback worker.
    pub events_in: Option<RoomId>,
    /// Events may have been recorded in any room (a commit feed lost notices).
    pub events_anywhere: bool,
    /// A room's lifecycle deadline moved (or a room got its first): the scheduler re-plans.
    pub deadlines: bool,
    /// A class ended: its attendance is computed and its purge planned.
    pub class_ended: bool,
    /// Callback deliveries may have become due: the callback worker.
    pub deliveries: bool,
    /// A room's attendance was stored: its events' purge may be due.
    pub attendance_saved: bool,
}

impl Changes {
    pub const NONE: Changes = Changes {
        events_in: None,
        events_anywhere: false,
        deadlines: false,
        class_ended: false,
        deliveries: false,
        attendance_saved: false,
    };
    pub const DELIVERIES: Changes = Changes {
        deliveries: true,
        ..Changes::NONE
    };
    pub const ATTENDANCE_SAVED: Changes = Changes {
        attendance_saved: true,
        ..Changes::NONE
    };
}

/// Another process's commits, as the commit feed reports them.
impl From<CommitNotice> for Changes {
    fn from(notice: CommitNotice) -> Changes {
        match notice {
            CommitNotice::Room(room_id) => Changes {
                events_in: Some(room_id),
                ..Changes::NONE
            },
            CommitNotice::MaybeMissed => Changes {
                events_anywhere: true,
                ..Changes::NONE
            },
        }
    }
}

/// What a write returns (`value`) and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    pub value: T,
    pub changes: Changes,
}

impl<T> Written<T> {
    /// `value` from a write that changed nothing anyone waits for.
    pub fn unchanged(value: T) -> Written<T> {
        Written {
            value,
            changes: Changes::NONE,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Written<U> {
        Written {
            value: f(self.value),
            changes: self.changes,
        }
    }
}

impl<T> Deref for Written<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
