//! The embedding API around calls: exports and globals, call argument
//! checks, instantiation failures (segments out of bounds, memory limits,
//! unsupported import kinds), and compile errors that name the function and
//! byte offset.

use vibewasm_loader::{kind_name, CallError, ExternKind, InstantiationError};
use vibewasm_tests::*;

#[test]
fn exports_and_globals() {
    let wat = r#"
    (module
      (memory (export "mem") 2)
      (table (export "tab") 3 funcref)
      (global (export "gi") i32 (i32.const -5))
      (global (export "gl") (mut i64) (i64.const 0x7fffffffffffffff))
      (global (export "gf") f32 (f32.const -0.0))
      (global (export "gd") (mut f64) (f64.const 2.5))
      (func (export "set_gd") (param f64) (global.set 3 (local.get 0)))
      (func (export "f") (param i32 i64 f32 f64) (result f64)
        (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (f64.convert_i64_s (local.get 1)))
                 (f64.add (f64.promote_f32 (local.get 2)) (local.get 3)))))"#;
    let mut inst = instantiate_wat(wat);
    let exports: Vec<(String, ExternKind)> =
        inst.exports().map(|(n, k)| (n.to_string(), k)).collect();
    let names: Vec<(&str, &str)> = exports
        .iter()
        .map(|(n, k)| (n.as_str(), kind_name(*k)))
        .collect();
    assert_eq!(
        names,
        [
            ("mem", "memory"),
            ("tab", "table"),
            ("gi", "global"),
            ("gl", "global"),
            ("gf", "global"),
            ("gd", "global"),
            ("set_gd", "function"),
            ("f", "function"),
        ]
    );
    assert_eq!(inst.global("gi"), Some(Val::I32(-5)));
    assert_eq!(inst.global("gl"), Some(Val::I64(i64::MAX)));
    assert_eq!(inst.global("gf"), Some(Val::F32(0x8000_0000)));
    assert_eq!(inst.global("gd"), Some(Val::f64(2.5)));
    call(&mut inst, "set_gd", &[Val::f64(-7.25)]);
    assert_eq!(inst.global("gd"), Some(Val::f64(-7.25)));
    assert_eq!(inst.global("f"), None);
    assert_eq!(inst.global("nope"), None);
    assert_eq!(inst.memory().map(<[u8]>::len), Some(2 * 65536));
    assert_eq!(
        call(
            &mut inst,
            "f",
            &[Val::I32(1), Val::I64(2), Val::f32(0.5), Val::f64(0.25)]
        ),
        [Val::f64(3.75)]
    );
    // Calling something that is not a function.
    let err = inst.call("mem", &[]).unwrap_err();
    assert!(
        matches!(err, Error::Call(CallError::NotAFunction { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("memory"), "{err}");
    let err = inst.call("nope", &[]).unwrap_err();
    assert!(
        matches!(err, Error::Call(CallError::NoSuchExport(_))),
        "{err:?}"
    );
    // Argument checks.
    let err = inst
        .call(
            "f",
            &[Val::I32(1), Val::I64(2), Val::f64(0.5), Val::f64(0.25)],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Call(CallError::ArgumentType { index: 2, .. })),
        "{err:?}"
    );
    let err = inst.call("f", &[]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Call(CallError::ArgumentCount {
                expected: 4,
                found: 0,
                ..
            })
        ),
        "{err:?}"
    );
    // A typed handle with six parameters.
    let wat6 = r#"(module (func (export "six") (param i32 i64 f32 f64 i32 i64) (result i64)
        (i64.add (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))
          (i64.add (i64.add (i64.trunc_f32_s (local.get 2)) (i64.trunc_f64_s (local.get 3)))
                   (i64.add (i64.extend_i32_s (local.get 4)) (local.get 5))))))"#;
    let mut inst = instantiate_wat(wat6);
    let six = inst
        .get_typed_func::<(i32, i64, f32, f64, i32, i64), i64>("six")
        .unwrap();
    assert_eq!(
        six.call(&mut inst, (1, 20, 300.0, 4000.0, 50000, 600000))
            .unwrap(),
        654321
    );
}

#[test]
fn element_segment_out_of_bounds_fails_instantiation() {
    let wat = r#"(module (table 2 funcref) (func $f) (elem (i32.const 1) $f $f))"#;
    let err = try_instantiate_with(wat, &Linker::new()).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds), "{err}");
    assert!(
        err.to_string().contains("out of bounds table access"),
        "{err}"
    );
    assert!(
        matches!(
            err,
            Error::Instantiation(InstantiationError::ElementOutOfBounds { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn memory_larger_than_the_embedder_limit() {
    let wat = r#"(module (memory 10))"#;
    let mut linker = Linker::new();
    linker.memory_limit_pages(5);
    let err = try_instantiate_with(wat, &linker).unwrap_err();
    assert!(err.trap_code().is_none(), "{err}");
    assert!(err.to_string().contains("10 pages"), "{err}");
    // Within the limit it works.
    linker.memory_limit_pages(10);
    let mut inst = try_instantiate_with(wat, &linker).unwrap();
    assert_eq!(inst.memory_mut().map(|m| m.len()), Some(10 * 65536));
}

/// `EngineConfig::memory_limit_pages` holds for every store of the engine;
/// a linker can lower it but not raise it.
#[test]
fn engine_memory_limit_applies_to_its_stores() {
    let wasm = wasm(
        r#"(module (memory (export "m") 1) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#,
    );
    let engine = std::sync::Arc::new(vibewasm_loader::Engine::new(
        vibewasm_loader::EngineConfig {
            memory_limit_pages: 3,
            ..Default::default()
        },
    ));
    let artifact = vibewasm_compiler::compile(&wasm, &Config::default()).unwrap();
    let module = vibewasm_loader::Module::from_artifact_bytes(&engine, &artifact).unwrap();
    let mut store = vibewasm_loader::Store::new(engine.clone());
    let mut linker = Linker::new();
    linker.memory_limit_pages(100);
    let mut inst = linker.instantiate(&mut store, &module).unwrap();
    assert_eq!(call_i32(&mut inst, "grow", &[Val::I32(2)]), 1);
    assert_eq!(
        call_i32(&mut inst, "grow", &[Val::I32(1)]),
        -1,
        "beyond the engine's 3 pages"
    );
}

/// A module importing `env::m` that grows it.
const GROW_IMPORTED: &str = r#"(module (import "env" "m" (memory 1))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

fn memory_type(min_pages: u64, max_pages: Option<u64>) -> vibewasm_format::MemoryType {
    vibewasm_format::MemoryType {
        min_pages,
        max_pages,
        index64: false,
    }
}

/// `Memory::new` applies the engine's `memory_limit_pages`: a larger
/// initial size is refused, and neither the host nor wasm code importing
/// the memory can grow it beyond the limit.
#[test]
fn host_memories_obey_the_engine_limit() {
    use vibewasm_loader::{Engine, EngineConfig, Memory, Store};
    let engine = std::sync::Arc::new(Engine::new(EngineConfig {
        memory_limit_pages: 3,
        ..Default::default()
    }));
    let store = Store::new(engine);
    let err = Memory::new(&store, memory_type(4, None)).unwrap_err();
    assert!(err.to_string().contains("limit of 3"), "{err}");
    let memory = Memory::new(&store, memory_type(3, None)).unwrap();
    assert_eq!(
        memory.grow(1),
        Ok(None),
        "host grow beyond the engine's 3 pages"
    );
    assert_eq!(memory.size_pages(), Ok(3));

    let memory = Memory::new(&store, memory_type(1, Some(10))).unwrap();
    assert_eq!(memory.grow(1), Ok(Some(1)));
    let mut linker = Linker::with_store(store.clone());
    linker.define_extern("env", "m", memory.clone()).unwrap();
    let mut inst = instantiate_with(GROW_IMPORTED, &linker);
    assert_eq!(call_i32(&mut inst, "grow", &[Val::I32(1)]), 2);
    assert_eq!(
        call_i32(&mut inst, "grow", &[Val::I32(1)]),
        -1,
        "memory.grow beyond the engine's 3 pages"
    );
    assert_eq!(memory.grow(1), Ok(None));
    assert_eq!(memory.size_pages(), Ok(3));
    // An instance-level limit cannot raise the engine's either.
    inst.set_memory_limit_pages(100);
    assert_eq!(call_i32(&mut inst, "grow", &[Val::I32(1)]), -1);
    assert_eq!(memory.size_pages(), Ok(3));
}

/// `Linker::define_memory` applies the linker's limit (and the engine's),
/// also when the limit is set after the memory was defined.
#[test]
fn linker_memories_obey_the_linker_limit() {
    let mut linker = Linker::new();
    linker.memory_limit_pages(2);
    let err = linker
        .define_memory("env", "big", memory_type(3, None))
        .unwrap_err();
    assert!(err.to_string().contains("limit of 2"), "{err}");
    let memory = linker
        .define_memory("env", "m", memory_type(1, None))
        .unwrap();
    let mut inst = instantiate_with(GROW_IMPORTED, &linker);
    assert_eq!(call_i32(&mut inst, "grow", &[Val::I32(1)]), 1);
    assert_eq!(
        call_i32(&mut inst, "grow", &[Val::I32(1)]),
        -1,
        "memory.grow beyond the linker's 2 pages"
    );
    assert_eq!(memory.grow(1), Ok(None), "host grow beyond 2 pages");

    // A limit set afterwards applies to the memories the linker made.
    let mut linker = Linker::new();
    let memory = linker
        .define_memory("env", "m", memory_type(1, None))
        .unwrap();
    linker.memory_limit_pages(2);
    assert_eq!(memory.grow(1), Ok(Some(1)));
    assert_eq!(memory.grow(1), Ok(None));
    let mut inst = instantiate_with(GROW_IMPORTED, &linker);
    assert_eq!(call_i32(&mut inst, "grow", &[Val::I32(1)]), -1);
}

#[test]
fn unsupported_import_kinds_are_named() {
    for (wat, kind) in [
        (r#"(module (import "env" "m" (memory 1)))"#, "memory"),
        (r#"(module (import "env" "t" (table 1 funcref)))"#, "table"),
        (r#"(module (import "env" "g" (global i32)))"#, "global"),
    ] {
        match try_compile_wat(wat) {
            // The compiler may refuse it already, naming the import kind...
            Err(e) => assert!(e.to_string().contains(kind), "{e}"),
            // ...or the linker does.
            Ok(bytes) => {
                let err = Linker::new()
                    .instantiate_artifact(&open_artifact_bytes(&bytes))
                    .unwrap_err();
                assert!(matches!(err, Error::Link(_)), "{err:?}");
                assert!(err.to_string().contains("env::"), "{err}");
            }
        }
    }
}

#[test]
fn compile_errors_name_function_and_offset() {
    // Validation error in the body of function 1 (function 0 is fine).
    let wat = r#"(module (func) (func (result i32) (local.get 3)))"#;
    let bytes = wasm(wat);
    match compile(&bytes, &Config::default()) {
        Err(CompileError::Invalid {
            func: Some(1),
            offset: Some(offset),
            ref message,
        }) => {
            assert!(message.contains("local"), "{message}");
            // local.get (0x20) 3 in the last body
            let at = bytes.windows(2).rposition(|w| w == [0x20, 0x03]).unwrap();
            assert_eq!(offset as usize, at, "{message}");
        }
        other => panic!("expected an invalid-module error in function 1, got {other:?}"),
    }
    // A truncated binary is malformed.
    let mut truncated = wasm(r#"(module (func (export "f") (result i32) (i32.const 1)))"#);
    truncated.truncate(truncated.len() - 3);
    let err = compile(&truncated, &Config::default()).unwrap_err();
    assert!(matches!(err, CompileError::Malformed { .. }), "{err:?}");
    // Not wasm at all.
    let err = compile(b"hello world", &Config::default()).unwrap_err();
    assert!(matches!(err, CompileError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("malformed"), "{err}");
    // SIMD compiles and runs (it was reported as unsupported before).
    let simd = r#"(module (func (export "f") (result i32)
        (i32x4.extract_lane 2 (v128.const i32x4 1 2 3 4))))"#;
    let art = compile(&wasm(simd), &Config::default()).expect("SIMD compiles");
    let mut inst = Linker::new()
        .instantiate_artifact(&open_artifact_bytes(&art))
        .unwrap();
    assert_eq!(call_i32(&mut inst, "f", &[]), 3);
}
