//! In-process copies of what every request looks up before its action runs, so that the hot
//! paths (GetRoomEvent, ReportRoomEvents) do not make a store round trip for each:
//!
//! - **API keys** (authentication) and **apps** (`SdkAppId` ownership), kept for [`TTL`]. Only
//!   keys found *enabled* are kept, so a new or re-enabled key works at once. **Staleness:** a key
//!   disabled while the server runs (`roomlog admin disable-key`, another process; or another
//!   node sharing the database) keeps working on this node for up to [`TTL`] after the change.
//!   Nothing can invalidate the copies from outside the process, hence the time limit: every
//!   node re-reads a key at least once per [`TTL`]. Apps are never deleted and never change
//!   account, so their copies are exact; they expire anyway, to stay small.
//! - **Room ownership**: the account and app of a room, which never change for the room's life
//!   (room ids are never reused). Only ReportRoomEvents uses it, to skip reading the room before
//!   handing the batch to the store; the store still refuses a room that no longer exists.
//!
//! Each map is bounded: when full, expired entries go, and if that is not enough, everything.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use roomlog_core::{AccountId, ApiKey, App, RoomId, SdkAppId, Store, StoreError};

/// How long a copy of a key or an app is used before the store is asked again: the most a
/// disabled key keeps working on a node that saw it enabled.
pub const TTL: Duration = Duration::from_secs(1);

/// Most keys, apps (each) kept.
const MAX_ENTRIES: usize = 10_000;
/// Most rooms whose ownership is kept (~40 bytes each).
const MAX_ROOMS: usize = 100_000;

#[derive(Default)]
pub struct Lookups {
    keys: Expiring<String, Arc<ApiKey>>,
    apps: Expiring<SdkAppId, Arc<App>>,
    rooms: Mutex<HashMap<RoomId, (AccountId, SdkAppId)>>,
}

impl Lookups {
    /// The key, if it exists (enabled or not: the caller decides). Enabled keys come from a copy
    /// at most [`TTL`] old; anything else is read from the store.
    pub async fn key(
        &self,
        store: &dyn Store,
        secret_id: &str,
    ) -> Result<Option<Arc<ApiKey>>, StoreError> {
        if let Some(key) = self.keys.get(secret_id) {
            return Ok(Some(key));
        }
        let Some(key) = store.get_key(secret_id).await? else {
            return Ok(None);
        };
        let key = Arc::new(key);
        if key.enabled {
            self.keys.insert(secret_id.to_owned(), Arc::clone(&key));
        }
        Ok(Some(key))
    }

    /// The app, if it exists, from a copy at most [`TTL`] old.
    pub async fn app(
        &self,
        store: &dyn Store,
        sdk_app_id: SdkAppId,
    ) -> Result<Option<Arc<App>>, StoreError> {
        if let Some(app) = self.apps.get(&sdk_app_id) {
            return Ok(Some(app));
        }
        let Some(app) = store.get_app(sdk_app_id).await? else {
            return Ok(None);
        };
        let app = Arc::new(app);
        self.apps.insert(sdk_app_id, Arc::clone(&app));
        Ok(Some(app))
    }

    /// The account and app of a room seen before.
    pub fn room_owner(&self, room_id: RoomId) -> Option<(AccountId, SdkAppId)> {
        lock(&self.rooms).get(&room_id).copied()
    }

    /// Remembers the account and app of an existing room.
    pub fn remember_room(&self, room_id: RoomId, account_id: AccountId, sdk_app_id: SdkAppId) {
        let mut rooms = lock(&self.rooms);
        if rooms.len() >= MAX_ROOMS && !rooms.contains_key(&room_id) {
            rooms.clear();
        }
        rooms.insert(room_id, (account_id, sdk_app_id));
    }
}

/// A map whose entries are used for [`TTL`] after they were read from the store.
struct Expiring<K, V> {
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = lock(&self.map);
        let (value, read_at) = map.get(key)?;
        (read_at.elapsed() < TTL).then(|| value.clone())
    }

    fn insert(&self, key: K, value: V) {
        let mut map = lock(&self.map);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.retain(|_, (_, read_at)| read_at.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (value, Instant::now()));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let map: Expiring<String, u32> = Expiring::default();
        map.insert("a".into(), 1);
        assert_eq!(map.get("a"), Some(1));
        lock(&map.map).get_mut("a").unwrap().1 = Instant::now() - TTL;
        assert_eq!(map.get("a"), None, "an entry as old as the TTL is not used");
    }

    #[test]
    fn maps_stay_bounded() {
        let map: Expiring<u64, u64> = Expiring::default();
        for i in 0..(MAX_ENTRIES as u64 * 2 + 7) {
            map.insert(i, i);
        }
        assert!(lock(&map.map).len() <= MAX_ENTRIES);
        let lookups = Lookups::default();
        for room in 0..(MAX_ROOMS as u64 + 10) {
            lookups.remember_room(room, 1, 2);
        }
        assert!(lock(&lookups.rooms).len() <= MAX_ROOMS);
        assert_eq!(lookups.room_owner(MAX_ROOMS as u64 + 9), Some((1, 2)));
    }
}
