//! An append-only list whose full chunks are shared between its copies.
//!
//! A trace being opened hands the screen a copy of its index every 300 ms
//! (marks, each lane's marks, line offsets: 36 bytes a record). Copied
//! whole, the screen's copy and the next one doubled that memory while a
//! big trace loaded; shared by chunk, a copy costs the chunk being filled.

use std::ops::Index;
use std::sync::Arc;

/// Items per shared chunk: a copy costs at most this many.
const CHUNK: usize = 1 << 14;

#[derive(Clone, Debug)]
pub struct Chunked<T> {
    /// Full chunks, never changed again: shared by every copy.
    full: Vec<Arc<[T]>>,
    /// The chunk being filled, copied with the list.
    tail: Vec<T>,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { full: Vec::new(), tail: Vec::new() }
    }
}

impl<T> Chunked<T> {
    pub fn len(&self) -> usize {
        self.full.len() * CHUNK + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, item: T) {
        self.tail.push(item);
        if self.tail.len() == CHUNK {
            let full = std::mem::take(&mut self.tail);
            self.full.push(full.into());
        }
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        match self.full.get(i / CHUNK) {
            Some(chunk) => Some(&chunk[i % CHUNK]),
            None if i / CHUNK == self.full.len() => self.tail.get(i % CHUNK),
            None => None,
        }
    }

    pub fn first(&self) -> Option<&T> {
        self.get(0)
    }

    pub fn last(&self) -> Option<&T> {
        self.tail.last().or_else(|| self.full.last().and_then(|c| c.last()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.full.iter().flat_map(|c| c.iter()).chain(&self.tail)
    }

    /// The first index at or after `from` where `pred` is false, for a
    /// list where `pred` is true up to some index and false after it (as
    /// [`slice::partition_point`]).
    pub fn partition_point_from(&self, from: usize, mut pred: impl FnMut(&T) -> bool) -> usize {
        let (mut lo, mut hi) = (from.min(self.len()), self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub fn partition_point(&self, pred: impl FnMut(&T) -> bool) -> usize {
        self.partition_point_from(0, pred)
    }
}

impl<T: PartialEq> PartialEq for Chunked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        self.get(i).unwrap_or_else(|| panic!("index {i} out of {}", self.len()))
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut list = Chunked::default();
        items.into_iter().for_each(|item| list.push(item));
        list
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Reads as the Vec it was built like, at every length around the
        /// chunk boundaries.
        #[test]
        fn reads_as_a_vec(len in 0..3 * CHUNK + 3, probe in 0..4 * CHUNK, cut in 0..4 * CHUNK, from in 0..4 * CHUNK) {
            let vec: Vec<u32> = (0..len as u32).map(|i| i * 2).collect();
            let list: Chunked<u32> = vec.iter().copied().collect();
            prop_assert_eq!(list.len(), vec.len());
            prop_assert_eq!(list.get(probe), vec.get(probe));
            prop_assert_eq!(list.first(), vec.first());
            prop_assert_eq!(list.last(), vec.last());
            prop_assert!(list.iter().eq(vec.iter()));
            let below = |&x: &u32| (x as usize) < cut;
            prop_assert_eq!(list.partition_point(below), vec.partition_point(below));
            let from = from.min(len);
            prop_assert_eq!(list.partition_point_from(from, below), from + vec[from..].partition_point(below));
        }
    }

    #[test]
    fn a_copy_shares_full_chunks_and_owns_its_tail() {
        let mut list: Chunked<u64> = (0..CHUNK as u64 + 5).collect();
        let copy = list.clone();
        assert!(Arc::ptr_eq(&list.full[0], &copy.full[0]), "full chunks are shared, not copied");
        list.push(99);
        assert_eq!((list.len(), copy.len()), (CHUNK + 6, CHUNK + 5), "the copy is not changed by a push");
        assert_eq!((list[CHUNK + 5], copy.get(CHUNK + 5)), (99, None));
    }
}
