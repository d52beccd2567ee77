//! Memories, tables and globals shared between instances of one store, and
//! the import type checks, with artifacts that need no code.

use vibewasm_format::{
    ConstExpr, DataSegment, ElementSegment, Export, ExternKind, GlobalDef, GlobalType, Import,
    ImportKind, MemoryType, Metadata, SegmentMode, TableType, TrapCode, ValType,
};

use super::load;
use crate::{
    Error, Extern, ExternRef, Global, Instance, LinkError, Linker, Memory, Store, Table, Val,
};

fn export(name: &str, kind: ExternKind, index: u32) -> Export {
    Export {
        name: name.into(),
        kind,
        index,
    }
}

fn import(name: &str, kind: ImportKind) -> Import {
    Import {
        module: "lib".into(),
        name: name.into(),
        kind,
    }
}

fn memory_type(min_pages: u64, max_pages: Option<u64>) -> MemoryType {
    MemoryType {
        min_pages,
        max_pages,
        index64: false,
    }
}

fn table_type(element: ValType, min: u64, max: Option<u64>) -> TableType {
    TableType {
        element,
        min,
        max,
        index64: false,
    }
}

fn global_type(ty: ValType, mutable: bool) -> GlobalType {
    GlobalType { ty, mutable }
}

fn active(index: u32, offset: ConstExpr) -> SegmentMode {
    SegmentMode::Active { index, offset }
}

/// Defines and exports a memory, an externref table and two globals.
fn exporter() -> Metadata {
    Metadata {
        memories: vec![memory_type(1, Some(3))],
        tables: vec![table_type(ValType::ExternRef, 2, Some(4))],
        globals: vec![
            GlobalDef {
                ty: global_type(ValType::I32, true),
                init: ConstExpr::I32(7),
            },
            GlobalDef {
                ty: global_type(ValType::I64, false),
                init: ConstExpr::I64(-1),
            },
        ],
        data: vec![DataSegment {
            mode: active(0, ConstExpr::I32(0)),
            bytes: b"hi".to_vec(),
        }],
        exports: vec![
            export("mem", ExternKind::Memory, 0),
            export("tab", ExternKind::Table, 0),
            export("g", ExternKind::Global, 0),
            export("c", ExternKind::Global, 1),
        ],
        ..Metadata::default()
    }
}

/// Imports all of `exporter`'s exports (with the given types), writes to
/// them with segments, and re-exports them.
fn importer(mem: MemoryType, tab: TableType, g: GlobalType, data: Vec<DataSegment>) -> Metadata {
    Metadata {
        imports: vec![
            import("mem", ImportKind::Memory(mem)),
            import("tab", ImportKind::Table(tab)),
            import("g", ImportKind::Global(g)),
            import("c", ImportKind::Global(global_type(ValType::I64, false))),
        ],
        globals: vec![GlobalDef {
            ty: global_type(ValType::I64, false),
            init: ConstExpr::GlobalGet(1),
        }],
        data,
        // Of the table's declared type: the format check refuses others.
        elements: vec![ElementSegment {
            mode: active(0, ConstExpr::I32(1)),
            element: tab.element,
            items: vec![ConstExpr::RefNull(tab.element)],
        }],
        exports: vec![
            export("mem", ExternKind::Memory, 0),
            export("tab", ExternKind::Table, 0),
            export("g", ExternKind::Global, 0),
            export("copy", ExternKind::Global, 2),
        ],
        ..Metadata::default()
    }
}

fn default_importer(data: Vec<DataSegment>) -> Metadata {
    importer(
        memory_type(1, None),
        table_type(ValType::ExternRef, 1, None),
        global_type(ValType::I32, true),
        data,
    )
}

fn write_at(offset: i32, bytes: &[u8]) -> DataSegment {
    DataSegment {
        mode: active(0, ConstExpr::I32(offset)),
        bytes: bytes.to_vec(),
    }
}

fn setup() -> (Linker, Instance) {
    let lib = Linker::new()
        .instantiate_artifact(&load(&exporter(), &[]))
        .unwrap();
    let mut linker = Linker::new();
    linker.define_instance("lib", &lib).unwrap();
    (linker, lib)
}

fn read(memory: &Memory, offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    memory.read(offset, &mut out).unwrap();
    out
}

#[test]
fn imported_objects_are_the_exported_ones() {
    let (linker, lib) = setup();
    let app = linker
        .instantiate_artifact(&load(&default_importer(vec![write_at(2, b"yo")]), &[]))
        .unwrap();
    assert!(Store::same(lib.store(), app.store()));
    let (lib_mem, app_mem) = (
        lib.get_memory("mem").unwrap(),
        app.get_memory("mem").unwrap(),
    );
    assert!(Memory::same(&lib_mem, &app_mem));
    assert_eq!(read(&lib_mem, 0, 4), b"hiyo");
    assert_eq!(app_mem.grow(1), Ok(Some(1)));
    assert_eq!(lib_mem.size_pages(), Ok(2));

    let (lib_g, app_g) = (lib.get_global("g").unwrap(), app.get_global("g").unwrap());
    assert!(Global::same(&lib_g, &app_g));
    app_g.set(Val::I32(8)).unwrap();
    assert_eq!(lib.global("g"), Some(Val::I32(8)));
    assert_eq!(app.global("copy"), Some(Val::I64(-1)));
    assert_eq!(
        lib.get_global("c").unwrap().set(Val::I64(0)),
        Err(crate::AccessError::Immutable)
    );

    let (lib_tab, app_tab) = (lib.get_table("tab").unwrap(), app.get_table("tab").unwrap());
    assert!(Table::same(&lib_tab, &app_tab));
    let r = Val::ExternRef(ExternRef::from_raw(3));
    app_tab.set(0, r).unwrap();
    assert_eq!(lib_tab.get(0), Ok(r));
    assert_eq!(lib_tab.get(1), Ok(Val::ExternRef(None)));
    assert!(matches!(app.get_export("g"), Some(Extern::Global(_))));
    assert!(app.get_export("nope").is_none());
}

#[test]
fn imports_are_type_checked_like_the_spec_says() {
    let (linker, lib) = setup();
    let mem = |min, max| memory_type(min, max);
    let tab = |element, min, max| table_type(element, min, max);
    let g = global_type(ValType::I32, true);
    let cases = [
        // Memory: at least the minimum now, a maximum no larger.
        (mem(2, None), tab(ValType::ExternRef, 1, None), g, false),
        (mem(1, Some(2)), tab(ValType::ExternRef, 1, None), g, false),
        (mem(0, Some(3)), tab(ValType::ExternRef, 1, None), g, true),
        // Tables: same, and the same element type.
        (mem(1, None), tab(ValType::ExternRef, 3, None), g, false),
        (mem(1, None), tab(ValType::FuncRef, 1, None), g, false),
        (mem(1, None), tab(ValType::ExternRef, 2, Some(4)), g, true),
        (mem(1, None), tab(ValType::ExternRef, 2, Some(3)), g, false),
        // Globals: exact type and mutability.
        (
            mem(1, None),
            tab(ValType::ExternRef, 1, None),
            global_type(ValType::I32, false),
            false,
        ),
        (
            mem(1, None),
            tab(ValType::ExternRef, 1, None),
            global_type(ValType::I64, true),
            false,
        ),
    ];
    for (k, (m, t, g, ok)) in cases.into_iter().enumerate() {
        let result = linker.instantiate_artifact(&load(&importer(m, t, g, vec![]), &[]));
        match (ok, result) {
            (true, Ok(_)) => {}
            (false, Err(err)) => {
                assert!(err.is_link_error(), "case {k}: {err}");
                assert!(
                    err.to_string().contains("incompatible import type"),
                    "case {k}: {err}"
                );
            }
            (ok, result) => panic!("case {k}: expected ok={ok}, got {result:?}"),
        }
    }
    // The current size counts, not the declared minimum.
    lib.get_memory("mem").unwrap().grow(1).unwrap();
    let importer = importer(mem(2, None), tab(ValType::ExternRef, 1, None), g, vec![]);
    assert!(linker.instantiate_artifact(&load(&importer, &[])).is_ok());

    let err = Linker::new()
        .instantiate_artifact(&load(&default_importer(vec![]), &[]))
        .unwrap_err();
    assert!(matches!(err, Error::Link(LinkError::MissingImport { .. })));
    assert!(err.to_string().contains("unknown import"), "{err}");
}

#[test]
fn failed_instantiation_keeps_the_segments_applied_before() {
    let (linker, lib) = setup();
    let data = vec![write_at(4, b"ok"), write_at(65535, b"no")];
    let err = linker
        .instantiate_artifact(&load(&default_importer(data), &[]))
        .unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::MemoryOutOfBounds));
    assert!(
        err.to_string().contains("out of bounds memory access"),
        "{err}"
    );
    let memory = lib.get_memory("mem").unwrap();
    assert_eq!(read(&memory, 0, 6), b"hi\0\0ok");
    assert_eq!(read(&memory, 65534, 2), [0, 0], "no partial write");
}

#[test]
fn host_objects_can_be_imported() {
    let mut linker = Linker::new();
    linker
        .define_memory("lib", "mem", memory_type(1, None))
        .unwrap();
    linker
        .define_table(
            "lib",
            "tab",
            table_type(ValType::ExternRef, 2, None),
            Val::ExternRef(None),
        )
        .unwrap();
    linker
        .define_global("lib", "g", global_type(ValType::I32, true), Val::I32(1))
        .unwrap();
    let c = linker
        .define_global("lib", "c", global_type(ValType::I64, false), Val::I64(42))
        .unwrap();
    let mut app = linker
        .instantiate_artifact(&load(&default_importer(vec![write_at(0, b"x")]), &[]))
        .unwrap();
    assert_eq!(app.global("copy"), Some(Val::I64(42)));
    assert_eq!(c.get(), Ok(Val::I64(42)));
    // The linker shares the store: no borrowed views.
    assert!(app.memory().is_none());
    assert_eq!(read(&app.get_memory("mem").unwrap(), 0, 1), b"x");
}
