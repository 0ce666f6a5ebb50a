//! Encoding domain values into columns and decoding rows back, without ever panicking on what
//! the database holds: anything unexpected (an unknown event-type code, a negative id, a spec
//! that is not valid JSON, a column of another type) becomes `StoreError::Backend`.
//!
//! The codes are those of the SQLite store (and its `event_types` table), so rows copied from
//! one backend to the other mean the same.

use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use roomlog_core::callback::{Delivery, DeliveryStatus};
use roomlog_core::lifecycle::Occupancy;
use roomlog_core::{
    Account, ApiKey, App, EventData, EventRef, EventType, PresentMember, Room, RoomId, RoomSpec,
    RoomStatus, StoredEvent, User,
};

use crate::error::{corrupt, Context, Error};

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

/// The columns [`event_info_ref`] reads, in order: those of [`event_columns!`] an `EventInfo`
/// shows (not the room id, seq or event id).
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

/// The columns [`user`] reads, in order.
macro_rules! user_columns {
    () => {
        "user_id, sdk_app_id, name, origin_id, avatar, token, token_expires_ms, created_at"
    };
}
pub(crate) use user_columns;

/// Optional u64 event fields (Duration, RecordSize, ...) are stored bit-for-bit as i64: the
/// reporter may send any u64 and it must come back unchanged; nothing orders or sums them in SQL.
pub(crate) fn u64_bits(value: Option<u64>) -> Option<i64> {
    value.map(|v| v as i64)
}

pub(crate) fn from_bits(value: Option<i64>) -> Option<u64> {
    value.map(|v| v as u64)
}

/// Column `index` of `row` as `T`.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, Error> {
    row.try_get(index)
        .with_context(|| format!("reading column {index}"))
}

/// A non-negative integer column as u64.
pub(crate) fn get_u64(row: &Row, index: usize) -> Result<u64, Error> {
    let value: i64 = get(row, index)?;
    u64::try_from(value).map_err(|_| {
        corrupt(format!(
            "column {index}: negative value {value} where an unsigned one is expected"
        ))
    })
}

/// A 0/1 integer column as bool.
pub(crate) fn get_bool(row: &Row, index: usize) -> Result<bool, Error> {
    match get::<i64>(row, index)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(corrupt(format!("column {index}: {other} is not a boolean"))),
    }
}

pub(crate) fn status_from_code(code: i64) -> Result<RoomStatus, Error> {
    u64::try_from(code)
        .ok()
        .and_then(RoomStatus::from_code)
        .ok_or_else(|| corrupt(format!("unknown room status {code}")))
}

/// A row selected with [`room_columns!`].
pub(crate) fn room(row: &Row) -> Result<Room, Error> {
    let spec_json: &str = get(row, 9)?;
    let spec: RoomSpec = serde_json::from_str(spec_json)
        .map_err(|e| corrupt(format!("room spec is not valid JSON: {e}")))?;
    Ok(Room {
        room_id: get_u64(row, 0)?,
        sdk_app_id: get_u64(row, 1)?,
        account_id: get_u64(row, 2)?,
        status: status_from_code(get(row, 3)?)?,
        real_start_ms: get(row, 4)?,
        real_end_ms: get(row, 5)?,
        created_at: get(row, 6)?,
        last_seq: get_u64(row, 7)?,
        events_purged: get_bool(row, 8)?,
        spec,
        occupancy: Occupancy {
            present: get_u64(row, 10)?,
            empty_since_ms: get(row, 11)?,
        },
    })
}

/// `user_id, role, device, joined_ms, devices` of `presence`.
pub(crate) fn present_member(row: &Row) -> Result<PresentMember, Error> {
    Ok(PresentMember {
        user_id: get(row, 0)?,
        role: from_bits(get(row, 1)?),
        device: from_bits(get(row, 2)?),
        joined_ms: get(row, 3)?,
        devices: get_u64(row, 4)?,
    })
}

/// A row selected with [`user_columns!`].
pub(crate) fn user(row: &Row) -> Result<User, Error> {
    Ok(User {
        user_id: get(row, 0)?,
        sdk_app_id: get_u64(row, 1)?,
        name: get(row, 2)?,
        origin_id: get(row, 3)?,
        avatar: get(row, 4)?,
        token: get(row, 5)?,
        token_expires_ms: get(row, 6)?,
        created_at: get(row, 7)?,
    })
}

/// A row selected with [`event_columns!`].
pub(crate) fn stored_event(row: &Row) -> Result<StoredEvent, Error> {
    let code: i64 = get(row, 3)?;
    let event_type = EventType::from_code(code)
        .ok_or_else(|| corrupt(format!("unknown event type code {code}")))?;
    Ok(StoredEvent {
        room_id: get_u64(row, 0)?,
        seq: get_u64(row, 1)?,
        event_id: get(row, 2)?,
        event_type,
        timestamp_ms: get(row, 4)?,
        data: EventData {
            user_id: get(row, 5)?,
            device: from_bits(get(row, 6)?),
            role: from_bits(get(row, 7)?),
            reason: from_bits(get(row, 8)?),
            duration: from_bits(get(row, 9)?),
            record_size: from_bits(get(row, 10)?),
            record_url: get(row, 11)?,
        },
    })
}

/// A row of room `room_id` selected with [`event_info_columns!`], borrowed from the row: the
/// values and checks of [`stored_event`] for those columns, without copying any text. The seq
/// and event id are not selected: they read as 0 and `""`.
pub(crate) fn event_info_ref(room_id: RoomId, row: &Row) -> Result<EventRef<'_>, Error> {
    let code: i64 = get(row, 0)?;
    let event_type = EventType::from_code(code)
        .ok_or_else(|| corrupt(format!("unknown event type code {code}")))?;
    Ok(EventRef {
        room_id,
        seq: 0,
        event_id: "",
        event_type,
        timestamp_ms: get(row, 1)?,
        user_id: get(row, 2)?,
        device: from_bits(get(row, 3)?),
        role: from_bits(get(row, 4)?),
        reason: from_bits(get(row, 5)?),
        duration: from_bits(get(row, 6)?),
        record_size: from_bits(get(row, 7)?),
        record_url: get(row, 8)?,
    })
}

/// A row selected with [`delivery_columns!`].
pub(crate) fn delivery(row: &Row) -> Result<Delivery, Error> {
    let code: i64 = get(row, 13)?;
    let status = DeliveryStatus::from_code(code)
        .ok_or_else(|| corrupt(format!("unknown delivery status {code}")))?;
    let attempts = get_u64(row, 14)?;
    let last_status = get::<Option<i64>>(row, 17)?
        .map(|code| {
            u16::try_from(code).map_err(|_| corrupt(format!("{code} is not an HTTP status")))
        })
        .transpose()?;
    Ok(Delivery {
        sdk_app_id: get_u64(row, 12)?,
        room_id: get_u64(row, 0)?,
        event: stored_event(row)?,
        status,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        first_attempt_ms: get(row, 15)?,
        last_attempt_ms: get(row, 16)?,
        last_status,
        last_error: get(row, 18)?,
        next_attempt_ms: get(row, 19)?,
        created_ms: get(row, 20)?,
    })
}

/// `account_id, name, created_at`.
pub(crate) fn account(row: &Row) -> Result<Account, Error> {
    Ok(Account {
        id: get_u64(row, 0)?,
        name: get(row, 1)?,
        created_at: get(row, 2)?,
    })
}

/// `sdk_app_id, account_id, name, created_at`.
pub(crate) fn app(row: &Row) -> Result<App, Error> {
    Ok(App {
        sdk_app_id: get_u64(row, 0)?,
        account_id: get_u64(row, 1)?,
        name: get(row, 2)?,
        created_at: get(row, 3)?,
    })
}

/// `secret_id, secret_key, account_id, enabled, created_at`.
pub(crate) fn api_key(row: &Row) -> Result<ApiKey, Error> {
    Ok(ApiKey {
        secret_id: get(row, 0)?,
        secret_key: get(row, 1)?,
        account_id: get_u64(row, 2)?,
        enabled: get_bool(row, 3)?,
        created_at: get(row, 4)?,
    })
}

/// Decodes every row with `decode`.
pub(crate) fn all<T>(rows: &[Row], decode: fn(&Row) -> Result<T, Error>) -> Result<Vec<T>, Error> {
    rows.iter().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_fields_survive_the_i64_column() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(from_bits(u64_bits(Some(v))), Some(v));
        }
    }
}
