//! Who may read the database: its owner only. It holds every SecretKey, user token and
//! CallbackKey, so the directory it is in is created 0700 and the database 0600 (SQLite gives
//! the `-wal` and `-shm` files it creates the database's mode), whatever the umask. A directory
//! or file found open to group or others at open is restricted, with a warning.
//!
//! The directory is left alone if it has the sticky bit (a shared directory such as /tmp, which
//! is no place for the data); the files in it are still restricted.

use std::path::Path;

use roomlog_core::StoreError;

/// The files SQLite keeps next to the database `path`.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Before SQLite opens `path`: creates its directory (0700) or restricts it, creates the
/// database file (0600) or restricts it and its companions.
pub(crate) fn prepare(path: &Path) -> Result<(), StoreError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        if dir.exists() {
            restrict(dir, true);
        } else {
            create_private_dir(dir)?;
        }
    }
    if !path.exists() {
        create_private_file(path)?;
    }
    restrict(path, false);
    for suffix in COMPANIONS {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = Path::new(&companion);
        if companion.exists() {
            restrict(companion, false);
        }
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let failed = |e: std::io::Error| {
        StoreError::Backend(format!("creating directory {}: {e}", dir.display()))
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    // The umask may have taken bits away (never added any): exactly 0700.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Backend(format!("creating directory {}: {e}", dir.display())))
}

/// An empty database file SQLite then opens as a new database (and gives its `-wal` and `-shm`
/// files the same mode). Another process creating it first is fine.
#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed =
        |e: std::io::Error| StoreError::Backend(format!("creating {}: {e}", path.display()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(failed(e)),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Takes group and other permissions away from an existing `path`, warning when it did: the
/// data was open to them until now. Failing to is a warning too (not the owner, say).
#[cfg(unix)]
fn restrict(path: &Path, is_dir: bool) {
    use std::os::unix::fs::PermissionsExt;
    const STICKY: u32 = 0o1000;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return;
    }
    if is_dir && mode & STICKY != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:04o}"),
            "the database's directory is shared (sticky bit) and left as it is: keep the data \
             directory in a directory of its own, readable by its owner only (0700)"
        );
        return;
    }
    let private = mode & 0o700;
    if let Err(err) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)) {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:04o}"),
            error = %err,
            "cannot restrict the database {} (it holds secret keys and tokens) to its owner; \
             do it yourself (chmod go-rwx)",
            if is_dir { "directory" } else { "file" }
        );
        return;
    }
    // A directory with nothing in it yet exposed nothing (it was just created for us, say).
    let exposed = !is_dir || std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some());
    if exposed {
        tracing::warn!(
            path = %path.display(),
            from = format_args!("{mode:04o}"),
            to = format_args!("{private:04o}"),
            "restricted the database {} to its owner: it holds secret keys and tokens, and group \
             or others had access to it until now",
            if is_dir { "directory" } else { "file" }
        );
    } else {
        tracing::debug!(
            path = %path.display(),
            from = format_args!("{mode:04o}"),
            to = format_args!("{private:04o}"),
            "restricted the empty data directory to its owner"
        );
    }
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _is_dir: bool) {}
