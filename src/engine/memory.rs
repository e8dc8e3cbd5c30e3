//! Handing freed heap memory back to the operating system.
//!
//! glibc's malloc gives each thread that allocates an arena of its own (up
//! to eight per core) and returns a freed chunk to the arena it came from;
//! an arena shrinks only from its top. The read path frees memory on other
//! threads than the ones that allocated it (cache entries evicted by moka,
//! sled pages pulled on blocking threads and evicted later), so the freed
//! memory stays mapped: reading 1 M keys through a 64 MiB cache peaked at
//! 438 MiB RSS while the heap in use never exceeded ~220 MiB
//! (docs/RELIABILITY.md). `malloc_trim(0)` walks every arena and releases
//! the free pages inside them, not only at the top.
//!
//! The store calls [`trim`] every `Config::memory_trim_interval` when it did
//! any work since the last call (see `Store::spawn_trimmer`). On other C
//! libraries, or with another global allocator, [`trim`] does nothing.

/// Release free heap pages to the OS. Whether anything was released
/// (always `false` where not supported).
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes the arenas' locks itself and has no
        // preconditions; it only returns free pages to the kernel.
        unsafe { malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
