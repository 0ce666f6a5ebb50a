//! Encoding domain values into columns and decoding rows back, without ever panicking on what
//! the database holds: anything unexpected (an unknown event-type code, a negative id, a spec
//! that is not valid JSON) becomes a conversion error that surfaces as `StoreError::Backend`.

use std::fmt;

use rusqlite::types::{FromSqlError, Type, ValueRef};
use rusqlite::Row;

use roomlog_core::callback::{Delivery, DeliveryStatus};
use roomlog_core::lifecycle::Occupancy;
use roomlog_core::{
    Account, ApiKey, App, EventData, EventRef, EventType, PresentMember, Room, RoomId, RoomSpec,
    RoomStatus, StoredEvent, User,
};

/// The columns [`room`] reads, in order (a macro so queries can be `concat!`-ed constants).
macro_rules! room_columns {
    () => {
        "room_id, sdk_app_id, account_id, status, real_start_ms, real_end_ms, created_at, \
         last_seq, events_purged, spec, present_members, empty_since_ms"
    };
}
pub(crate) use room_columns;

/// The columns [`stored_event`] reads, in order.
macro_rules! event_columns {
    () => {
        "room_id, seq, event_id, event_type, timestamp_ms, user_id, device, role, reason, \
         duration, record_size, record_url"
    };
}
pub(crate) use event_columns;

/// The columns [`event_info_ref`] reads, in order: what an `EventInfo` shows.
macro_rules! event_info_columns {
    () => {
        "event_type, timestamp_ms, user_id, device, role, reason, duration, record_size, \
         record_url"
    };
}
pub(crate) use event_info_columns;

/// The columns [`delivery`] reads, in order: the event's copy (as [`event_columns!`]), then the
/// delivery's own.
macro_rules! delivery_columns {
    () => {
        "room_id, seq, event_id, event_type, timestamp_ms, user_id, device, role, reason, \
         duration, record_size, record_url, sdk_app_id, status, attempts, first_attempt_ms, \
         last_attempt_ms, last_status, last_error, next_attempt_ms, created_ms"
    };
}
pub(crate) use delivery_columns;

/// Optional u64 event fields (Duration, RecordSize, ...) are stored bit-for-bit as i64: the
/// reporter may send any u64 and it must come back unchanged; nothing orders or sums them in SQL.
pub(crate) fn u64_bits(value: Option<u64>) -> Option<i64> {
    value.map(|v| v as i64)
}

pub(crate) fn from_bits(value: Option<i64>) -> Option<u64> {
    value.map(|v| v as u64)
}

#[derive(Debug)]
struct BadValue(String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

fn bad(column: usize, ty: Type, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, ty, Box::new(BadValue(message)))
}

/// A non-negative integer column as u64.
fn get_u64(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| {
        bad(
            column,
            Type::Integer,
            format!("negative value {value} where an unsigned one is expected"),
        )
    })
}

fn get_bool(row: &Row<'_>, column: usize) -> rusqlite::Result<bool> {
    match row.get::<_, i64>(column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(bad(
            column,
            Type::Integer,
            format!("{other} is not a boolean"),
        )),
    }
}

pub(crate) fn status_from_row(row: &Row<'_>, column: usize) -> rusqlite::Result<RoomStatus> {
    let code = get_u64(row, column)?;
    RoomStatus::from_code(code)
        .ok_or_else(|| bad(column, Type::Integer, format!("unknown room status {code}")))
}

/// A row selected with [`room_columns!`].
pub(crate) fn room(row: &Row<'_>) -> rusqlite::Result<Room> {
    let spec_json: String = row.get(9)?;
    let spec: RoomSpec = serde_json::from_str(&spec_json)
        .map_err(|e| bad(9, Type::Text, format!("room spec is not valid JSON: {e}")))?;
    Ok(Room {
        room_id: get_u64(row, 0)?,
        sdk_app_id: get_u64(row, 1)?,
        account_id: get_u64(row, 2)?,
        status: status_from_row(row, 3)?,
        real_start_ms: row.get(4)?,
        real_end_ms: row.get(5)?,
        created_at: row.get(6)?,
        last_seq: get_u64(row, 7)?,
        events_purged: get_bool(row, 8)?,
        spec,
        occupancy: Occupancy {
            present: get_u64(row, 10)?,
            empty_since_ms: row.get(11)?,
        },
    })
}

/// `user_id, role, device, joined_ms, devices` of `presence`.
pub(crate) fn present_member(row: &Row<'_>) -> rusqlite::Result<PresentMember> {
    Ok(PresentMember {
        user_id: row.get(0)?,
        role: from_bits(row.get(1)?),
        device: from_bits(row.get(2)?),
        joined_ms: row.get(3)?,
        devices: get_u64(row, 4)?,
    })
}

/// The columns [`user`] reads, in order.
macro_rules! user_columns {
    () => {
        "user_id, sdk_app_id, name, origin_id, avatar, token, token_expires_ms, created_at"
    };
}
pub(crate) use user_columns;

/// A row selected with [`user_columns!`].
pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        user_id: row.get(0)?,
        sdk_app_id: get_u64(row, 1)?,
        name: row.get(2)?,
        origin_id: row.get(3)?,
        avatar: row.get(4)?,
        token: row.get(5)?,
        token_expires_ms: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// A row selected with [`event_columns!`].
pub(crate) fn stored_event(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let code: i64 = row.get(3)?;
    let event_type = EventType::from_code(code)
        .ok_or_else(|| bad(3, Type::Integer, format!("unknown event type code {code}")))?;
    Ok(StoredEvent {
        room_id: get_u64(row, 0)?,
        seq: get_u64(row, 1)?,
        event_id: row.get(2)?,
        event_type,
        timestamp_ms: row.get(4)?,
        data: EventData {
            user_id: row.get(5)?,
            device: from_bits(row.get(6)?),
            role: from_bits(row.get(7)?),
            reason: from_bits(row.get(8)?),
            duration: from_bits(row.get(9)?),
            record_size: from_bits(row.get(10)?),
            record_url: row.get(11)?,
        },
    })
}

/// A row of room `room_id` selected with [`event_info_columns!`], borrowed (valid until the next
/// row is fetched): the values and checks of [`stored_event`] for those columns, without copying
/// any text. The event id and seq are not selected: they read as `""` and 0.
pub(crate) fn event_info_ref<'r>(
    room_id: RoomId,
    row: &'r Row<'_>,
) -> rusqlite::Result<EventRef<'r>> {
    let int = |column: usize| -> rusqlite::Result<Option<i64>> {
        let value = row.get_ref(column)?;
        value
            .as_i64_or_null()
            .map_err(|e| conversion(column, value, e))
    };
    let text = |column: usize| -> rusqlite::Result<Option<&'r str>> {
        let value: ValueRef<'r> = row.get_ref(column)?;
        value
            .as_str_or_null()
            .map_err(|e| conversion(column, value, e))
    };
    let required = |column: usize, value: Option<i64>| {
        value.ok_or_else(|| bad(column, Type::Null, "NULL where a value is required".into()))
    };
    let code = required(0, int(0)?)?;
    let event_type = EventType::from_code(code)
        .ok_or_else(|| bad(0, Type::Integer, format!("unknown event type code {code}")))?;
    Ok(EventRef {
        room_id,
        seq: 0,
        event_id: "",
        event_type,
        timestamp_ms: required(1, int(1)?)?,
        user_id: text(2)?,
        device: from_bits(int(3)?),
        role: from_bits(int(4)?),
        reason: from_bits(int(5)?),
        duration: from_bits(int(6)?),
        record_size: from_bits(int(7)?),
        record_url: text(8)?,
    })
}

/// A column that does not convert (what `Row::get` reports in that case).
fn conversion(column: usize, value: ValueRef<'_>, error: FromSqlError) -> rusqlite::Error {
    match error {
        FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
            column,
            format!("column {column}"),
            value.data_type(),
        ),
        other => {
            rusqlite::Error::FromSqlConversionFailure(column, value.data_type(), Box::new(other))
        }
    }
}

/// A row selected with [`delivery_columns!`].
pub(crate) fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let code: i64 = row.get(13)?;
    let status = DeliveryStatus::from_code(code)
        .ok_or_else(|| bad(13, Type::Integer, format!("unknown delivery status {code}")))?;
    let attempts = get_u64(row, 14)?;
    let last_status = row
        .get::<_, Option<i64>>(17)?
        .map(|code| {
            u16::try_from(code)
                .map_err(|_| bad(17, Type::Integer, format!("{code} is not an HTTP status")))
        })
        .transpose()?;
    Ok(Delivery {
        sdk_app_id: get_u64(row, 12)?,
        room_id: get_u64(row, 0)?,
        event: stored_event(row)?,
        status,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        first_attempt_ms: row.get(15)?,
        last_attempt_ms: row.get(16)?,
        last_status,
        last_error: row.get(18)?,
        next_attempt_ms: row.get(19)?,
        created_ms: row.get(20)?,
    })
}

/// `account_id, name, created_at`.
pub(crate) fn account(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: get_u64(row, 0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
    })
}

/// `sdk_app_id, account_id, name, created_at`.
pub(crate) fn app(row: &Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        sdk_app_id: get_u64(row, 0)?,
        account_id: get_u64(row, 1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
    })
}

/// `secret_id, secret_key, account_id, enabled, created_at`.
pub(crate) fn api_key(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        secret_id: row.get(0)?,
        secret_key: row.get(1)?,
        account_id: get_u64(row, 2)?,
        enabled: get_bool(row, 3)?,
        created_at: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_fields_survive_the_i64_column() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(from_bits(u64_bits(Some(v))), Some(v));
        }
        assert_eq!(from_bits(u64_bits(None)), None);
    }
}
