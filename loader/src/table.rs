//! Tables of reference values, laid out as generated code indexes them: a
//! stable [`TableDef`] pointing to 8-byte elements (a `funcref` is a
//! `*const FuncRef`, an `externref` a host handle, 0 is null).

use crate::prelude::*;
use core::cell::UnsafeCell;

use vibewasm_format::vmctx::TableDef;
use vibewasm_format::{TableType, ValType};

use crate::error::InstantiationError;
use crate::memory::{checked_range, OutOfBounds};
use crate::raw::RawBox;

/// Most elements a table may have, initially or after growing (80 MB of
/// elements): `table.grow` beyond it fails as the spec allows.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

/// One table, owned by a store and shared by the instances that import it.
///
/// Like [`crate::memory::LinearMemory`], a table is never borrowed mutably:
/// its elements and descriptor live in separate allocations, changed through
/// raw pointers by the `unsafe` methods below, whose common contract is that
/// the caller holds the store that owns the table (or owns the table alone,
/// before it is shared), so no other thread and no wasm code accesses the
/// descriptor or the elements meanwhile. Its type can be read from anywhere.
pub(crate) struct Table {
    /// What generated code reads; its address never changes, `elements` is
    /// re-pointed when the storage moves.
    def: RawBox<TableDef>,
    /// Room for at least `def.len` elements; replaced by `grow`.
    storage: UnsafeCell<RawBox<[u64]>>,
    ty: TableType,
}

fn allocate(len: u64, init: u64) -> Option<RawBox<[u64]>> {
    let len = usize::try_from(len).ok()?;
    let mut elements = Vec::new();
    // The size comes from an artifact or from wasm code: fail cleanly
    // rather than abort if the allocator refuses.
    elements.try_reserve_exact(len).ok()?;
    elements.resize(len, init);
    Some(RawBox::from_box(elements.into_boxed_slice()))
}

impl Table {
    /// A table of `ty.min` elements set to `init`. Tables hold references
    /// only: a number in a `funcref` table would be taken for a pointer, so
    /// no table of another element type exists.
    pub(crate) fn new(ty: TableType, init: u64) -> Result<Table, InstantiationError> {
        if !matches!(ty.element, ValType::FuncRef | ValType::ExternRef) {
            return Err(InstantiationError::Invalid(format!(
                "a table of {} elements: tables hold values of a reference type only",
                ty.element
            )));
        }
        let too_big = || {
            InstantiationError::Resource(format!("cannot allocate a table of {} elements", ty.min))
        };
        if ty.min > MAX_TABLE_ELEMENTS {
            return Err(too_big());
        }
        let storage = allocate(ty.min, init).ok_or_else(too_big)?;
        let def = RawBox::new(TableDef {
            elements: storage.as_ptr().cast(),
            len: ty.min,
        });
        Ok(Table {
            def,
            storage: UnsafeCell::new(storage),
            ty,
        })
    }

    pub(crate) fn def_ptr(&self) -> *mut TableDef {
        self.def.as_ptr()
    }

    pub(crate) fn ty(&self) -> TableType {
        self.ty
    }

    /// Elements and current length.
    fn parts(&self) -> (*mut u64, u64) {
        // SAFETY: the descriptor lives as long as `self`; it is written only
        // by `grow`, under the contract every caller of this shares.
        unsafe { ((*self.def.as_ptr()).elements, (*self.def.as_ptr()).len) }
    }

    /// Current number of elements.
    ///
    /// # Safety
    /// The contract in the type's docs.
    pub(crate) unsafe fn len(&self) -> u64 {
        self.parts().1
    }

    /// # Safety
    /// The contract in the type's docs.
    pub(crate) unsafe fn get(&self, index: u64) -> Option<u64> {
        let (elements, len) = self.parts();
        // SAFETY: in bounds; the contract excludes concurrent writers.
        (index < len).then(|| unsafe { elements.add(index as usize).read() })
    }

    /// # Safety
    /// The contract in the type's docs.
    pub(crate) unsafe fn set(&self, index: u64, value: u64) -> Result<(), OutOfBounds> {
        let (elements, len) = self.parts();
        if index >= len {
            return Err(OutOfBounds);
        }
        // SAFETY: as in `get`.
        unsafe { elements.add(index as usize).write(value) };
        Ok(())
    }

    /// `table.grow`: the old size, or `None` if the table cannot grow by
    /// `delta` (it is then unchanged). New elements are `init`.
    ///
    /// # Safety
    /// The contract in the type's docs.
    pub(crate) unsafe fn grow(&self, delta: u64, init: u64) -> Option<u64> {
        let (elements, old) = self.parts();
        let new = old.checked_add(delta)?;
        let max = self.ty.max.unwrap_or(u32::MAX as u64);
        if new > max || new > MAX_TABLE_ELEMENTS {
            return None;
        }
        // SAFETY: the contract makes this thread the only one touching the
        // table, and no reference to the storage is alive.
        let storage = unsafe { &mut *self.storage.get() };
        let capacity = storage.as_ptr().len() as u64;
        let mut elements = elements;
        if new > capacity {
            // Grow geometrically so repeated `table.grow 1` stays linear.
            let limit = max.min(MAX_TABLE_ELEMENTS);
            let capacity = new.max(capacity.saturating_mul(2)).min(limit);
            let fresh = allocate(capacity, 0)?;
            // SAFETY: `old` elements are live in the old storage, and the
            // fresh one (not shared yet) has room for `capacity > old`.
            unsafe {
                core::ptr::copy_nonoverlapping(elements, fresh.as_ptr().cast::<u64>(), old as usize)
            };
            elements = fresh.as_ptr().cast();
            // SAFETY: as above; re-point the descriptor before the old
            // storage is freed.
            unsafe { (*self.def.as_ptr()).elements = elements };
            *storage = fresh;
        }
        // SAFETY: the storage has room for `new` elements.
        unsafe {
            for k in old..new {
                elements.add(k as usize).write(init);
            }
            (*self.def.as_ptr()).len = new;
        }
        Some(old)
    }

    /// `table.fill`: `len` elements from `dst` set to `value`, after checking.
    ///
    /// # Safety
    /// The contract in the type's docs.
    pub(crate) unsafe fn fill(&self, dst: u64, value: u64, len: u64) -> Result<(), OutOfBounds> {
        let (elements, size) = self.parts();
        let range = checked_range(dst, len, size)?;
        for k in range {
            // SAFETY: checked to be in bounds.
            unsafe { elements.add(k).write(value) };
        }
        Ok(())
    }

    /// `table.init` (and active element segments): `items[src..src + len]`
    /// to `dst`, after checking both ranges.
    ///
    /// # Safety
    /// The contract in the type's docs; `items` is not this table's storage.
    pub(crate) unsafe fn init(
        &self,
        dst: u64,
        items: &[u64],
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let (elements, size) = self.parts();
        let src = checked_range(src, len, items.len() as u64)?;
        let dst = checked_range(dst, len, size)?;
        // SAFETY: both ranges checked; separate allocations.
        unsafe {
            core::ptr::copy_nonoverlapping(items[src].as_ptr(), elements.add(dst.start), dst.len())
        };
        Ok(())
    }

    /// `table.copy` from `source` (which may be this table; the ranges may
    /// then overlap) to this table, after checking both ranges.
    ///
    /// # Safety
    /// The contract in the type's docs, for both tables.
    pub(crate) unsafe fn copy(
        &self,
        dst: u64,
        source: &Table,
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let (to, to_len) = self.parts();
        let (from, from_len) = source.parts();
        let src = checked_range(src, len, from_len)?;
        let dst = checked_range(dst, len, to_len)?;
        // SAFETY: both ranges checked; `copy` allows overlap.
        unsafe { core::ptr::copy(from.add(src.start), to.add(dst.start), dst.len()) };
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// A table that a test owns alone: no store, no other thread and no
    /// wasm code can reach it, which is all `Table`'s unsafe methods ask of
    /// their callers (and `init`'s items are never the table's own
    /// storage). Its methods are therefore safe.
    struct Owned(Table);

    impl core::ops::Deref for Owned {
        type Target = Table;
        fn deref(&self) -> &Table {
            &self.0
        }
    }

    impl Owned {
        fn len(&self) -> u64 {
            // SAFETY: the test owns the table alone (see `Owned`).
            unsafe { self.0.len() }
        }
        fn get(&self, index: u64) -> Option<u64> {
            // SAFETY: as in `len`.
            unsafe { self.0.get(index) }
        }
        fn set(&self, index: u64, value: u64) -> Result<(), OutOfBounds> {
            // SAFETY: as in `len`.
            unsafe { self.0.set(index, value) }
        }
        fn grow(&self, delta: u64, init: u64) -> Option<u64> {
            // SAFETY: as in `len`.
            unsafe { self.0.grow(delta, init) }
        }
        fn fill(&self, dst: u64, value: u64, len: u64) -> Result<(), OutOfBounds> {
            // SAFETY: as in `len`.
            unsafe { self.0.fill(dst, value, len) }
        }
        fn init(&self, dst: u64, items: &[u64], src: u64, len: u64) -> Result<(), OutOfBounds> {
            // SAFETY: as in `len`; `items` is a slice of the test's own.
            unsafe { self.0.init(dst, items, src, len) }
        }
        fn copy(&self, dst: u64, source: &Owned, src: u64, len: u64) -> Result<(), OutOfBounds> {
            // SAFETY: the test owns both tables alone.
            unsafe { self.0.copy(dst, &source.0, src, len) }
        }
    }

    fn table(min: u64, max: Option<u64>) -> Owned {
        Owned(
            Table::new(
                TableType {
                    element: ValType::FuncRef,
                    min,
                    max,
                    index64: false,
                },
                0,
            )
            .unwrap(),
        )
    }

    fn def(t: &Table) -> (u64, Vec<u64>) {
        // SAFETY: the descriptor and its elements are live, nothing writes them.
        unsafe {
            let def = &*t.def_ptr();
            (
                def.len,
                core::slice::from_raw_parts(def.elements, def.len as usize).to_vec(),
            )
        }
    }

    #[test]
    fn def_follows_the_elements() {
        let t = table(4, None);
        assert_eq!(def(&t), (4, vec![0; 4]));
        assert_eq!(t.init(2, &[7, 8, 9], 1, 2), Ok(()));
        assert_eq!(def(&t), (4, vec![0, 0, 8, 9]));
        let def_ptr = t.def_ptr();
        for i in 0..100 {
            assert_eq!(t.grow(1, i), Some(4 + i));
        }
        assert_eq!(t.def_ptr(), def_ptr, "the descriptor never moves");
        let (len, elements) = def(&t);
        assert_eq!(len, 104);
        assert_eq!(&elements[..4], [0, 0, 8, 9]);
        assert_eq!(elements[103], 99);
        assert_eq!(t.get(103), Some(99));
        assert_eq!(t.get(104), None);
    }

    #[test]
    fn grow_respects_the_maximum() {
        let t = table(1, Some(3));
        assert_eq!(t.grow(0, 5), Some(1));
        assert_eq!(t.grow(3, 5), None);
        assert_eq!(t.grow(2, 5), Some(1));
        assert_eq!(t.grow(1, 5), None);
        assert_eq!(def(&t), (3, vec![0, 5, 5]));
        let unbounded = table(0, None);
        assert_eq!(unbounded.grow(u32::MAX as u64, 0), None);
        assert_eq!(unbounded.grow(u64::MAX, 0), None);
        assert_eq!(unbounded.len(), 0);
    }

    #[test]
    fn bulk_operations_check_before_writing() {
        let t = table(4, None);
        assert_eq!(t.fill(1, 3, 3), Ok(()));
        assert_eq!(t.fill(4, 3, 0), Ok(()));
        assert_eq!(t.fill(3, 9, 2), Err(OutOfBounds));
        assert_eq!(t.fill(5, 9, 0), Err(OutOfBounds));
        assert_eq!(def(&t).1, [0, 3, 3, 3]);
        assert_eq!(t.set(0, 1), Ok(()));
        assert_eq!(t.set(4, 1), Err(OutOfBounds));
        assert_eq!(t.copy(1, &t, 0, 3), Ok(()));
        assert_eq!(def(&t).1, [1, 1, 3, 3]);
        assert_eq!(t.copy(2, &t, 0, 3), Err(OutOfBounds));
        assert_eq!(t.init(0, &[5], 0, 2), Err(OutOfBounds));
        assert_eq!(t.init(4, &[5], 1, 0), Ok(()));
        assert_eq!(t.init(4, &[5], 2, 0), Err(OutOfBounds));
        let other = table(2, None);
        assert_eq!(other.copy(0, &t, 2, 2), Ok(()));
        assert_eq!(def(&other).1, [3, 3]);
        assert_eq!(other.copy(1, &t, 0, 2), Err(OutOfBounds));
        assert_eq!(def(&other).1, [3, 3]);
    }
}
