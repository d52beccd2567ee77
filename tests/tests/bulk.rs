//! Bulk memory and table operators, reference types, and instances linked
//! to each other (imported memories, tables, globals and functions).

use std::sync::Arc;

use vibewasm_loader::ExternRef;
use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}

const BULK: &str = r#"
(module
  (memory (export "memory") 1)
  (data $p "0123456789")
  (data $q "abc")
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_p") (param i32 i32 i32) (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop_p") (data.drop $p))
  (func (export "init_q_const") (memory.init $q (i32.const 100) (i32.const 1) (i32.const 2)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
)"#;

fn mem(inst: &mut Instance) -> Vec<u8> {
    inst.memory_mut().unwrap().to_vec()
}

#[test]
fn memory_fill() {
    let mut inst = instantiate_wat(BULK);
    call(&mut inst, "fill", &[i(10), i(0x1ab), i(5)]);
    let m = mem(&mut inst);
    assert_eq!(&m[9..16], &[0, 0xab, 0xab, 0xab, 0xab, 0xab, 0]);
    // Zero length at the very end is fine; one past the end traps.
    call(&mut inst, "fill", &[i(65536), i(1), i(0)]);
    expect_trap(
        &mut inst,
        "fill",
        &[i(65537), i(1), i(0)],
        TrapCode::MemoryOutOfBounds,
    );
    // A fill running past the end traps and writes nothing.
    expect_trap(
        &mut inst,
        "fill",
        &[i(65530), i(7), i(7)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "fill",
        &[i(1), i(7), i(-1)],
        TrapCode::MemoryOutOfBounds,
    );
    assert_eq!(&mem(&mut inst)[65530..], &[0; 6]);
    // The whole memory.
    call(&mut inst, "fill", &[i(0), i(0x5a), i(65536)]);
    assert!(mem(&mut inst).iter().all(|&b| b == 0x5a));
}

#[test]
fn memory_copy_overlapping_both_ways() {
    let mut inst = instantiate_wat(BULK);
    call(&mut inst, "init_p", &[i(0), i(0), i(10)]);
    assert_eq!(&mem(&mut inst)[..10], b"0123456789");
    // forward overlap (dst > src)
    call(&mut inst, "copy", &[i(2), i(0), i(6)]);
    assert_eq!(&mem(&mut inst)[..10], b"0101234589");
    // backward overlap (dst < src)
    call(&mut inst, "copy", &[i(0), i(3), i(6)]);
    assert_eq!(&mem(&mut inst)[..10], b"1234584589");
    // a larger block across a page of data
    call(&mut inst, "fill", &[i(1000), i(7), i(3000)]);
    call(&mut inst, "copy", &[i(1500), i(1000), i(3000)]);
    let m = mem(&mut inst);
    assert!(m[1000..4500].iter().all(|&b| b == 7));
    assert_eq!(m[4500], 0);
    // bounds: zero length at the end ok, past it traps; partial copies
    // trap before writing anything
    call(&mut inst, "copy", &[i(65536), i(0), i(0)]);
    call(&mut inst, "copy", &[i(0), i(65536), i(0)]);
    expect_trap(
        &mut inst,
        "copy",
        &[i(65537), i(0), i(0)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "copy",
        &[i(0), i(65537), i(0)],
        TrapCode::MemoryOutOfBounds,
    );
    let before = mem(&mut inst);
    expect_trap(
        &mut inst,
        "copy",
        &[i(65530), i(0), i(10)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "copy",
        &[i(0), i(65530), i(10)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "copy",
        &[i(0), i(1), i(-1)],
        TrapCode::MemoryOutOfBounds,
    );
    assert!(mem(&mut inst) == before, "a failed copy wrote something");
}

#[test]
fn memory_init_and_data_drop() {
    let mut inst = instantiate_wat(BULK);
    call(&mut inst, "init_p", &[i(200), i(3), i(4)]);
    assert_eq!(&mem(&mut inst)[199..205], b"\x003456\x00");
    call(&mut inst, "init_q_const", &[]);
    assert_eq!(&mem(&mut inst)[100..102], b"bc");
    // out of the segment or of the memory
    expect_trap(
        &mut inst,
        "init_p",
        &[i(0), i(8), i(3)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "init_p",
        &[i(65534), i(0), i(3)],
        TrapCode::MemoryOutOfBounds,
    );
    call(&mut inst, "init_p", &[i(0), i(10), i(0)]);
    expect_trap(
        &mut inst,
        "init_p",
        &[i(0), i(11), i(0)],
        TrapCode::MemoryOutOfBounds,
    );
    // after data.drop the segment has length 0
    call(&mut inst, "drop_p", &[]);
    call(&mut inst, "drop_p", &[]); // dropping twice is allowed
    expect_trap(
        &mut inst,
        "init_p",
        &[i(0), i(0), i(1)],
        TrapCode::MemoryOutOfBounds,
    );
    call(&mut inst, "init_p", &[i(0), i(0), i(0)]);
    // grown memory is a valid destination
    assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), 1);
    call(&mut inst, "fill", &[i(65536 + 10), i(9), i(3)]);
    assert_eq!(call_i32(&mut inst, "load8", &[i(65536 + 12)]), 9);
}

const TABLES: &str = r#"
(module
  (type $i_i (func (param i32) (result i32)))
  (table $t (export "t") 4 10 funcref)
  (table $e 2 externref)
  (elem $seg func $inc $dbl $neg)
  (elem (table $t) (i32.const 0) func $inc)
  (func $inc (type $i_i) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $i_i) (i32.mul (local.get 0) (i32.const 2)))
  (func $neg (type $i_i) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "grow_with_dbl") (param i32) (result i32) (table.grow $t (ref.func $dbl) (local.get 0)))
  (func (export "set_neg") (param i32) (table.set $t (local.get 0) (ref.func $neg)))
  (func (export "clear") (param i32) (table.set $t (local.get 0) (ref.null func)))
  (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func (export "call") (param i32 i32) (result i32)
    (call_indirect $t (type $i_i) (local.get 1) (local.get 0)))
  (func (export "init") (param i32 i32 i32) (table.init $t $seg (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (elem.drop $seg))
  (func (export "copy") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill") (param i32 i32) (table.fill $t (local.get 0) (ref.func $dbl) (local.get 1)))
  (func (export "get_ref") (param i32) (result funcref) (table.get $t (local.get 0)))
  (func (export "set_ref") (param i32 funcref) (table.set $t (local.get 0) (local.get 1)))
  (func (export "ext_set") (param i32 externref) (table.set $e (local.get 0) (local.get 1)))
  (func (export "ext_get") (param i32) (result externref) (table.get $e (local.get 0)))
  (func (export "ext_is_null") (param externref) (result i32) (ref.is_null (local.get 0)))
  (func (export "ext_id") (param externref) (result externref) (local.get 0))
  (func (export "func_is_null") (param funcref) (result i32) (ref.is_null (local.get 0)))
)"#;

#[test]
fn table_get_set_size_grow() {
    let mut inst = instantiate_wat(TABLES);
    assert_eq!(call_i32(&mut inst, "size", &[]), 4);
    assert_eq!(call_i32(&mut inst, "call", &[i(0), i(41)]), 42);
    assert_eq!(call_i32(&mut inst, "is_null", &[i(0)]), 0);
    assert_eq!(call_i32(&mut inst, "is_null", &[i(1)]), 1);
    expect_trap(
        &mut inst,
        "call",
        &[i(1), i(1)],
        TrapCode::UninitializedElement,
    );
    call(&mut inst, "set_neg", &[i(1)]);
    assert_eq!(call_i32(&mut inst, "call", &[i(1), i(5)]), -5);
    call(&mut inst, "clear", &[i(0)]);
    expect_trap(
        &mut inst,
        "call",
        &[i(0), i(1)],
        TrapCode::UninitializedElement,
    );
    // out of bounds get/set
    expect_trap(&mut inst, "is_null", &[i(4)], TrapCode::TableOutOfBounds);
    expect_trap(&mut inst, "set_neg", &[i(4)], TrapCode::TableOutOfBounds);
    expect_trap(&mut inst, "is_null", &[i(-1)], TrapCode::TableOutOfBounds);
    // grow returns the old size; new entries hold the init value
    assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), 4);
    assert_eq!(call_i32(&mut inst, "size", &[]), 6);
    assert_eq!(call_i32(&mut inst, "is_null", &[i(5)]), 1);
    assert_eq!(call_i32(&mut inst, "grow_with_dbl", &[i(2)]), 6);
    assert_eq!(call_i32(&mut inst, "call", &[i(7), i(21)]), 42);
    // beyond the maximum (10): -1 and no change
    assert_eq!(call_i32(&mut inst, "grow", &[i(3)]), -1);
    assert_eq!(call_i32(&mut inst, "grow", &[i(-1)]), -1);
    assert_eq!(call_i32(&mut inst, "size", &[]), 8);
    assert_eq!(call_i32(&mut inst, "grow", &[i(0)]), 8);
    assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), 8);
    assert_eq!(call_i32(&mut inst, "size", &[]), 10);
    expect_trap(
        &mut inst,
        "call",
        &[i(10), i(1)],
        TrapCode::UndefinedElement,
    );
}

#[test]
fn table_init_copy_fill_and_elem_drop() {
    let mut inst = instantiate_wat(TABLES);
    call(&mut inst, "init", &[i(1), i(0), i(3)]); // inc dbl neg at 1..4
    assert_eq!(call_i32(&mut inst, "call", &[i(1), i(10)]), 11);
    assert_eq!(call_i32(&mut inst, "call", &[i(2), i(10)]), 20);
    assert_eq!(call_i32(&mut inst, "call", &[i(3), i(10)]), -10);
    expect_trap(
        &mut inst,
        "init",
        &[i(2), i(0), i(3)],
        TrapCode::TableOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "init",
        &[i(0), i(2), i(2)],
        TrapCode::TableOutOfBounds,
    );
    // overlapping copies both ways: [inc, inc, dbl, neg]
    call(&mut inst, "copy", &[i(0), i(1), i(3)]); // [inc, dbl, neg, neg]
    assert_eq!(call_i32(&mut inst, "call", &[i(1), i(10)]), 20);
    assert_eq!(call_i32(&mut inst, "call", &[i(2), i(10)]), -10);
    call(&mut inst, "copy", &[i(1), i(0), i(3)]); // [inc, inc, dbl, neg]
    assert_eq!(call_i32(&mut inst, "call", &[i(1), i(10)]), 11);
    assert_eq!(call_i32(&mut inst, "call", &[i(2), i(10)]), 20);
    assert_eq!(call_i32(&mut inst, "call", &[i(3), i(10)]), -10);
    expect_trap(
        &mut inst,
        "copy",
        &[i(2), i(0), i(3)],
        TrapCode::TableOutOfBounds,
    );
    call(&mut inst, "copy", &[i(4), i(0), i(0)]);
    expect_trap(
        &mut inst,
        "copy",
        &[i(5), i(0), i(0)],
        TrapCode::TableOutOfBounds,
    );
    // fill
    call(&mut inst, "fill", &[i(2), i(2)]);
    assert_eq!(call_i32(&mut inst, "call", &[i(3), i(4)]), 8);
    expect_trap(&mut inst, "fill", &[i(3), i(2)], TrapCode::TableOutOfBounds);
    assert_eq!(
        call_i32(&mut inst, "call", &[i(3), i(4)]),
        8,
        "failed fill wrote"
    );
    // after elem.drop only zero-length inits work
    call(&mut inst, "drop", &[]);
    expect_trap(
        &mut inst,
        "init",
        &[i(0), i(0), i(1)],
        TrapCode::TableOutOfBounds,
    );
    call(&mut inst, "init", &[i(0), i(0), i(0)]);
}

#[test]
fn references_cross_the_host_boundary() {
    let mut inst = instantiate_wat(TABLES);
    // funcref out and back in
    let r = call(&mut inst, "get_ref", &[i(0)]);
    assert!(matches!(r.as_slice(), [Val::FuncRef(Some(_))]), "{r:?}");
    assert_eq!(call_i32(&mut inst, "func_is_null", &[r[0]]), 0);
    call(&mut inst, "set_ref", &[i(3), r[0]]);
    assert_eq!(call_i32(&mut inst, "call", &[i(3), i(1)]), 2);
    let null = call(&mut inst, "get_ref", &[i(1)]);
    assert_eq!(null, [Val::FuncRef(None)]);
    assert_eq!(call_i32(&mut inst, "func_is_null", &[null[0]]), 1);
    // externref: host values through wasm and a table
    let store = inst.store().clone();
    let value: Arc<dyn std::any::Any + Send + Sync> = Arc::new(String::from("hello"));
    let ext = store.extern_ref(value);
    assert_eq!(
        call(&mut inst, "ext_id", &[Val::ExternRef(Some(ext))]),
        [Val::ExternRef(Some(ext))]
    );
    assert_eq!(
        call_i32(&mut inst, "ext_is_null", &[Val::ExternRef(Some(ext))]),
        0
    );
    assert_eq!(
        call_i32(&mut inst, "ext_is_null", &[Val::ExternRef(None)]),
        1
    );
    call(&mut inst, "ext_set", &[i(1), Val::ExternRef(Some(ext))]);
    assert_eq!(call(&mut inst, "ext_get", &[i(0)]), [Val::ExternRef(None)]);
    let back = call(&mut inst, "ext_get", &[i(1)]);
    let Val::ExternRef(Some(back)) = back[0] else {
        panic!("{back:?}")
    };
    let data = store.extern_data(back).expect("data kept by the store");
    assert_eq!(
        data.downcast_ref::<String>().map(String::as_str),
        Some("hello")
    );
    // raw externrefs keep their bits
    let raw = ExternRef::from_raw(0x1234_5678).unwrap();
    assert_eq!(
        call(&mut inst, "ext_id", &[Val::ExternRef(Some(raw))]),
        [Val::ExternRef(Some(raw))]
    );
    expect_trap(&mut inst, "ext_get", &[i(2)], TrapCode::TableOutOfBounds);
}

#[test]
fn instances_share_memory_table_global_and_functions() {
    let provider = r#"
    (module
      (memory (export "mem") 1)
      (table (export "tab") 2 funcref)
      (global (export "counter") (mut i32) (i32.const 100))
      (elem (i32.const 0) $answer)
      (func $answer (export "answer") (result i32) (i32.const 42))
      (func (export "bump") (result i32)
        (global.set 0 (i32.add (global.get 0) (i32.const 1))) (global.get 0))
      (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
      (func $boom (export "boom") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0))))"#;
    let user = r#"
    (module
      (import "p" "mem" (memory 1))
      (import "p" "tab" (table 2 funcref))
      (import "p" "counter" (global $c (mut i32)))
      (import "p" "answer" (func $answer (result i32)))
      (import "p" "boom" (func $boom (param i32) (result i32)))
      (type $v_i (func (result i32)))
      (elem (i32.const 1) $seven)
      (func $seven (result i32) (i32.const 7))
      (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
      (func (export "sum") (result i32)
        (i32.add (call $answer)
          (i32.add (call_indirect (type $v_i) (i32.const 0))
                   (call_indirect (type $v_i) (i32.const 1)))))
      (func (export "counter") (result i32) (global.get $c))
      (func (export "set_counter") (param i32) (global.set $c (local.get 0)))
      (func (export "boom") (param i32) (result i32) (i32.add (call $boom (local.get 0)) (i32.const 1))))"#;
    let mut p = instantiate_wat(provider);
    let mut linker = Linker::new();
    linker.define_instance("p", &p).unwrap();
    let mut u = instantiate_with(user, &linker);
    // memory
    call(&mut u, "poke", &[i(9), i(0x77)]);
    assert_eq!(call_i32(&mut p, "peek", &[i(9)]), 0x77);
    // The store is shared now, so the memory is reached through its handle.
    let shared = p.get_memory("mem").expect("exported memory");
    let mut byte = [0u8; 1];
    shared.read(9, &mut byte).unwrap();
    assert_eq!(byte, [0x77]);
    shared.write(10, &[0x66]).unwrap();
    assert_eq!(call_i32(&mut p, "peek", &[i(10)]), 0x66);
    // table: the user's element segment wrote into the provider's table
    assert_eq!(call_i32(&mut u, "sum", &[]), 42 + 42 + 7);
    // global
    assert_eq!(call_i32(&mut p, "bump", &[]), 101);
    assert_eq!(call_i32(&mut u, "counter", &[]), 101);
    call(&mut u, "set_counter", &[i(-5)]);
    assert_eq!(call_i32(&mut p, "bump", &[]), -4);
    assert_eq!(p.global("counter"), Some(i(-4)));
    // a trap in the provider's code, reached from the user
    let err = expect_trap(&mut u, "boom", &[i(0)], TrapCode::IntegerDivideByZero);
    let trap = err.as_trap().unwrap();
    // Located in the provider's function 3, not in the user's code.
    assert_eq!(trap.func, Some(3), "{err}");
    assert_eq!(trap.func_name.as_deref(), Some("boom"), "{err}");
    assert_eq!(call_i32(&mut u, "boom", &[i(1)]), 2);
    assert_eq!(call_i32(&mut p, "boom", &[i(1)]), 1);
    // type checks of imports
    let wrong = r#"(module (import "p" "counter" (global i64)))"#;
    let err = try_instantiate_with(wrong, &linker).unwrap_err();
    assert!(err.to_string().contains("p::counter"), "{err}");
    let wrong = r#"(module (import "p" "mem" (memory 2)))"#;
    let err = try_instantiate_with(wrong, &linker).unwrap_err();
    assert!(err.to_string().contains("p::mem"), "{err}");
}

#[test]
fn instances_of_one_store_on_two_threads() {
    // Two instances sharing a store, each driven by its own thread. A call
    // may be refused while the other thread runs wasm in the store ("in
    // use"), but never gives a wrong result, and no update is lost.
    let provider = r#"
    (module
      (global (export "counter") (mut i32) (i32.const 0))
      (func (export "bump") (result i32)
        (local $k i32)
        ;; some work while holding the store
        (loop $l
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $k) (i32.const 2000))))
        (global.set 0 (i32.add (global.get 0) (i32.const 1)))
        (global.get 0)))"#;
    let user = r#"
    (module
      (import "p" "counter" (global $c (mut i32)))
      (import "p" "bump" (func $bump (result i32)))
      (func (export "bump2") (result i32) (drop (call $bump)) (call $bump))
      (func (export "read") (result i32) (global.get $c)))"#;
    let p = instantiate_wat(provider);
    let mut linker = Linker::new();
    linker.define_instance("p", &p).unwrap();
    let u = instantiate_with(user, &linker);
    let run = |mut inst: Instance, name: &'static str, step: i32| {
        std::thread::spawn(move || {
            let (mut ok, mut busy) = (0, 0);
            let mut last = 0;
            // Until 100 calls went through: under load one thread may be
            // refused many times in a row, but it gets its turns once the
            // other yields or finishes.
            let mut attempts = 0u64;
            while ok < 100 && attempts < 10_000_000 {
                attempts += 1;
                match inst.call(name, &[]) {
                    Ok(v) => {
                        let now = v[0].as_i32().unwrap();
                        assert!(now >= last + step, "{name}: {now} after {last}");
                        last = now;
                        ok += 1;
                    }
                    Err(e) => {
                        // (That a refusal is not a trap is checked
                        // deterministically in the next test.)
                        assert!(e.to_string().contains("in use"), "{name}: {e}");
                        busy += 1;
                        std::thread::yield_now();
                    }
                }
            }
            (inst, ok, busy)
        })
    };
    let a = run(p, "bump", 1);
    let b = run(u, "bump2", 2);
    let (mut p, ok_a, _) = a.join().expect("thread a");
    let (mut u, ok_b, _) = b.join().expect("thread b");
    assert!(ok_a == 100 && ok_b == 100, "{ok_a} {ok_b}");
    let total = ok_a + 2 * ok_b;
    assert_eq!(call_i32(&mut u, "read", &[]), total);
    assert_eq!(call_i32(&mut p, "bump", &[]), total + 1);
}

#[test]
fn reentering_a_busy_store_is_refused_not_trapped() {
    // A host function called by wasm of store S calls an instance of S:
    // the loader refuses (the store is in use). That refusal is not a
    // trap of the callee: `trap_code()` must be None.
    let provider = r#"(module (func (export "f") (result i32) (i32.const 5)))"#;
    let p = std::sync::Arc::new(std::sync::Mutex::new(instantiate_wat(provider)));
    type Seen = Option<(Option<TrapCode>, String)>;
    let seen: Arc<std::sync::Mutex<Seen>> = Default::default();
    let mut linker = Linker::new();
    linker.define_instance("p", &p.lock().unwrap()).unwrap();
    let (p2, seen2) = (p.clone(), seen.clone());
    linker
        .func_wrap("env", "cb", move || -> i32 {
            match p2.lock().unwrap().call("f", &[]) {
                Ok(v) => v[0].as_i32().unwrap_or(-1),
                Err(e) => {
                    *seen2.lock().unwrap() = Some((e.trap_code(), e.to_string()));
                    -2
                }
            }
        })
        .unwrap();
    let user = r#"
    (module
      (import "p" "f" (func $f (result i32)))
      (import "env" "cb" (func $cb (result i32)))
      (func (export "g") (result i32) (i32.add (call $f) (call $cb))))"#;
    let mut u = instantiate_with(user, &linker);
    assert_eq!(call_i32(&mut u, "g", &[]), 5 - 2);
    let (code, message) = seen
        .lock()
        .unwrap()
        .clone()
        .expect("the nested call failed");
    assert!(message.contains("in use"), "{message}");
    assert_eq!(code, None, "a refused call reported as a trap: {message}");
    // Outside of wasm the provider is callable again.
    assert_eq!(call_i32(&mut p.lock().unwrap(), "f", &[]), 5);
}

#[test]
fn host_defined_memory_table_and_global() {
    use vibewasm_format::{GlobalType, MemoryType, TableType, ValType};
    let mut linker = Linker::new();
    let memory = linker
        .define_memory(
            "host",
            "mem",
            MemoryType {
                min_pages: 1,
                max_pages: Some(3),
                index64: false,
            },
        )
        .unwrap();
    let table = linker
        .define_table(
            "host",
            "tab",
            TableType {
                element: ValType::FuncRef,
                min: 2,
                max: None,
                index64: false,
            },
            Val::FuncRef(None),
        )
        .unwrap();
    let global = linker
        .define_global(
            "host",
            "g",
            GlobalType {
                ty: ValType::I64,
                mutable: true,
            },
            Val::I64(7),
        )
        .unwrap();
    let konst = linker
        .define_global(
            "host",
            "k",
            GlobalType {
                ty: ValType::F64,
                mutable: false,
            },
            Val::f64(1.5),
        )
        .unwrap();
    memory.write(16, b"from the host").unwrap();
    let wat = r#"
    (module
      (import "host" "mem" (memory 1 3))
      (import "host" "tab" (table 2 funcref))
      (import "host" "g" (global $g (mut i64)))
      (import "host" "k" (global $k f64))
      (type $v_i (func (result i32)))
      (func $nine (export "nine") (result i32) (i32.const 9))
      (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0)))
      (func (export "put") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
      (func (export "size") (result i32) (memory.size))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "call") (param i32) (result i32) (call_indirect (type $v_i) (local.get 0)))
      (func (export "g") (result i64) (global.set $g (i64.mul (global.get $g) (i64.const 3))) (global.get $g))
      (func (export "k") (result f64) (global.get $k)))"#;
    let mut inst = instantiate_with(wat, &linker);
    // memory written by the host before instantiation, then by wasm
    assert_eq!(call_i32(&mut inst, "byte", &[i(16)]), b'f' as i32);
    call(&mut inst, "put", &[i(0), i(0xee)]);
    let mut b = [0u8; 1];
    memory.read(0, &mut b).unwrap();
    assert_eq!(b, [0xee]);
    // growing from the host is seen by wasm, and the other way round
    assert_eq!(memory.grow(1).unwrap(), Some(1));
    assert_eq!(call_i32(&mut inst, "size", &[]), 2);
    assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), 2);
    assert_eq!(memory.size_pages().unwrap(), 3);
    assert_eq!(memory.grow(1).unwrap(), None, "beyond the maximum");
    assert!(memory.write(3 * 65536 - 1, &[1, 2]).is_err());
    memory.write(3 * 65536 - 2, &[1, 2]).unwrap();
    assert_eq!(call_i32(&mut inst, "byte", &[i(3 * 65536 - 1)]), 2);
    // table: a funcref of this store set from the host
    expect_trap(&mut inst, "call", &[i(1)], TrapCode::UninitializedElement);
    let nine = inst
        .get_func(inst.store(), "nine")
        .unwrap()
        .to_func_ref()
        .unwrap();
    table.set(1, Val::FuncRef(Some(nine))).unwrap();
    assert_eq!(call_i32(&mut inst, "call", &[i(1)]), 9);
    assert!(
        table.set(2, Val::FuncRef(Some(nine))).is_err(),
        "out of bounds"
    );
    assert_eq!(table.grow(1, Val::FuncRef(Some(nine))).unwrap(), Some(2));
    assert_eq!(call_i32(&mut inst, "call", &[i(2)]), 9);
    // a funcref of another store is refused
    let mut other = instantiate_wat(r#"(module (func (export "f")))"#);
    let foreign = other
        .get_func(other.store(), "f")
        .unwrap()
        .to_func_ref()
        .unwrap();
    assert!(table.set(0, Val::FuncRef(Some(foreign))).is_err());
    let _ = call(&mut other, "f", &[]);
    // globals
    assert_eq!(call_i64(&mut inst, "g", &[]), 21);
    assert_eq!(global.get().unwrap(), Val::I64(21));
    global.set(Val::I64(-1)).unwrap();
    assert_eq!(call_i64(&mut inst, "g", &[]), -3);
    assert!(global.set(Val::I32(1)).is_err(), "wrong type");
    assert_eq!(call(&mut inst, "k", &[]), [Val::f64(1.5)]);
    assert!(konst.set(Val::f64(2.0)).is_err(), "immutable");
    // exported functions as handles
    let f = inst.get_func(inst.store(), "nine").unwrap();
    assert_eq!(f.call(&[]).unwrap(), [Val::I32(9)]);
}

#[test]
fn failed_instantiation_keeps_earlier_segment_writes() {
    // WebAssembly 2.0: active segments are applied in order, like
    // memory.init / table.init; when one is out of bounds, instantiation
    // traps and the writes of the earlier segments stay (visible through
    // an imported memory and table). (spec test linking.wast)
    let provider = r#"
    (module
      (memory (export "mem") 1)
      (table (export "tab") 3 funcref)
      (func $f (export "f") (result i32) (i32.const 11))
      (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0)))
      (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get 0 (local.get 0)))))"#;
    let mut p = instantiate_wat(provider);
    let mut linker = Linker::new();
    linker.define_instance("p", &p).unwrap();
    let data = r#"
    (module
      (import "p" "mem" (memory 1))
      (data (i32.const 0) "AB")
      (data (i32.const 65535) "CD"))"#;
    let err = try_instantiate_with(data, &linker).unwrap_err();
    assert_trap(&err, TrapCode::MemoryOutOfBounds);
    assert_eq!(call_i32(&mut p, "byte", &[i(0)]), b'A' as i32);
    assert_eq!(call_i32(&mut p, "byte", &[i(1)]), b'B' as i32);
    let elems = r#"
    (module
      (import "p" "tab" (table 3 funcref))
      (import "p" "f" (func $f (result i32)))
      (elem (i32.const 0) $f)
      (elem (i32.const 2) $f $f))"#;
    let err = try_instantiate_with(elems, &linker).unwrap_err();
    assert_trap(&err, TrapCode::TableOutOfBounds);
    assert_eq!(call_i32(&mut p, "is_null", &[i(0)]), 0);
    assert_eq!(call_i32(&mut p, "is_null", &[i(2)]), 1);
}
