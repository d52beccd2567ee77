//! Forged metadata: real artifacts whose metadata was decoded, changed,
//! re-encoded and re-checksummed (what anyone who can write an artifact
//! can do, with no change to the code). The loader must refuse every one
//! whose types would let a value of one type be read as another (an `i64`
//! or an `externref` used as a `funcref` is a pointer the loader and the
//! code dereference), at load when the metadata says enough, else at
//! instantiation or at the operation (`table.init`).

use vibewasm_format::{ConstExpr, ImportKind, SegmentMode, TableType, ValType};
use vibewasm_loader::{ExternRef, GlobalType, LinkError};
use vibewasm_tests::*;

const DEFINED_TABLE: &str = r#"(module
  (type $v_i (func (result i32)))
  (table $t (export "tab") 2 funcref)
  (elem (i32.const 0) $f)
  (func $f (type $v_i) (i32.const 7))
  (func (export "call") (param i32) (result i32) (call_indirect (type $v_i) (local.get 0))))"#;

/// What a forged item would be: an address the code would jump to.
const FORGED: i64 = 0x4141_4141_4141;

#[test]
fn active_segment_must_have_its_tables_type() {
    let bytes = compile_wat(DEFINED_TABLE);
    let mut inst = linker_for(&Linker::new(), &bytes);
    assert_eq!(call_i32(&mut inst, "call", &[Val::I32(0)]), 7);

    // An i64 segment (of i64 items, so that instantiation's item check
    // passes) into the funcref table: `call` would jump to FORGED.
    let i64_segment = forge_metadata(&bytes, |m| {
        m.elements[0].element = ValType::I64;
        m.elements[0].items = vec![ConstExpr::I64(FORGED)];
    });
    assert_refused_at_load(
        &i64_segment,
        &["elements[0]", "i64", "not a reference type"],
        "i64 segment",
    );

    // An externref segment (of null externrefs) into the funcref table.
    let externref_segment = forge_metadata(&bytes, |m| {
        m.elements[0].element = ValType::ExternRef;
        m.elements[0].items = vec![ConstExpr::RefNull(ValType::ExternRef)];
    });
    assert_refused_at_load(
        &externref_segment,
        &["elements[0]", "externref", "table 0", "funcref"],
        "externref segment into a funcref table",
    );

    // The table's type changed instead: its segment no longer fits it.
    let externref_table = forge_metadata(&bytes, |m| m.tables[0].element = ValType::ExternRef);
    assert_refused_at_load(
        &externref_table,
        &["elements[0]", "funcref", "table 0", "externref"],
        "funcref segment into an externref table",
    );

    // Both changed to i64: consistent with each other, but no table holds
    // numbers.
    let i64_table = forge_metadata(&bytes, |m| {
        m.tables[0].element = ValType::I64;
        m.elements[0].element = ValType::I64;
        m.elements[0].items = vec![ConstExpr::I64(FORGED)];
    });
    assert_refused_at_load(
        &i64_table,
        &["tables[0]", "i64", "not a reference type"],
        "i64 table",
    );

    // Passive and declared segments of a non-reference type too.
    for mode in [SegmentMode::Passive, SegmentMode::Declared] {
        let forged = forge_metadata(&bytes, |m| {
            m.elements[0].mode = mode.clone();
            m.elements[0].element = ValType::F64;
            m.elements[0].items = vec![ConstExpr::F64(FORGED as u64)];
        });
        assert_refused_at_load(
            &forged,
            &["elements[0]", "f64", "not a reference type"],
            &format!("{mode:?} f64 segment"),
        );
    }
}

/// Element items and global initialisers of another type than their
/// segment's or global's are refused at load (they used to be found only
/// at instantiation).
#[test]
fn constant_types_are_checked_at_load() {
    let bytes = compile_wat(DEFINED_TABLE);
    let i32_item = forge_metadata(&bytes, |m| m.elements[0].items = vec![ConstExpr::I32(5)]);
    assert_refused_at_load(
        &i32_item,
        &["elements[0].items[0]", "i32", "funcref"],
        "i32 item in a funcref segment",
    );
    let null_extern = forge_metadata(&bytes, |m| {
        m.elements[0].items = vec![ConstExpr::RefNull(ValType::ExternRef)]
    });
    assert_refused_at_load(
        &null_extern,
        &["elements[0].items[0]", "externref", "funcref"],
        "null externref in a funcref segment",
    );
    let i64_offset = forge_metadata(&bytes, |m| {
        m.elements[0].mode = SegmentMode::Active {
            index: 0,
            offset: ConstExpr::I64(0),
        }
    });
    assert_refused_at_load(
        &i64_offset,
        &["elements[0].offset", "i64", "i32"],
        "i64 segment offset",
    );

    let globals = compile_wat(
        r#"(module (global (export "g") i64 (i64.const 1)) (global (export "f") funcref (ref.null func)))"#,
    );
    let i32_init = forge_metadata(&globals, |m| m.globals[0].init = ConstExpr::I32(1));
    assert_refused_at_load(
        &i32_init,
        &["globals[0].init", "i32", "i64"],
        "i32 initialiser of an i64 global",
    );
    let number_as_funcref =
        forge_metadata(&globals, |m| m.globals[1].init = ConstExpr::I64(FORGED));
    assert_refused_at_load(
        &number_as_funcref,
        &["globals[1].init", "i64", "funcref"],
        "i64 initialiser of a funcref global",
    );
}

const IMPORTED_TABLE: &str = r#"(module
  (type $v_i (func (result i32)))
  (import "env" "tab" (table $t 2 funcref))
  (elem (i32.const 0) $f)
  (func $f (type $v_i) (i32.const 7))
  (func (export "call") (param i32) (result i32) (call_indirect (type $v_i) (local.get 0))))"#;

fn table_type(element: ValType) -> TableType {
    TableType {
        element,
        min: 2,
        max: None,
        index64: false,
    }
}

fn linker_for(linker: &Linker, bytes: &[u8]) -> Instance {
    let artifact = std::sync::Arc::new(Artifact::from_bytes(bytes).expect("loads"));
    linker
        .instantiate_artifact(&artifact)
        .unwrap_or_else(|e| panic!("instantiate failed: {e}"))
}

#[test]
fn segment_into_an_imported_table_must_have_its_type() {
    let bytes = compile_wat(IMPORTED_TABLE);
    let mut linker = Linker::new();
    linker
        .define_table(
            "env",
            "tab",
            table_type(ValType::FuncRef),
            Val::FuncRef(None),
        )
        .unwrap();
    let mut inst = linker_for(&linker, &bytes);
    assert_eq!(call_i32(&mut inst, "call", &[Val::I32(0)]), 7);

    // The import declared as an externref table: the funcref segment does
    // not fit what the module says it imports.
    let externref_import = forge_metadata(&bytes, |m| {
        let ImportKind::Table(t) = &mut m.imports[0].kind else {
            panic!("import 0 is the table")
        };
        t.element = ValType::ExternRef;
    });
    assert_refused_at_load(
        &externref_import,
        &["elements[0]", "funcref", "table 0", "externref"],
        "funcref segment into an imported externref table",
    );

    // The import and the segment both i64.
    let i64_import = forge_metadata(&bytes, |m| {
        let ImportKind::Table(t) = &mut m.imports[0].kind else {
            panic!("import 0 is the table")
        };
        t.element = ValType::I64;
        m.elements[0].element = ValType::I64;
        m.elements[0].items = vec![ConstExpr::I64(FORGED)];
    });
    assert_refused_at_load(
        &i64_import,
        &["imports[0].table", "i64", "not a reference type"],
        "imported i64 table",
    );
}

/// At instantiation, the table a module imports must have the element
/// type it declares (the linker checks it; with the load-time checks above
/// this is what keeps an active segment's items out of a table of another
/// type), and no host table holds numbers.
#[test]
fn imported_table_of_another_type_is_refused_at_instantiation() {
    let artifact = std::sync::Arc::new(Artifact::from_bytes(&compile_wat(IMPORTED_TABLE)).unwrap());
    let mut linker = Linker::new();
    linker
        .define_table(
            "env",
            "tab",
            table_type(ValType::ExternRef),
            Val::ExternRef(ExternRef::from_raw(FORGED as u64)),
        )
        .unwrap();
    let err = match linker.instantiate_artifact(&artifact) {
        Ok(_) => panic!("an externref table was accepted for a funcref import"),
        Err(e) => e,
    };
    assert!(
        matches!(err, Error::Link(LinkError::IncompatibleImport { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("env")
            && text.contains("tab")
            && text.contains("funcref")
            && text.contains("externref"),
        "{text}"
    );

    // A host table of a number type cannot even be made.
    let store = Linker::new().store().clone();
    let numbers = [
        (ValType::I32, Val::I32(0)),
        (ValType::I64, Val::I64(FORGED)),
        (ValType::F32, Val::F32(0)),
        (ValType::F64, Val::F64(0)),
    ];
    for (element, init) in numbers {
        let made = vibewasm_loader::Table::new(&store, table_type(element), init);
        assert!(made.is_err(), "a table of {element} was made");
        let text = made.unwrap_err().to_string();
        assert!(
            text.contains(&element.to_string()) && text.contains("reference type"),
            "{text}"
        );
    }
}

const PASSIVE: &str = r#"(module
  (type $v_i (func (result i32)))
  (import "env" "x" (global $x externref))
  (table $t (export "tab") 2 funcref)
  (elem $p func $f)
  (func $f (type $v_i) (i32.const 7))
  (func (export "init") (table.init $t $p (i32.const 0) (i32.const 0) (i32.const 1)))
  (func (export "call") (param i32) (result i32) (call_indirect (type $v_i) (local.get 0))))"#;

fn passive_linker() -> Linker {
    let mut linker = Linker::new();
    linker
        .define_global(
            "env",
            "x",
            GlobalType {
                ty: ValType::ExternRef,
                mutable: false,
            },
            Val::ExternRef(ExternRef::from_raw(FORGED as u64)),
        )
        .unwrap();
    linker
}

/// A passive segment is copied by `table.init`, whose table the metadata
/// does not record: the helper compares the types and traps when they
/// differ, before copying anything.
#[test]
fn table_init_of_a_segment_of_another_type_traps() {
    for config in [
        Config::default(),
        Config {
            bounds_checks: vibewasm_compiler::BoundsChecks::Explicit,
            ..Config::default()
        },
    ] {
        let bytes = compile_wat_with(PASSIVE, &config);
        let mut inst = linker_for(&passive_linker(), &bytes);
        call(&mut inst, "init", &[]);
        assert_eq!(call_i32(&mut inst, "call", &[Val::I32(0)]), 7);

        // The segment now holds the host's externref: `table.init` would
        // put it into the funcref table and `call` would jump to it.
        let forged = forge_metadata(&bytes, |m| {
            m.elements[0].element = ValType::ExternRef;
            m.elements[0].items = vec![ConstExpr::GlobalGet(0)];
        });
        let mut inst = linker_for(&passive_linker(), &forged);
        expect_trap(&mut inst, "init", &[], TrapCode::TableOutOfBounds);
        let table = inst.get_table("tab").unwrap();
        for i in 0..2 {
            assert!(
                matches!(table.get(i).unwrap(), Val::FuncRef(None)),
                "element {i} was written"
            );
        }
        expect_trap(
            &mut inst,
            "call",
            &[Val::I32(0)],
            TrapCode::UninitializedElement,
        );
    }
}
