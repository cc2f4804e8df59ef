//! A vector of at most `N` elements stored inline, which is `Copy` when its
//! elements are.
//!
//! The state's per-page arrays, VMA lists and anon_vma chains are bounded
//! and small. Kept inline and `Copy`, a whole process ([`crate::state::Mm`])
//! is plain bytes, so cloning a state (once per successor the checker
//! generates) copies the process table with one `memcpy` instead of
//! walking every list element by element, and dropping a state frees one
//! allocation less per list (docs/speed.md). It behaves as
//! `arrayvec::ArrayVec` did: the live elements are a slice (`Deref`), and
//! comparison, hashing, `Debug` and serde (a sequence) see only them, so
//! the encodings of states are unchanged.

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

/// Up to `N` (at most 255) elements inline; the slots past `len` hold
/// leftovers that nothing reads.
#[derive(Clone, Copy)]
pub struct Inline<T: Copy + Default, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> Inline<T, N> {
    /// An empty vector.
    pub fn new() -> Self {
        const { assert!(N <= u8::MAX as usize) };
        Inline { len: 0, items: [T::default(); N] }
    }

    /// Appends `x`; panics when the vector is full (a model bound was
    /// broken, as `ArrayVec::push` panics).
    pub fn push(&mut self, x: T) {
        assert!((self.len as usize) < N, "Inline::push: capacity {N} exceeded");
        self.items[self.len as usize] = x;
        self.len += 1;
    }

    /// Inserts `x` at `i`, shifting the rest up; panics when full or
    /// `i > len`.
    pub fn insert(&mut self, i: usize, x: T) {
        let len = self.len as usize;
        assert!(i <= len && len < N, "Inline::insert: index {i} of {len}, capacity {N}");
        self.items.copy_within(i..len, i + 1);
        self.items[i] = x;
        self.len += 1;
    }

    /// Removes and returns element `i`, shifting the rest down.
    pub fn remove(&mut self, i: usize) -> T {
        let len = self.len as usize;
        assert!(i < len, "Inline::remove: index {i} of {len}");
        let x = self.items[i];
        self.items.copy_within(i + 1..len, i);
        self.len -= 1;
        x
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(self.items[self.len as usize])
    }

    /// Keeps the elements `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        let mut w = 0;
        for r in 0..self.len as usize {
            if keep(&mut self.items[r]) {
                self.items[w] = self.items[r];
                w += 1;
            }
        }
        self.len = w as u8;
    }

    /// Keeps the first `n` elements.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n as u8);
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The live elements.
    pub fn as_slice(&self) -> &[T] {
        self
    }

    /// The live elements, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }

    /// Whether no more elements fit.
    pub fn is_full(&self) -> bool {
        self.len as usize == N
    }
}

impl<T: Copy + Default, const N: usize> Default for Inline<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for Inline<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..self.len as usize]
    }
}

impl<T: Copy + Default, const N: usize> DerefMut for Inline<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..self.len as usize]
    }
}

impl<T: Copy + Default, const N: usize> Extend<T> for Inline<T, N> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        iter.into_iter().for_each(|x| self.push(x));
    }
}

impl<T: Copy + Default, const N: usize> FromIterator<T> for Inline<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = Self::new();
        v.extend(iter);
        v
    }
}

impl<T: Copy + Default, const N: usize> IntoIterator for Inline<T, N> {
    type Item = T;
    type IntoIter = std::iter::Take<std::array::IntoIter<T, N>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().take(self.len as usize)
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a Inline<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a mut Inline<T, N> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for Inline<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for Inline<T, N> {}

impl<T: Copy + Default + PartialOrd, const N: usize> PartialOrd for Inline<T, N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Copy + Default + Ord, const N: usize> Ord for Inline<T, N> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Copy + Default + Hash, const N: usize> Hash for Inline<T, N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (**self).hash(h);
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for Inline<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Copy + Default + Serialize, const N: usize> Serialize for Inline<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Deserialize<'de> for Inline<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq<T, const N: usize>(std::marker::PhantomData<T>);
        impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Visitor<'de> for Seq<T, N> {
            type Value = Inline<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array with no more than {N} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Inline::new();
                while let Some(x) = seq.next_element()? {
                    if v.is_full() {
                        return Err(A::Error::invalid_length(N + 1, &self));
                    }
                    v.push(x);
                }
                Ok(v)
            }
        }
        d.deserialize_seq(Seq::<T, N>(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::Inline;

    #[test]
    fn behaves_as_a_bounded_vector() {
        let mut v: Inline<u8, 4> = [3, 1].into_iter().collect();
        v.insert(1, 2);
        v.push(9);
        assert_eq!(&*v, &[3, 2, 1, 9]);
        assert!(v.is_full());
        assert_eq!(v.remove(0), 3);
        v.retain(|x| *x != 1);
        assert_eq!(&*v, &[2, 9]);
        // Leftovers past `len` do not count in comparisons.
        let w: Inline<u8, 4> = [2, 9].into_iter().collect();
        assert_eq!(v, w);
        assert_eq!(format!("{v:?}"), "[2, 9]");
        assert_eq!(v.pop(), Some(9));
        v.truncate(0);
        assert!(v.is_empty() && v.pop().is_none());
    }

    #[test]
    fn serializes_as_a_sequence_and_refuses_too_many_items() {
        let v: Inline<u8, 2> = [7, 8].into_iter().collect();
        let arr: arrayvec::ArrayVec<u8, 2> = [7, 8].into_iter().collect();
        assert_eq!(serde_json::to_string(&v).unwrap(), serde_json::to_string(&arr).unwrap());
        let back: Inline<u8, 2> = serde_json::from_str("[7,8]").unwrap();
        assert_eq!(back, v);
        let e = serde_json::from_str::<Inline<u8, 2>>("[1,2,3]").unwrap_err().to_string();
        let a = serde_json::from_str::<arrayvec::ArrayVec<u8, 2>>("[1,2,3]").unwrap_err().to_string();
        assert_eq!(e, a);
    }
}
