//! Extended constant expressions (Wasm 3.0): `i32`/`i64` `add`, `sub` and
//! `mul` over constants and `global.get` in global initialisers and in
//! data and element segment offsets. Every module goes through compile,
//! artifact file, load and instantiation; the forged artifacts at the end
//! are real ones whose programs were changed, and must be refused at load.

use vibewasm_compiler::Language;
use vibewasm_format::{
    read_artifact, ConstExpr, ConstOp, Metadata, SegmentMode, MAX_CONST_EXPRS, MAX_CONST_OPS,
};
use vibewasm_loader::{GlobalType, InstantiationError, ValType};
use vibewasm_tests::*;

/// A linker with the immutable globals `env.a` (i32) and `env.b` (i64).
fn env(a: i32, b: i64) -> Linker {
    let mut linker = Linker::new();
    let ty = |ty| GlobalType { ty, mutable: false };
    linker
        .define_global("env", "a", ty(ValType::I32), Val::I32(a))
        .unwrap();
    linker
        .define_global("env", "b", ty(ValType::I64), Val::I64(b))
        .unwrap();
    linker
}

fn global_i32(inst: &Instance, name: &str) -> i32 {
    match inst.get_global(name).unwrap().get().unwrap() {
        Val::I32(v) => v,
        other => panic!("{name}: {other:?}"),
    }
}

fn global_i64(inst: &Instance, name: &str) -> i64 {
    match inst.get_global(name).unwrap().get().unwrap() {
        Val::I64(v) => v,
        other => panic!("{name}: {other:?}"),
    }
}

const GLOBALS: &str = r#"(module
  (import "env" "a" (global $a i32))
  (import "env" "b" (global $b i64))
  (global (export "sum") i32 (i32.add (global.get $a) (i32.const 42)))
  (global (export "diff") i32 (i32.sub (i32.const 100) (global.get $a)))
  (global (export "poly") i32
    (i32.add (i32.mul (global.get $a) (global.get $a)) (i32.mul (i32.const 3) (global.get $a))))
  (global (export "wide") i64 (i64.sub (i64.mul (global.get $b) (i64.const 10)) (i64.const 7)))
  (global (export "folded") i32 (i32.add (i32.sub (i32.mul (i32.const 20) (i32.const 2)) (i32.const 2)) (i32.const 4)))
  (global (export "folded64") i64 (i64.mul (i64.const 0x100000000) (i64.const 3)))
  (global (export "plain") i32 (global.get $a))
  (global $m (export "m") (mut i32) (i32.mul (global.get $a) (i32.const -1)))
  (func (export "get_m") (result i32) (global.get $m)))"#;

#[test]
fn global_initialisers() {
    for (a, b) in [(5, 3i64), (-7, -1), (0, 0)] {
        let mut inst = instantiate_with(GLOBALS, &env(a, b));
        assert_eq!(global_i32(&inst, "sum"), a + 42);
        assert_eq!(global_i32(&inst, "diff"), 100 - a);
        assert_eq!(global_i32(&inst, "poly"), a * a + 3 * a);
        assert_eq!(global_i64(&inst, "wide"), b * 10 - 7);
        assert_eq!(global_i32(&inst, "folded"), 42);
        assert_eq!(global_i64(&inst, "folded64"), 3 << 32);
        assert_eq!(global_i32(&inst, "plain"), a);
        assert_eq!(global_i32(&inst, "m"), -a);
        assert_eq!(call_i32(&mut inst, "get_m", &[]), -a);
    }
}

#[test]
fn simple_expressions_keep_their_simple_form() {
    let meta = read_artifact(&compile_wat(GLOBALS)).unwrap().metadata;
    let inits: Vec<ConstExpr> = meta.globals.iter().map(|g| g.init).collect();
    use ConstOp::*;
    assert_eq!(
        inits,
        [
            ConstExpr::Extended(0),
            ConstExpr::Extended(1),
            ConstExpr::Extended(2),
            ConstExpr::Extended(3),
            // Without globals the value is computed by the compiler.
            ConstExpr::I32(42),
            ConstExpr::I64(3 << 32),
            ConstExpr::GlobalGet(0),
            ConstExpr::Extended(4),
        ]
    );
    assert_eq!(meta.const_exprs[0], [GlobalGet(0), I32(42), I32Add]);
    assert_eq!(
        meta.const_exprs[3],
        [GlobalGet(1), I64(10), I64Mul, I64(7), I64Sub]
    );
    assert_eq!(meta.const_exprs.len(), 5);
}

#[test]
fn arithmetic_wraps() {
    let wat = r#"(module
      (import "env" "a" (global $a i32))
      (import "env" "b" (global $b i64))
      (global (export "add") i32 (i32.add (global.get $a) (i32.const 1)))
      (global (export "sub") i32 (i32.sub (i32.const 0x80000000) (global.get $a)))
      (global (export "mul") i32 (i32.mul (global.get $a) (i32.const 0x10001)))
      (global (export "add64") i64 (i64.add (global.get $b) (i64.const 1)))
      (global (export "sub64") i64 (i64.sub (i64.const 0x8000000000000000) (global.get $b)))
      (global (export "mul64") i64 (i64.mul (global.get $b) (global.get $b)))
      (global (export "folded") i32 (i32.mul (i32.const 0x10000) (i32.const 0x10000)))
      (global (export "folded64") i64 (i64.add (i64.const 0x7fffffffffffffff) (i64.const 1))))"#;
    let inst = instantiate_with(wat, &env(i32::MAX, i64::MAX));
    assert_eq!(global_i32(&inst, "add"), i32::MIN);
    assert_eq!(global_i32(&inst, "sub"), 1);
    assert_eq!(global_i32(&inst, "mul"), i32::MAX.wrapping_mul(0x10001));
    assert_eq!(global_i64(&inst, "add64"), i64::MIN);
    assert_eq!(global_i64(&inst, "sub64"), 1);
    assert_eq!(global_i64(&inst, "mul64"), 1);
    assert_eq!(global_i32(&inst, "folded"), 0);
    assert_eq!(global_i64(&inst, "folded64"), i64::MIN);
}

const SEGMENTS: &str = r#"(module
  (import "env" "a" (global $a i32))
  (memory (export "mem") 1)
  (memory $second 1)
  (table $t 8 funcref)
  (type $v_i (func (result i32)))
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $three (result i32) (i32.const 3))
  (data (i32.add (global.get $a) (i32.const 4)) "\aa\bb")
  (data (i32.mul (i32.sub (global.get $a) (i32.const 1)) (i32.const 100)) "\cc")
  (data (memory $second) (i32.mul (global.get $a) (global.get $a)) "\dd")
  (data (i32.add (i32.const 60000) (i32.const 8)) "\ee")
  (elem (table $t) (i32.mul (global.get $a) (i32.const 2)) func $one $two)
  (elem (table $t) (offset (i32.sub (global.get $a) (i32.const 1))) func $three)
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load2") (param i32) (result i32) (i32.load8_u $second (local.get 0)))
  (func (export "call") (param i32) (result i32) (call_indirect $t (type $v_i) (local.get 0))))"#;

#[test]
fn data_and_element_offsets() {
    for a in [2, 3] {
        let mut inst = instantiate_with(SEGMENTS, &env(a, 0));
        let load = |inst: &mut Instance, at: i32| call_i32(inst, "load", &[Val::I32(at)]);
        assert_eq!(load(&mut inst, a + 4), 0xaa);
        assert_eq!(load(&mut inst, a + 5), 0xbb);
        assert_eq!(load(&mut inst, (a - 1) * 100), 0xcc);
        assert_eq!(load(&mut inst, 60008), 0xee);
        assert_eq!(call_i32(&mut inst, "load2", &[Val::I32(a * a)]), 0xdd);
        assert_eq!(call_i32(&mut inst, "call", &[Val::I32(2 * a)]), 1);
        assert_eq!(call_i32(&mut inst, "call", &[Val::I32(2 * a + 1)]), 2);
        assert_eq!(call_i32(&mut inst, "call", &[Val::I32(a - 1)]), 3);
    }
}

#[test]
fn out_of_bounds_segments_fail_instantiation() {
    // Data: one page; 65535 + 1 = 65536 is one byte past the end of a
    // two-byte segment's room.
    let data = r#"(module
      (import "env" "a" (global $a i32))
      (memory 1)
      (data (i32.add (global.get $a) (i32.const 1)) "xy"))"#;
    assert!(try_instantiate_with(data, &env(65533, 0)).is_ok());
    let err = try_instantiate_with(data, &env(65535, 0)).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::MemoryOutOfBounds), "{err}");
    assert!(
        matches!(
            err,
            Error::Instantiation(InstantiationError::DataOutOfBounds {
                segment: 0,
                memory: 0,
                offset: 65536,
                len: 2,
                ..
            })
        ),
        "{err:?}"
    );
    // An offset that wraps: -1 + 0 is 0xffffffff, read as unsigned.
    let err = try_instantiate_with(data, &env(-2, 0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Instantiation(InstantiationError::DataOutOfBounds {
                offset: 0xffff_ffff,
                ..
            })
        ),
        "{err:?}"
    );
    // The same through i32.mul overflow: 0x10000 * 0x10000 + a wraps to a.
    let wrapped = r#"(module
      (import "env" "a" (global $a i32))
      (memory 1)
      (data (i32.add (i32.mul (global.get $a) (i32.const 0x10000)) (i32.const 7)) "z")
      (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;
    let mut inst = instantiate_with(wrapped, &env(0x10000, 0));
    assert_eq!(call_i32(&mut inst, "load", &[Val::I32(7)]), b'z' as i32);

    // Elements: a table of 4; offset a * 2 with two elements.
    let elem = r#"(module
      (import "env" "a" (global $a i32))
      (table 4 funcref)
      (func $f)
      (elem (i32.mul (global.get $a) (i32.const 2)) $f $f))"#;
    assert!(try_instantiate_with(elem, &env(1, 0)).is_ok());
    let err = try_instantiate_with(elem, &env(2, 0)).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds), "{err}");
    assert!(
        matches!(
            err,
            Error::Instantiation(InstantiationError::ElementOutOfBounds {
                segment: 0,
                table: 0,
                offset: 4,
                len: 2,
                table_len: 4,
            })
        ),
        "{err:?}"
    );
}

#[test]
fn segments_before_a_failing_one_stay_applied() {
    let mut linker = env(1000, 0);
    let memory = linker
        .define_memory(
            "env",
            "mem",
            vibewasm_format::MemoryType {
                min_pages: 1,
                max_pages: None,
                index64: false,
            },
        )
        .unwrap();
    let wat = r#"(module
      (import "env" "a" (global $a i32))
      (import "env" "mem" (memory 1))
      (data (i32.sub (global.get $a) (i32.const 1)) "ok")
      (data (i32.mul (global.get $a) (i32.const 1000)) "too far"))"#;
    let err = try_instantiate_with(wat, &linker).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::MemoryOutOfBounds), "{err}");
    let mut bytes = [0u8; 2];
    memory.read(999, &mut bytes).unwrap();
    assert_eq!(&bytes, b"ok");
}

#[test]
fn what_validation_refuses() {
    // Wasm 2.0 has no extended constants.
    let wat = r#"(module (global i32 (i32.add (i32.const 1) (i32.const 2))))"#;
    let wasm2 = Config {
        language: Language::Wasm2,
        ..Config::default()
    };
    let err = compile(&wasm(wat), &wasm2).unwrap_err().to_string();
    assert!(err.contains("constant expression required"), "{err}");
    assert!(try_compile_wat(wat).is_ok());
    // Mutable globals, non-constant operators, a wrong type.
    for wat in [
        r#"(module (import "env" "g" (global $g (mut i32))) (global i32 (i32.add (global.get $g) (i32.const 1))))"#,
        r#"(module (global i32 (i32.div_s (i32.const 1) (i32.const 2))))"#,
        r#"(module (global i32 (i64.add (i64.const 1) (i64.const 2))))"#,
        r#"(module (memory 1) (data (i64.add (i64.const 1) (i64.const 2)) ""))"#,
    ] {
        assert!(try_compile_wat(wat).is_err(), "{wat}");
    }
}

// ---------------------------------------------------------------------------
// Forged artifacts.

/// Global 0 is imported (i32), 1 is an f64; global 2's initialiser is
/// program 0, element segment 0's offset program 1, data segment 0's
/// offset program 2 (the element section comes before the data section).
const FORGE_ME: &str = r#"(module
  (import "env" "a" (global $a i32))
  (global $f f64 (f64.const 1.5))
  (global (export "g") i32 (i32.add (global.get $a) (i32.const 1)))
  (memory 1)
  (table 4 funcref)
  (func $f)
  (data (i32.add (global.get $a) (i32.const 2)) "x")
  (elem (i32.sub (global.get $a) (i32.const 1)) $f))"#;

/// A change to an artifact's metadata.
type Edit = Box<dyn FnOnce(&mut Metadata)>;

#[test]
fn forged_programs_are_refused_at_load() {
    use ConstOp::*;
    let bytes = compile_wat(FORGE_ME);
    let meta = read_artifact(&bytes).unwrap().metadata;
    assert_eq!(meta.globals[1].init, ConstExpr::Extended(0));
    assert!(matches!(
        meta.elements[0].mode,
        SegmentMode::Active {
            offset: ConstExpr::Extended(1),
            ..
        }
    ));
    assert!(matches!(
        meta.data[0].mode,
        SegmentMode::Active {
            offset: ConstExpr::Extended(2),
            ..
        }
    ));

    // A well-formed change is honoured: the program is what runs.
    let changed = forge_metadata(&bytes, |m| {
        m.const_exprs[0] = vec![GlobalGet(0), I32(10), I32Mul]
    });
    let inst = linker_for(&env(4, 0), &changed);
    assert_eq!(global_i32(&inst, "g"), 40);

    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "index out of range",
            Box::new(|m| m.globals[1].init = ConstExpr::Extended(3)),
            vec!["globals[1].init.const_expr", "3"],
        ),
        (
            "i64 program for an i32 global",
            Box::new(|m| m.const_exprs[0] = vec![I64(1), I64(2), I64Add]),
            vec!["globals[1].init", "i64", "i32 is needed"],
        ),
        (
            "i64 program for a data offset",
            Box::new(|m| m.const_exprs[2] = vec![I64(1), I64(2), I64Mul]),
            vec!["data[0].offset", "i64"],
        ),
        (
            "stack underflow",
            Box::new(|m| m.const_exprs[2] = vec![I32(1), I32Sub]),
            vec!["const_exprs[2][1]", "two operands"],
        ),
        (
            "operands of the wrong type",
            Box::new(|m| m.const_exprs[1] = vec![I32(1), I64(2), I32Add]),
            vec!["const_exprs[1][2]", "i32"],
        ),
        (
            "two values left",
            Box::new(|m| m.const_exprs[0] = vec![I32(1), I32(2)]),
            vec!["const_exprs[0]", "leaves 2 values"],
        ),
        (
            "empty program",
            Box::new(|m| m.const_exprs[0].clear()),
            vec!["const_exprs[0]", "0 instructions"],
        ),
        (
            "global out of range",
            Box::new(|m| m.const_exprs[1] = vec![GlobalGet(99), I32(1), I32Add]),
            vec!["const_exprs[1][0].global", "99"],
        ),
        (
            "f64 global in a program",
            Box::new(|m| m.const_exprs[1] = vec![GlobalGet(1), GlobalGet(1), I32Add]),
            vec!["const_exprs[1][0]", "f64"],
        ),
        (
            "global initialiser reading itself",
            Box::new(|m| m.const_exprs[0] = vec![GlobalGet(2), I32(1), I32Add]),
            vec!["globals[1].init", "global 2", "not initialised"],
        ),
        (
            "a program used twice",
            Box::new(|m| {
                m.data[0].mode = SegmentMode::Active {
                    index: 0,
                    offset: ConstExpr::Extended(1),
                }
            }),
            vec!["const_exprs[1]", "more than one"],
        ),
        (
            "a program used by nothing",
            Box::new(|m| m.const_exprs.push(vec![I32(1), I32(1), I32Add])),
            vec!["const_exprs[3]", "used by no constant"],
        ),
        (
            "too long",
            Box::new(|m| {
                let mut ops = vec![I32(0)];
                for _ in 0..MAX_CONST_OPS / 2 {
                    ops.extend([I32(1), I32Add]);
                }
                m.const_exprs[0] = ops;
            }),
            vec!["const_exprs[0]", "10001 instructions"],
        ),
        (
            "too many",
            Box::new(|m| m.const_exprs.resize(MAX_CONST_EXPRS + 1, vec![I32(1)])),
            vec!["const_exprs", "1000001"],
        ),
    ];
    for (what, edit, words) in cases {
        assert_refused_at_load(&forge_metadata(&bytes, edit), &words, what);
    }
}

fn linker_for(linker: &Linker, bytes: &[u8]) -> Instance {
    let artifact = std::sync::Arc::new(Artifact::from_bytes(bytes).expect("loads"));
    linker
        .instantiate_artifact(&artifact)
        .unwrap_or_else(|e| panic!("instantiate failed: {e}"))
}
