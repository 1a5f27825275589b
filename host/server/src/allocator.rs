//! The process allocator, tuned for a long-lived server whose guests stream
//! large events.
//!
//! glibc's allocator raises its mmap threshold each time a large block is
//! freed, so after a flood of 1 MiB events later ones come from the heap,
//! and a heap rarely shrinks: a server that streamed 800 MiB through its
//! handlers kept 1.1 GiB resident long after the events were stored and
//! dropped. With the threshold fixed, every block of 128 KiB or more has a
//! mapping of its own, given back to the operating system when freed (the
//! same floods then leave ~50 MiB).

/// The size from which an allocation gets a mapping of its own.
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Has the allocator give large blocks back to the operating system when
/// they are freed. Call it first thing in `main`, before any other thread
/// starts (glibc documents `mallopt` as not thread-safe); it does nothing
/// where the allocator is not glibc's.
pub fn give_back_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a tuning parameter of glibc's allocator;
    // the caller calls it before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
