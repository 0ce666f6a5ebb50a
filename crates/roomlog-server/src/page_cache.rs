//! GetRoomEvent pages kept in memory, already rendered, so that a page read again (clients poll
//! the same pages; dashboards of many teachers read the same class) costs a map lookup instead
//! of a store read.
//!
//! **Why a copy can never be wrong.** A room's events never change once committed and their
//! sequence numbers are dense, so the events with sequences `first..first + count` are the same
//! bytes for as long as they exist, on every node. They stop existing only all together, when the
//! room's events are purged or the room is deleted, and every request reads the room itself from
//! the store first (in the same store call that would read the page): a deleted room is not
//! found, a purged or expired one is refused, before a copy is looked at. Room ids are never
//! reused. A copy is only made of events at or below the room's `last_seq` as that same read saw
//! it, i.e. committed ones; a page still filling up is keyed by how many events it held, so the
//! next read, which sees more, misses and reads the store.
//!
//! **Bounded.** At most `--page-cache-mib` of pages (0 turns the cache off), evicted
//! least-recently-used in two generations: new and re-read pages go into the current generation;
//! when it would hold more than half the capacity, the previous one is dropped and the current
//! one becomes it. A page read in either generation survives; one not read for a generation goes.
//! Copies of purged or deleted rooms are never read again and age out the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use roomlog_core::store::EventRange;
use roomlog_core::{Room, RoomId};

/// Which events a page holds: a room's `count` events from sequence `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub room_id: RoomId,
    pub first: u64,
    pub count: u64,
}

/// Rendered pages: [`roomlog_core::RoomPage::events_json`] as the store wrote it.
pub struct PageCache {
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<PageKey, Bytes>,
    current_bytes: usize,
    previous: HashMap<PageKey, Bytes>,
    previous_bytes: usize,
}

/// What a page costs beyond its bytes: the key, the map slot, the `Bytes` header.
const ENTRY_OVERHEAD: usize = 64;

impl PageCache {
    /// A cache of at most `capacity` bytes; 0 keeps nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            generations: Mutex::default(),
        }
    }

    /// The page, if kept; a hit keeps it for another generation.
    pub fn get(&self, key: &PageKey) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let mut generations = self.lock();
        if let Some(page) = generations.current.get(key) {
            return Some(page.clone());
        }
        let page = generations.previous.remove(key)?;
        generations.previous_bytes -= cost(&page);
        generations.insert(*key, page.clone(), self.capacity);
        Some(page)
    }

    /// Keeps `page` (already rendered events) under `key`. The caller guarantees the key's events
    /// are committed (see the module documentation).
    pub fn insert(&self, key: PageKey, page: Bytes) {
        // A page bigger than a generation would only push everything else out.
        if cost(&page) > self.capacity / 2 {
            return;
        }
        self.lock().insert(key, page, self.capacity);
    }

    /// Wraps `range` (which events of a room to read, as [`roomlog_core::EventLog::read_room_page`]
    /// takes it) so that the store is not asked for a page kept here. After the read,
    /// [`PageRead::events`] gives the page's events, from here or from the store.
    pub fn read_through(
        self: &Arc<Self>,
        room_id: RoomId,
        range: impl FnOnce(&Room) -> Option<(u64, u64)> + Send + 'static,
    ) -> (EventRange, PageRead) {
        let outcome = Arc::new(OnceLock::new());
        let read = PageRead {
            cache: Arc::clone(self),
            outcome: Arc::clone(&outcome),
        };
        let cache = Arc::clone(self);
        // Runs inside the store's read, right after the room was read: `range` decides from it
        // (nothing for a room the caller may not see), and the events it names are committed
        // (see the module documentation).
        let range: EventRange = Box::new(move |room: &Room| {
            let (first, count) = range(room)?;
            let key = PageKey {
                room_id,
                first,
                count,
            };
            match cache.get(&key) {
                Some(page) => {
                    let _ = outcome.set(Outcome::Hit(page));
                    None
                }
                None => {
                    let _ = outcome.set(Outcome::Miss(key));
                    Some((first, count))
                }
            }
        });
        (range, read)
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        // A panic cannot leave the maps inconsistent with their byte counts in a way that
        // matters (counts only bound memory): keep using them.
        self.generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One page read through the cache (see [`PageCache::read_through`]).
pub struct PageRead {
    cache: Arc<PageCache>,
    outcome: Arc<OnceLock<Outcome>>,
}

enum Outcome {
    Hit(Bytes),
    Miss(PageKey),
}

impl PageRead {
    /// The page's events: the kept copy, or those the store read (`count` events rendered in
    /// `json`), kept for the next read. Empty when no events were asked for (past the last page,
    /// a room the caller may not see).
    pub fn events(self, count: u64, mut json: Vec<u8>) -> Bytes {
        match self.outcome.get() {
            Some(Outcome::Hit(page)) => {
                metrics::counter!("roomlog_page_cache_hits_total").increment(1);
                page.clone()
            }
            Some(Outcome::Miss(key)) => {
                metrics::counter!("roomlog_page_cache_misses_total").increment(1);
                // The store reserves room for long events; what is kept should cost what it
                // counts (its length), not the spare capacity (a shrink in place, usually).
                json.shrink_to_fit();
                let page = Bytes::from(json);
                // Fewer events than asked for can only mean they were being deleted (a purge
                // between the room read and the events read, on a store that reads them apart):
                // never keep that.
                if count == key.count {
                    self.cache.insert(*key, page.clone());
                }
                page
            }
            None => Bytes::from(json),
        }
    }
}

impl Generations {
    fn insert(&mut self, key: PageKey, page: Bytes, capacity: usize) {
        let added = cost(&page);
        if let Some(replaced) = self.current.remove(&key) {
            self.current_bytes -= cost(&replaced);
        }
        // Each generation holds at most half the capacity (`added` is at most half).
        if self.current_bytes + added > capacity / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.previous_bytes = std::mem::replace(&mut self.current_bytes, 0);
        }
        self.current.insert(key, page);
        self.current_bytes += added;
    }
}

fn cost(page: &[u8]) -> usize {
    page.len() + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    impl PageCache {
        /// Bytes kept now (pages and their overhead).
        fn bytes(&self) -> usize {
            let generations = self.lock();
            generations.current_bytes + generations.previous_bytes
        }
    }

    fn key(first: u64) -> PageKey {
        PageKey {
            room_id: 7,
            first,
            count: 100,
        }
    }

    fn page(len: usize, byte: u8) -> Bytes {
        Bytes::from(vec![byte; len])
    }

    #[test]
    fn keeps_what_it_is_given_until_full() {
        let cache = PageCache::new(10 * (1000 + ENTRY_OVERHEAD));
        cache.insert(key(1), page(1000, b'a'));
        cache.insert(key(101), page(1000, b'b'));
        assert_eq!(cache.get(&key(1)).as_deref(), Some(&[b'a'; 1000][..]));
        assert_eq!(cache.get(&key(101)).as_deref(), Some(&[b'b'; 1000][..]));
        assert_eq!(cache.get(&key(201)), None);
        let other_count = PageKey {
            count: 99,
            ..key(1)
        };
        assert_eq!(cache.get(&other_count), None, "the key includes the count");
        assert_eq!(cache.bytes(), 2 * (1000 + ENTRY_OVERHEAD));
    }

    #[test]
    fn stays_within_its_capacity_and_keeps_pages_that_are_read() {
        let entry = 1000 + ENTRY_OVERHEAD;
        let cache = PageCache::new(10 * entry);
        cache.insert(key(0), page(1000, 0));
        for first in 1..100 {
            cache.insert(key(first), page(1000, first as u8));
            // Page 0 is read all the time: it must survive every generation change.
            assert!(cache.get(&key(0)).is_some(), "the hot page went at {first}");
            assert!(cache.bytes() <= 10 * entry, "{} bytes kept", cache.bytes());
        }
        // Pages never read again went.
        assert_eq!(cache.get(&key(1)), None);
        assert!(cache.get(&key(99)).is_some());
    }

    #[test]
    fn a_zero_capacity_keeps_nothing_and_big_pages_are_not_kept() {
        let off = PageCache::new(0);
        off.insert(key(1), page(10, 1));
        assert_eq!(off.get(&key(1)), None);
        let small = PageCache::new(2 * (500 + ENTRY_OVERHEAD));
        small.insert(key(1), page(501, 1));
        assert_eq!(small.get(&key(1)), None);
        small.insert(key(2), page(500, 1));
        assert!(small.get(&key(2)).is_some());
    }
}
