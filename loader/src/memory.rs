//! Linear memory: an address-space reservation whose accessible prefix
//! grows in place, or moves when it must.
//!
//! `MAP_NORESERVE` and `PROT_NONE` keep a reservation free of commit charge
//! until pages are made accessible, and no more pages than the memory's
//! maximum (and the embedder's limit) ever become accessible.
//!
//! How much is reserved depends on the code that may use the memory
//! ([`Reservation`]):
//!
//! * Code compiled with guard-page bounds checks needs
//!   [`GUARD_RESERVATION`] (8 GiB + 64 KiB), so that any 32-bit address
//!   plus 32-bit offset lands inside the reservation and an access beyond
//!   the current size faults. Such a memory never moves: growing is a
//!   matter of `mprotect`.
//! * Code with explicit checks compares every address with the current
//!   size, and reloads the memory's base after anything that can grow it
//!   (calls and `memory.grow`). Its memory starts with a small reservation
//!   ([`crate::EngineConfig::memory_reservation`]: at least the minimum
//!   size) and, when `memory.grow` outgrows it, moves to a new reservation
//!   twice as large (or as large as needed, at most the maximum), so a
//!   memory needs only about the address space it uses: small devices,
//!   32-bit hosts and containers under an address-space limit can run it.
//!
//! A memory gets what the code of the module defining it needs; guard-page
//! code importing a memory without the guard reservation is refused at link
//! time. Memories the host creates get the guard reservation where the
//! address space allows, so any code can import them, and a movable one
//! otherwise.
//!
//! Guard reservations are registered with the fault handler
//! ([`crate::signals::register_reservation`]) for the memory's whole life:
//! a fault of guard-page code is a trap only inside one of them.

//!
//! Without an operating system's virtual memory (the `no_std` core, or a
//! host that installed a [`crate::Platform`]), a movable memory's
//! reservation is memory from [`crate::Platform::alloc_memory`], all of it
//! accessible and zeroed from the start, and moving is allocating anew,
//! copying and freeing.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use vibewasm_format::vmctx::MemoryDef;
use vibewasm_format::MAX_PAGES64;
use vibewasm_format::{MemoryType, GUARD_RESERVATION};

use crate::error::InstantiationError;
use crate::platform::{self, Platform};
use crate::prelude::*;
use crate::raw::RawBox;
#[cfg(feature = "std")]
use crate::signals::{self, AddressRange, Registration};

/// Bytes in a wasm page.
pub const WASM_PAGE_SIZE: u64 = 65536;
/// Most pages a 32-bit memory can have (4 GiB).
pub const MAX_WASM_PAGES: u64 = 65536;
/// Most pages this loader gives a 64-bit memory (memory64), whatever its
/// declared maximum (up to 2^48): 2^32 pages, 256 TiB, more address space
/// than 64-bit hosts give a process. The embedder's limit
/// ([`crate::EngineConfig::memory_limit_pages`], 4 GiB by default) applies
/// below it.
pub const MAX_WASM64_PAGES: u64 = 1 << 32;
/// Address space reserved for a memory that guard-page code may use:
/// [`vibewasm_format::GUARD_RESERVATION`] (any `u32` index plus `u32`
/// offset plus the widest access stays inside).
pub const MEMORY_RESERVATION: usize = GUARD_RESERVATION as usize;

/// How much address space a new memory reserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reservation {
    /// [`MEMORY_RESERVATION`], for good: usable by code with either
    /// bounds-check strategy.
    Guard,
    /// `initial` bytes (raised to the minimum size, capped at the maximum),
    /// moved to a larger reservation when `memory.grow` outgrows it: only
    /// for code with explicit bounds checks.
    Movable { initial: u64 },
}

/// Reserves `len` bytes of inaccessible address space.
#[cfg(feature = "std")]
fn reserve(len: usize) -> std::io::Result<*mut u8> {
    #[cfg(target_os = "linux")]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANON;
    // SAFETY: a fresh anonymous mapping at an address of the kernel's
    // choosing cannot overlap anything Rust owns.
    let base = unsafe { libc::mmap(core::ptr::null_mut(), len, libc::PROT_NONE, flags, -1, 0) };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(base.cast())
}

/// Makes `[base, base + len)` readable and writable.
///
/// # Safety
/// The range must lie in a reservation of the caller's, where nothing
/// reads or writes yet.
#[cfg(feature = "std")]
unsafe fn make_writable(base: *mut u8, len: usize) -> std::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: guaranteed by the caller.
    let rc = unsafe { libc::mprotect(base.cast(), len, libc::PROT_READ | libc::PROT_WRITE) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One linear memory, owned by a store and shared by the instances that
/// import it.
pub(crate) struct LinearMemory {
    def: RawBox<MemoryDef>,
    /// Bytes of address space reserved at `def.base` (they change when a
    /// movable memory moves, under the contract of the methods below).
    reserved: AtomicUsize,
    /// A guard reservation, which never moves (see [`Reservation`]).
    guard: bool,
    /// The type it was created with.
    ty: MemoryType,
    /// The memory type's maximum, capped at [`MAX_WASM_PAGES`] (a 64-bit
    /// memory's at [`MAX_WASM64_PAGES`]).
    max_pages: u64,
    /// The embedder's limit.
    limit_pages: AtomicU64,
    /// Where the reservation comes from.
    backing: Backing,
    /// The reservation's registration with the fault handler (guard
    /// reservations only); dropped before the reservation is unmapped.
    #[cfg(feature = "std")]
    registration: Option<Registration<AddressRange>>,
}

/// Who provides a memory's reservation.
#[derive(Clone, Copy)]
enum Backing {
    /// The operating system: `mmap`ed `PROT_NONE`, pages made accessible
    /// as the memory grows.
    #[cfg(feature = "std")]
    Os,
    /// The installed platform: allocated zeroed and accessible whole.
    Platform(&'static dyn Platform),
}

impl Backing {
    /// `len` bytes of address space: inaccessible (the OS) or zeroed and
    /// accessible (a platform).
    fn reserve(self, len: usize) -> Result<*mut u8, String> {
        match self {
            #[cfg(feature = "std")]
            Backing::Os => reserve(len).map_err(|e| e.to_string()),
            Backing::Platform(platform) => {
                let base = platform
                    .alloc_memory(len)
                    .ok_or_else(|| "the platform has no memory for it".to_string())?;
                if !(base.as_ptr() as usize).is_multiple_of(16) {
                    // SAFETY: just allocated by this platform with this length.
                    unsafe { platform.free_memory(base, len) };
                    return Err("the platform gave memory that is not 16-byte aligned".into());
                }
                Ok(base.as_ptr())
            }
        }
    }

    /// Makes `[base, base + len)` of a reservation readable and writable.
    ///
    /// # Safety
    /// As for `make_writable`.
    unsafe fn commit(self, base: *mut u8, len: usize) -> Result<(), String> {
        match self {
            // SAFETY: forwarded.
            #[cfg(feature = "std")]
            Backing::Os => unsafe { make_writable(base, len) }.map_err(|e| e.to_string()),
            // Accessible (and zeroed, never written past the memory's size)
            // since it was allocated.
            Backing::Platform(_) => {
                let _ = (base, len);
                Ok(())
            }
        }
    }

    /// Gives a reservation back.
    ///
    /// # Safety
    /// `base` and `len` are one reservation of this backing's, which
    /// nothing uses any more.
    unsafe fn release(self, base: *mut u8, len: usize) {
        match self {
            // SAFETY: guaranteed by the caller.
            #[cfg(feature = "std")]
            Backing::Os => unsafe {
                libc::munmap(base.cast(), len);
            },
            Backing::Platform(platform) => {
                if let Some(base) = NonNull::new(base) {
                    // SAFETY: guaranteed by the caller.
                    unsafe { platform.free_memory(base, len) }
                }
            }
        }
    }
}

/// An access outside the memory (or the data segment) it was meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfBounds;

/// `start..start + len` if it lies within `size`.
pub(crate) fn checked_range(
    start: u64,
    len: u64,
    size: u64,
) -> Result<core::ops::Range<usize>, OutOfBounds> {
    let end = start.checked_add(len).ok_or(OutOfBounds)?;
    if end > size {
        return Err(OutOfBounds);
    }
    // `size` is the length of something in memory, so both fit usize.
    Ok(start as usize..end as usize)
}

impl LinearMemory {
    /// Reserves the address space and makes the initial pages accessible.
    pub(crate) fn new(
        ty: MemoryType,
        limit_pages: u64,
        reservation: Reservation,
    ) -> Result<LinearMemory, InstantiationError> {
        let cap = match ty.index64 {
            true => MAX_WASM64_PAGES,
            false => MAX_WASM_PAGES,
        };
        if ty.max_pages.is_some_and(|max| ty.min_pages > max) || ty.min_pages > MAX_PAGES64 {
            return Err(InstantiationError::Invalid(format!(
                "memory minimum {} pages is above its maximum {:?}",
                ty.min_pages, ty.max_pages
            )));
        }
        if !ty.index64 && ty.min_pages > MAX_WASM_PAGES {
            return Err(InstantiationError::Invalid(format!(
                "a 32-bit memory of {} pages (at most {MAX_WASM_PAGES})",
                ty.min_pages
            )));
        }
        let max_pages = ty.max_pages.unwrap_or(cap).min(cap);
        // Every access to a 64-bit memory is checked explicitly: it never
        // needs the guard reservation (which could not bound it anyway).
        let reservation = match reservation {
            Reservation::Guard if ty.index64 => Reservation::Movable { initial: 0 },
            other => other,
        };
        if ty.min_pages > limit_pages.min(max_pages) {
            return Err(InstantiationError::Resource(format!(
                "memory needs {} pages, more than the embedder's limit of {limit_pages}",
                ty.min_pages
            )));
        }
        let max_bytes = max_pages.max(1) * WASM_PAGE_SIZE;
        let reserved = match reservation {
            Reservation::Guard => MEMORY_RESERVATION,
            // At least one page, so the mapping is never empty.
            Reservation::Movable { initial } => initial
                .max(ty.min_pages * WASM_PAGE_SIZE)
                .next_multiple_of(WASM_PAGE_SIZE)
                .clamp(WASM_PAGE_SIZE, max_bytes)
                as usize,
        };
        let backing = match (reservation, platform::installed()) {
            #[cfg(feature = "std")]
            (Reservation::Guard, _) | (Reservation::Movable { .. }, None) => Backing::Os,
            #[cfg(not(feature = "std"))]
            (Reservation::Guard, _) => {
                return Err(InstantiationError::Unsupported(
                    "guard-page bounds checks need the loader's `std` feature (an operating \
                     system's virtual memory and fault handler); compile with explicit checks"
                        .into(),
                ))
            }
            (Reservation::Movable { .. }, Some(platform)) => Backing::Platform(platform),
            #[cfg(not(feature = "std"))]
            (Reservation::Movable { .. }, None) => {
                return Err(InstantiationError::Resource(platform::NO_PLATFORM.into()))
            }
        };
        let base = backing.reserve(reserved).map_err(|e| {
            let hint = match reservation {
                Reservation::Guard => {
                    " (guard-page bounds checks need it; code compiled with explicit \
                     checks reserves only about what its memory uses)"
                }
                Reservation::Movable { .. } => "",
            };
            InstantiationError::Resource(format!(
                "cannot reserve {} MiB of address space for linear memory{hint}: {e}",
                reserved >> 20,
            ))
        })?;
        let guard = reservation == Reservation::Guard;
        let memory = LinearMemory {
            def: RawBox::new(MemoryDef { base, len: 0 }),
            reserved: AtomicUsize::new(reserved),
            guard,
            ty,
            max_pages,
            limit_pages: AtomicU64::new(limit_pages),
            backing,
            // Only guard-page code faults on purpose, and it only uses
            // guard reservations (see `Reservation`), which never move, so
            // the range is fixed.
            #[cfg(feature = "std")]
            registration: guard.then(|| signals::register_reservation(base as usize, reserved)),
        };
        // From here on `memory`'s Drop unmaps the reservation on failure.
        memory.make_accessible(0, ty.min_pages).map_err(|e| {
            InstantiationError::Resource(format!(
                "cannot commit {} pages of linear memory: {e}",
                ty.min_pages
            ))
        })?;
        memory.set_len_pages(ty.min_pages);
        Ok(memory)
    }

    /// Base address and current length in bytes.
    fn parts(&self) -> (*mut u8, u64) {
        // SAFETY: the descriptor lives as long as `self` and is only written
        // by `set_len_pages`, under the same contract as the callers here.
        unsafe { ((*self.def.as_ptr()).base, (*self.def.as_ptr()).len) }
    }

    pub(crate) fn def_ptr(&self) -> *mut MemoryDef {
        self.def.as_ptr()
    }

    pub(crate) fn ty(&self) -> MemoryType {
        self.ty
    }

    /// Bytes of address space reserved for the memory now.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Whether code compiled with guard-page bounds checks may use it.
    pub(crate) fn has_guard_region(&self) -> bool {
        self.guard
    }

    /// The embedder's limit on growth (the type's maximum applies too).
    pub(crate) fn set_limit_pages(&self, pages: u64) {
        self.limit_pages.store(pages, Ordering::Relaxed);
    }

    // Every method below reads or writes the size or the bytes. Their common
    // safety contract: the caller holds the store that owns the memory (or
    // owns the memory alone, before it is shared), so no other thread and
    // no wasm code accesses the descriptor or the bytes meanwhile, and no
    // slice of the bytes given out earlier is alive. `&self` is enough: the
    // bytes and the descriptor are not part of `LinearMemory` itself, so a
    // `LinearMemory` is never borrowed mutably and its type and limit can be
    // read from any thread.

    /// Current size in bytes.
    ///
    /// # Safety
    /// See the contract above.
    pub(crate) unsafe fn len_bytes(&self) -> u64 {
        self.parts().1
    }

    /// Current size in pages.
    ///
    /// # Safety
    /// See the contract above.
    pub(crate) unsafe fn size_pages(&self) -> u64 {
        // SAFETY: forwarded.
        unsafe { self.len_bytes() / WASM_PAGE_SIZE }
    }

    fn set_len_pages(&self, pages: u64) {
        // SAFETY: called from `new` (not shared yet) and `grow` (under its
        // contract); nothing holds a reference to the descriptor.
        unsafe { (*self.def.as_ptr()).len = pages * WASM_PAGE_SIZE }
    }

    /// Makes pages `[from, to)` readable and writable.
    fn make_accessible(&self, from: u64, to: u64) -> Result<(), String> {
        if to <= from {
            return Ok(());
        }
        // Both ends are at most `max_pages` (checked by `new` and `grow`)
        // and `to` within the reservation (a guard one holds the maximum;
        // `grow` moves a movable one first), so the byte range lies inside
        // the reservation and fits usize.
        let start = (from * WASM_PAGE_SIZE) as usize;
        let len = ((to - from) * WASM_PAGE_SIZE) as usize;
        // SAFETY: the range is inside our own reservation (see above) and
        // beyond the current size, where nothing reads or writes.
        unsafe { self.backing.commit(self.parts().0.add(start), len) }
    }

    /// Moves a movable memory to a new reservation of at least `pages`
    /// pages (twice the old one where the maximum allows), its first
    /// `pages` accessible and its current bytes copied. On failure nothing
    /// changed.
    ///
    /// # Safety
    /// See the contract above: nothing holds the old base (generated code
    /// reloads it after every call and `memory.grow`).
    unsafe fn relocate(&self, pages: u64) -> Result<(), String> {
        let (old_base, len) = self.parts();
        let old_reserved = self.reserved_bytes();
        let needed = (pages * WASM_PAGE_SIZE) as usize;
        let max_bytes = (self.max_pages * WASM_PAGE_SIZE) as usize;
        let reserved = old_reserved.saturating_mul(2).min(max_bytes).max(needed);
        let base = self.backing.reserve(reserved)?;
        // SAFETY: the first `needed` bytes of the fresh reservation.
        if let Err(e) = unsafe { self.backing.commit(base, needed) } {
            // SAFETY: the reservation just made, used by nothing.
            unsafe { self.backing.release(base, reserved) };
            return Err(e);
        }
        // SAFETY: `len <= needed` bytes: accessible in both, which are
        // distinct mappings; nothing else accesses them (contract).
        unsafe { core::ptr::copy_nonoverlapping(old_base, base, len as usize) };
        // SAFETY: the contract: nobody holds the old base any more; the
        // descriptor is written under the same contract.
        unsafe {
            (*self.def.as_ptr()).base = base;
            self.backing.release(old_base, old_reserved);
        }
        self.reserved.store(reserved, Ordering::Relaxed);
        Ok(())
    }

    /// `memory.grow`: the old size in pages, or `None` if the memory cannot
    /// grow by `delta` pages (the memory is then unchanged). A movable
    /// memory that outgrows its reservation moves.
    ///
    /// # Safety
    /// See the contract above.
    pub(crate) unsafe fn grow(&self, delta: u64) -> Option<u64> {
        // SAFETY: forwarded.
        let old = unsafe { self.size_pages() };
        let new = old.checked_add(delta)?;
        if new > self.max_pages || new > self.limit_pages.load(Ordering::Relaxed) {
            return None;
        }
        if new * WASM_PAGE_SIZE > self.reserved_bytes() as u64 {
            // SAFETY: forwarded.
            unsafe { self.relocate(new) }.ok()?;
        } else {
            self.make_accessible(old, new).ok()?;
        }
        self.set_len_pages(new);
        Some(old)
    }

    /// The accessible bytes, for as long as the caller's guarantees last.
    ///
    /// # Safety
    /// See the contract above; it must hold for the whole life of the slice
    /// (and the slice must be the only one if it is written through).
    pub(crate) unsafe fn bytes(&self) -> (*mut u8, usize) {
        let (base, len) = self.parts();
        (base, len as usize)
    }

    /// `memory.copy`: moves `len` bytes from `src` in `from` (this memory
    /// or another) to `dst` in this one, after checking both ranges;
    /// nothing is written if either is outside. Within one memory the
    /// ranges may overlap.
    ///
    /// # Safety
    /// See the contract above (for both memories).
    pub(crate) unsafe fn copy_from(
        &self,
        dst: u64,
        from: &LinearMemory,
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let (base, size) = self.parts();
        let (from_base, from_size) = from.parts();
        let dst = checked_range(dst, len, size)?;
        let src = checked_range(src, len, from_size)?;
        // SAFETY: both ranges were checked to lie in the accessible bytes
        // of their memories; `copy` allows overlap (the same memory);
        // nothing else accesses them (contract).
        unsafe { core::ptr::copy(from_base.add(src.start), base.add(dst.start), src.len()) };
        Ok(())
    }

    /// `memory.fill`: sets `len` bytes from `dst` to `value`, after checking.
    ///
    /// # Safety
    /// See the contract above.
    pub(crate) unsafe fn fill(&self, dst: u64, value: u8, len: u64) -> Result<(), OutOfBounds> {
        let (base, size) = self.parts();
        let dst = checked_range(dst, len, size)?;
        // SAFETY: as in `copy_from`.
        unsafe { core::ptr::write_bytes(base.add(dst.start), value, dst.len()) };
        Ok(())
    }

    /// `memory.init` and host writes: copies `bytes[src..src + len]` to
    /// `dst`, after checking both ranges.
    ///
    /// # Safety
    /// See the contract above; `bytes` must not point into this memory.
    pub(crate) unsafe fn write(
        &self,
        dst: u64,
        bytes: &[u8],
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let (base, size) = self.parts();
        let src = checked_range(src, len, bytes.len() as u64)?;
        let dst = checked_range(dst, len, size)?;
        // SAFETY: as in `copy_from`; the source is a separate allocation.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes[src].as_ptr(), base.add(dst.start), dst.len())
        };
        Ok(())
    }

    /// Gives the fresh memory its initial image: `image` at byte `at`,
    /// mapped copy-on-write from `file` (a descriptor and the image's
    /// offset in it, a multiple of the page size) where that works, else
    /// copied. Returns whether it was mapped. Nothing may have been written
    /// to `[at, at + image.len())` yet: mapping replaces those pages.
    ///
    /// # Safety
    /// See the contract above; `image` must not point into this memory, and
    /// `file`'s range must hold the same bytes as `image` and stay unchanged
    /// (the trust assumption on artifact files).
    pub(crate) unsafe fn init_image(
        &self,
        at: u64,
        image: &[u8],
        #[cfg(feature = "std")] file: Option<(std::os::fd::BorrowedFd<'_>, u64)>,
    ) -> Result<bool, OutOfBounds> {
        let (base, size) = self.parts();
        let range = checked_range(at, image.len() as u64, size)?;
        if range.is_empty() {
            return Ok(false);
        }
        #[cfg(feature = "std")]
        let page = crate::artifact::page_size() as usize;
        // The granularity of the zero pages skipped below.
        #[cfg(not(feature = "std"))]
        let page = 4096;
        #[cfg(feature = "std")]
        if let Some((fd, offset)) = file.filter(|_| matches!(self.backing, Backing::Os)) {
            if range.start.is_multiple_of(page) && range.len().is_multiple_of(page) {
                // SAFETY: forwarded (the range is accessible and unused).
                if unsafe { self.map_file(range.clone(), fd, offset) } {
                    return Ok(true);
                }
            }
        }
        // Pages of zeros are skipped: the memory is fresh, so they are
        // zeros already, and stay untouched (uncommitted).
        for (i, chunk) in image.chunks(page).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                let dst = range.start + i * page;
                // SAFETY: `dst..dst + chunk.len()` lies in `range`, checked
                // above to be accessible; `image` is not in this memory.
                unsafe {
                    core::ptr::copy_nonoverlapping(chunk.as_ptr(), base.add(dst), chunk.len())
                };
            }
        }
        Ok(false)
    }

    /// Maps `range` of the memory (page-aligned, accessible, nothing in it
    /// written) from `fd` at `offset`, private and writable. On failure the
    /// range is anonymous zero pages again and `false` is returned.
    ///
    /// # Safety
    /// As for [`Self::init_image`].
    #[cfg(feature = "std")]
    unsafe fn map_file(
        &self,
        range: core::ops::Range<usize>,
        fd: std::os::fd::BorrowedFd<'_>,
        offset: u64,
    ) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(offset) = libc::off_t::try_from(offset) else {
            return false;
        };
        // SAFETY: `range` is page-aligned and lies in the accessible prefix
        // of this memory's own reservation (checked by `init_image`), which
        // both reservation kinds make at least that long, so MAP_FIXED
        // replaces only pages of that reservation, none of which anything
        // has written or borrowed (contract). MAP_PRIVATE with PROT_WRITE
        // gives the same semantics as the anonymous pages it replaces:
        // writable, and writes go to private copies, never to the file.
        // Growing later mprotects pages past the current size, beyond the
        // image, and `Drop`'s munmap of the reservation unmaps this too.
        let addr = unsafe {
            libc::mmap(
                self.parts().0.add(range.start).cast(),
                range.len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                fd.as_raw_fd(),
                offset,
            )
        };
        if addr != libc::MAP_FAILED {
            return true;
        }
        // A failed MAP_FIXED may already have unmapped the range: map
        // anonymous zero pages over it again, so the reservation has no
        // hole another mapping could take.
        #[cfg(target_os = "linux")]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
        #[cfg(not(target_os = "linux"))]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_FIXED;
        // SAFETY: the same pages of our own reservation as above.
        let restored = unsafe {
            libc::mmap(
                self.parts().0.add(range.start).cast(),
                range.len(),
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if restored == libc::MAP_FAILED {
            // Unmapped pages inside a reservation that generated code
            // trusts to be ours: continuing could let wasm write to
            // whatever gets mapped there next.
            eprintln!(
                "vibewasm: cannot restore linear memory after a failed image mapping: {}",
                std::io::Error::last_os_error()
            );
            std::process::abort();
        }
        false
    }

    /// Copies `out.len()` bytes from `src` into `out`, after checking.
    ///
    /// # Safety
    /// See the contract above; `out` must not point into this memory.
    pub(crate) unsafe fn read(&self, src: u64, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let (base, size) = self.parts();
        let src = checked_range(src, out.len() as u64, size)?;
        // SAFETY: as in `write`, the other way round.
        unsafe { core::ptr::copy_nonoverlapping(base.add(src.start), out.as_mut_ptr(), src.len()) };
        Ok(())
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        // Unregistered first: once unmapped, the range may be mapped again
        // by anyone, and a fault there is no longer one of this memory.
        #[cfg(feature = "std")]
        drop(self.registration.take());
        // SAFETY: gives back exactly the current reservation (made in `new`
        // or `relocate`); every slice handed out borrowed `self` (or the
        // store owning it), so none outlives this.
        unsafe {
            self.backing.release(self.parts().0, self.reserved_bytes());
        }
    }
}

/// Base and length of the accessible bytes of the memory described by `def`.
///
/// # Safety
/// `def` must point to the live descriptor of a [`LinearMemory`].
pub(crate) unsafe fn memory_parts(def: *const MemoryDef) -> (*mut u8, usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { ((*def).base, (*def).len as usize) }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// A copy of the accessible bytes.
    fn slice(m: &LinearMemory) -> Vec<u8> {
        // SAFETY: the memory is owned by the test alone.
        unsafe {
            let (base, len) = m.bytes();
            core::slice::from_raw_parts(base, len).to_vec()
        }
    }

    fn base(m: &LinearMemory) -> *mut u8 {
        // SAFETY: as above.
        unsafe { m.bytes().0 }
    }

    fn poke(m: &LinearMemory, at: usize, value: u8) {
        // SAFETY: as above, and `at` is checked.
        unsafe {
            let (base, len) = m.bytes();
            assert!(at < len);
            base.add(at).write(value);
        }
    }

    fn peek(m: &LinearMemory, at: usize) -> u8 {
        // SAFETY: as in `poke`.
        unsafe {
            let (base, len) = m.bytes();
            assert!(at < len);
            base.add(at).read()
        }
    }

    /// A memory that a test owns alone: no store, no other thread and no
    /// wasm code can reach it, which is all `LinearMemory`'s unsafe methods
    /// ask of their callers. Its methods are therefore safe.
    struct Owned(LinearMemory);

    impl core::ops::Deref for Owned {
        type Target = LinearMemory;
        fn deref(&self) -> &LinearMemory {
            &self.0
        }
    }

    impl Owned {
        fn size_pages(&self) -> u64 {
            // SAFETY: the test owns the memory alone (see `Owned`).
            unsafe { self.0.size_pages() }
        }
        fn len_bytes(&self) -> u64 {
            // SAFETY: as in `size_pages`.
            unsafe { self.0.len_bytes() }
        }
        fn grow(&self, delta: u64) -> Option<u64> {
            // SAFETY: as in `size_pages`.
            unsafe { self.0.grow(delta) }
        }
        fn write(&self, dst: u64, data: &[u8], src: u64, len: u64) -> Result<(), OutOfBounds> {
            // SAFETY: as in `size_pages`.
            unsafe { self.0.write(dst, data, src, len) }
        }
        fn copy_within(&self, dst: u64, src: u64, len: u64) -> Result<(), OutOfBounds> {
            // SAFETY: as in `size_pages`.
            unsafe { self.0.copy_from(dst, &self.0, src, len) }
        }
        fn fill(&self, dst: u64, value: u8, len: u64) -> Result<(), OutOfBounds> {
            // SAFETY: as in `size_pages`.
            unsafe { self.0.fill(dst, value, len) }
        }
        fn read(&self, src: u64, out: &mut [u8]) -> Result<(), OutOfBounds> {
            // SAFETY: as in `size_pages`.
            unsafe { self.0.read(src, out) }
        }
        /// `init_image` from `file`, whose range at `offset` holds `image`.
        fn init_image(
            &self,
            at: u64,
            image: &[u8],
            file: Option<(&std::fs::File, u64)>,
        ) -> Result<bool, OutOfBounds> {
            use std::os::fd::AsFd;
            let file = file.map(|(f, offset)| (f.as_fd(), offset));
            // SAFETY: as in `size_pages`; the tests' files do not change.
            unsafe { self.0.init_image(at, image, file) }
        }
    }

    /// A file of `pages` pages of `page` bytes: a header page of 0xee,
    /// then page `i` (from 1) full of byte `i`. Returns it and its bytes.
    fn image_file(
        name: &str,
        pages: u8,
        page: usize,
    ) -> (std::fs::File, Vec<u8>, std::path::PathBuf) {
        let bytes: Vec<u8> = (0..pages)
            .flat_map(|i| vec![if i == 0 { 0xee } else { i }; page])
            .collect();
        let path =
            std::env::temp_dir().join(format!("vibewasm-image-{name}-{}.bin", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        (std::fs::File::open(&path).unwrap(), bytes, path)
    }

    /// With the host's page size `p` (4 KiB on x86-64; 4, 16 or 64 KiB on
    /// aarch64): pages 1 and 2 of the file mapped at `2p` in the memory.
    #[test]
    fn image_mapped_from_a_file_is_private_and_grows() {
        let p = crate::artifact::page_size() as usize;
        // Memory pages enough for 4 host pages and a few bytes past them
        // (the copy below), and 2 more to grow by.
        let min_pages = (4 * p + 2).div_ceil(65536) as u64;
        for reservation in [Reservation::Guard, Reservation::Movable { initial: 0 }] {
            let ty = MemoryType {
                min_pages,
                max_pages: Some(min_pages + 2),
                index64: false,
            };
            let m = Owned(LinearMemory::new(ty, MAX_WASM_PAGES, reservation).unwrap());
            let (file, bytes, path) = image_file("mapped", 4, p);
            let image = &bytes[p..3 * p];
            assert_eq!(
                m.init_image(2 * p as u64, image, Some((&file, p as u64))),
                Ok(true)
            );
            let contents = slice(&m);
            assert!(contents[..2 * p].iter().all(|&b| b == 0));
            assert_eq!(&contents[2 * p..4 * p], image);
            assert!(contents[4 * p..].iter().all(|&b| b == 0));
            // Writable, across the boundary, and never into the file.
            assert_eq!(m.fill(2 * p as u64 - 2, 0x55, 4), Ok(()));
            assert_eq!(m.copy_within(4 * p as u64 - 2, 2 * p as u64 + 4, 4), Ok(()));
            assert_eq!(
                &slice(&m)[2 * p - 4..2 * p + 4],
                [0, 0, 0x55, 0x55, 0x55, 0x55, 1, 1]
            );
            assert_eq!(&slice(&m)[4 * p - 2..4 * p + 2], [1, 1, 1, 1]);
            assert_eq!(&slice(&m)[3 * p - 2..3 * p + 2], [1, 1, 2, 2]);
            assert_eq!(m.grow(2), Some(min_pages));
            poke(&m, (min_pages as usize + 2) * 65536 - 1, 9);
            assert_eq!(&slice(&m)[2 * p..2 * p + 8], [0x55, 0x55, 1, 1, 1, 1, 1, 1]);
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes,
                "the file is unchanged"
            );
            // A second memory from the same file sees the file, not the
            // first memory's writes.
            let m2 = memory(min_pages, None, MAX_WASM_PAGES);
            assert_eq!(m2.init_image(0, image, Some((&file, p as u64))), Ok(true));
            assert_eq!(&slice(&m2)[..2 * p], image);
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn image_copied_when_it_cannot_be_mapped() {
        let (file, bytes, path) = image_file("copied", 3, 4096);
        let mut image = bytes[4096..].to_vec();
        image[..4096].fill(0); // a page of zeros, skipped
        image[100] = 7;
        for (at, source) in [
            (4096, None),
            // Not at a page boundary in memory: copied.
            (100, Some((&file, 4096))),
        ] {
            let m = memory(1, None, MAX_WASM_PAGES);
            assert_eq!(m.init_image(at, &image, source), Ok(false));
            let contents = slice(&m);
            let at = at as usize;
            assert!(contents[..at].iter().all(|&b| b == 0));
            assert_eq!(&contents[at..at + image.len()], &image[..]);
            assert!(contents[at + image.len()..].iter().all(|&b| b == 0));
        }
        // Past the end: nothing is written.
        let m = memory(1, None, MAX_WASM_PAGES);
        assert_eq!(m.init_image(65536 - 4096, &image, None), Err(OutOfBounds));
        assert!(slice(&m).iter().all(|&b| b == 0));
        std::fs::remove_file(&path).unwrap();
    }

    fn memory(min: u64, max: Option<u64>, limit: u64) -> Owned {
        Owned(
            LinearMemory::new(
                MemoryType {
                    min_pages: min,
                    max_pages: max,
                    index64: false,
                },
                limit,
                Reservation::Guard,
            )
            .unwrap(),
        )
    }

    #[test]
    fn initial_pages_are_zeroed_and_writable() {
        let m = memory(2, None, MAX_WASM_PAGES);
        assert_eq!(m.size_pages(), 2);
        assert_eq!(slice(&m).len(), 2 * 65536);
        assert!(slice(&m).iter().all(|&b| b == 0));
        let last = m.len_bytes() as usize - 1;
        poke(&m, last, 7);
        assert_eq!(slice(&m)[last], 7);
    }

    #[test]
    fn grow_respects_maximum_and_limit() {
        let m = memory(1, Some(3), MAX_WASM_PAGES);
        let base = base(&m);
        assert_eq!(m.grow(0), Some(1));
        assert_eq!(m.grow(2), Some(1));
        assert_eq!(m.size_pages(), 3);
        assert_eq!(m.grow(1), None);
        assert_eq!(m.grow(u64::MAX), None);
        assert_eq!(m.size_pages(), 3);
        assert_eq!(super::tests::base(&m), base, "the base never moves");
        poke(&m, 3 * 65536 - 1, 1);

        let limited = memory(0, None, 2);
        assert_eq!(limited.grow(3), None);
        assert_eq!(limited.grow(2), Some(0));
        assert_eq!(limited.grow(1), None);
        limited.set_limit_pages(10);
        assert_eq!(limited.grow(1), Some(2));
    }

    #[test]
    fn full_four_gib_is_reachable_but_not_more() {
        let m = memory(0, None, MAX_WASM_PAGES);
        assert_eq!(m.grow(MAX_WASM_PAGES + 1), None);
        assert_eq!(m.grow(MAX_WASM_PAGES), Some(0));
        assert_eq!(m.len_bytes(), 4 << 30);
        assert_eq!(m.grow(1), None);
        // Touch only the last page: committing 4 GiB would be wasteful.
        let last = m.len_bytes() as usize - 1;
        poke(&m, last, 9);
    }

    #[test]
    fn bulk_operations_check_before_writing() {
        let m = memory(1, None, MAX_WASM_PAGES);
        let size = 65536;
        assert_eq!(m.write(10, b"abcdef", 1, 4), Ok(()));
        assert_eq!(&slice(&m)[10..14], b"bcde");
        // Overlapping copies move like memmove.
        assert_eq!(m.copy_within(11, 10, 4), Ok(()));
        assert_eq!(&slice(&m)[10..15], b"bbcde");
        assert_eq!(m.copy_within(10, 11, 4), Ok(()));
        assert_eq!(&slice(&m)[10..15], b"bcdee");
        assert_eq!(m.fill(size - 2, 0xaa, 2), Ok(()));
        assert_eq!(&slice(&m)[size as usize - 2..], [0xaa, 0xaa]);
        // Length 0 at the very end is fine, one byte past is not.
        assert_eq!(m.fill(size, 1, 0), Ok(()));
        assert_eq!(m.fill(size + 1, 1, 0), Err(OutOfBounds));
        assert_eq!(m.copy_within(size, 0, 0), Ok(()));
        assert_eq!(m.write(size, b"", 0, 0), Ok(()));
        // No partial writes.
        assert_eq!(m.fill(size - 1, 7, 2), Err(OutOfBounds));
        assert_eq!(slice(&m)[size as usize - 1], 0xaa);
        assert_eq!(m.write(0, b"xy", 1, 2), Err(OutOfBounds));
        assert_eq!(m.write(size - 1, b"xy", 0, 2), Err(OutOfBounds));
        assert_eq!(m.copy_within(0, size - 1, 2), Err(OutOfBounds));
        assert_eq!(m.copy_within(u64::MAX, 0, 2), Err(OutOfBounds));
        assert_eq!(m.fill(0, 1, u64::MAX), Err(OutOfBounds));
        let mut out = [0u8; 3];
        assert_eq!(m.read(10, &mut out), Ok(()));
        assert_eq!(&out, b"bcd");
        assert_eq!(m.read(size - 2, &mut out), Err(OutOfBounds));
    }

    #[test]
    fn reservations_follow_the_code_that_uses_them() {
        let ty = MemoryType {
            min_pages: 1,
            max_pages: Some(3),
            index64: false,
        };
        let movable = Reservation::Movable { initial: 1 << 30 };
        let exact = Owned(LinearMemory::new(ty, MAX_WASM_PAGES, movable).unwrap());
        assert_eq!(exact.reserved_bytes(), 3 * 65536, "capped at the maximum");
        assert!(!exact.has_guard_region());
        assert_eq!(exact.grow(2), Some(1));
        assert_eq!(exact.grow(1), None);
        poke(&exact, 3 * 65536 - 1, 1);
        let guarded = LinearMemory::new(ty, MAX_WASM_PAGES, Reservation::Guard).unwrap();
        assert_eq!(guarded.reserved_bytes() as u64, GUARD_RESERVATION);
        assert!(guarded.has_guard_region());
        let no_max = MemoryType {
            min_pages: 0,
            max_pages: None,
            index64: false,
        };
        let small = Reservation::Movable { initial: 100_000 };
        let empty = LinearMemory::new(no_max, MAX_WASM_PAGES, small).unwrap();
        assert_eq!(empty.reserved_bytes(), 2 * 65536, "rounded up to pages");
        let big_min = MemoryType {
            min_pages: 5,
            max_pages: None,
            index64: false,
        };
        let raised = LinearMemory::new(big_min, MAX_WASM_PAGES, small).unwrap();
        assert_eq!(raised.reserved_bytes(), 5 * 65536, "raised to the minimum");
        let zero = MemoryType {
            min_pages: 0,
            max_pages: Some(0),
            index64: false,
        };
        let zero = Owned(LinearMemory::new(zero, MAX_WASM_PAGES, small).unwrap());
        assert_eq!(zero.reserved_bytes(), 65536);
        assert_eq!(zero.grow(1), None);
    }

    /// A movable memory that outgrows its reservation moves to one twice
    /// as large (or as large as needed), keeping its bytes; a guard one
    /// never moves.
    #[test]
    fn movable_memories_move_and_keep_their_bytes() {
        let ty = MemoryType {
            min_pages: 1,
            max_pages: Some(10),
            index64: false,
        };
        let m = Owned(
            LinearMemory::new(ty, MAX_WASM_PAGES, Reservation::Movable { initial: 0 }).unwrap(),
        );
        assert_eq!(m.reserved_bytes(), 65536);
        poke(&m, 0, 7);
        poke(&m, 65535, 9);
        let before = m.0.parts().0;
        assert_eq!(m.grow(1), Some(1));
        assert_eq!(m.reserved_bytes(), 2 * 65536);
        assert_ne!(m.0.parts().0, before, "moved");
        assert_eq!(peek(&m, 0), 7);
        assert_eq!(peek(&m, 65535), 9);
        assert_eq!(
            peek(&m, 2 * 65536 - 1),
            0,
            "the new page is zero and accessible"
        );
        // Growing by more than twice: exactly as large as needed.
        assert_eq!(m.grow(5), Some(2));
        assert_eq!(m.reserved_bytes(), 7 * 65536);
        // Twice would pass the maximum: capped there.
        assert_eq!(m.grow(1), Some(7));
        assert_eq!(m.reserved_bytes(), 10 * 65536);
        let at_max = m.0.parts().0;
        assert_eq!(m.grow(2), Some(8));
        assert_eq!(m.0.parts().0, at_max, "within the reservation: in place");
        assert_eq!(m.grow(1), None);
        assert_eq!(peek(&m, 65535), 9);

        let g = Owned(LinearMemory::new(ty, MAX_WASM_PAGES, Reservation::Guard).unwrap());
        let base = g.0.parts().0;
        assert_eq!(g.grow(9), Some(1));
        assert_eq!(g.0.parts().0, base, "guard memories never move");
    }

    #[test]
    fn minimum_above_limit_is_refused() {
        let err = LinearMemory::new(
            MemoryType {
                min_pages: 5,
                max_pages: None,
                index64: false,
            },
            4,
            Reservation::Guard,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("limit of 4"), "{err}");
    }
}
