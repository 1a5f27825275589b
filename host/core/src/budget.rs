//! The host-wide memory budget.
//!
//! Every instance's linear memory, over all workflows and runs, is taken
//! from one budget as it grows and given back when the instance is
//! dropped; so are the events in flight inside runs (streamed and not read
//! yet, queued for a step). Each instance and each run is also held to its
//! own limits; the budget bounds the sum, so that many of them each within
//! its limits cannot together take more than the host can give: past the
//! budget a growth or an event is refused (naming the budget), never the
//! process aborted by the operating system.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytesize::ByteSize;

/// The budget when none is given and the machine's memory is unknown.
const FALLBACK_BUDGET: ByteSize = ByteSize::gib(4);

/// The bytes that instances' linear memory and the events in flight inside
/// runs may hold together, and hold.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    cap: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `cap` bytes, none of it in use.
    pub(crate) fn new(cap: ByteSize) -> Self {
        Self {
            cap: cap.as_u64(),
            used: AtomicU64::new(0),
        }
    }

    /// Takes `bytes`, unless that passes the cap; on refusal, the bytes in
    /// use.
    pub(crate) fn take(&self, bytes: u64) -> Result<(), u64> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.cap)
            })
            .map(|_| ())
    }

    /// Takes `bytes` even past the cap: for what was admitted before and
    /// is counted again (an event queued once more).
    pub(crate) fn take_anyway(&self, bytes: u64) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// `bytes` already taken, as a [`Charge`] giving them back when
    /// dropped.
    pub(crate) fn charge_taken(self: &Arc<Self>, bytes: u64) -> Charge {
        Charge {
            budget: self.clone(),
            bytes,
        }
    }

    /// Gives back `bytes` taken before.
    pub(crate) fn give_back(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// The bytes in use.
    pub(crate) fn in_use(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The cap.
    pub(crate) fn cap(&self) -> ByteSize {
        ByteSize::b(self.cap)
    }
}

/// Bytes taken from a budget, given back when dropped, wherever that is:
/// carried with an event, they come back whether it is read or dropped
/// unread.
#[derive(Debug)]
pub(crate) struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// The default budget: half the memory the process may use, the least of
/// the machine's (`/proc/meminfo`) and its control group's limit
/// (`memory.max`, cgroup v2), else 4 GiB.
pub fn default_memory_budget() -> ByteSize {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text));
    let group = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| cgroup_max(&text));
    let usable = match (machine, group) {
        (Some(machine), Some(group)) => Some(machine.min(group)),
        (machine, group) => machine.or(group),
    };
    usable.map_or(FALLBACK_BUDGET, |total| ByteSize::b(total.as_u64() / 2))
}

/// A cgroup v2 `memory.max`: a number of bytes, or `max` for none.
fn cgroup_max(text: &str) -> Option<ByteSize> {
    text.trim().parse().ok().map(ByteSize::b)
}

/// `MemTotal` of a `/proc/meminfo` text.
fn mem_total(meminfo: &str) -> Option<ByteSize> {
    let line = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(ByteSize::kib(kib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_cap_and_no_further() {
        let budget = MemoryBudget::new(ByteSize::b(100));
        assert_eq!(budget.take(60), Ok(()));
        assert_eq!(budget.take(50), Err(60));
        assert_eq!(budget.take(40), Ok(()));
        assert_eq!(budget.in_use(), 100);
        assert_eq!(budget.take(1), Err(100));
        budget.give_back(60);
        assert_eq!(budget.take(u64::MAX), Err(40), "no overflow");
        assert_eq!(budget.take(60), Ok(()));
        budget.give_back(1_000);
        assert_eq!(budget.in_use(), 0, "never below zero");
    }

    #[test]
    fn a_charge_gives_its_bytes_back_when_dropped() {
        let budget = Arc::new(MemoryBudget::new(ByteSize::b(100)));
        budget.take(70).unwrap();
        let charge = budget.charge_taken(70);
        assert_eq!(budget.take(40), Err(70));
        drop(charge);
        assert_eq!(budget.in_use(), 0);
        budget.take_anyway(150);
        assert_eq!(budget.in_use(), 150, "counted past the cap");
    }

    #[test]
    fn reads_the_machine_memory_from_meminfo() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(text), Some(ByteSize::kib(24_576_000)));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots\n"), None);
        assert!(default_memory_budget().as_u64() > 0);
    }

    #[test]
    fn reads_a_control_groups_limit() {
        assert_eq!(cgroup_max("1073741824\n"), Some(ByteSize::gib(1)));
        assert_eq!(cgroup_max("max\n"), None);
    }
}
