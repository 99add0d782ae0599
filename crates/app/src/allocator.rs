//! The C allocator's arenas, limited before any thread starts.
//!
//! Rust code allocates with mimalloc, but SQLite allocates with the C allocator from each of
//! `sqlx`'s connection threads, and glibc gives threads arenas of their own (up to 8 per core)
//! that keep what was freed in them. On SQLite that was 34 MiB of a 50,000-channel proxy's
//! generation peak (235 to 201 MiB in `cargo xtask bench-e2e --generate`, docs/benchmarks.md),
//! at the same speed; one arena measured the same as two.

/// Caps glibc's malloc arenas at two. Call it first in `main`, before the async runtime
/// starts its threads (an arena once made stays). Does nothing on other C libraries.
pub fn limit_c_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only sets one of glibc's allocator tunables; it takes no pointer and is
    // called before any other thread of this process runs.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
