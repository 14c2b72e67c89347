//! A bounded set of recently ordered transaction ids: the oldest is forgotten first.

use ordo_types::TxId;
use std::collections::{HashSet, VecDeque};

/// Remembers up to `capacity` ids.
#[derive(Debug, Clone)]
pub struct RecentIds {
    order: VecDeque<TxId>,
    set: HashSet<TxId>,
    capacity: usize,
}

impl RecentIds {
    pub fn new(capacity: usize) -> RecentIds {
        RecentIds {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity,
        }
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.set.contains(id)
    }

    /// Adds `id`, forgetting the oldest beyond capacity.
    pub fn insert(&mut self, id: TxId) {
        if self.capacity == 0 || !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}
