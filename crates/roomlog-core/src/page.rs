//! Paging as LCIC's listing actions ask for it: `Page` counted from 1 and `Limit` items per page.
//! One type validates both and answers the two questions stores and handlers ask: how many
//! items come before the page (an SQL `OFFSET`), and which part of a dense `1..=total` sequence
//! it covers (GetRoomEvent's seq range, an index seek).

use crate::error::DomainError;

/// A validated page: `number >= 1` and `1 <= limit <= ` the action's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    number: u64,
    limit: u64,
}

impl Page {
    /// Validates `Page` and `Limit` as an action with page size `max_limit` takes them, with
    /// LCIC's `InvalidParameterValue` answers.
    pub fn new(number: u64, limit: u64, max_limit: u64) -> Result<Page, DomainError> {
        if number == 0 {
            return Err(DomainError::invalid_value("Page must be at least 1."));
        }
        if limit == 0 || limit > max_limit {
            return Err(DomainError::invalid_value(format!(
                "Limit must be between 1 and {max_limit}."
            )));
        }
        Ok(Page { number, limit })
    }

    /// Page 1 of `limit` items (`limit` at least 1): for internal callers that read everything
    /// in pages.
    pub fn first(limit: u64) -> Page {
        Page {
            number: 1,
            limit: limit.max(1),
        }
    }

    /// The page after this one.
    pub fn next(self) -> Page {
        Page {
            number: self.number.saturating_add(1),
            ..self
        }
    }

    pub fn number(self) -> u64 {
        self.number
    }

    pub fn limit(self) -> u64 {
        self.limit
    }

    /// Items before this page, saturating (a page far past any end skips everything).
    pub fn offset(self) -> u64 {
        (self.number - 1).saturating_mul(self.limit)
    }

    /// The part of a dense sequence `1..=total` this page covers: the first number and how
    /// many, or `None` when the page lies past the end.
    pub fn range(self, total: u64) -> Option<(u64, u64)> {
        let skip = (self.number - 1).checked_mul(self.limit)?;
        if skip >= total {
            return None;
        }
        Some((skip + 1, self.limit.min(total - skip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validates_page_and_limit() {
        assert!(Page::new(0, 10, 100).is_err());
        assert!(Page::new(1, 0, 100).is_err());
        assert!(Page::new(1, 101, 100).is_err());
        let page = Page::new(3, 100, 100).unwrap();
        assert_eq!((page.number(), page.limit(), page.offset()), (3, 100, 200));
        assert_eq!(Page::first(0).limit(), 1);
        assert_eq!(Page::first(5).next().offset(), 5);
    }

    proptest! {
        /// Ranges match chunking the whole sequence, and walking the pages visits every item
        /// once; the offset is where the range starts.
        #[test]
        fn pages_partition_the_sequence(total in 0u64..2000, limit in 1u64..=200, number in 1u64..30) {
            let page = Page::new(number, limit, 200).unwrap();
            let all: Vec<u64> = (1..=total).collect();
            let expected: Vec<u64> = all.chunks(limit as usize).nth(number as usize - 1).map(|c| c.to_vec()).unwrap_or_default();
            let got: Vec<u64> = page.range(total)
                .map(|(first, count)| (first..first + count).collect())
                .unwrap_or_default();
            if let Some((first, _)) = page.range(total) {
                prop_assert_eq!(first - 1, page.offset());
            }
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn huge_pages_never_overflow(number in 1u64.., limit in 1u64..=200, total in any::<u64>()) {
            let page = Page::new(number, limit, 200).unwrap();
            if let Some((first, count)) = page.range(total) {
                prop_assert!(first >= 1 && count >= 1 && first - 1 + count <= total);
            }
            let _ = page.offset();
        }
    }
}
