//! Linear memory: a fixed address-space reservation whose accessible prefix
//! grows in place.
//!
//! Generated code caches `MemoryDef.base`, so the base may never move.
//! Reserving the whole 8 GiB up front (4 GiB of addressable memory plus as
//! much again so an address and a 32-bit offset never leave the
//! reservation) makes growing a matter of `mprotect`; `MAP_NORESERVE` and
//! `PROT_NONE` keep the reservation free of commit charge until pages are
//! made accessible.

use std::sync::atomic::{AtomicU64, Ordering};

use vibewasm_format::vmctx::MemoryDef;
use vibewasm_format::MemoryType;

use crate::error::InstantiationError;
use crate::raw::RawBox;

/// Bytes in a wasm page.
pub const WASM_PAGE_SIZE: u64 = 65536;
/// Most pages a 32-bit memory can have (4 GiB).
pub const MAX_WASM_PAGES: u64 = 65536;
/// Address space reserved for every memory.
pub const MEMORY_RESERVATION: usize = 8 << 30;

/// One linear memory, owned by a store and shared by the instances that
/// import it.
pub(crate) struct LinearMemory {
    def: RawBox<MemoryDef>,
    /// The type it was created with.
    ty: MemoryType,
    /// The memory type's maximum, capped at [`MAX_WASM_PAGES`].
    max_pages: u64,
    /// The embedder's limit.
    limit_pages: AtomicU64,
}

/// An access outside the memory (or the data segment) it was meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfBounds;

/// `start..start + len` if it lies within `size`.
pub(crate) fn checked_range(
    start: u64,
    len: u64,
    size: u64,
) -> Result<std::ops::Range<usize>, OutOfBounds> {
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
    ) -> Result<LinearMemory, InstantiationError> {
        let max_pages = ty.max_pages.unwrap_or(MAX_WASM_PAGES).min(MAX_WASM_PAGES);
        if ty.min_pages > max_pages {
            return Err(InstantiationError::Invalid(format!(
                "memory minimum {} pages is above its maximum {max_pages}",
                ty.min_pages
            )));
        }
        if ty.min_pages > limit_pages {
            return Err(InstantiationError::Resource(format!(
                "memory needs {} pages, more than this instance's limit of {limit_pages}",
                ty.min_pages
            )));
        }
        #[cfg(target_os = "linux")]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        #[cfg(not(target_os = "linux"))]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANON;
        // SAFETY: a fresh anonymous mapping at an address of the kernel's
        // choosing cannot overlap anything Rust owns.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MEMORY_RESERVATION,
                libc::PROT_NONE,
                flags,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(InstantiationError::Resource(format!(
                "cannot reserve {} GiB of address space for linear memory: {}",
                MEMORY_RESERVATION >> 30,
                std::io::Error::last_os_error()
            )));
        }
        let memory = LinearMemory {
            def: RawBox::new(MemoryDef {
                base: base.cast(),
                len: 0,
            }),
            ty,
            max_pages,
            limit_pages: AtomicU64::new(limit_pages),
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

    fn def(&self) -> &MemoryDef {
        // SAFETY: the descriptor lives as long as `self`; generated code only
        // writes it through `memory_grow`, which holds `&mut self`.
        unsafe { &*self.def.as_ptr() }
    }

    pub(crate) fn def_ptr(&self) -> *mut MemoryDef {
        self.def.as_ptr()
    }

    pub(crate) fn len_bytes(&self) -> u64 {
        self.def().len
    }

    pub(crate) fn size_pages(&self) -> u64 {
        self.len_bytes() / WASM_PAGE_SIZE
    }

    pub(crate) fn ty(&self) -> MemoryType {
        self.ty
    }

    /// The embedder's limit on growth (the type's maximum applies too).
    pub(crate) fn set_limit_pages(&self, pages: u64) {
        self.limit_pages.store(pages, Ordering::Relaxed);
    }

    fn set_len_pages(&self, pages: u64) {
        // SAFETY: as in `def`; no reference to the descriptor is live.
        unsafe { (*self.def.as_ptr()).len = pages * WASM_PAGE_SIZE }
    }

    /// Makes pages `[from, to)` readable and writable.
    fn make_accessible(&self, from: u64, to: u64) -> std::io::Result<()> {
        if to <= from {
            return Ok(());
        }
        // Both ends are at most MAX_WASM_PAGES, so the byte range (at most
        // 4 GiB) lies inside the reservation and fits usize.
        let start = (from * WASM_PAGE_SIZE) as usize;
        let len = ((to - from) * WASM_PAGE_SIZE) as usize;
        // SAFETY: the range is inside our own reservation (see above), which
        // no Rust reference covers beyond the current length.
        let rc = unsafe {
            libc::mprotect(
                self.def().base.add(start).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// `memory.grow`: the old size in pages, or `None` if the memory cannot
    /// grow by `delta` pages (the memory is then unchanged).
    pub(crate) fn grow(&mut self, delta: u64) -> Option<u64> {
        let old = self.size_pages();
        let new = old.checked_add(delta)?;
        if new > self.max_pages || new > self.limit_pages.load(Ordering::Relaxed) {
            return None;
        }
        self.make_accessible(old, new).ok()?;
        self.set_len_pages(new);
        Some(old)
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        let def = self.def();
        // SAFETY: `[base, base + len)` is mapped read+write for as long as
        // `self` lives (it only ever grows), and `&self` keeps wasm from
        // running and writing it meanwhile.
        unsafe { std::slice::from_raw_parts(def.base, def.len as usize) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        let def = self.def();
        // SAFETY: as in `as_slice`, with `&mut self` for exclusivity.
        unsafe { std::slice::from_raw_parts_mut(def.base, def.len as usize) }
    }

    /// `memory.copy`: moves `len` bytes from `src` to `dst` (the ranges may
    /// overlap) after checking both; nothing is written if either is outside.
    pub(crate) fn copy_within(&mut self, dst: u64, src: u64, len: u64) -> Result<(), OutOfBounds> {
        let size = self.len_bytes();
        let dst = checked_range(dst, len, size)?;
        let src = checked_range(src, len, size)?;
        self.as_mut_slice().copy_within(src, dst.start);
        Ok(())
    }

    /// `memory.fill`: sets `len` bytes from `dst` to `value`, after checking.
    pub(crate) fn fill(&mut self, dst: u64, value: u8, len: u64) -> Result<(), OutOfBounds> {
        let dst = checked_range(dst, len, self.len_bytes())?;
        self.as_mut_slice()[dst].fill(value);
        Ok(())
    }

    /// `memory.init` and host writes: copies `bytes[src..src + len]` to
    /// `dst`, after checking both ranges.
    pub(crate) fn write(
        &mut self,
        dst: u64,
        bytes: &[u8],
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let src = checked_range(src, len, bytes.len() as u64)?;
        let dst = checked_range(dst, len, self.len_bytes())?;
        self.as_mut_slice()[dst].copy_from_slice(&bytes[src]);
        Ok(())
    }

    /// Copies `out.len()` bytes from `src` into `out`, after checking.
    pub(crate) fn read(&self, src: u64, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let src = checked_range(src, out.len() as u64, self.len_bytes())?;
        out.copy_from_slice(&self.as_slice()[src]);
        Ok(())
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the reservation made in `new`; every slice
        // handed out borrowed `self`, so none outlives this.
        unsafe {
            libc::munmap(self.def().base.cast(), MEMORY_RESERVATION);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(min: u64, max: Option<u64>, limit: u64) -> LinearMemory {
        LinearMemory::new(
            MemoryType {
                min_pages: min,
                max_pages: max,
            },
            limit,
        )
        .unwrap()
    }

    #[test]
    fn initial_pages_are_zeroed_and_writable() {
        let mut m = memory(2, None, MAX_WASM_PAGES);
        assert_eq!(m.size_pages(), 2);
        assert_eq!(m.as_slice().len(), 2 * 65536);
        assert!(m.as_slice().iter().all(|&b| b == 0));
        let last = m.as_slice().len() - 1;
        m.as_mut_slice()[last] = 7;
        assert_eq!(m.as_slice()[last], 7);
    }

    #[test]
    fn grow_respects_maximum_and_limit() {
        let mut m = memory(1, Some(3), MAX_WASM_PAGES);
        let base = m.as_slice().as_ptr();
        assert_eq!(m.grow(0), Some(1));
        assert_eq!(m.grow(2), Some(1));
        assert_eq!(m.size_pages(), 3);
        assert_eq!(m.grow(1), None);
        assert_eq!(m.grow(u64::MAX), None);
        assert_eq!(m.size_pages(), 3);
        assert_eq!(m.as_slice().as_ptr(), base, "the base never moves");
        m.as_mut_slice()[3 * 65536 - 1] = 1;

        let mut limited = memory(0, None, 2);
        assert_eq!(limited.grow(3), None);
        assert_eq!(limited.grow(2), Some(0));
        assert_eq!(limited.grow(1), None);
        limited.set_limit_pages(10);
        assert_eq!(limited.grow(1), Some(2));
    }

    #[test]
    fn full_four_gib_is_reachable_but_not_more() {
        let mut m = memory(0, None, MAX_WASM_PAGES);
        assert_eq!(m.grow(MAX_WASM_PAGES + 1), None);
        assert_eq!(m.grow(MAX_WASM_PAGES), Some(0));
        assert_eq!(m.len_bytes(), 4 << 30);
        assert_eq!(m.grow(1), None);
        // Touch only the last page: committing 4 GiB would be wasteful.
        let last = m.as_slice().len() - 1;
        m.as_mut_slice()[last] = 9;
    }

    #[test]
    fn bulk_operations_check_before_writing() {
        let mut m = memory(1, None, MAX_WASM_PAGES);
        let size = 65536;
        assert_eq!(m.write(10, b"abcdef", 1, 4), Ok(()));
        assert_eq!(&m.as_slice()[10..14], b"bcde");
        // Overlapping copies move like memmove.
        assert_eq!(m.copy_within(11, 10, 4), Ok(()));
        assert_eq!(&m.as_slice()[10..15], b"bbcde");
        assert_eq!(m.copy_within(10, 11, 4), Ok(()));
        assert_eq!(&m.as_slice()[10..15], b"bcdee");
        assert_eq!(m.fill(size - 2, 0xaa, 2), Ok(()));
        assert_eq!(&m.as_slice()[size as usize - 2..], [0xaa, 0xaa]);
        // Length 0 at the very end is fine, one byte past is not.
        assert_eq!(m.fill(size, 1, 0), Ok(()));
        assert_eq!(m.fill(size + 1, 1, 0), Err(OutOfBounds));
        assert_eq!(m.copy_within(size, 0, 0), Ok(()));
        assert_eq!(m.write(size, b"", 0, 0), Ok(()));
        // No partial writes.
        assert_eq!(m.fill(size - 1, 7, 2), Err(OutOfBounds));
        assert_eq!(m.as_slice()[size as usize - 1], 0xaa);
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
    fn minimum_above_limit_is_refused() {
        let err = LinearMemory::new(
            MemoryType {
                min_pages: 5,
                max_pages: None,
            },
            4,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("limit of 4"), "{err}");
    }
}
