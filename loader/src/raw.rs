//! Owned heap objects that generated code reaches through raw pointers.
//!
//! Generated code and the host-call shim read and write the vmctx, the
//! instance state, memory and table descriptors while the Rust side holds no
//! reference to them. Keeping them behind raw pointers (not `Box`, whose
//! uniqueness guarantee would be violated by those accesses) makes that sound;
//! the owners below free them on drop.

use crate::prelude::*;
use core::alloc::Layout;
use core::ptr::NonNull;

/// A heap value owned through a raw pointer (`Box::into_raw`), freed on drop.
pub(crate) struct RawBox<T: ?Sized>(NonNull<T>);

impl<T> RawBox<T> {
    pub(crate) fn new(value: T) -> RawBox<T> {
        RawBox::from_box(Box::new(value))
    }
}

impl<T: ?Sized> RawBox<T> {
    pub(crate) fn from_box(value: Box<T>) -> RawBox<T> {
        RawBox(NonNull::from(Box::leak(value)))
    }

    pub(crate) fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T: ?Sized> Drop for RawBox<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `from_box` and is
        // freed only here, once; no other owner exists.
        unsafe { drop(Box::from_raw(self.0.as_ptr())) }
    }
}

/// A zeroed, 8-byte-aligned buffer holding one instance's vmctx. Its address
/// is stable for the instance's life (generated code and table entries keep it).
pub(crate) struct VmctxBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl VmctxBuf {
    /// `None` if `size` is not allocatable.
    pub(crate) fn new(size: usize) -> Option<VmctxBuf> {
        // Never zero-sized (allocators require a non-zero size); the format's
        // fixed header alone is 64 bytes anyway.
        let layout = Layout::from_size_align(size.max(8), 8).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        Some(VmctxBuf {
            ptr: NonNull::new(ptr)?,
            layout,
        })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The address of the `width`-byte slot at `offset`.
    pub(crate) fn slot_ptr(&self, offset: i32, width: usize) -> *mut u8 {
        // Offsets come from `VmctxLayout` for indices below its own counts,
        // so they always lie inside; a failure here is a loader bug.
        let offset = usize::try_from(offset).expect("vmctx offset is positive");
        assert!(
            offset
                .checked_add(width)
                .is_some_and(|end| end <= self.layout.size()),
            "vmctx slot {offset} outside the {}-byte vmctx",
            self.layout.size()
        );
        self.ptr.as_ptr().wrapping_add(offset)
    }

    pub(crate) fn write_u64(&self, offset: i32, value: u64) {
        let p = self.slot_ptr(offset, 8);
        // SAFETY: `slot` checked that the 8 bytes lie inside the allocation;
        // unaligned writes are allowed, and no Rust reference to the buffer exists.
        unsafe { p.cast::<u64>().write_unaligned(value) }
    }

    pub(crate) fn write_u32(&self, offset: i32, value: u32) {
        let p = self.slot_ptr(offset, 4);
        // SAFETY: as in `write_u64`, for 4 bytes.
        unsafe { p.cast::<u32>().write_unaligned(value) }
    }

    pub(crate) fn write_ptr<T>(&self, offset: i32, value: *const T) {
        self.write_u64(offset, value as usize as u64);
    }

    pub(crate) fn read_u64(&self, offset: i32) -> u64 {
        let p = self.slot_ptr(offset, 8);
        // SAFETY: as in `write_u64`; the slots read after instantiation are
        // never written by generated code (the globals it writes are read
        // through their cells, under the store).
        unsafe { p.cast::<u64>().read_unaligned() }
    }

    #[cfg(all(test, feature = "std"))]
    pub(crate) fn read_u32(&self, offset: i32) -> u32 {
        let p = self.slot_ptr(offset, 4);
        // SAFETY: as in `read_u64`, for 4 bytes.
        unsafe { p.cast::<u32>().read_unaligned() }
    }
}

impl Drop for VmctxBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { alloc::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Reads a pointer-sized slot of a vmctx known only by address (inside the
/// host-call shim and helpers).
///
/// # Safety
/// `vmctx` must point to a live vmctx with at least `offset + 8` bytes.
pub(crate) unsafe fn read_vmctx_ptr<T>(vmctx: *const u8, offset: i32) -> *mut T {
    // SAFETY: guaranteed by the caller.
    unsafe {
        vmctx
            .offset(offset as isize)
            .cast::<usize>()
            .read_unaligned() as *mut T
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn vmctx_buffer_is_zeroed_aligned_and_checked() {
        let buf = VmctxBuf::new(100).unwrap();
        assert_eq!(buf.ptr() as usize % 8, 0);
        assert_eq!(buf.read_u64(88), 0);
        buf.write_u64(88, 0x0102_0304_0506_0708);
        assert_eq!(buf.read_u32(88), 0x0506_0708);
        buf.write_u32(92, 7);
        assert_eq!(buf.read_u64(88), 0x0000_0007_0506_0708);
        let result = std::panic::catch_unwind(|| buf.read_u64(96));
        assert!(result.is_err());
    }

    #[test]
    fn raw_box_frees_unsized_values() {
        let b: RawBox<[u64]> = RawBox::from_box(vec![1, 2, 3].into_boxed_slice());
        // SAFETY: the box is live and nothing else accesses it.
        assert_eq!(unsafe { &*b.as_ptr() }, &[1, 2, 3]);
    }
}
