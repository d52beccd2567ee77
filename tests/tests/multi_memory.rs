//! Multi-memory: every memory instruction on memories other than 0, with
//! both bounds-check strategies; `memory.copy` between memories; imported
//! and exported memories; memory 0 unaffected by the others.

use vibewasm_format::MemoryType;
use vibewasm_loader::Memory;
use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}

const PAGE: i32 = 65536;

/// Three memories of 1, 2 and 3 pages; memory 2 is the one functions use
/// most, and no function but `load0` touches memory 0.
const THREE: &str = r#"
(module
  (memory $m0 (export "m0") 1 1)
  (memory $m1 (export "m1") 2 4)
  (memory $m2 (export "m2") 3)
  (data (memory $m1) (i32.const 100) "\01\02\03\04\05\06\07\08")
  (data $passive "abcdef")
  (func (export "load0") (param i32) (result i32) (i32.load8_u $m0 (local.get 0)))
  (func (export "load1") (param i32) (result i32) (i32.load8_u $m1 (local.get 0)))
  (func (export "load1_64") (param i32) (result i64) (i64.load $m1 offset=3 (local.get 0)))
  (func (export "load2_f64") (param i32) (result f64) (f64.load $m2 (local.get 0)))
  (func (export "store2") (param i32 i32) (i32.store $m2 offset=2 (local.get 0) (local.get 1)))
  (func (export "store2_f32") (param i32 f32) (f32.store $m2 (local.get 0) (local.get 1)))
  (func (export "load2") (param i32) (result i32) (i32.load $m2 offset=2 (local.get 0)))
  (func (export "const_load1") (result i32) (i32.load16_s $m1 (i32.const 100)))
  (func (export "const_load1_oob") (result i32) (i32.load $m1 (i32.const 131069)))
  (func (export "size") (result i32)
    ;; 1 * 100 + 2 * 10 + 3: every memory's size at once
    (i32.add (i32.add (i32.mul (memory.size $m0) (i32.const 100))
                      (i32.mul (memory.size $m1) (i32.const 10)))
             (memory.size $m2)))
  (func (export "grow1") (param i32) (result i32) (memory.grow $m1 (local.get 0)))
  (func (export "copy_1_to_2") (param i32 i32 i32)
    (memory.copy $m2 $m1 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_within_1") (param i32 i32 i32)
    (memory.copy $m1 $m1 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill2") (param i32 i32 i32)
    (memory.fill $m2 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init1") (param i32 i32 i32)
    (memory.init $m1 $passive (local.get 0) (local.get 1) (local.get 2)))
)"#;

#[test]
fn loads_stores_and_sizes_of_each_memory() {
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(THREE, &config, &Linker::new());
        assert_eq!(call_i32(&mut inst, "load1", &[i(100)]), 1);
        assert_eq!(call_i32(&mut inst, "load1", &[i(107)]), 8);
        assert_eq!(
            call_i32(&mut inst, "load0", &[i(100)]),
            0,
            "segment of memory 1 only"
        );
        assert_eq!(
            call_i64(&mut inst, "load1_64", &[i(97)]),
            0x0807_0605_0403_0201
        );
        assert_eq!(call_i32(&mut inst, "const_load1", &[]), 0x0201);
        call(&mut inst, "store2", &[i(3 * PAGE - 6), i(-7)]);
        assert_eq!(call_i32(&mut inst, "load2", &[i(3 * PAGE - 6)]), -7);
        call(&mut inst, "store2_f32", &[i(8), Val::F32(1.5f32.to_bits())]);
        assert_eq!(
            call(&mut inst, "load2_f64", &[i(4)]),
            [Val::F64((1.5f32.to_bits() as u64) << 32)]
        );
        assert_eq!(call_i32(&mut inst, "size", &[]), 123);
        let m2 = inst.get_memory("m2").expect("m2 exported");
        let mut bytes = [0u8; 4];
        m2.read(3 * PAGE as u64 - 4, &mut bytes).unwrap();
        assert_eq!(i32::from_le_bytes(bytes), -7);
    }
}

#[test]
fn each_memory_has_its_own_bounds() {
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(THREE, &config, &Linker::new());
        let oob = TrapCode::MemoryOutOfBounds;
        // Memory 1: two pages; memory 2: three; memory 0: one.
        assert_eq!(call_i32(&mut inst, "load1", &[i(2 * PAGE - 1)]), 0);
        expect_trap(&mut inst, "load1", &[i(2 * PAGE)], oob);
        expect_trap(&mut inst, "load1", &[i(-1)], oob);
        expect_trap(&mut inst, "load0", &[i(PAGE)], oob);
        expect_trap(&mut inst, "load1_64", &[i(2 * PAGE - 10)], oob);
        assert_eq!(call_i64(&mut inst, "load1_64", &[i(2 * PAGE - 11)]), 0);
        // offset=2 plus 4 bytes: the last valid index is 3 pages - 6.
        expect_trap(&mut inst, "store2", &[i(3 * PAGE - 5), i(1)], oob);
        expect_trap(&mut inst, "load2", &[i(3 * PAGE - 5)], oob);
        expect_trap(&mut inst, "const_load1_oob", &[], oob);
        expect_trap(&mut inst, "load2_f64", &[i(i32::MAX)], oob);
    }
}

#[test]
fn grow_moves_only_the_bounds_of_its_memory() {
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(THREE, &config, &Linker::new());
        assert_eq!(call_i32(&mut inst, "grow1", &[i(1)]), 2);
        assert_eq!(call_i32(&mut inst, "load1", &[i(3 * PAGE - 1)]), 0);
        expect_trap(
            &mut inst,
            "load1",
            &[i(3 * PAGE)],
            TrapCode::MemoryOutOfBounds,
        );
        assert_eq!(call_i32(&mut inst, "size", &[]), 133);
        // Past memory 1's maximum of 4 pages.
        assert_eq!(call_i32(&mut inst, "grow1", &[i(2)]), -1);
        assert_eq!(call_i32(&mut inst, "grow1", &[i(1)]), 3);
        assert_eq!(call_i32(&mut inst, "size", &[]), 143);
        expect_trap(&mut inst, "load0", &[i(PAGE)], TrapCode::MemoryOutOfBounds);
    }
}

#[test]
fn bulk_operations_name_their_memories() {
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(THREE, &config, &Linker::new());
        let oob = TrapCode::MemoryOutOfBounds;
        call(&mut inst, "copy_1_to_2", &[i(5), i(100), i(8)]);
        let m2 = inst.get_memory("m2").unwrap();
        let mut bytes = [0u8; 8];
        m2.read(5, &mut bytes).unwrap();
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
        // The source range is checked against memory 1 (2 pages), the
        // destination against memory 2 (3 pages).
        expect_trap(
            &mut inst,
            "copy_1_to_2",
            &[i(0), i(2 * PAGE - 4), i(5)],
            oob,
        );
        call(&mut inst, "copy_1_to_2", &[i(3 * PAGE - 8), i(100), i(8)]);
        expect_trap(
            &mut inst,
            "copy_1_to_2",
            &[i(3 * PAGE - 7), i(100), i(8)],
            oob,
        );
        // Overlapping copy within memory 1.
        call(&mut inst, "copy_within_1", &[i(101), i(100), i(4)]);
        assert_eq!(call_i32(&mut inst, "load1", &[i(104)]), 4);
        assert_eq!(call_i32(&mut inst, "load1", &[i(101)]), 1);
        call(&mut inst, "fill2", &[i(10), i(0xaa), i(3)]);
        m2.read(9, &mut bytes[..5]).unwrap();
        assert_eq!(
            bytes[..5],
            [5, 0xaa, 0xaa, 0xaa, 0],
            "byte 9 from the copy above"
        );
        expect_trap(&mut inst, "fill2", &[i(3 * PAGE), i(0), i(1)], oob);
        call(&mut inst, "init1", &[i(2 * PAGE - 2), i(4), i(2)]);
        assert_eq!(
            call_i32(&mut inst, "load1", &[i(2 * PAGE - 1)]),
            b'f' as i32
        );
        expect_trap(&mut inst, "init1", &[i(2 * PAGE - 2), i(0), i(3)], oob);
        // Memory 0 saw none of it.
        let m0 = inst.get_memory("m0").unwrap();
        let mut page = vec![0u8; PAGE as usize];
        m0.read(0, &mut page).unwrap();
        assert!(page.iter().all(|&b| b == 0));
    }
}

/// An imported memory 0 and an imported memory 1, shared with the host and
/// with a second module that exports its own.
#[test]
fn imported_and_exported_memories() {
    for config in both_bounds_checks() {
        let mut linker = Linker::new();
        let first = linker
            .define_memory(
                "env",
                "first",
                MemoryType {
                    min_pages: 1,
                    max_pages: None,
                    index64: false,
                },
            )
            .unwrap();
        let second = linker
            .define_memory(
                "env",
                "second",
                MemoryType {
                    min_pages: 1,
                    max_pages: Some(2),
                    index64: false,
                },
            )
            .unwrap();
        second.write(8, &[42]).unwrap();
        let wat = r#"
          (module
            (import "env" "first" (memory $a 1))
            (import "env" "second" (memory $b 1 2))
            (memory $c (export "own") 1)
            (func (export "get_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
            (func (export "b_to_c") (memory.copy $c $b (i32.const 0) (i32.const 8) (i32.const 1)))
            (func (export "c_to_a") (memory.copy $a $c (i32.const 16) (i32.const 0) (i32.const 1)))
            (func (export "grow_b") (result i32) (memory.grow $b (i32.const 1))))"#;
        let mut inst = instantiate_configured(wat, &config, &linker);
        assert_eq!(call_i32(&mut inst, "get_b", &[i(8)]), 42);
        call(&mut inst, "b_to_c", &[]);
        call(&mut inst, "c_to_a", &[]);
        let mut byte = [0u8];
        first.read(16, &mut byte).unwrap();
        assert_eq!(byte, [42]);
        inst.get_memory("own").unwrap().read(0, &mut byte).unwrap();
        assert_eq!(byte, [42]);
        // Growing from wasm is seen by the host, and the host's writes by wasm.
        assert_eq!(call_i32(&mut inst, "grow_b", &[]), 1);
        assert_eq!(second.size_pages().unwrap(), 2);
        second.write(PAGE as u64 + 1, &[7]).unwrap();
        assert_eq!(call_i32(&mut inst, "get_b", &[i(PAGE + 1)]), 7);
        assert_eq!(call_i32(&mut inst, "grow_b", &[]), -1);
        // The defined memory is one of its own, not an alias of an import.
        let own = inst.get_memory("own").unwrap();
        assert!(!Memory::same(&own, &first) && !Memory::same(&own, &second));
    }
}

/// WebAssembly 2.0 has one memory: `Language::Wasm2` refuses a second.
#[test]
fn wasm2_refuses_a_second_memory() {
    let wasm = wasm("(module (memory 1) (memory 1))");
    let config = Config {
        language: vibewasm_compiler::Language::Wasm2,
        ..Config::default()
    };
    match compile(&wasm, &config) {
        Err(CompileError::Invalid { .. }) => {}
        other => panic!("expected an invalid module, got {:?}", other.map(|_| ())),
    }
    assert!(compile(&wasm, &Config::default()).is_ok());
}
