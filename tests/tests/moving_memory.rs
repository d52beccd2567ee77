//! Memories of explicit-check code reserve only a little address space and
//! move when they outgrow it (`EngineConfig::memory_reservation`): code
//! reloads the base after every call that may grow memory, whoever grows
//! it (the function itself, a callee, another instance; the host between
//! calls).

use std::sync::Arc;

use vibewasm_compiler::BoundsChecks;
use vibewasm_loader::{Engine, EngineConfig, Module, Store};
use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}

const PAGE: i32 = 65536;

/// One page reserved at first: every grow moves the memory.
fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(EngineConfig {
        memory_reservation: 0,
        ..Default::default()
    }))
}

fn explicit() -> Config {
    Config {
        bounds_checks: BoundsChecks::Explicit,
        ..Config::default()
    }
}

/// `fill_and_sum` keeps memory 0's base in a register across a call to
/// `grow_by` (which moves the memory) and across `memory.grow` itself,
/// writing and reading on both sides.
const GROWER: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\2a")
  (func $grow_by (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_in_callee") (param $pages i32) (result i32)
    (local $before i32)
    (i32.store8 (i32.const 1) (i32.const 7))
    (drop (call $grow_by (local.get $pages)))
    ;; the old bytes, read through the reloaded base, and a store to the
    ;; last byte of the new memory
    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))
                (i32.const 5))
    (i32.add (i32.load8_u (i32.const 0)) (i32.load8_u (i32.const 1))))
  (func (export "grow_inline") (param $pages i32) (result i32)
    (drop (memory.grow (local.get $pages)))
    (i32.load8_u (i32.const 0)))
  (func (export "last") (result i32)
    (i32.load8_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
)"#;

fn grower() -> (Store, vibewasm_loader::Instance) {
    let engine = engine();
    let artifact = compile(&wasm(GROWER), &explicit()).unwrap();
    let module = Module::from_artifact_bytes(&engine, &artifact).unwrap();
    let mut store = Store::new(engine);
    let inst = Linker::new().instantiate(&mut store, &module).unwrap();
    (store, inst)
}

#[test]
fn code_follows_a_memory_moved_by_a_callee() {
    let (_store, mut inst) = grower();
    let memory = inst.get_memory("memory").unwrap();
    assert_eq!(memory.reserved_bytes(), PAGE as usize);
    assert_eq!(call_i32(&mut inst, "grow_in_callee", &[i(3)]), 42 + 7);
    assert_eq!(memory.size_pages().unwrap(), 4);
    assert!(memory.reserved_bytes() >= 4 * PAGE as usize);
    assert_eq!(call_i32(&mut inst, "last", &[]), 5);
    // Twice more: the memory moves each time and keeps its bytes.
    assert_eq!(call_i32(&mut inst, "grow_in_callee", &[i(5)]), 42 + 7);
    assert_eq!(call_i32(&mut inst, "load", &[i(4 * PAGE - 1)]), 5);
    assert_eq!(call_i32(&mut inst, "grow_inline", &[i(20)]), 42);
    assert_eq!(memory.size_pages().unwrap(), 29);
    assert_eq!(call_i32(&mut inst, "load", &[i(9 * PAGE - 1)]), 5);
    expect_trap(
        &mut inst,
        "load",
        &[i(29 * PAGE)],
        TrapCode::MemoryOutOfBounds,
    );
}

#[test]
fn code_follows_a_memory_moved_by_the_host() {
    let (_store, mut inst) = grower();
    let memory = inst.get_memory("memory").unwrap();
    assert_eq!(memory.grow(8).unwrap(), Some(1));
    memory.write(9 * PAGE as u64 - 1, &[11]).unwrap();
    assert_eq!(call_i32(&mut inst, "last", &[]), 11);
    assert_eq!(call_i32(&mut inst, "load", &[i(0)]), 42);
}

/// Two instances share a memory; one grows (and moves) it, the other sees
/// the new base and size on its next access.
#[test]
fn instances_sharing_a_moved_memory() {
    let engine = engine();
    let mut store = Store::new(engine.clone());
    let owner = Module::from_artifact_bytes(
        &engine,
        &compile(
            &wasm(
                r#"(module (memory (export "memory") 1)
                     (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
                     (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))"#,
            ),
            &explicit(),
        )
        .unwrap(),
    )
    .unwrap();
    let user = Module::from_artifact_bytes(
        &engine,
        &compile(
            &wasm(
                r#"(module (import "owner" "memory" (memory 1))
                     (import "owner" "grow" (func $grow (param i32) (result i32)))
                     (func (export "grow_and_load") (param i32 i32) (result i32)
                       (drop (call $grow (local.get 0)))
                       (i32.load8_u (local.get 1))))"#,
            ),
            &explicit(),
        )
        .unwrap(),
    )
    .unwrap();
    let mut linker = Linker::with_store(store.clone());
    let mut first = linker.instantiate(&mut store, &owner).unwrap();
    linker.define_instance("owner", &first).unwrap();
    let mut second = linker.instantiate(&mut store, &user).unwrap();
    call(&mut first, "store", &[i(PAGE - 1), i(99)]);
    assert_eq!(
        call_i32(&mut second, "grow_and_load", &[i(7), i(PAGE - 1)]),
        99
    );
    call(&mut first, "store", &[i(8 * PAGE - 1), i(98)]);
    assert_eq!(
        call_i32(&mut second, "grow_and_load", &[i(0), i(8 * PAGE - 1)]),
        98
    );
}

/// Guard-page code cannot import a movable memory: refused at link time.
#[test]
fn guard_page_code_refuses_a_movable_memory() {
    let engine = engine();
    let mut store = Store::new(engine.clone());
    let owner = Module::from_artifact_bytes(
        &engine,
        &compile(
            &wasm(r#"(module (memory (export "memory") 1))"#),
            &explicit(),
        )
        .unwrap(),
    )
    .unwrap();
    let guarded = Config {
        bounds_checks: BoundsChecks::GuardPages,
        ..Config::default()
    };
    let user = Module::from_artifact_bytes(
        &engine,
        &compile(
            &wasm(r#"(module (import "owner" "memory" (memory 1)))"#),
            &guarded,
        )
        .unwrap(),
    )
    .unwrap();
    let mut linker = Linker::with_store(store.clone());
    let first = linker.instantiate(&mut store, &owner).unwrap();
    linker.define_instance("owner", &first).unwrap();
    let Err(err) = linker.instantiate(&mut store, &user) else {
        panic!("guard-page code imported a movable memory");
    };
    assert!(err.to_string().contains("guard region"), "{err}");
}
