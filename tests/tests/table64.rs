//! table64 (part of memory64): 64-bit tables take `i64` indices in
//! `table.get/set/size/grow/fill/copy/init` and `call_indirect`, compiled
//! -> artifact -> loaded -> run with both bounds-check strategies. An index
//! with upper bits set is out of bounds, never truncated into the table.

use vibewasm_format::{TableType, ValType};
use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}

fn l(v: i64) -> Val {
    Val::I64(v)
}

/// A 64-bit table of 4 (at most 6) with an i64 segment offset, and a
/// 32-bit table of 2.
const WIDE: &str = r#"
(module
  (type $r (func (result i32)))
  (table $t (export "t") i64 4 6 funcref)
  (table $u 2 funcref)
  (func $ten (result i32) (i32.const 10))
  (func $twenty (result i32) (i32.const 20))
  (elem (table $t) (i64.const 1) func $ten $twenty)
  (elem $passive func $twenty $ten)
  (elem (table $u) (i32.const 0) func $twenty)
  (func (export "call") (param i64) (result i32) (call_indirect $t (type $r) (local.get 0)))
  (func (export "is_null") (param i64) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func (export "set") (param i64 i64) (table.set $t (local.get 0) (table.get $t (local.get 1))))
  (func (export "size") (result i64) (table.size $t))
  (func (export "grow") (param i64) (result i64) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "fill") (param i64 i64 i64)
    (table.fill $t (local.get 0) (table.get $t (local.get 1)) (local.get 2)))
  (func (export "copy") (param i64 i64 i64) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i64 i32 i32) (table.init $t $passive (local.get 0) (local.get 1) (local.get 2)))
  ;; 32-bit $u <-> 64-bit $t: each index in its table's type, an i32 length
  (func (export "copy_u_to_t") (param i64 i32 i32) (table.copy $t $u (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_t_to_u") (param i32 i64 i32) (table.copy $u $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "call_u") (param i32) (result i32) (call_indirect $u (type $r) (local.get 0)))
  (func (export "size_u") (result i32) (table.size $u))
)"#;

#[test]
fn i64_indices_in_every_table_operator() {
    let (oob, undefined) = (TrapCode::TableOutOfBounds, TrapCode::UndefinedElement);
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(WIDE, &config, &Linker::new());
        assert_eq!(call_i32(&mut inst, "call", &[l(1)]), 10);
        assert_eq!(call_i32(&mut inst, "call", &[l(2)]), 20);
        expect_trap(&mut inst, "call", &[l(0)], TrapCode::UninitializedElement);
        for index in [4, 0x1_0000_0001, 0x1_0000_0002, -1, i64::MIN + 1] {
            expect_trap(&mut inst, "call", &[l(index)], undefined);
            expect_trap(&mut inst, "is_null", &[l(index)], oob);
            expect_trap(&mut inst, "set", &[l(index), l(1)], oob);
        }
        assert_eq!(call_i32(&mut inst, "is_null", &[l(3)]), 1);
        call(&mut inst, "set", &[l(3), l(2)]);
        assert_eq!(call_i32(&mut inst, "call", &[l(3)]), 20);

        assert_eq!(call_i64(&mut inst, "size", &[]), 4);
        assert_eq!(call_i64(&mut inst, "grow", &[l(1)]), 4);
        assert_eq!(call_i64(&mut inst, "grow", &[l(2)]), -1);
        assert_eq!(call_i64(&mut inst, "grow", &[l(1 << 32)]), -1);
        assert_eq!(call_i64(&mut inst, "size", &[]), 5);

        call(&mut inst, "fill", &[l(3), l(1), l(2)]);
        assert_eq!(call_i32(&mut inst, "call", &[l(4)]), 10);
        expect_trap(&mut inst, "fill", &[l(0x1_0000_0000), l(1), l(1)], oob);
        expect_trap(&mut inst, "fill", &[l(0), l(1), l(0x1_0000_0001)], oob);
        call(&mut inst, "copy", &[l(0), l(1), l(2)]);
        assert_eq!(call_i32(&mut inst, "call", &[l(0)]), 10);
        expect_trap(&mut inst, "copy", &[l(0x1_0000_0000), l(0), l(1)], oob);
        expect_trap(&mut inst, "copy", &[l(0), l(0), l(0x1_0000_0000)], oob);
        call(&mut inst, "init", &[l(3), i(0), i(2)]);
        assert_eq!(call_i32(&mut inst, "call", &[l(3)]), 20);
        assert_eq!(call_i32(&mut inst, "call", &[l(4)]), 10);
        expect_trap(&mut inst, "init", &[l(0x1_0000_0000), i(0), i(1)], oob);

        call(&mut inst, "copy_u_to_t", &[l(1), i(0), i(1)]);
        assert_eq!(call_i32(&mut inst, "call", &[l(1)]), 20);
        call(&mut inst, "copy_t_to_u", &[i(1), l(0), i(1)]);
        assert_eq!(call_i32(&mut inst, "call_u", &[i(1)]), 10);
        expect_trap(
            &mut inst,
            "copy_t_to_u",
            &[i(0), l(0x1_0000_0000), i(1)],
            oob,
        );
        expect_trap(
            &mut inst,
            "copy_u_to_t",
            &[l(0x1_0000_0000), i(0), i(1)],
            oob,
        );
        assert_eq!(call_i32(&mut inst, "size_u", &[]), 2);
    }
}

#[test]
fn element_segments_with_i64_offsets_and_imports_by_index_type() {
    for config in both_bounds_checks() {
        for offset in ["3", "0x1_0000_0000", "-1"] {
            let wat = format!(
                r#"(module (table i64 4 funcref) (func $f) (elem (i64.const {offset}) func $f $f))"#
            );
            let artifact = open_artifact_bytes(&compile_wat_with(&wat, &config));
            let err = Linker::new().instantiate_artifact(&artifact).unwrap_err();
            assert!(err.to_string().contains("out of bounds"), "{offset}: {err}");
        }
        let ty = |index64| TableType {
            element: ValType::FuncRef,
            min: 2,
            max: None,
            index64,
        };
        let mut linker = Linker::new();
        let null = Val::FuncRef(None);
        linker.define_table("env", "wide", ty(true), null).unwrap();
        linker
            .define_table("env", "narrow", ty(false), null)
            .unwrap();
        let importer = |name: &str, index_type: &str| {
            format!(
                r#"(module (import "env" "{name}" (table {index_type} 2 funcref))
                     (func (export "size") (result {index_type}) (table.size)))"#
            )
        };
        let mut inst = instantiate_configured(&importer("wide", "i64"), &config, &linker);
        assert_eq!(call_i64(&mut inst, "size", &[]), 2);
        for (name, index_type) in [("wide", "i32"), ("narrow", "i64")] {
            let artifact =
                open_artifact_bytes(&compile_wat_with(&importer(name, index_type), &config));
            let err = linker
                .instantiate_artifact(&artifact)
                .unwrap_err()
                .to_string();
            assert!(err.contains("table"), "{name} as {index_type}: {err}");
        }
    }
}

/// A table's minimum is the loader's to refuse when it allocates the
/// table: a module with a 2^64 - 1 (or 2^32 - 1) element table compiles
/// and loads (`table64.wast` and `table.wast` define such modules), and
/// instantiating it is a resource error, not a crash or a huge allocation.
#[test]
fn huge_table_minimums_load_and_are_refused_when_instantiated() {
    for table in ["i64 0xffff_ffff_ffff_ffff", "0xffff_ffff"] {
        let wat = format!("(module (table {table} funcref))");
        let artifact = open_artifact_bytes(&compile_wat_with(&wat, &Config::default()));
        let err = Linker::new().instantiate_artifact(&artifact).unwrap_err();
        assert!(
            err.to_string().contains("cannot allocate a table"),
            "{table}: {err}"
        );
    }
}
