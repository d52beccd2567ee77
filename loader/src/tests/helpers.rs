//! The runtime helpers, called through the instance's vmctx slots the way
//! generated code calls them, on an instance without code.

use vibewasm_format::vmctx::{Helper, HelperFn};
use vibewasm_format::{
    ConstExpr, DataSegment, ElementSegment, GlobalType, Import, ImportKind, MemoryType, Metadata,
    SegmentMode, TableType, TrapCode, ValType,
};

use super::load;
use crate::{ExternRef, Instance, Linker, Val};

const OK: u32 = 0;
const MEMORY_OOB: u32 = TrapCode::MemoryOutOfBounds as u32;
const TABLE_OOB: u32 = TrapCode::TableOutOfBounds as u32;
const FAILED: u64 = 0xffff_ffff;

fn module() -> Metadata {
    let table = |element, min, max| TableType {
        element,
        min,
        max,
        index64: false,
    };
    Metadata {
        imports: vec![Import {
            module: "env".into(),
            name: "r".into(),
            kind: ImportKind::Global(GlobalType {
                ty: ValType::ExternRef,
                mutable: false,
            }),
        }],
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: Some(2),
            index64: false,
        }],
        tables: vec![
            table(ValType::ExternRef, 4, Some(6)),
            table(ValType::ExternRef, 2, None),
        ],
        data: vec![
            DataSegment {
                mode: SegmentMode::Passive,
                bytes: b"hello".to_vec(),
            },
            DataSegment {
                mode: SegmentMode::Active {
                    index: 0,
                    offset: ConstExpr::I32(100),
                },
                bytes: b"active".to_vec(),
            },
        ],
        elements: vec![
            ElementSegment {
                mode: SegmentMode::Passive,
                element: ValType::ExternRef,
                items: vec![
                    ConstExpr::GlobalGet(0),
                    ConstExpr::RefNull(ValType::ExternRef),
                    ConstExpr::GlobalGet(0),
                ],
            },
            ElementSegment {
                mode: SegmentMode::Declared,
                element: ValType::ExternRef,
                items: vec![ConstExpr::GlobalGet(0)],
            },
        ],
        ..Metadata::default()
    }
}

fn instance() -> Instance {
    let mut linker = Linker::new();
    let ty = GlobalType {
        ty: ValType::ExternRef,
        mutable: false,
    };
    let r = Val::ExternRef(ExternRef::from_raw(5));
    linker.define_global("env", "r", ty, r).unwrap();
    linker.instantiate_artifact(&load(&module(), &[])).unwrap()
}

/// Calls `helper` of `instance` with `args` as generated code would; the
/// instance's store must not be in use.
fn call(instance: &Instance, helper: Helper, args: &mut [u64]) -> u32 {
    let data = instance.data();
    let address = data.vmctx.read_u64(data.layout.helper(helper));
    assert_ne!(address, 0);
    let _store = instance.store().enter().unwrap();
    // SAFETY: the slot holds a helper of this loader, with the `HelperFn`
    // signature; `args` has the slots the helper reads; the store is held.
    unsafe {
        let f = std::mem::transmute::<usize, HelperFn>(address as usize);
        f(data.vmctx.ptr(), args.as_mut_ptr())
    }
}

fn memory(instance: &Instance, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = vec![0; (range.end - range.start) as usize];
    instance
        .get_memory_at(0)
        .read(range.start, &mut out)
        .unwrap();
    out
}

fn table(instance: &Instance, t: usize) -> Vec<u64> {
    let _store = instance.store().enter().unwrap();
    // SAFETY: owned by the instance's store, which this thread holds.
    unsafe {
        let table = &*instance.data().tables[t];
        (0..table.len()).map(|k| table.get(k).unwrap()).collect()
    }
}

impl Instance {
    fn get_memory_at(&self, index: usize) -> crate::Memory {
        crate::Memory::from_raw(self.store(), self.data().memories[index]).unwrap()
    }
}

#[test]
fn memory_grow_masks_its_operand_and_respects_the_maximum() {
    let instance = instance();
    let mut args = [0xdead_beef_0000_0001];
    assert_eq!(call(&instance, Helper::MemoryGrow, &mut args), OK);
    assert_eq!(args[0], 1);
    let mut args = [1];
    assert_eq!(call(&instance, Helper::MemoryGrow, &mut args), OK);
    assert_eq!(args[0], FAILED);
    let mut args = [0];
    call(&instance, Helper::MemoryGrow, &mut args);
    assert_eq!(args[0], 2);
}

#[test]
fn memory_fill_copy_init_and_drop() {
    let instance = instance();
    let end = 65536u64;
    assert_eq!(memory(&instance, 100..106), b"active");
    assert_eq!(
        call(&instance, Helper::MemoryFill, &mut [10, 0x1_41, 3]),
        OK
    );
    assert_eq!(memory(&instance, 9..14), b"\0AAA\0");
    assert_eq!(
        call(&instance, Helper::MemoryFill, &mut [end - 1, 0x42, 2]),
        MEMORY_OOB
    );
    assert_eq!(memory(&instance, end - 1..end), [0], "no partial write");
    assert_eq!(call(&instance, Helper::MemoryFill, &mut [end, 0x42, 0]), OK);
    assert_eq!(
        call(&instance, Helper::MemoryFill, &mut [end + 1, 0x42, 0]),
        MEMORY_OOB
    );

    assert_eq!(call(&instance, Helper::MemoryCopy, &mut [11, 10, 4]), OK);
    assert_eq!(memory(&instance, 10..15), b"AAAA\0");
    assert_eq!(
        call(&instance, Helper::MemoryCopy, &mut [0, end - 2, 3]),
        MEMORY_OOB
    );
    // Upper halves of the slots are not part of the i32 operands.
    assert_eq!(
        call(
            &instance,
            Helper::MemoryCopy,
            &mut [1 << 32, 100 | 7 << 40, 2]
        ),
        OK
    );
    assert_eq!(memory(&instance, 0..2), b"ac");

    assert_eq!(call(&instance, Helper::MemoryInit, &mut [20, 1, 3, 0]), OK);
    assert_eq!(memory(&instance, 20..23), b"ell");
    assert_eq!(
        call(&instance, Helper::MemoryInit, &mut [20, 3, 3, 0]),
        MEMORY_OOB
    );
    assert_eq!(
        call(&instance, Helper::MemoryInit, &mut [end - 1, 0, 2, 0]),
        MEMORY_OOB
    );
    assert_eq!(call(&instance, Helper::MemoryInit, &mut [end, 5, 0, 0]), OK);
    // The active segment was dropped by instantiation.
    assert_eq!(call(&instance, Helper::MemoryInit, &mut [0, 0, 0, 1]), OK);
    assert_eq!(
        call(&instance, Helper::MemoryInit, &mut [0, 0, 1, 1]),
        MEMORY_OOB
    );
    assert_eq!(call(&instance, Helper::DataDrop, &mut [0]), OK);
    assert_eq!(
        call(&instance, Helper::MemoryInit, &mut [0, 0, 1, 0]),
        MEMORY_OOB
    );
    assert_eq!(call(&instance, Helper::MemoryInit, &mut [0, 0, 0, 0]), OK);
    assert_eq!(memory(&instance, 20..23), b"ell");
}

/// The multi-memory helpers take memory indices as immediates: index 0
/// behaves as the memory-0 helpers do, a memory the instance does not have
/// (only a forged artifact names one) fails, even for zero bytes.
#[test]
fn multi_memory_helpers_name_their_memories() {
    let instance = instance();
    let mut args = [1, 0];
    assert_eq!(call(&instance, Helper::MultiMemoryGrow, &mut args), OK);
    assert_eq!(args[0], 1);
    let mut args = [0, 1];
    assert_eq!(call(&instance, Helper::MultiMemoryGrow, &mut args), OK);
    assert_eq!(args[0], FAILED);
    let mut args = [0, u64::MAX];
    assert_eq!(call(&instance, Helper::MultiMemoryGrow, &mut args), OK);
    assert_eq!(args[0], FAILED);

    assert_eq!(
        call(&instance, Helper::MultiMemoryFill, &mut [10, 0x41, 3, 0]),
        OK
    );
    assert_eq!(memory(&instance, 9..14), b"\0AAA\0");
    assert_eq!(
        call(&instance, Helper::MultiMemoryCopy, &mut [11, 10, 4, 0, 0]),
        OK
    );
    assert_eq!(memory(&instance, 10..15), b"AAAA\0");
    assert_eq!(
        call(&instance, Helper::MultiMemoryInit, &mut [20, 1, 3, 0, 0]),
        OK
    );
    assert_eq!(memory(&instance, 20..23), b"ell");
    assert_eq!(
        call(&instance, Helper::MultiMemoryFill, &mut [0, 0, 0, 1]),
        MEMORY_OOB
    );
    assert_eq!(
        call(&instance, Helper::MultiMemoryCopy, &mut [0, 0, 0, 0, 1]),
        MEMORY_OOB
    );
    assert_eq!(
        call(&instance, Helper::MultiMemoryCopy, &mut [0, 0, 0, 2, 0]),
        MEMORY_OOB
    );
    assert_eq!(
        call(&instance, Helper::MultiMemoryInit, &mut [0, 0, 0, 1, 0]),
        MEMORY_OOB
    );
    assert_eq!(memory(&instance, 0..1), [0], "nothing written");
}

#[test]
fn table_grow_fill_copy_init_and_drop() {
    let instance = instance();
    assert_eq!(table(&instance, 0), [0, 0, 0, 0]);
    let mut args = [9, 1 | 1 << 32, 0];
    assert_eq!(call(&instance, Helper::TableGrow, &mut args), OK);
    assert_eq!(args[0], 4);
    let mut args = [9, 2, 0];
    call(&instance, Helper::TableGrow, &mut args);
    assert_eq!(args[0], FAILED, "maximum 6");
    let mut args = [3, 0, 1];
    call(&instance, Helper::TableGrow, &mut args);
    assert_eq!(args[0], 2, "size of table 1");
    assert_eq!(table(&instance, 0), [0, 0, 0, 0, 9]);

    assert_eq!(call(&instance, Helper::TableFill, &mut [1, 7, 2, 0]), OK);
    assert_eq!(
        call(&instance, Helper::TableFill, &mut [4, 8, 2, 0]),
        TABLE_OOB
    );
    assert_eq!(call(&instance, Helper::TableFill, &mut [5, 8, 0, 0]), OK);
    assert_eq!(table(&instance, 0), [0, 7, 7, 0, 9]);

    assert_eq!(call(&instance, Helper::TableCopy, &mut [0, 1, 4, 0, 0]), OK);
    assert_eq!(table(&instance, 0), [7, 7, 0, 9, 9]);
    assert_eq!(call(&instance, Helper::TableCopy, &mut [0, 3, 2, 1, 0]), OK);
    assert_eq!(table(&instance, 1), [9, 9]);
    assert_eq!(
        call(&instance, Helper::TableCopy, &mut [1, 0, 2, 1, 0]),
        TABLE_OOB
    );
    assert_eq!(table(&instance, 1), [9, 9]);

    // The passive segment holds the imported externref (5) and a null.
    assert_eq!(call(&instance, Helper::TableInit, &mut [0, 0, 3, 0, 0]), OK);
    assert_eq!(table(&instance, 0), [5, 0, 5, 9, 9]);
    assert_eq!(
        call(&instance, Helper::TableInit, &mut [0, 1, 3, 1, 0]),
        TABLE_OOB
    );
    assert_eq!(
        call(&instance, Helper::TableInit, &mut [0, 2, 2, 0, 0]),
        TABLE_OOB
    );
    // The declarative segment counts as dropped.
    assert_eq!(
        call(&instance, Helper::TableInit, &mut [0, 0, 1, 0, 1]),
        TABLE_OOB
    );
    assert_eq!(call(&instance, Helper::TableInit, &mut [0, 0, 0, 0, 1]), OK);
    assert_eq!(call(&instance, Helper::ElemDrop, &mut [0]), OK);
    assert_eq!(
        call(&instance, Helper::TableInit, &mut [0, 0, 1, 0, 0]),
        TABLE_OOB
    );
    assert_eq!(table(&instance, 0), [5, 0, 5, 9, 9]);
}
