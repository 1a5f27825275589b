//! Step calls suspended in `wait_for_event` across a runtime, keeping their
//! instances: when a call needs an instance slot and none is free, the
//! oldest of them lets go of its instance (its step runs again from the
//! start once answered), as idle instances are dropped first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::slots::SlotOwner;
use crate::sync::lock;

/// The suspended calls of one engine, oldest first.
#[derive(Default)]
pub(crate) struct Suspensions {
    inner: Arc<Mutex<Book>>,
}

#[derive(Default)]
struct Book {
    next_id: u64,
    calls: BTreeMap<u64, (SlotOwner, oneshot::Sender<()>)>,
}

/// One suspended call's place in the book; it leaves the book when
/// dropped.
pub(crate) struct SuspensionTicket {
    book: Arc<Mutex<Book>>,
    id: u64,
}

impl Drop for SuspensionTicket {
    fn drop(&mut self) {
        lock(&self.book).calls.remove(&self.id);
    }
}

impl Suspensions {
    /// Enters a call of `owner`'s suspended in its wait; the receiver
    /// completes when it must let go of its instance.
    pub(crate) fn enter(&self, owner: SlotOwner) -> (SuspensionTicket, oneshot::Receiver<()>) {
        let (tell, told) = oneshot::channel();
        let mut book = lock(&self.inner);
        book.next_id += 1;
        let id = book.next_id;
        book.calls.insert(id, (owner, tell));
        let ticket = SuspensionTicket {
            book: self.inner.clone(),
            id,
        };
        (ticket, told)
    }

    /// Tells the oldest suspended call (of `only`, if given) to let go of
    /// its instance. Returns whether there was one.
    pub(crate) fn let_go_oldest(&self, only: Option<SlotOwner>) -> bool {
        let mut book = lock(&self.inner);
        let oldest = book
            .calls
            .iter()
            .find(|(_, (owner, _))| only.is_none_or(|only| *owner == only))
            .map(|(id, _)| *id);
        let Some((_, tell)) = oldest.and_then(|id| book.calls.remove(&id)) else {
            return false;
        };
        let _ = tell.send(());
        true
    }

    /// How many calls are suspended.
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_call_of_the_owner_asked_lets_go_first() {
        let suspensions = Suspensions::default();
        let owner = |n| SlotOwner::for_tests(n);
        let (_first, mut first_told) = suspensions.enter(owner(1));
        let (_second, mut second_told) = suspensions.enter(owner(2));
        let (_third, mut third_told) = suspensions.enter(owner(2));
        assert!(suspensions.let_go_oldest(Some(owner(2))));
        assert!(first_told.try_recv().is_err());
        assert!(second_told.try_recv().is_ok());
        assert!(suspensions.let_go_oldest(None));
        assert!(first_told.try_recv().is_ok());
        assert!(third_told.try_recv().is_err());
        assert_eq!(suspensions.len(), 1);
    }

    #[test]
    fn a_call_that_woke_leaves_the_book() {
        let suspensions = Suspensions::default();
        let (ticket, _told) = suspensions.enter(SlotOwner::LOADER);
        drop(ticket);
        assert_eq!(suspensions.len(), 0);
        assert!(!suspensions.let_go_oldest(None));
    }
}
