//! Tables of reference values, laid out as generated code indexes them: a
//! stable [`TableDef`] pointing to 8-byte elements (a `funcref` is a
//! `*const FuncRef`, an `externref` a host handle, 0 is null).

use vibewasm_format::vmctx::TableDef;
use vibewasm_format::TableType;

use crate::error::InstantiationError;
use crate::memory::{checked_range, OutOfBounds};
use crate::raw::RawBox;

/// Most elements a table may have, initially or after growing (80 MB of
/// elements): `table.grow` beyond it fails as the spec allows.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

/// One table, owned by a store and shared by the instances that import it.
pub(crate) struct Table {
    /// What generated code reads; its address never changes, `elements` is
    /// re-pointed when the storage moves.
    def: RawBox<TableDef>,
    /// Room for at least `def.len` elements.
    storage: RawBox<[u64]>,
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
    /// A table of `ty.min` elements set to `init`.
    pub(crate) fn new(ty: TableType, init: u64) -> Result<Table, InstantiationError> {
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
        Ok(Table { def, storage, ty })
    }

    pub(crate) fn def_ptr(&self) -> *mut TableDef {
        self.def.as_ptr()
    }

    pub(crate) fn ty(&self) -> TableType {
        self.ty
    }

    /// Current number of elements.
    pub(crate) fn len(&self) -> u64 {
        // SAFETY: the descriptor lives as long as `self`; generated code
        // never writes it, and the helpers that do hold `&mut self`.
        unsafe { (*self.def.as_ptr()).len }
    }

    fn elements(&self) -> &[u64] {
        let len = self.len() as usize;
        // SAFETY: the storage holds at least `len` elements (an invariant of
        // `grow`) and lives as long as `self`; `&self` means no wasm runs
        // meanwhile (wasm only runs while the store is held mutably).
        unsafe { &(&*self.storage.as_ptr())[..len] }
    }

    fn elements_mut(&mut self) -> &mut [u64] {
        let len = self.len() as usize;
        // SAFETY: as in `elements`, exclusive through `&mut self`.
        unsafe { &mut (&mut *self.storage.as_ptr())[..len] }
    }

    pub(crate) fn get(&self, index: u64) -> Option<u64> {
        self.elements().get(usize::try_from(index).ok()?).copied()
    }

    pub(crate) fn set(&mut self, index: u64, value: u64) -> Result<(), OutOfBounds> {
        let index = usize::try_from(index).map_err(|_| OutOfBounds)?;
        *self.elements_mut().get_mut(index).ok_or(OutOfBounds)? = value;
        Ok(())
    }

    /// `table.grow`: the old size, or `None` if the table cannot grow by
    /// `delta` (it is then unchanged). New elements are `init`.
    pub(crate) fn grow(&mut self, delta: u64, init: u64) -> Option<u64> {
        let old = self.len();
        let new = old.checked_add(delta)?;
        let max = self.ty.max.unwrap_or(u32::MAX as u64);
        if new > max || new > MAX_TABLE_ELEMENTS {
            return None;
        }
        let capacity = self.storage.as_ptr().len() as u64;
        if new > capacity {
            // Grow geometrically so repeated `table.grow 1` stays linear.
            let capacity = new
                .max(capacity.saturating_mul(2))
                .min(max.min(MAX_TABLE_ELEMENTS));
            let storage = allocate(capacity, 0)?;
            // SAFETY: a fresh allocation of `capacity >= new > old` elements,
            // not yet shared with anyone.
            unsafe { (&mut *storage.as_ptr())[..old as usize].copy_from_slice(self.elements()) };
            // SAFETY: the descriptor lives as long as `self`; wasm is not
            // running (`&mut self`). Re-point it before freeing the old storage.
            unsafe { (*self.def.as_ptr()).elements = storage.as_ptr().cast() };
            self.storage = storage;
        }
        // SAFETY: as above; the storage now has room for `new` elements.
        unsafe { (*self.def.as_ptr()).len = new };
        self.elements_mut()[old as usize..].fill(init);
        Some(old)
    }

    /// `table.fill`: `len` elements from `dst` set to `value`, after checking.
    pub(crate) fn fill(&mut self, dst: u64, value: u64, len: u64) -> Result<(), OutOfBounds> {
        let range = checked_range(dst, len, self.len())?;
        self.elements_mut()[range].fill(value);
        Ok(())
    }

    /// `table.init` (and active element segments): `items[src..src + len]`
    /// to `dst`, after checking both ranges.
    pub(crate) fn init(
        &mut self,
        dst: u64,
        items: &[u64],
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let src = checked_range(src, len, items.len() as u64)?;
        let dst = checked_range(dst, len, self.len())?;
        self.elements_mut()[dst].copy_from_slice(&items[src]);
        Ok(())
    }

    /// `table.copy` within one table (the ranges may overlap).
    pub(crate) fn copy_within(&mut self, dst: u64, src: u64, len: u64) -> Result<(), OutOfBounds> {
        let size = self.len();
        let dst = checked_range(dst, len, size)?;
        let src = checked_range(src, len, size)?;
        self.elements_mut().copy_within(src, dst.start);
        Ok(())
    }

    /// `table.copy` between two different tables.
    pub(crate) fn copy_from(
        &mut self,
        dst: u64,
        source: &Table,
        src: u64,
        len: u64,
    ) -> Result<(), OutOfBounds> {
        let src = checked_range(src, len, source.len())?;
        let dst = checked_range(dst, len, self.len())?;
        self.elements_mut()[dst].copy_from_slice(&source.elements()[src]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vibewasm_format::ValType;

    fn table(min: u64, max: Option<u64>) -> Table {
        Table::new(
            TableType {
                element: ValType::FuncRef,
                min,
                max,
            },
            0,
        )
        .unwrap()
    }

    fn def(t: &Table) -> (u64, Vec<u64>) {
        // SAFETY: the descriptor and its elements are live, nothing writes them.
        unsafe {
            let def = &*t.def_ptr();
            (
                def.len,
                std::slice::from_raw_parts(def.elements, def.len as usize).to_vec(),
            )
        }
    }

    #[test]
    fn def_follows_the_elements() {
        let mut t = table(4, None);
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
        let mut t = table(1, Some(3));
        assert_eq!(t.grow(0, 5), Some(1));
        assert_eq!(t.grow(3, 5), None);
        assert_eq!(t.grow(2, 5), Some(1));
        assert_eq!(t.grow(1, 5), None);
        assert_eq!(def(&t), (3, vec![0, 5, 5]));
        let mut unbounded = table(0, None);
        assert_eq!(unbounded.grow(u32::MAX as u64, 0), None);
        assert_eq!(unbounded.grow(u64::MAX, 0), None);
        assert_eq!(unbounded.len(), 0);
    }

    #[test]
    fn bulk_operations_check_before_writing() {
        let mut t = table(4, None);
        assert_eq!(t.fill(1, 3, 3), Ok(()));
        assert_eq!(t.fill(4, 3, 0), Ok(()));
        assert_eq!(t.fill(3, 9, 2), Err(OutOfBounds));
        assert_eq!(t.fill(5, 9, 0), Err(OutOfBounds));
        assert_eq!(def(&t).1, [0, 3, 3, 3]);
        assert_eq!(t.set(0, 1), Ok(()));
        assert_eq!(t.set(4, 1), Err(OutOfBounds));
        assert_eq!(t.copy_within(1, 0, 3), Ok(()));
        assert_eq!(def(&t).1, [1, 1, 3, 3]);
        assert_eq!(t.copy_within(2, 0, 3), Err(OutOfBounds));
        assert_eq!(t.init(0, &[5], 0, 2), Err(OutOfBounds));
        assert_eq!(t.init(4, &[5], 1, 0), Ok(()));
        assert_eq!(t.init(4, &[5], 2, 0), Err(OutOfBounds));
        let mut other = table(2, None);
        assert_eq!(other.copy_from(0, &t, 2, 2), Ok(()));
        assert_eq!(def(&other).1, [3, 3]);
        assert_eq!(other.copy_from(1, &t, 0, 2), Err(OutOfBounds));
        assert_eq!(def(&other).1, [3, 3]);
    }
}
