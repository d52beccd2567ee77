//! Tables of function references, laid out as generated code indexes them.

use vibewasm_format::vmctx::{FuncRef, TableDef};
use vibewasm_format::TableType;

use crate::error::InstantiationError;
use crate::raw::RawBox;

/// The null reference: what `ref.null` and fresh table slots hold.
pub(crate) const NULL_FUNC_REF: FuncRef = FuncRef {
    code: std::ptr::null(),
    vmctx: std::ptr::null_mut(),
    type_id: 0,
    reserved: 0,
};

/// One table of an instance. Its size is fixed for now (no `table.grow`
/// helper yet); `max` is kept for when there is one.
pub(crate) struct Table {
    def: RawBox<TableDef>,
    elements: RawBox<[FuncRef]>,
    #[allow(dead_code)]
    ty: TableType,
}

impl Table {
    /// A table of `ty.min` null elements.
    pub(crate) fn new(ty: TableType) -> Result<Table, InstantiationError> {
        let too_big = || {
            InstantiationError::Resource(format!("cannot allocate a table of {} elements", ty.min))
        };
        let len = usize::try_from(ty.min).map_err(|_| too_big())?;
        let mut elements = Vec::new();
        // The length comes from the artifact: fail cleanly rather than abort
        // if the allocator refuses.
        elements.try_reserve_exact(len).map_err(|_| too_big())?;
        elements.resize(len, NULL_FUNC_REF);
        let elements = RawBox::from_box(elements.into_boxed_slice());
        let def = RawBox::new(TableDef {
            elements: elements.as_ptr().cast(),
            len: ty.min,
        });
        Ok(Table { def, elements, ty })
    }

    pub(crate) fn def_ptr(&self) -> *mut TableDef {
        self.def.as_ptr()
    }

    pub(crate) fn len(&self) -> u64 {
        self.elements.as_ptr().len() as u64
    }

    /// Writes `items` from element `offset` on, after checking that all fit.
    /// `Err(())` leaves the table unchanged.
    pub(crate) fn init(&mut self, offset: u64, items: &[FuncRef]) -> Result<(), ()> {
        let start = usize::try_from(offset).map_err(|_| ())?;
        let end = start.checked_add(items.len()).ok_or(())?;
        // SAFETY: the slice lives as long as `self`; `&mut self` means no wasm
        // is running that could access it concurrently.
        let elements = unsafe { &mut *self.elements.as_ptr() };
        elements
            .get_mut(start..end)
            .ok_or(())?
            .copy_from_slice(items);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn get(&self, index: usize) -> Option<FuncRef> {
        // SAFETY: as in `init`, shared.
        unsafe { &*self.elements.as_ptr() }.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vibewasm_format::ValType;

    #[test]
    fn init_checks_bounds_and_def_points_at_elements() {
        let mut t = Table::new(TableType {
            element: ValType::FuncRef,
            min: 4,
            max: None,
        })
        .unwrap();
        assert_eq!(t.len(), 4);
        // SAFETY: the descriptor is live and not being written.
        let def = unsafe { &*t.def_ptr() };
        assert_eq!(def.len, 4);
        let item = FuncRef {
            type_id: 9,
            ..NULL_FUNC_REF
        };
        assert!(t.init(3, &[item, item]).is_err());
        assert!(t.init(u64::MAX, &[item]).is_err());
        assert!(t.init(4, &[]).is_ok());
        assert!(t.init(2, &[item, item]).is_ok());
        assert_eq!(t.get(3).unwrap().type_id, 9);
        assert_eq!(t.get(1).unwrap().type_id, 0);
        // SAFETY: `def.elements` points at the 4 live elements.
        assert_eq!(unsafe { (*def.elements.add(2)).type_id }, 9);
    }
}
