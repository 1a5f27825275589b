//! The pooling allocator's instance slots, shared fairly between workflows.
//!
//! While slots are free they are handed out at once. When none is, callers
//! queue, and a slot coming free goes to a waiter of the workflow holding
//! the fewest slots (its oldest waiter): a workflow with thousands of runs
//! cannot starve one with a few, which gets the next free slot. A workflow
//! may also be capped (`limits.max_instances`): past its cap its callers
//! wait even while slots are free.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Who holds slots: one loaded workflow (all of its runs), or the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SlotOwner(u64);

impl SlotOwner {
    /// Components being described or probed at load.
    pub(crate) const LOADER: SlotOwner = SlotOwner(0);

    /// An owner numbered `n`, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> Self {
        SlotOwner(n)
    }
}

/// The slots of one engine.
pub(crate) struct InstanceSlots {
    book: Arc<Mutex<SlotBook>>,
}

/// Who holds what, and who waits.
struct SlotBook {
    total: u32,
    free: u32,
    held: HashMap<SlotOwner, u32>,
    waiting: VecDeque<Waiter>,
    next_owner: u64,
}

struct Waiter {
    owner: SlotOwner,
    cap: u32,
    reply: oneshot::Sender<SlotPermit>,
}

/// How the slots are used, for an error naming why none came free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotUsage {
    /// Slots in all.
    pub(crate) total: u32,
    /// Slots held by everyone.
    pub(crate) in_use: u32,
    /// Slots held by the owner asking.
    pub(crate) held: u32,
}

/// How the runtime's instance slots are used now: what `/metrics` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceUse {
    /// The slots in all: the pooling allocator's `max_instances`, or `None`
    /// when instances are allocated on demand (no slot limit).
    pub slots: Option<u32>,
    /// Live instances: running a call, waiting in place, or idle in a pool.
    pub in_use: u32,
    /// Step calls queued for a slot now.
    pub waiting: usize,
}

/// One slot, held for an instance's life; dropping it frees the slot.
pub(crate) struct SlotPermit {
    book: Arc<Mutex<SlotBook>>,
    owner: SlotOwner,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        release(&self.book, self.owner);
    }
}

fn lock(book: &Mutex<SlotBook>) -> MutexGuard<'_, SlotBook> {
    crate::sync::lock(book)
}

impl InstanceSlots {
    /// `total` slots, all free.
    pub(crate) fn new(total: u32) -> Self {
        Self {
            book: Arc::new(Mutex::new(SlotBook {
                total,
                free: total,
                held: HashMap::new(),
                waiting: VecDeque::new(),
                next_owner: 1,
            })),
        }
    }

    /// A new owner (a loaded workflow).
    pub(crate) fn new_owner(&self) -> SlotOwner {
        let mut book = lock(&self.book);
        let owner = SlotOwner(book.next_owner);
        book.next_owner += 1;
        owner
    }

    /// A slot for `owner` now, if one is free and `owner` holds fewer than
    /// `cap`; else a place in the queue, answered with a slot when one is
    /// handed to it.
    pub(crate) fn acquire(
        &self,
        owner: SlotOwner,
        cap: u32,
    ) -> Result<SlotPermit, oneshot::Receiver<SlotPermit>> {
        let mut book = lock(&self.book);
        let held = book.held.get(&owner).copied().unwrap_or(0);
        if book.free > 0 && held < cap {
            book.free -= 1;
            *book.held.entry(owner).or_default() += 1;
            return Ok(SlotPermit {
                book: self.book.clone(),
                owner,
            });
        }
        let (reply, receiver) = oneshot::channel();
        book.waiting.retain(|waiter| !waiter.reply.is_closed());
        book.waiting.push_back(Waiter { owner, cap, reply });
        Err(receiver)
    }

    /// How the slots are used now.
    pub(crate) fn report(&self) -> InstanceUse {
        let book = lock(&self.book);
        InstanceUse {
            slots: (book.total != u32::MAX).then_some(book.total),
            in_use: book.total - book.free,
            waiting: book
                .waiting
                .iter()
                .filter(|waiter| !waiter.reply.is_closed())
                .count(),
        }
    }

    /// How the slots are used, as `owner` sees it.
    pub(crate) fn usage(&self, owner: SlotOwner) -> SlotUsage {
        let book = lock(&self.book);
        SlotUsage {
            total: book.total,
            in_use: book.total - book.free,
            held: book.held.get(&owner).copied().unwrap_or(0),
        }
    }
}

/// Frees `owner`'s slot: it goes to the waiter of the owner holding the
/// fewest slots (below its cap), else back to the free ones.
fn release(book_arc: &Arc<Mutex<SlotBook>>, owner: SlotOwner) {
    let mut book = lock(book_arc);
    if let Some(held) = book.held.get_mut(&owner) {
        *held -= 1;
        if *held == 0 {
            book.held.remove(&owner);
        }
    }
    book.waiting.retain(|waiter| !waiter.reply.is_closed());
    let Some(index) = book.next_waiter() else {
        book.free += 1;
        return;
    };
    let Some(waiter) = book.waiting.remove(index) else {
        book.free += 1;
        return;
    };
    *book.held.entry(waiter.owner).or_default() += 1;
    let permit = SlotPermit {
        book: book_arc.clone(),
        owner: waiter.owner,
    };
    drop(book);
    // A waiter that gave up just now hands the slot back: dropping the
    // permit releases it again (outside the lock).
    if let Err(unwanted) = waiter.reply.send(permit) {
        drop(unwanted);
    }
}

impl SlotBook {
    /// The waiter a free slot goes to: of the owners below their cap, the
    /// one holding the fewest slots; its oldest waiter.
    fn next_waiter(&self) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for (index, waiter) in self.waiting.iter().enumerate() {
            let held = self.held.get(&waiter.owner).copied().unwrap_or(0);
            if held >= waiter.cap {
                continue;
            }
            if best.is_none_or(|(_, fewest)| held < fewest) {
                best = Some((index, held));
            }
        }
        best.map(|(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(result: Result<SlotPermit, oneshot::Receiver<SlotPermit>>) -> SlotPermit {
        match result {
            Ok(permit) => permit,
            Err(_) => panic!("expected a free slot"),
        }
    }

    fn queued(
        result: Result<SlotPermit, oneshot::Receiver<SlotPermit>>,
    ) -> oneshot::Receiver<SlotPermit> {
        match result {
            Ok(_) => panic!("expected to wait"),
            Err(receiver) => receiver,
        }
    }

    #[test]
    fn a_freed_slot_goes_to_the_owner_holding_the_fewest() {
        let slots = InstanceSlots::new(2);
        let (hog, small) = (slots.new_owner(), slots.new_owner());
        let first = granted(slots.acquire(hog, u32::MAX));
        let _second = granted(slots.acquire(hog, u32::MAX));
        // The hog queues first, the small workflow after it.
        let mut hog_waits = queued(slots.acquire(hog, u32::MAX));
        let mut small_waits = queued(slots.acquire(small, u32::MAX));
        drop(first);
        assert!(hog_waits.try_recv().is_err(), "the hog holds more");
        let permit = small_waits.try_recv().expect("the small workflow's turn");
        assert_eq!(slots.usage(small).held, 1);
        assert_eq!(slots.usage(hog).held, 1);
        drop(permit);
        let _third = hog_waits.try_recv().expect("then the hog's");
        assert_eq!(slots.usage(hog).in_use, 2);
        assert_eq!(slots.usage(hog).held, 2);
    }

    #[test]
    fn a_capped_owner_waits_while_slots_are_free() {
        let slots = InstanceSlots::new(3);
        let owner = slots.new_owner();
        let first = granted(slots.acquire(owner, 1));
        let mut waits = queued(slots.acquire(owner, 1));
        assert_eq!(slots.usage(owner).in_use, 1);
        drop(first);
        let permit = waits.try_recv().expect("its own slot came back");
        assert_eq!(slots.usage(owner).held, 1);
        drop(permit);
        assert_eq!(slots.usage(owner).in_use, 0);
    }

    #[test]
    fn a_waiter_that_gave_up_loses_no_slot() {
        let slots = InstanceSlots::new(1);
        let owner = slots.new_owner();
        let only = granted(slots.acquire(owner, u32::MAX));
        let gave_up = queued(slots.acquire(owner, u32::MAX));
        drop(gave_up);
        drop(only);
        assert_eq!(slots.usage(owner).in_use, 0);
        let _again = granted(slots.acquire(owner, u32::MAX));
    }
}
