//! Rows as `roomlog_core::store::row` decodes them (the SQLite store's layout and codes, so rows
//! copied from one backend to the other mean the same). Anything unexpected (an unknown code, a
//! negative id, a column of another type) becomes `StoreError::Backend`.

use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use roomlog_core::callback::Delivery;
use roomlog_core::store::row::{self, StoredRow};
use roomlog_core::{
    Account, ApiKey, App, EventRef, PresentMember, Room, RoomId, StoredEvent, User,
};

use crate::error::{corrupt, Context, Error};

pub(crate) use roomlog_core::store::row::{from_bits, u64_bits};
pub(crate) use roomlog_core::{delivery_columns, event_columns, room_columns};

/// A PostgreSQL row, as the decoders read it.
struct Pg<'r>(&'r Row);

impl<'r> StoredRow<'r> for Pg<'r> {
    type Error = Error;

    fn int(&self, column: usize) -> Result<Option<i64>, Error> {
        get(self.0, column)
    }

    fn text(&self, column: usize) -> Result<Option<&'r str>, Error> {
        get(self.0, column)
    }

    fn corrupt(&self, column: usize, message: String) -> Error {
        corrupt(format!("column {column}: {message}"))
    }
}

/// The decoders of `row`, for this crate's row type.
macro_rules! decode {
    ($($name:ident -> $ty:ty),* $(,)?) => {
        $(pub(crate) fn $name(row: &Row) -> Result<$ty, Error> {
            row::$name(&Pg(row))
        })*
    };
}

decode!(
    room -> Room,
    stored_event -> StoredEvent,
    delivery -> Delivery,
    present_member -> PresentMember,
    user -> User,
    account -> Account,
    app -> App,
    api_key -> ApiKey,
);

/// [`stored_event`]'s values for the columns an `EventInfo` shows, borrowed from the row.
pub(crate) fn event_info_ref(room_id: RoomId, row: &Row) -> Result<EventRef<'_>, Error> {
    row::event_info_ref(room_id, &Pg(row))
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

/// Decodes every row with `decode`.
pub(crate) fn all<T>(rows: &[Row], decode: fn(&Row) -> Result<T, Error>) -> Result<Vec<T>, Error> {
    rows.iter().map(decode).collect()
}
