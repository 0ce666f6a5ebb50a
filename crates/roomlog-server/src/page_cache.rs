//! GetRoomEvent pages kept in memory, already rendered, so that a page read again (clients poll
//! the same pages; dashboards of many teachers read the same class) costs a map lookup instead
//! of a store read.
//!
//! **Why a copy can never be wrong.** A room's events never change once committed and their
//! sequence numbers are dense, so the events with sequences `first..first + count` are the same
//! bytes for as long as they exist, on every node. They stop existing only all together, when the
//! room's events are purged or the room is deleted, and every request reads the room itself from
//! the store first (in the same store call that would read the page): a deleted room is not
//! found, a purged or expired one is refused, before a copy is used. Room ids are never
//! reused. A copy is only made of events at or below the room's `last_seq` as that same read saw
//! it, i.e. committed ones; a page still filling up is kept with how many events it held, so the
//! next read, which sees more, misses and reads the store ([`Lookup::decide`]).
//!
//! **Bounded.** At most `--page-cache-mib` of pages (0 turns the cache off), evicted
//! least-recently-used in two generations: new and re-read pages go into the current generation;
//! when it would hold more than half the capacity, the previous one is dropped and the current
//! one becomes it. A page read in either generation survives; one not read for a generation goes.
//! Copies of purged or deleted rooms are never read again and age out the same way.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use roomlog_core::store::RoomPage;
use roomlog_core::{Page, RoomId};

/// Which page: a room's page `page` of `limit` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub room_id: RoomId,
    pub page: u64,
    pub limit: u64,
}

/// A page kept: its events ([`RoomPage::events_json`] as the store wrote it) and how many.
/// A last page still filling up is kept with the events it held then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub count: u64,
    pub events: Bytes,
}

/// Rendered pages (see the module documentation).
pub struct PageCache {
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<PageKey, Kept>,
    current_bytes: usize,
    previous: HashMap<PageKey, Kept>,
    previous_bytes: usize,
}

/// What a page costs beyond its bytes: the key, the map slot, the `Bytes` header.
const ENTRY_OVERHEAD: usize = 64;

/// A page as the cache holds it, looked up before its room is read; [`Lookup::decide`] tells,
/// from the room as read, whether the copy is the page.
#[derive(Debug, Clone)]
pub struct Lookup {
    key: PageKey,
    page: Page,
    kept: Option<Kept>,
}

/// Where a page's events come from, for a room whose events end at a given sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The kept copy holds the page's events.
    Hit(Bytes),
    /// The store must read `count` events from sequence `first`.
    Miss { first: u64, count: u64 },
    /// The page lies past the last event: it holds none.
    Empty,
}

impl Lookup {
    /// A copy is the page as long as it holds as many events as the page has now: committed
    /// events never change and their sequence numbers are dense.
    pub fn decide(&self, last_seq: u64) -> Decision {
        match (self.page.range(last_seq), &self.kept) {
            (None, _) => Decision::Empty,
            (Some((_, count)), Some(kept)) if kept.count == count => {
                Decision::Hit(kept.events.clone())
            }
            (Some((first, count)), _) => Decision::Miss { first, count },
        }
    }

    /// The events the store must read for a room whose events end at `last_seq`:
    /// `(first, count)`, as [`roomlog_core::EventLog::read_room_page`]'s range takes them.
    pub fn to_read(&self, last_seq: u64) -> Option<(u64, u64)> {
        match self.decide(last_seq) {
            Decision::Miss { first, count } => Some((first, count)),
            Decision::Hit(_) | Decision::Empty => None,
        }
    }
}

impl PageCache {
    /// A cache of at most `capacity` bytes; 0 keeps nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            generations: Mutex::default(),
        }
    }

    /// What is kept for `page` of the room. Read the room and, in the same read,
    /// [`Lookup::to_read`] for it, then take the page's events from [`PageCache::events`].
    pub fn lookup(&self, room_id: RoomId, page: Page) -> Lookup {
        let key = PageKey {
            room_id,
            page: page.number(),
            limit: page.limit(),
        };
        Lookup {
            key,
            page,
            kept: self.get(&key),
        }
    }

    /// The page's events, for a room the caller may see as `read` holds it (read with
    /// [`Lookup::to_read`]): the kept copy, or the events the store read, then kept.
    pub fn events(&self, lookup: &Lookup, read: RoomPage) -> Bytes {
        match lookup.decide(read.room.last_seq) {
            Decision::Hit(events) => {
                metrics::counter!("roomlog_page_cache_hits_total").increment(1);
                events
            }
            Decision::Miss { count, .. } => {
                metrics::counter!("roomlog_page_cache_misses_total").increment(1);
                let mut json = read.events_json;
                // The store reserves room for long events; what is kept should cost what it
                // counts (its length), not the spare capacity (a shrink in place, usually).
                json.shrink_to_fit();
                let events = Bytes::from(json);
                // Fewer events than asked for can only mean they were being deleted (a purge
                // between the room read and the events read, on a store that reads them apart):
                // never keep that.
                if read.count == count {
                    let kept = Kept {
                        count,
                        events: events.clone(),
                    };
                    self.insert(lookup.key, kept);
                }
                events
            }
            Decision::Empty => Bytes::from(read.events_json),
        }
    }

    /// The page, if kept; a hit keeps it for another generation.
    fn get(&self, key: &PageKey) -> Option<Kept> {
        if self.capacity == 0 {
            return None;
        }
        let mut generations = self.lock();
        if let Some(kept) = generations.current.get(key) {
            return Some(kept.clone());
        }
        let kept = generations.previous.remove(key)?;
        generations.previous_bytes -= cost(&kept);
        generations.insert(*key, kept.clone(), self.capacity);
        Some(kept)
    }

    /// Keeps `kept` under `key`. The caller guarantees its events are committed (see the
    /// module documentation).
    fn insert(&self, key: PageKey, kept: Kept) {
        // A page bigger than a generation would only push everything else out.
        if cost(&kept) > self.capacity / 2 {
            return;
        }
        self.lock().insert(key, kept, self.capacity);
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        // A panic cannot leave the maps inconsistent with their byte counts in a way that
        // matters (counts only bound memory): keep using them.
        self.generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Generations {
    fn insert(&mut self, key: PageKey, kept: Kept, capacity: usize) {
        let added = cost(&kept);
        if let Some(replaced) = self.current.remove(&key) {
            self.current_bytes -= cost(&replaced);
        }
        // Each generation holds at most half the capacity (`added` is at most half).
        if self.current_bytes + added > capacity / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.previous_bytes = std::mem::replace(&mut self.current_bytes, 0);
        }
        self.current.insert(key, kept);
        self.current_bytes += added;
    }
}

fn cost(kept: &Kept) -> usize {
    kept.events.len() + ENTRY_OVERHEAD
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

    fn key(page: u64) -> PageKey {
        PageKey {
            room_id: 7,
            page,
            limit: 100,
        }
    }

    fn page(len: usize, byte: u8) -> Kept {
        Kept {
            count: 100,
            events: Bytes::from(vec![byte; len]),
        }
    }

    fn events(kept: Option<Kept>) -> Option<Bytes> {
        kept.map(|kept| kept.events)
    }

    #[test]
    fn keeps_what_it_is_given_until_full() {
        let cache = PageCache::new(10 * (1000 + ENTRY_OVERHEAD));
        cache.insert(key(1), page(1000, b'a'));
        cache.insert(key(2), page(1000, b'b'));
        assert_eq!(
            events(cache.get(&key(1))).as_deref(),
            Some(&[b'a'; 1000][..])
        );
        assert_eq!(
            events(cache.get(&key(2))).as_deref(),
            Some(&[b'b'; 1000][..])
        );
        assert_eq!(cache.get(&key(3)), None);
        let other_limit = PageKey {
            limit: 99,
            ..key(1)
        };
        assert_eq!(cache.get(&other_limit), None, "the key includes the limit");
        assert_eq!(cache.bytes(), 2 * (1000 + ENTRY_OVERHEAD));
    }

    #[test]
    fn a_copy_is_the_page_only_while_it_holds_as_many_events() {
        let cache = PageCache::new(1 << 20);
        let page2 = Page::new(2, 100, 200).unwrap();
        let lookup = cache.lookup(7, page2);
        assert_eq!(lookup.decide(100), Decision::Empty);
        assert_eq!(lookup.to_read(150), Some((101, 50)));
        cache.insert(
            lookup.key,
            Kept {
                count: 50,
                events: Bytes::from_static(b"fifty"),
            },
        );
        let lookup = cache.lookup(7, page2);
        assert_eq!(
            lookup.decide(150),
            Decision::Hit(Bytes::from_static(b"fifty"))
        );
        assert_eq!(lookup.to_read(150), None);
        // The last page grew since: the copy is not the page any more.
        assert_eq!(
            lookup.decide(160),
            Decision::Miss {
                first: 101,
                count: 60
            }
        );
    }

    #[test]
    fn stays_within_its_capacity_and_keeps_pages_that_are_read() {
        let entry = 1000 + ENTRY_OVERHEAD;
        let cache = PageCache::new(10 * entry);
        cache.insert(key(0), page(1000, 0));
        for n in 1..100 {
            cache.insert(key(n), page(1000, n as u8));
            // Page 0 is read all the time: it must survive every generation change.
            assert!(cache.get(&key(0)).is_some(), "the hot page went at {n}");
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
