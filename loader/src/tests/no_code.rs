//! Artifacts without functions: loading, memory, globals, segments, imports.

use vibewasm_format::{
    ConstExpr, DataSegment, ElementSegment, Export, ExternKind, GlobalDef, GlobalType, Import,
    ImportKind, MemoryType, Metadata, SegmentMode, TableType, TrapCode, ValType,
};

use super::{artifact_bytes, func_type, load};
use crate::{Artifact, Error, InstantiationError, LinkError, Linker, LoadError, Val};

fn global(ty: ValType, init: ConstExpr) -> GlobalDef {
    GlobalDef {
        ty: GlobalType { ty, mutable: false },
        init,
    }
}

fn active(offset: ConstExpr) -> SegmentMode {
    SegmentMode::Active { index: 0, offset }
}

fn export(name: &str, kind: ExternKind, index: u32) -> Export {
    Export {
        name: name.into(),
        kind,
        index,
    }
}

fn data_module(extra: Vec<DataSegment>) -> Metadata {
    let mut data = vec![
        DataSegment {
            mode: active(ConstExpr::I32(16)),
            bytes: b"hello".to_vec(),
        },
        DataSegment {
            mode: SegmentMode::Passive,
            bytes: b"passive".to_vec(),
        },
        // Ends exactly at the end of the first page.
        DataSegment {
            mode: active(ConstExpr::GlobalGet(5)),
            bytes: b"abcde".to_vec(),
        },
    ];
    data.extend(extra);
    Metadata {
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: Some(2),
            index64: false,
        }],
        globals: vec![
            global(ValType::I32, ConstExpr::I32(-5)),
            global(ValType::I64, ConstExpr::I64(1 << 40)),
            global(ValType::F32, ConstExpr::F32(1.5f32.to_bits())),
            global(ValType::F64, ConstExpr::F64((-2.25f64).to_bits())),
            global(ValType::I32, ConstExpr::GlobalGet(0)),
            global(ValType::I32, ConstExpr::I32(65531)),
            global(ValType::FuncRef, ConstExpr::RefNull(ValType::FuncRef)),
        ],
        data,
        exports: vec![
            export("mem", ExternKind::Memory, 0),
            export("g_i32", ExternKind::Global, 0),
            export("g_i64", ExternKind::Global, 1),
            export("g_f32", ExternKind::Global, 2),
            export("g_f64", ExternKind::Global, 3),
            export("g_copy", ExternKind::Global, 4),
        ],
        ..Metadata::default()
    }
}

#[test]
fn memory_globals_and_data_segments() {
    let artifact = load(&data_module(vec![]), &[]);
    assert!(artifact.code_base().is_null());
    let mut instance = Linker::new().instantiate_artifact(&artifact).unwrap();

    let memory = instance.memory().unwrap();
    assert_eq!(memory.len(), 65536);
    assert_eq!(&memory[16..21], b"hello");
    assert_eq!(&memory[65531..], b"abcde");
    assert!(memory[..16].iter().all(|&b| b == 0));
    instance.memory_mut().unwrap()[0] = 1;
    assert_eq!(instance.memory().unwrap()[0], 1);

    assert_eq!(instance.global("g_i32"), Some(Val::I32(-5)));
    assert_eq!(instance.global("g_i64"), Some(Val::I64(1 << 40)));
    assert_eq!(instance.global("g_f32"), Some(Val::f32(1.5)));
    assert_eq!(instance.global("g_f64"), Some(Val::f64(-2.25)));
    assert_eq!(instance.global("g_copy"), Some(Val::I32(-5)));
    assert_eq!(instance.global("mem"), None);
    // An i32 sits in the low 4 bytes of its slot, the upper 4 are zero.
    let data = instance.data();
    let slot = data.vmctx.read_u64(data.layout.global(0));
    assert_eq!(slot, 0xffff_fffb);

    let exports: Vec<_> = instance.exports().collect();
    assert_eq!(exports[0], ("mem", ExternKind::Memory));
    assert_eq!(exports.len(), 6);
    let err = instance.call("mem", &[]).unwrap_err();
    assert!(err.to_string().contains("not a function"), "{err}");
    let err = instance.call("nope", &[]).unwrap_err();
    assert!(err.to_string().contains("no export named `nope`"), "{err}");
}

#[test]
fn data_segment_out_of_bounds_fails_instantiation() {
    for offset in [65532, -1] {
        let metadata = data_module(vec![DataSegment {
            mode: active(ConstExpr::I32(offset)),
            bytes: b"abcde".to_vec(),
        }]);
        let err = Linker::new()
            .instantiate_artifact(&load(&metadata, &[]))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Instantiation(InstantiationError::DataOutOfBounds { segment: 3, .. })
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("out of bounds memory access"),
            "{err}"
        );
        assert_eq!(err.trap_code(), Some(TrapCode::MemoryOutOfBounds));
    }
    // An empty segment right at the end fits.
    let metadata = data_module(vec![DataSegment {
        mode: active(ConstExpr::I32(65536)),
        bytes: vec![],
    }]);
    assert!(Linker::new()
        .instantiate_artifact(&load(&metadata, &[]))
        .is_ok());
}

#[test]
fn mistyped_constants_are_refused() {
    // By the format check, at load (instantiation checks them again).
    let mut metadata = data_module(vec![]);
    metadata.globals[1].init = ConstExpr::I32(1);
    let err = Artifact::from_bytes(&artifact_bytes(&metadata, &[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("globals[1].init is a constant of type i32, where i64 is needed"),
        "{err}"
    );

    let mut metadata = data_module(vec![]);
    metadata.data[0].mode = active(ConstExpr::I64(0));
    let err = Artifact::from_bytes(&artifact_bytes(&metadata, &[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("data[0].offset is a constant of type i64, where i32 is needed"),
        "{err}"
    );
}

#[test]
fn memory_limit_applies_to_the_initial_size() {
    let err = Linker::new()
        .memory_limit_pages(0)
        .instantiate_artifact(&load(&data_module(vec![]), &[]))
        .unwrap_err();
    assert!(err.to_string().contains("limit of 0"), "{err}");
}

fn table_module(offset: i32, items: usize) -> Metadata {
    Metadata {
        tables: vec![TableType {
            element: ValType::FuncRef,
            min: 2,
            max: None,
            index64: false,
        }],
        globals: vec![global(
            ValType::FuncRef,
            ConstExpr::RefNull(ValType::FuncRef),
        )],
        elements: vec![ElementSegment {
            mode: active(ConstExpr::I32(offset)),
            element: ValType::FuncRef,
            items: (0..items)
                .map(|i| match i % 2 {
                    0 => ConstExpr::RefNull(ValType::FuncRef),
                    _ => ConstExpr::GlobalGet(0),
                })
                .collect(),
        }],
        ..Metadata::default()
    }
}

#[test]
fn element_segments_are_bounds_checked() {
    let instance = Linker::new()
        .instantiate_artifact(&load(&table_module(0, 2), &[]))
        .unwrap();
    // SAFETY: the table is owned by the instance's store; nothing runs.
    assert_eq!(unsafe { (*instance.data().tables[0]).len() }, 2);
    assert!(Linker::new()
        .instantiate_artifact(&load(&table_module(2, 0), &[]))
        .is_ok());
    for (offset, items) in [(1, 2), (3, 0), (-1, 1)] {
        let err = Linker::new()
            .instantiate_artifact(&load(&table_module(offset, items), &[]))
            .unwrap_err();
        assert!(
            err.to_string().contains("out of bounds table access"),
            "{err}"
        );
        assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds));
    }
}

fn import_module(kind: ImportKind) -> Metadata {
    let is_func = matches!(kind, ImportKind::Func(_));
    Metadata {
        types: vec![func_type(&[ValType::I32], &[])],
        imports: vec![Import {
            module: "env".into(),
            name: "f".into(),
            kind,
        }],
        func_types: if is_func { vec![0] } else { vec![] },
        trampolines: is_func.then_some(vibewasm_format::Trampolines {
            host_entry: 0,
            trap_path: 0,
        }),
        ..Metadata::default()
    }
}

#[test]
fn imports_are_resolved_by_name_and_signature() {
    // The code (a lone `ret` byte) is never run: linking fails first or
    // nothing is called.
    let stub = vibewasm_format::SiteTables {
        functions: vec![vibewasm_format::CodeRange {
            offset: 0,
            len: 1,
            frame_size: 8,
        }],
        ..Default::default()
    };
    let artifact = super::load_with(&import_module(ImportKind::Func(0)), &stub, &[0xc3]);

    let err = Linker::new().instantiate_artifact(&artifact).unwrap_err();
    assert!(matches!(err, Error::Link(LinkError::MissingImport { .. })));
    assert!(
        err.to_string().contains("unknown import: `env::f`"),
        "{err}"
    );

    let mut linker = Linker::new();
    linker.func_wrap("env", "f", |_: i64| {}).unwrap();
    let err = linker.instantiate_artifact(&artifact).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("incompatible import type"), "{message}");
    assert!(message.contains("[i32] -> []"), "{message}");
    assert!(message.contains("[i64] -> []"), "{message}");

    let mut linker = Linker::new();
    linker.func_wrap("env", "f", |_: i32| {}).unwrap();
    let instance = linker.instantiate_artifact(&artifact).unwrap();
    assert_eq!(instance.data().host_funcs.len(), 1);

    // A function where a memory is expected.
    let memory = ImportKind::Memory(MemoryType {
        min_pages: 0,
        max_pages: None,
        index64: false,
    });
    let err = linker
        .instantiate_artifact(&load(&import_module(memory), &[]))
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("incompatible import type"), "{message}");
    assert!(message.contains("expects a memory"), "{message}");
    assert!(
        message.contains("a function of type [i32] -> []"),
        "{message}"
    );
}

#[test]
fn garbage_and_truncated_bytes_are_refused() {
    for bytes in [&b""[..], b"garbage", &[0u8; 300]] {
        let err = Artifact::from_bytes(bytes).unwrap_err();
        assert!(
            matches!(err, LoadError::Format { path: None, .. }),
            "{err:?}"
        );
    }
    let file = artifact_bytes(&data_module(vec![]), &[0xc3; 64]);
    assert!(Artifact::from_bytes(&file).is_ok());
    for len in (0..file.len()).step_by(997) {
        let err = Artifact::from_bytes(&file[..len]).unwrap_err();
        assert!(err.to_string().starts_with("invalid artifact"), "{err}");
    }
    let mut flipped = file.clone();
    flipped[200] ^= 1;
    let err = Artifact::from_bytes(&flipped).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[test]
fn open_maps_the_code_and_names_the_path() {
    let dir = std::env::temp_dir().join(format!("vibewasm-loader-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.vwa");
    let err = Artifact::open(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().contains("missing.vwa"), "{err}");

    let code: Vec<u8> = (0..100u8).collect();
    let path = dir.join("code.vwa");
    std::fs::write(&path, artifact_bytes(&data_module(vec![]), &code)).unwrap();
    let artifact = Artifact::open(&path).unwrap();
    assert_eq!(artifact.code_len(), code.len());
    // SAFETY: the mapping is readable and `code_len` bytes long.
    let mapped = unsafe { std::slice::from_raw_parts(artifact.code_base(), artifact.code_len()) };
    assert_eq!(mapped, &code[..]);
    assert_eq!(artifact.header().compiler_version, "hand-built");
    assert_eq!(artifact.metadata().globals.len(), 7);

    let empty = dir.join("empty.vwa");
    std::fs::write(&empty, b"").unwrap();
    let err = Artifact::open(&empty).unwrap_err();
    assert!(err.to_string().contains("empty.vwa"), "{err}");

    let bad = dir.join("bad.vwa");
    let mut bytes = artifact_bytes(&data_module(vec![]), &code);
    bytes.truncate(bytes.len() - 1);
    std::fs::write(&bad, bytes).unwrap();
    let err = Artifact::open(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.vwa"), "{err}");

    std::fs::remove_dir_all(&dir).unwrap();
}

/// A long code section is written aligned for the target's largest page
/// size (`vibewasm_format::mapped_code_align`), so the loader maps it from
/// the file (read+execute, shared) whatever this host's page size is.
#[cfg(target_os = "linux")]
#[test]
fn long_code_is_mapped_from_the_file() {
    let code = vec![0u8; 70_000];
    let bytes = artifact_bytes(&Metadata::default(), &code);
    let path =
        std::env::temp_dir().join(format!("vibewasm-mapped-code-{}.vwa", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let artifact = Artifact::open(&path).unwrap();
    let base = artifact.code_base() as usize;
    assert_eq!(base as u64 % crate::artifact::page_size(), 0);
    // SAFETY: the code mapping is `code.len()` readable bytes.
    let mapped = unsafe { std::slice::from_raw_parts(artifact.code_base(), code.len()) };
    assert_eq!(mapped, &code[..]);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let start = format!("{base:x}-");
    let line = maps.lines().find(|l| l.starts_with(&start));
    let line = line.unwrap_or_else(|| panic!("no mapping at {start} in\n{maps}"));
    let perms = line.split_whitespace().nth(1).unwrap();
    assert!(perms.starts_with("r-x"), "{line}");
    assert!(line.ends_with(path.to_str().unwrap()), "{line}");
    drop(artifact);
    std::fs::remove_file(&path).unwrap();
}

/// Imports a mutable v128 global `env::v`; defines a constant one, a copy
/// of the import (`global.get 0`), a mutable one and an i32 one after them;
/// exports them all.
fn v128_global_module() -> Metadata {
    let v128 = |mutable| GlobalType {
        ty: ValType::V128,
        mutable,
    };
    Metadata {
        imports: vec![Import {
            module: "env".into(),
            name: "v".into(),
            kind: ImportKind::Global(v128(true)),
        }],
        globals: vec![
            global(ValType::V128, ConstExpr::V128(V128_CONST)),
            global(ValType::V128, ConstExpr::GlobalGet(0)),
            GlobalDef {
                ty: v128(true),
                init: ConstExpr::V128(u128::MAX),
            },
            global(ValType::I32, ConstExpr::I32(7)),
        ],
        exports: vec![
            export("imported", ExternKind::Global, 0),
            export("const", ExternKind::Global, 1),
            export("copy", ExternKind::Global, 2),
            export("mut", ExternKind::Global, 3),
            export("i32", ExternKind::Global, 4),
        ],
        ..Metadata::default()
    }
}

const V128_CONST: u128 = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;

#[test]
fn v128_globals_live_behind_a_pointer() {
    let mut linker = Linker::new();
    let v128 = GlobalType {
        ty: ValType::V128,
        mutable: true,
    };
    let imported = linker
        .define_global("env", "v", v128, Val::V128(1 << 64 | 2))
        .unwrap();
    let artifact = load(&v128_global_module(), &[]);
    let instance = linker.instantiate_artifact(&artifact).unwrap();

    assert_eq!(instance.global("imported"), Some(Val::V128(1 << 64 | 2)));
    assert_eq!(instance.global("const"), Some(Val::V128(V128_CONST)));
    assert_eq!(instance.global("copy"), Some(Val::V128(1 << 64 | 2)));
    assert_eq!(instance.global("mut"), Some(Val::V128(u128::MAX)));
    assert_eq!(instance.global("i32"), Some(Val::I32(7)));

    // Every v128 slot of the vmctx, imported or defined, holds a pointer to
    // a 16-byte-aligned cell holding the value's little-endian bytes; the
    // i32 after them holds its value in place.
    let data = instance.data();
    let slot = |g| data.vmctx.read_u64(data.layout.global(g));
    assert_eq!(slot(0), imported.cell() as u64);
    for g in 0..4u32 {
        let cell = slot(g) as usize as *const u8;
        assert_eq!(cell as usize % 16, 0, "global {g}");
        assert_eq!(cell as u64, data.globals[g as usize].0 as u64);
    }
    // SAFETY: the cell is owned by the instance's store; nothing runs.
    let bytes = unsafe { std::slice::from_raw_parts(slot(1) as usize as *const u8, 16) };
    assert_eq!(bytes, (0u8..16).collect::<Vec<_>>());
    assert_eq!(slot(4), 7);
    // The copy is a cell of its own, not the imported one.
    assert_ne!(slot(2), slot(0));

    // Writes through one handle show through every handle of the cell.
    let exported_import = instance.get_global("imported").unwrap();
    assert!(crate::Global::same(&exported_import, &imported));
    imported.set(Val::V128(5)).unwrap();
    assert_eq!(instance.global("imported"), Some(Val::V128(5)));
    assert_eq!(instance.global("copy"), Some(Val::V128(1 << 64 | 2)));
    let m = instance.get_global("mut").unwrap();
    m.set(Val::V128(V128_CONST)).unwrap();
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(slot(3) as usize as *const u8, 16) };
    assert_eq!(bytes, (0u8..16).collect::<Vec<_>>());
    assert!(m.set(Val::I64(0)).is_err());
    let c = instance.get_global("const").unwrap();
    assert!(c.set(Val::V128(0)).is_err());

    // Another instance of the store imports the defined mutable one.
    linker.allow_shadowing(true);
    linker.define_extern("env", "v", m.clone()).unwrap();
    let second = linker.instantiate_artifact(&artifact).unwrap();
    assert_eq!(second.global("copy"), Some(Val::V128(V128_CONST)));
    let second_import = second.get_global("imported").unwrap();
    assert!(crate::Global::same(&second_import, &m));
    second_import.set(Val::V128(9)).unwrap();
    assert_eq!(instance.global("mut"), Some(Val::V128(9)));

    // An immutable or an i32 global does not satisfy the import.
    let mut linker = Linker::new();
    linker
        .define_global(
            "env",
            "v",
            GlobalType {
                ty: ValType::V128,
                mutable: false,
            },
            Val::V128(0),
        )
        .unwrap();
    assert!(linker.instantiate_artifact(&artifact).is_err());
    let mut linker = Linker::new();
    let i32_global = GlobalType {
        ty: ValType::I32,
        mutable: true,
    };
    linker
        .define_global("env", "v", i32_global, Val::I32(0))
        .unwrap();
    let err = linker.instantiate_artifact(&artifact).unwrap_err();
    assert!(err.to_string().contains("v128"), "{err}");
}
