//! First start: an empty store gets an account, an app and a key, so a new user can point the
//! official SDK at roomlog within a minute. They are printed once and kept in a 0600 file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use roomlog_core::time::now_secs;
use roomlog_core::{ApiKey, Store};
use serde::{Deserialize, Serialize};

pub use crate::config::CREDENTIALS_FILE;

/// What `credentials.json` holds; `roomlog call` and `roomlog simulate` read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub account_id: u64,
    pub sdk_app_id: u64,
    pub secret_id: String,
    pub secret_key: String,
}

impl Credentials {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Creates the first account, app and key if the store has no account yet. Returns them (and
/// where they were written) when it did.
pub async fn bootstrap_if_empty(
    store: &dyn Store,
    data_dir: &Path,
) -> anyhow::Result<Option<(Credentials, PathBuf)>> {
    let Some(account) = store.create_first_account("default").await? else {
        return Ok(None);
    };
    let app = store.create_app(account.id, "default").await?;
    let key = ApiKey::generate(account.id, now_secs());
    store.insert_key(&key).await?;
    let credentials = Credentials {
        account_id: account.id,
        sdk_app_id: app.sdk_app_id,
        secret_id: key.secret_id,
        secret_key: key.secret_key,
    };
    let path = data_dir.join(CREDENTIALS_FILE);
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    Ok(Some((credentials, path)))
}

/// Writes a file only its owner can read (0600 from creation, never world-readable).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}
