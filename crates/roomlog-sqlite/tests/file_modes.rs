//! Issue 11 item 8: the database holds every SecretKey, user token and CallbackKey, so its
//! directory is 0700 and the database, `-wal` and `-shm` files 0600 whatever the umask, and an
//! existing directory or files open to others are restricted at open.
//!
//! One test in its own binary: the umask belongs to the whole process.
#![cfg(unix)]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use roomlog_core::store::prelude::*;
use roomlog_sqlite::SqliteStore;

fn set_umask(mask: u32) {
    // SAFETY: umask only swaps the process's file mode creation mask.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The database and the `-wal` and `-shm` files SQLite keeps next to it.
fn files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Opens the store at `db` and writes to it (so the `-wal` and `-shm` files exist).
async fn open_and_write(db: &Path) -> SqliteStore {
    let store = SqliteStore::open(db).unwrap();
    store.create_account("acme").await.unwrap();
    store
}

fn assert_private(db: &Path, what: &str) {
    let dir = db.parent().unwrap();
    assert_eq!(
        mode(dir),
        0o700,
        "{what}: directory {} is {:04o}",
        dir.display(),
        mode(dir)
    );
    for file in files(db) {
        assert_eq!(
            mode(&file),
            0o600,
            "{what}: {} is {:04o}",
            file.display(),
            mode(&file)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_its_owners_alone_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();

    // A data directory that does not exist yet, under the usual umask and under none at all.
    for mask in [0o022, 0o000] {
        set_umask(mask);
        let db = root
            .path()
            .join(format!("umask-{mask:03o}/data/roomlog.db"));
        let store = open_and_write(&db).await;
        assert_private(&db, &format!("created under umask {mask:03o}"));
        store.close().await;
    }
    set_umask(0o022);

    // A data directory made beforehand by `mkdir` (or by `roomlog serve`): 0755, empty.
    let dir = root.path().join("made-by-mkdir");
    std::fs::DirBuilder::new().mode(0o755).create(&dir).unwrap();
    assert_eq!(mode(&dir), 0o755);
    let db = dir.join("roomlog.db");
    let store = open_and_write(&db).await;
    assert_private(&db, "an existing empty directory");
    store.close().await;

    // An installation from before: a 0755 directory and 0644 files (while they are in use, so
    // the -wal and -shm files exist), opened again: all restricted, and the store works.
    let db = root.path().join("old-install/roomlog.db");
    let first = open_and_write(&db).await;
    chmod(db.parent().unwrap(), 0o755);
    for file in files(&db) {
        chmod(&file, 0o644);
    }
    let second = open_and_write(&db).await;
    assert_private(&db, "an existing installation");
    assert_eq!(second.list_accounts().await.unwrap().len(), 2);
    first.close().await;
    second.close().await;

    // A shared directory (sticky bit, as /tmp) is left as it is; the database in it is not.
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let db = shared.join("roomlog.db");
    let store = open_and_write(&db).await;
    assert_eq!(mode(&shared), 0o1777);
    for file in files(&db) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    store.close().await;
}
