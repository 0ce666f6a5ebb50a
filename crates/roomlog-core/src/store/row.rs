//! The row layout every backend shares (the same tables, columns and codes, so a copy moves rows
//! from one backend to the other unchanged): the columns each domain value is read from, in
//! order, and how such a row decodes, whatever the backend's row type ([`StoredRow`]).
//!
//! Decoding never panics on what a database holds: anything unexpected (an unknown code, a
//! negative id, a spec that is not valid JSON) becomes the backend's error.

use crate::account::{Account, ApiKey, App};
use crate::callback::{Delivery, DeliveryStatus};
use crate::event::{EventData, EventRef, EventType, StoredEvent};
use crate::lifecycle::Occupancy;
use crate::room::{Room, RoomId, RoomSpec, RoomStatus};
use crate::store::{PresentMember, StoreError};
use crate::user::User;

/// The columns [`room`] reads, in order (macros so queries can be `concat!`-ed constants).
#[macro_export]
macro_rules! room_columns {
    () => {
        "room_id, sdk_app_id, account_id, status, real_start_ms, real_end_ms, created_at, \
         last_seq, events_purged, spec, present_members, empty_since_ms"
    };
}

/// The columns [`stored_event`] reads, in order.
#[macro_export]
macro_rules! event_columns {
    () => {
        "room_id, seq, event_id, event_type, timestamp_ms, user_id, device, role, reason, \
         duration, record_size, record_url"
    };
}

/// The columns [`event_info_ref`] reads, in order: those of [`event_columns!`] an `EventInfo`
/// shows (not the room id, seq or event id).
#[macro_export]
macro_rules! event_info_columns {
    () => {
        "event_type, timestamp_ms, user_id, device, role, reason, duration, record_size, \
         record_url"
    };
}

/// The columns [`delivery`] reads, in order: the event's copy (as [`event_columns!`]), then the
/// delivery's own.
#[macro_export]
macro_rules! delivery_columns {
    () => {
        "room_id, seq, event_id, event_type, timestamp_ms, user_id, device, role, reason, \
         duration, record_size, record_url, sdk_app_id, status, attempts, first_attempt_ms, \
         last_attempt_ms, last_status, last_error, next_attempt_ms, created_ms"
    };
}

/// The columns [`user`] reads, in order.
#[macro_export]
macro_rules! user_columns {
    () => {
        "user_id, sdk_app_id, name, origin_id, avatar, token, token_expires_ms, created_at"
    };
}

/// A row as a backend returns it, borrowed for `'r`: integer and text columns by position
/// (`None` for NULL).
pub trait StoredRow<'r> {
    type Error;
    fn int(&self, column: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, column: usize) -> Result<Option<&'r str>, Self::Error>;
    /// The error for a column whose value makes no sense (`message` says why).
    fn corrupt(&self, column: usize, message: String) -> Self::Error;
}

/// The stored key of an id (rooms, apps): SQL integers are i64, and ids are given out below
/// `i64::MAX`. An id beyond that, which cannot exist, becomes a negative key that no row has:
/// looking it up finds nothing, as it should, without a case of its own.
pub fn key(id: u64) -> i64 {
    id as i64
}

/// Seqs `first_seq .. first_seq + limit` as [`crate::store::sql::READ_RANGE`]'s bounds
/// (`seq >= $2 AND seq < $3`), saturating: a range past the largest seq reads to the end.
pub fn seq_range(first_seq: u64, limit: u64) -> (i64, i64) {
    let bound = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
    (bound(first_seq), bound(first_seq.saturating_add(limit)))
}

/// Optional u64 event fields (Duration, RecordSize, ...) are stored bit-for-bit as i64: the
/// reporter may send any u64 and it must come back unchanged; nothing orders or sums them in SQL.
pub fn u64_bits(value: Option<u64>) -> Option<i64> {
    value.map(|v| v as i64)
}

/// The value [`u64_bits`] stored.
pub fn from_bits(value: Option<i64>) -> Option<u64> {
    value.map(|v| v as u64)
}

/// The columns a room's spec is stored in (the room row's `spec`, `start_time`, `end_time`),
/// and the span GetRooms must allow for (`apps.max_room_secs`).
pub struct SpecColumns {
    pub json: String,
    pub start: i64,
    pub end: i64,
    pub span: i64,
}

/// A new or modified room's [`SpecColumns`]; a schedule time beyond i64 is refused, never wrapped.
pub fn spec_columns(spec: &RoomSpec) -> Result<SpecColumns, StoreError> {
    let time = |value: u64, what: &str| {
        i64::try_from(value)
            .map_err(|_| StoreError::Backend(format!("{what} {value} is too large to store")))
    };
    let (start, end) = (
        time(spec.start_time, "StartTime")?,
        time(spec.end_time, "EndTime")?,
    );
    let json = serde_json::to_string(spec)
        .map_err(|e| StoreError::Backend(format!("serialising a room spec: {e}")))?;
    let span = end.saturating_sub(start).max(0);
    Ok(SpecColumns {
        json,
        start,
        end,
        span,
    })
}

fn bits<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<Option<u64>, R::Error> {
    Ok(from_bits(row.int(column)?))
}

fn int<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<i64, R::Error> {
    row.int(column)?
        .ok_or_else(|| row.corrupt(column, "NULL where a value is required".into()))
}

/// A non-negative integer column as u64.
fn unsigned<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<u64, R::Error> {
    let value = int(row, column)?;
    u64::try_from(value).map_err(|_| {
        row.corrupt(
            column,
            format!("negative value {value} where an unsigned one is expected"),
        )
    })
}

/// A 0/1 integer column as bool.
fn boolean<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<bool, R::Error> {
    match int(row, column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(row.corrupt(column, format!("{other} is not a boolean"))),
    }
}

fn text<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<&'r str, R::Error> {
    row.text(column)?
        .ok_or_else(|| row.corrupt(column, "NULL where a text is required".into()))
}

fn string<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<String, R::Error> {
    text(row, column).map(str::to_owned)
}

fn optional_string<'r, R: StoredRow<'r>>(
    row: &R,
    column: usize,
) -> Result<Option<String>, R::Error> {
    Ok(row.text(column)?.map(str::to_owned))
}

fn event_type<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<EventType, R::Error> {
    let code = int(row, column)?;
    EventType::from_code(code)
        .ok_or_else(|| row.corrupt(column, format!("unknown event type code {code}")))
}

/// The room status in `column`.
pub fn room_status<'r, R: StoredRow<'r>>(row: &R, column: usize) -> Result<RoomStatus, R::Error> {
    let code = int(row, column)?;
    u64::try_from(code)
        .ok()
        .and_then(RoomStatus::from_code)
        .ok_or_else(|| row.corrupt(column, format!("unknown room status {code}")))
}

/// A row selected with [`room_columns!`].
pub fn room<'r, R: StoredRow<'r>>(row: &R) -> Result<Room, R::Error> {
    let spec: RoomSpec = serde_json::from_str(text(row, 9)?)
        .map_err(|e| row.corrupt(9, format!("room spec is not valid JSON: {e}")))?;
    Ok(Room {
        room_id: unsigned(row, 0)?,
        sdk_app_id: unsigned(row, 1)?,
        account_id: unsigned(row, 2)?,
        status: room_status(row, 3)?,
        real_start_ms: row.int(4)?,
        real_end_ms: row.int(5)?,
        created_at: int(row, 6)?,
        last_seq: unsigned(row, 7)?,
        events_purged: boolean(row, 8)?,
        spec,
        occupancy: Occupancy {
            present: unsigned(row, 10)?,
            empty_since_ms: row.int(11)?,
        },
    })
}

/// `user_id, role, device, joined_ms, devices` of `presence`.
pub fn present_member<'r, R: StoredRow<'r>>(row: &R) -> Result<PresentMember, R::Error> {
    Ok(PresentMember {
        user_id: string(row, 0)?,
        role: bits(row, 1)?,
        device: bits(row, 2)?,
        joined_ms: int(row, 3)?,
        devices: unsigned(row, 4)?,
    })
}

/// A row selected with [`user_columns!`].
pub fn user<'r, R: StoredRow<'r>>(row: &R) -> Result<User, R::Error> {
    Ok(User {
        user_id: string(row, 0)?,
        sdk_app_id: unsigned(row, 1)?,
        name: string(row, 2)?,
        origin_id: string(row, 3)?,
        avatar: string(row, 4)?,
        token: string(row, 5)?,
        token_expires_ms: int(row, 6)?,
        created_at: int(row, 7)?,
    })
}

/// A row selected with [`event_columns!`].
pub fn stored_event<'r, R: StoredRow<'r>>(row: &R) -> Result<StoredEvent, R::Error> {
    Ok(StoredEvent {
        room_id: unsigned(row, 0)?,
        seq: unsigned(row, 1)?,
        event_id: string(row, 2)?,
        event_type: event_type(row, 3)?,
        timestamp_ms: int(row, 4)?,
        data: EventData {
            user_id: optional_string(row, 5)?,
            device: bits(row, 6)?,
            role: bits(row, 7)?,
            reason: bits(row, 8)?,
            duration: bits(row, 9)?,
            record_size: bits(row, 10)?,
            record_url: optional_string(row, 11)?,
        },
    })
}

/// A row of room `room_id` selected with [`event_info_columns!`], borrowed from the row: the
/// values and checks of [`stored_event`] for those columns, without copying any text. The seq
/// and event id are not selected: they read as 0 and `""`.
pub fn event_info_ref<'r, R: StoredRow<'r>>(
    room_id: RoomId,
    row: &R,
) -> Result<EventRef<'r>, R::Error> {
    Ok(EventRef {
        room_id,
        seq: 0,
        event_id: "",
        event_type: event_type(row, 0)?,
        timestamp_ms: int(row, 1)?,
        user_id: row.text(2)?,
        device: bits(row, 3)?,
        role: bits(row, 4)?,
        reason: bits(row, 5)?,
        duration: bits(row, 6)?,
        record_size: bits(row, 7)?,
        record_url: row.text(8)?,
    })
}

/// A row selected with [`delivery_columns!`].
pub fn delivery<'r, R: StoredRow<'r>>(row: &R) -> Result<Delivery, R::Error> {
    let code = int(row, 13)?;
    let status = DeliveryStatus::from_code(code)
        .ok_or_else(|| row.corrupt(13, format!("unknown delivery status {code}")))?;
    let last_status = row
        .int(17)?
        .map(|code| {
            u16::try_from(code)
                .map_err(|_| row.corrupt(17, format!("{code} is not an HTTP status")))
        })
        .transpose()?;
    Ok(Delivery {
        sdk_app_id: unsigned(row, 12)?,
        room_id: unsigned(row, 0)?,
        event: stored_event(row)?,
        status,
        attempts: u32::try_from(unsigned(row, 14)?).unwrap_or(u32::MAX),
        first_attempt_ms: row.int(15)?,
        last_attempt_ms: row.int(16)?,
        last_status,
        last_error: optional_string(row, 18)?,
        next_attempt_ms: row.int(19)?,
        created_ms: int(row, 20)?,
    })
}

/// `account_id, name, created_at`.
pub fn account<'r, R: StoredRow<'r>>(row: &R) -> Result<Account, R::Error> {
    Ok(Account {
        id: unsigned(row, 0)?,
        name: string(row, 1)?,
        created_at: int(row, 2)?,
    })
}

/// `sdk_app_id, account_id, name, created_at`.
pub fn app<'r, R: StoredRow<'r>>(row: &R) -> Result<App, R::Error> {
    Ok(App {
        sdk_app_id: unsigned(row, 0)?,
        account_id: unsigned(row, 1)?,
        name: string(row, 2)?,
        created_at: int(row, 3)?,
    })
}

/// `secret_id, secret_key, account_id, enabled, created_at`.
pub fn api_key<'r, R: StoredRow<'r>>(row: &R) -> Result<ApiKey, R::Error> {
    Ok(ApiKey {
        secret_id: string(row, 0)?,
        secret_key: string(row, 1)?,
        account_id: unsigned(row, 2)?,
        enabled: boolean(row, 3)?,
        created_at: int(row, 4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of plain values: integers, texts, NULLs.
    enum Value {
        Int(i64),
        Text(&'static str),
        Null,
    }

    struct Plain<'r>(&'r [Value]);

    impl<'r> StoredRow<'r> for Plain<'r> {
        type Error = String;
        fn int(&self, column: usize) -> Result<Option<i64>, String> {
            match &self.0[column] {
                Value::Int(v) => Ok(Some(*v)),
                Value::Null => Ok(None),
                Value::Text(_) => Err(format!("column {column} is text")),
            }
        }
        fn text(&self, column: usize) -> Result<Option<&'r str>, String> {
            match &self.0[column] {
                Value::Text(v) => Ok(Some(v)),
                Value::Null => Ok(None),
                Value::Int(_) => Err(format!("column {column} is an integer")),
            }
        }
        fn corrupt(&self, column: usize, message: String) -> String {
            format!("column {column}: {message}")
        }
    }

    #[test]
    fn u64_fields_survive_the_i64_column() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            let row = [Value::Int(u64_bits(Some(v)).unwrap())];
            assert_eq!(bits(&Plain(&row), 0), Ok(Some(v)));
        }
        assert_eq!(u64_bits(None), None);
    }

    #[test]
    fn what_makes_no_sense_is_an_error_not_a_panic() {
        use Value::*;
        let key = |account: i64, enabled: i64| {
            [Text("AKID"), Text("k"), Int(account), Int(enabled), Int(5)]
        };
        assert_eq!(
            api_key(&Plain(&key(3, 1))),
            Ok(ApiKey {
                secret_id: "AKID".into(),
                secret_key: "k".into(),
                account_id: 3,
                enabled: true,
                created_at: 5,
            })
        );
        assert!(api_key(&Plain(&key(-3, 1)))
            .unwrap_err()
            .contains("negative value -3"));
        assert!(api_key(&Plain(&key(3, 2)))
            .unwrap_err()
            .contains("2 is not a boolean"));
        let event = |code: i64| [Int(code), Int(7), Null, Null, Null, Null, Null, Null, Null];
        assert_eq!(
            event_info_ref(1, &Plain(&event(3))).map(|e| e.event_type),
            Ok(EventType::MemberJoin)
        );
        assert!(event_info_ref(1, &Plain(&event(99)))
            .unwrap_err()
            .contains("unknown event type code 99"));
        assert!(room_status(&Plain(&[Int(7)]), 0)
            .unwrap_err()
            .contains("unknown room status 7"));
        assert!(account(&Plain(&[Int(1), Null, Int(0)])).is_err());
    }
}
