//! Rows as `roomlog_core::store::row` decodes them: what an SQLite column holds, by position.
//! Anything unexpected becomes a conversion error that surfaces as `StoreError::Backend`.

use std::fmt;

use rusqlite::types::{FromSqlError, Type, ValueRef};
use rusqlite::Row;

use roomlog_core::callback::Delivery;
use roomlog_core::store::row::{self, StoredRow};
use roomlog_core::{
    Account, ApiKey, App, EventRef, PresentMember, Room, RoomId, StoredEvent, User,
};

pub(crate) use roomlog_core::store::row::{from_bits, u64_bits};
pub(crate) use roomlog_core::{delivery_columns, event_columns, room_columns};

// The decoders, for rusqlite's row type (`query_map` takes a function of any row lifetime).
pub(crate) fn room(row: &Row<'_>) -> rusqlite::Result<Room> {
    row::room(&Sqlite(row))
}
pub(crate) fn stored_event(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    row::stored_event(&Sqlite(row))
}
pub(crate) fn event_info_ref<'r>(id: RoomId, row: &'r Row<'_>) -> rusqlite::Result<EventRef<'r>> {
    row::event_info_ref(id, &Sqlite(row))
}
pub(crate) fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    row::delivery(&Sqlite(row))
}
pub(crate) fn present_member(row: &Row<'_>) -> rusqlite::Result<PresentMember> {
    row::present_member(&Sqlite(row))
}
pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    row::user(&Sqlite(row))
}
pub(crate) fn account(row: &Row<'_>) -> rusqlite::Result<Account> {
    row::account(&Sqlite(row))
}
pub(crate) fn app(row: &Row<'_>) -> rusqlite::Result<App> {
    row::app(&Sqlite(row))
}
pub(crate) fn api_key(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    row::api_key(&Sqlite(row))
}

/// A rusqlite row, as the decoders read it.
struct Sqlite<'r, 's>(&'r Row<'s>);

impl<'r> StoredRow<'r> for Sqlite<'r, '_> {
    type Error = rusqlite::Error;

    fn int(&self, column: usize) -> rusqlite::Result<Option<i64>> {
        self.0.get(column)
    }

    fn text(&self, column: usize) -> rusqlite::Result<Option<&'r str>> {
        let value = self.0.get_ref(column)?;
        value
            .as_str_or_null()
            .map_err(|e| conversion(column, value, e))
    }

    fn corrupt(&self, column: usize, message: String) -> rusqlite::Error {
        let ty = self.0.get_ref(column).map_or(Type::Null, |v| v.data_type());
        rusqlite::Error::FromSqlConversionFailure(column, ty, Box::new(BadValue(message)))
    }
}

#[derive(Debug)]
struct BadValue(String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

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
