//! Giving memory back after a large scrape.
//!
//! One `/metrics` of a hundred targets builds megabytes of families and text on whichever
//! worker thread serves it, and glibc keeps what it freed in that thread's arena for the
//! next time: measured with bench/fleet.sh, RSS settled at 1.2 MiB a target, most of it free
//! heap. `malloc_trim` hands the free pages of every arena back to the kernel; it walks the
//! free lists (well under a millisecond here), so it runs only after large answers.

/// Answers at least this large are followed by a trim.
pub const LARGE_ANSWER: usize = 1 << 20;

/// Returns the allocator's free pages to the kernel (glibc; elsewhere a no-op).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only takes glibc's own arena locks; any thread may call it.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
