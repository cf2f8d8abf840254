//! A few recent results kept per thread, for work that repeats across connections (the
//! same server certificate, the same ClientHello lists). Keys are compared whole, so a
//! hit never belongs to another input; when full, the oldest entry makes room.

pub(crate) struct Recent<K, V> {
    entries: Vec<(K, V)>,
    cap: usize,
}

impl<K, V: Clone> Recent<K, V> {
    pub(crate) const fn new(cap: usize) -> Self {
        Recent { entries: Vec::new(), cap }
    }

    /// The value of the first key `is_key` accepts.
    pub(crate) fn get(&self, is_key: impl Fn(&K) -> bool) -> Option<V> {
        self.entries.iter().find(|(k, _)| is_key(k)).map(|(_, v)| v.clone())
    }

    /// Entries held (never more than the capacity).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.entries.len() >= self.cap.max(1) {
            self.entries.remove(0);
        }
        self.entries.push((key, value));
    }
}
