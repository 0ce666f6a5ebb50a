//! Schema migrations: applied once, idempotent, safe for nodes starting together; a database
//! from a newer roomlog is refused; and the schema is the SQLite store's, table by table and
//! column by column.

mod common;

use roomlog_core::store::prelude::*;
use roomlog_postgres::{migrate, PgStore, SCHEMA_VERSION, SEQUENCES, TABLES};

fn all_versions() -> Vec<i32> {
    (1..=SCHEMA_VERSION).collect()
}

/// A plain connection to the test database, for looking at what the store made.
async fn inspect() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&common::url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn migrating_twice_is_a_no_op_and_connect_then_works() {
    let schema = common::Schema::new();
    let url = common::url();
    assert_eq!(
        migrate(&url, Some(&schema.name)).await.unwrap(),
        all_versions(),
        "a fresh schema gets every migration, in order"
    );
    assert_eq!(
        migrate(&url, Some(&schema.name)).await.unwrap(),
        Vec::<i32>::new(),
        "then nothing is left to apply"
    );
    let store = schema.connect().await;
    let account = store.create_account("a").await.unwrap();
    assert_eq!(store.list_accounts().await.unwrap(), vec![account]);
    store.close().await;
    assert!(
        store.list_accounts().await.is_err(),
        "a closed store fails its calls"
    );
    // Connecting again (a restart) finds the data and migrates nothing.
    let again = schema.connect().await;
    assert_eq!(again.list_accounts().await.unwrap().len(), 1);
    assert_eq!(
        migrate(&url, Some(&schema.name)).await.unwrap(),
        Vec::<i32>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let schema = common::Schema::new();
    let url = common::url();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (url, name) = (url.clone(), schema.name.clone());
            tokio::spawn(async move { migrate(&url, Some(&name)).await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.push(run.await.unwrap().expect("concurrent migrate"));
    }
    applied.sort();
    assert_eq!(
        applied,
        vec![vec![], vec![], vec![], all_versions()],
        "one node migrates; the others wait for it and find nothing to do"
    );
    let client = inspect().await;
    let recorded: i64 = client
        .query_one(
            &format!(
                "SELECT COUNT(*) FROM \"{}\".refinery_schema_history",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, i64::from(SCHEMA_VERSION));
}

#[tokio::test]
async fn connect_alone_migrates_a_fresh_schema() {
    let schema = common::Schema::new();
    let store = schema.connect().await;
    assert_eq!(store.list_accounts().await.unwrap(), vec![]);
    assert_eq!(
        migrate(&common::url(), Some(&schema.name)).await.unwrap(),
        Vec::<i32>::new()
    );
}

#[tokio::test]
async fn a_database_from_a_newer_roomlog_is_refused() {
    let schema = common::Schema::new();
    migrate(&common::url(), Some(&schema.name)).await.unwrap();
    let client = inspect().await;
    client
        .execute(
            &format!(
                "INSERT INTO \"{}\".refinery_schema_history (version, name, applied_on, checksum)
                 VALUES ($1, 'from the future', '2030-01-01T00:00:00Z', '1')",
                schema.name
            ),
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let refused = PgStore::connect(&common::url(), common::options(&schema.name)).await;
    let error = refused
        .expect_err("a newer schema must be refused")
        .to_string();
    let future = format!("V{}", SCHEMA_VERSION + 1);
    assert!(
        error.contains("newer") && error.contains(&future),
        "{error}"
    );
}

#[tokio::test]
async fn bad_urls_and_schema_names_are_errors_not_panics() {
    for (url, schema) in [
        ("not a url", None),
        ("postgres://postgres@127.0.0.1:1/test", None),
        (common::url().as_str(), Some("bad name; DROP TABLE x")),
    ] {
        let options = roomlog_postgres::PgOptions {
            schema: schema.map(str::to_owned),
            ..roomlog_postgres::PgOptions::default()
        };
        assert!(
            PgStore::connect(url, options).await.is_err(),
            "{url} {schema:?}"
        );
    }
}

/// `(table, [(column, type)])` of the PostgreSQL schema, tables by name, columns in order.
async fn pg_tables(schema: &str) -> Vec<(String, Vec<(String, String)>)> {
    let client = inspect().await;
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text
             FROM information_schema.columns WHERE table_schema = $1
             ORDER BY table_name, ordinal_position",
            &[&schema],
        )
        .await
        .unwrap();
    let mut tables: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for row in rows {
        let (table, column, ty): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        match tables.last_mut() {
            Some((name, columns)) if *name == table => columns.push((column, ty)),
            _ => tables.push((table, vec![(column, ty)])),
        }
    }
    tables
}

/// The same of a fresh SQLite store's database, types mapped as the PostgreSQL schema maps them,
/// without SQLite's own bookkeeping (`sqlite_sequence`, `schema_migrations`): not data.
fn sqlite_tables() -> Vec<(String, Vec<(String, String)>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roomlog.db");
    drop(roomlog_sqlite::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT IN ('sqlite_sequence', 'schema_migrations') ORDER BY name",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
        .into_iter()
        .map(|table| {
            let columns = conn
                .prepare(&format!(
                    "SELECT name, type FROM pragma_table_info('{table}')"
                ))
                .unwrap()
                .query_map([], |row| {
                    let ty: String = row.get(1)?;
                    let mapped = match ty.as_str() {
                        "INTEGER" => "bigint",
                        "TEXT" => "text",
                        "BLOB" => "bytea",
                        other => panic!("{table}: unexpected SQLite type {other}"),
                    };
                    Ok((row.get::<_, String>(0)?, mapped.to_owned()))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (table, columns)
        })
        .collect()
}

#[tokio::test]
async fn the_schema_is_the_sqlite_stores_column_by_column() {
    let schema = common::Schema::new();
    migrate(&common::url(), Some(&schema.name)).await.unwrap();
    let pg = pg_tables(&schema.name).await;
    let sqlite = sqlite_tables();

    // PostgreSQL's migration history is not data either.
    let got: Vec<_> = pg
        .into_iter()
        .filter(|(table, _)| table != "refinery_schema_history")
        .collect();
    assert_eq!(
        got, sqlite,
        "same tables, same columns in the same order, mapped types"
    );

    // TABLES lists every data table (all but the seeded reference table), parents first.
    let mut listed: Vec<&str> = TABLES.to_vec();
    listed.push("event_types");
    listed.sort_unstable();
    let names: Vec<&str> = got.iter().map(|(table, _)| table.as_str()).collect();
    assert_eq!(listed, names);
    let position = |table: &str| TABLES.iter().position(|t| *t == table).unwrap();
    for (child, parent) in [
        ("apps", "accounts"),
        ("api_keys", "accounts"),
        ("users", "apps"),
        ("rooms", "apps"),
        ("events", "rooms"),
    ] {
        assert!(
            position(parent) < position(child),
            "{parent} before {child}"
        );
    }
    for (table, column) in SEQUENCES {
        assert!(TABLES.contains(table), "{table}.{column}");
    }
}
