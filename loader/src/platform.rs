//! What the loader needs from the machine beyond the CPU: memory for linear
//! memories, executable memory for code, and the current thread's stack.
//!
//! With the `std` feature (the default) the operating system provides all
//! of it (`mmap`, `mprotect`, the thread's stack bounds) and nothing needs
//! installing. Without it (the `no_std` core, for hosts without an
//! operating system) the host installs a [`Platform`] once, before it
//! loads anything, with [`set_platform`]: like a global allocator, one for
//! the whole program. A `std` host may install one too (e.g. to keep
//! linear memories in an arena of its own); it is then used for every
//! movable memory and every code copy, and the operating system only for
//! what guard-page code needs (8 GiB reservations and the fault handler).
//!
//! Without an operating system's virtual memory, a memory is what
//! [`Platform::alloc_memory`] gives: all of it committed, so set
//! [`crate::EngineConfig::memory_reservation`] to 0 there (each memory then
//! gets exactly its minimum size and doubles when `memory.grow` needs more,
//! moving). Only code compiled with explicit bounds checks runs on a
//! platform without the fault handler (`std`): guard-page code is refused
//! at instantiation with an error that says so.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The machine services the loader's core needs. Every method may be called
/// from any thread that runs wasm or loads artifacts.
pub trait Platform: Send + Sync {
    /// `len` bytes (a multiple of 64 KiB, at least 64 KiB) of zeroed,
    /// readable and writable memory, aligned to at least 16 bytes, for a
    /// linear memory; `None` if there is not enough.
    fn alloc_memory(&self, len: usize) -> Option<NonNull<u8>>;

    /// Frees memory from [`Platform::alloc_memory`].
    ///
    /// # Safety
    /// `base` and `len` are those of one earlier `alloc_memory` call whose
    /// memory has not been freed yet, and nothing uses it any more.
    unsafe fn free_memory(&self, base: NonNull<u8>, len: usize);

    /// An executable copy of `code` at an address that is a multiple of
    /// 4 KiB (aarch64 code addresses data page-relatively), with the
    /// instruction cache made coherent with it; `None` if there is no room.
    fn alloc_code(&self, code: &[u8]) -> Option<NonNull<u8>>;

    /// Frees code from [`Platform::alloc_code`].
    ///
    /// # Safety
    /// `base` and `len` (the copied code's length) are those of one earlier
    /// `alloc_code` call not freed yet, and no code in it runs any more.
    unsafe fn free_code(&self, base: NonNull<u8>, len: usize);

    /// Whether `code`, where it is, can be executed as it is (code in
    /// execute-in-place flash, or memory the host already made
    /// executable). [`crate::Artifact::from_static`] then runs it in place
    /// instead of copying it with [`Platform::alloc_code`]. Default: no.
    fn executes_in_place(&self, code: &[u8]) -> bool {
        let _ = code;
        false
    }

    /// `(lowest, highest)` address of the calling thread's stack, if known.
    /// Wasm traps with "call stack exhausted" before it comes within
    /// [`crate::RED_ZONE`] bytes of the lowest address. Unknown (the
    /// default), wasm may use [`crate::Store::set_max_wasm_stack`] bytes
    /// below the point where it is entered, and the host must make sure
    /// that much (plus the red zone) is there.
    fn stack_bounds(&self) -> Option<(usize, usize)> {
        None
    }
}

/// Makes the instruction cache coherent with code just written to
/// `code` as data: what [`Platform::alloc_code`] must do after copying on
/// aarch64 (clean and invalidate the cache lines of those addresses); a
/// no-op on x86-64, whose caches are coherent.
pub fn sync_instruction_cache(code: &[u8]) {
    crate::arch::sync_instruction_cache(code)
}

/// The installed platform: a leaked `&'static dyn Platform`, boxed once
/// more to fit an atomic pointer (a fat pointer does not).
static INSTALLED: AtomicPtr<&'static dyn Platform> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the platform every later load, instantiation and call uses.
/// Only the first call takes effect (the loader keeps code and memories
/// from it, which must go back to the same platform); later ones return
/// `false` and change nothing.
pub fn set_platform(platform: &'static dyn Platform) -> bool {
    let boxed = alloc::boxed::Box::into_raw(alloc::boxed::Box::new(platform));
    let installed = INSTALLED
        .compare_exchange(
            core::ptr::null_mut(),
            boxed,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok();
    if !installed {
        // SAFETY: `boxed` came from `Box::into_raw` above and was not
        // published, so this is its only owner.
        drop(unsafe { alloc::boxed::Box::from_raw(boxed) });
    }
    installed
}

/// The installed platform, if any.
pub(crate) fn installed() -> Option<&'static dyn Platform> {
    let ptr = INSTALLED.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was published by `set_platform` from a
    // leaked box that is never freed or changed again.
    (!ptr.is_null()).then(|| unsafe { *ptr })
}

/// What loading or running needs and no platform provides.
pub(crate) const NO_PLATFORM: &str = "no platform installed: a host without the loader's `std` \
                                      feature must call vibewasm_loader::set_platform first";

/// The bounds of the calling thread's stack: the installed platform's, else
/// (with `std`) what the operating system says.
pub(crate) fn stack_bounds() -> Option<(usize, usize)> {
    let platform = installed().and_then(|p| p.stack_bounds());
    #[cfg(feature = "std")]
    let platform = platform.or_else(crate::stack::thread_stack_bounds);
    platform
}

/// Code copied into executable memory by the installed platform, returned
/// to it on drop.
pub(crate) struct PlatformCode {
    platform: &'static dyn Platform,
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the code is immutable once copied and only ever read or executed;
// the platform is `Send + Sync`.
unsafe impl Send for PlatformCode {}
// SAFETY: as above.
unsafe impl Sync for PlatformCode {}

impl PlatformCode {
    /// `code` copied by the installed platform; `Err` says why not.
    pub(crate) fn copy(code: &[u8]) -> Result<PlatformCode, &'static str> {
        let platform = installed().ok_or(NO_PLATFORM)?;
        let base = platform
            .alloc_code(code)
            .ok_or("the platform has no executable memory for the code")?;
        if !(base.as_ptr() as usize).is_multiple_of(4096) {
            // Returned first: the platform broke its contract, and aarch64
            // code would address its data wrongly from there.
            // SAFETY: just allocated by this platform with this length.
            unsafe { platform.free_code(base, code.len()) };
            return Err("the platform put code at an address that is not a multiple of 4 KiB");
        }
        Ok(PlatformCode {
            platform,
            base,
            len: code.len(),
        })
    }

    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.base.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for PlatformCode {
    fn drop(&mut self) {
        // SAFETY: allocated by this platform with this length in `copy`,
        // freed only here; the artifact owning it is being dropped, and
        // every instance running its code holds the artifact.
        unsafe { self.platform.free_code(self.base, self.len) }
    }
}
