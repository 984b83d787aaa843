//! One memory budget shared by every live policy instance of a process.
//!
//! Each instance has its own linear-memory cap, but a stateful policy gets an instance per
//! node, so the caps alone do not bound the total: forty instances keeping 1.5 GB each ask
//! for 60 GB. Every instance charges its memory growth here and gives it back when its
//! store is dropped, and a growth that would take the total past the budget is refused,
//! which the instance reports as a `memory-limit` fault naming the budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The budget and what live instances hold of it, in bytes.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget { limit, used: AtomicUsize::new(0) })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Takes `bytes` from the budget; on refusal returns the total the growth asked for.
    pub fn charge(&self, bytes: usize) -> Result<(), usize> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(bytes).filter(|&total| total <= self.limit))
            .map(|_| ())
            .map_err(|used| used.saturating_add(bytes))
    }

    /// Gives back `bytes` taken earlier.
    pub fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The default budget: half of the machine's physical memory, leaving the other half to
/// the models, the data and libtorch. `None` when the OS does not say.
pub fn default_limit() -> Option<usize> {
    // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
    let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    if pages <= 0 || page_size <= 0 {
        return None;
    }
    (pages as usize).checked_mul(page_size as usize).map(|total| total / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_and_refuses_past_it() {
        let budget = MemoryBudget::new(100);
        assert_eq!(budget.charge(60), Ok(()));
        assert_eq!(budget.charge(50), Err(110));
        assert_eq!(budget.used(), 60, "a refused charge takes nothing");
        budget.release(60);
        assert_eq!(budget.charge(100), Ok(()));
        assert_eq!(budget.charge(usize::MAX), Err(usize::MAX), "overflow is a refusal, not a wrap");
    }

    #[test]
    fn the_default_is_half_the_machines_memory() {
        let limit = default_limit().expect("Linux reports its physical memory");
        assert!(limit > 64 << 20, "{limit}");
    }
}
