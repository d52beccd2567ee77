//! memory64: 64-bit memories, compiled -> artifact -> loaded -> run with
//! both bounds-check strategies. Every access to a 64-bit memory is
//! checked explicitly (guard pages cannot bound a 64-bit address), so the
//! traps below come from the compare, never from a fault.

use std::sync::Arc;

use vibewasm_format::MemoryType;
use vibewasm_loader::{Engine, EngineConfig, Module, Store};
use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}

fn l(v: i64) -> Val {
    Val::I64(v)
}

const PAGE: i64 = 65536;

/// A 64-bit memory 0 of 1 page (at most 3) with an i64 data segment
/// offset, and a 32-bit memory 1 of 1 page.
const WIDE: &str = r#"
(module
  (memory $m (export "m") i64 1 3)
  (memory $n 1)
  (data (memory $m) (i64.const 65530) "\01\02\03\04\05\06")
  (data $passive "abcdef")
  (data (memory $n) (i32.const 8) "xyz")
  (func (export "load8") (param i64) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load64") (param i64) (result i64) (i64.load (local.get 0)))
  (func (export "load_huge_offset") (param i64) (result i32)
    (i32.load8_u offset=0xffff_ffff_ffff_fff0 (local.get 0)))
  (func (export "load_max_offset") (param i64) (result i32)
    (i32.load8_u offset=0xffff_ffff_ffff_ffff (local.get 0)))
  (func (export "load_4g_offset") (param i64) (result i32)
    (i32.load8_u offset=0x1_0000_0000 (local.get 0)))
  (func (export "store32") (param i64 i32) (i32.store offset=2 (local.get 0) (local.get 1)))
  (func (export "store_f64") (param i64 f64) (f64.store (local.get 0) (local.get 1)))
  (func (export "load_f64") (param i64) (result f64) (f64.load (local.get 0)))
  (func (export "const_load") (result i32) (i32.load16_u (i64.const 65534)))
  (func (export "const_load_4g") (result i32) (i32.load8_u (i64.const 0x1_0000_0002)))
  (func (export "v128_load_lane0") (param i64) (result i64)
    (i64x2.extract_lane 0 (v128.load (local.get 0))))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "fill") (param i64 i32 i64) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i64 i64 i64) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i64 i32 i32) (memory.init $passive (local.get 0) (local.get 1) (local.get 2)))
  ;; 32-bit memory 1 <-> 64-bit memory 0: each address has its memory's
  ;; type, the length is an i32
  (func (export "copy_n_to_m") (param i64 i32 i32) (memory.copy $m $n (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_m_to_n") (param i32 i64 i32) (memory.copy $n $m (local.get 0) (local.get 1) (local.get 2)))
  (func (export "load_n") (param i32) (result i32) (i32.load8_u $n (local.get 0)))
  (func (export "size_n") (result i32) (memory.size $n))
)"#;

#[test]
fn loads_and_stores_trap_beyond_the_memory_and_never_wrap() {
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(WIDE, &config, &Linker::new());
        assert_eq!(call_i32(&mut inst, "load8", &[l(65530)]), 1);
        assert_eq!(call_i32(&mut inst, "load8", &[l(65535)]), 6);
        assert_eq!(call_i32(&mut inst, "const_load", &[]), 0x0605);
        assert_eq!(
            call_i64(&mut inst, "load64", &[l(PAGE - 8)]),
            0x0605_0403_0201_0000
        );
        call(&mut inst, "store32", &[l(PAGE - 6), i(-2)]);
        assert_eq!(call_i32(&mut inst, "load8", &[l(PAGE - 4)]), 0xfe);
        call(&mut inst, "store_f64", &[l(16), Val::F64(2.5f64.to_bits())]);
        assert_eq!(
            call(&mut inst, "load_f64", &[l(16)]),
            [Val::F64(2.5f64.to_bits())]
        );
        assert_eq!(
            call_i64(&mut inst, "v128_load_lane0", &[l(16)]),
            2.5f64.to_bits() as i64
        );
        let oob = TrapCode::MemoryOutOfBounds;
        for address in [
            PAGE,
            PAGE - 5,
            0x1_0000_0000,
            0x1_0000_0000 + 5,
            0x1_0000_0000 + PAGE - 8,
            i64::MAX,
            -1,
            -8,
        ] {
            expect_trap(&mut inst, "load64", &[l(address)], oob);
            expect_trap(&mut inst, "store32", &[l(address), i(1)], oob);
        }
        expect_trap(&mut inst, "load8", &[l(PAGE)], oob);
        expect_trap(&mut inst, "v128_load_lane0", &[l(PAGE - 15)], oob);
        expect_trap(&mut inst, "const_load_4g", &[], oob);
        // index + offset wraps past 2^64 back into the memory: a trap.
        for index in [0, 0x10, 0x20, 0x30, -1] {
            expect_trap(&mut inst, "load_huge_offset", &[l(index)], oob);
            expect_trap(&mut inst, "load_max_offset", &[l(index)], oob);
        }
        expect_trap(&mut inst, "load_4g_offset", &[l(0)], oob);
        // The 32-bit memory 1 is unaffected.
        assert_eq!(call_i32(&mut inst, "load_n", &[i(9)]), b'y' as i32);
        assert_eq!(call_i32(&mut inst, "size_n", &[]), 1);
    }
}

#[test]
fn size_and_grow_are_i64() {
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(WIDE, &config, &Linker::new());
        assert_eq!(call_i64(&mut inst, "size", &[]), 1);
        assert_eq!(call_i64(&mut inst, "grow", &[l(1)]), 1);
        assert_eq!(call_i64(&mut inst, "size", &[]), 2);
        // Past the maximum, or a delta with upper bits: -1 as an i64.
        assert_eq!(call_i64(&mut inst, "grow", &[l(2)]), -1);
        assert_eq!(call_i64(&mut inst, "grow", &[l(1 << 32)]), -1);
        assert_eq!(call_i64(&mut inst, "grow", &[l((1 << 32) + 1)]), -1);
        assert_eq!(call_i64(&mut inst, "grow", &[l(-1)]), -1);
        assert_eq!(call_i64(&mut inst, "size", &[]), 2);
        // The new page is accessible, the old bytes are kept.
        call(&mut inst, "store32", &[l(2 * PAGE - 6), i(0x0403_0201)]);
        assert_eq!(call_i32(&mut inst, "load8", &[l(2 * PAGE - 1)]), 4);
        assert_eq!(call_i32(&mut inst, "load8", &[l(65530)]), 1);
        expect_trap(
            &mut inst,
            "load8",
            &[l(2 * PAGE)],
            TrapCode::MemoryOutOfBounds,
        );
    }
}

#[test]
fn bulk_operators_take_i64_operands() {
    let oob = TrapCode::MemoryOutOfBounds;
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(WIDE, &config, &Linker::new());
        call(&mut inst, "fill", &[l(100), i(0x1ab), l(3)]);
        assert_eq!(call_i32(&mut inst, "load8", &[l(102)]), 0xab);
        assert_eq!(call_i32(&mut inst, "load8", &[l(103)]), 0);
        // Upper bits of an address or a length are not dropped.
        expect_trap(
            &mut inst,
            "fill",
            &[l(0x1_0000_0000 + 100), i(1), l(1)],
            oob,
        );
        expect_trap(&mut inst, "fill", &[l(100), i(1), l(0x1_0000_0001)], oob);
        expect_trap(&mut inst, "fill", &[l(-1), i(1), l(2)], oob);
        call(&mut inst, "fill", &[l(PAGE), i(1), l(0)]);
        assert_eq!(
            call_i32(&mut inst, "load8", &[l(100)]),
            0xab,
            "nothing written"
        );

        call(&mut inst, "copy", &[l(200), l(65530), l(6)]);
        assert_eq!(call_i32(&mut inst, "load8", &[l(205)]), 6);
        expect_trap(&mut inst, "copy", &[l(0x1_0000_0000), l(0), l(1)], oob);
        expect_trap(&mut inst, "copy", &[l(0), l(0x1_0000_0000), l(1)], oob);
        expect_trap(&mut inst, "copy", &[l(0), l(0), l(0x1_0000_0000)], oob);

        call(&mut inst, "init", &[l(300), i(1), i(3)]);
        assert_eq!(call_i32(&mut inst, "load8", &[l(300)]), b'b' as i32);
        assert_eq!(call_i32(&mut inst, "load8", &[l(302)]), b'd' as i32);
        expect_trap(
            &mut inst,
            "init",
            &[l(0x1_0000_0000 + 300), i(0), i(1)],
            oob,
        );

        // Between the 32-bit memory 1 and the 64-bit memory 0.
        call(&mut inst, "copy_n_to_m", &[l(400), i(8), i(3)]);
        assert_eq!(call_i32(&mut inst, "load8", &[l(402)]), b'z' as i32);
        call(&mut inst, "copy_m_to_n", &[i(20), l(65530), i(2)]);
        assert_eq!(call_i32(&mut inst, "load_n", &[i(21)]), 2);
        expect_trap(
            &mut inst,
            "copy_n_to_m",
            &[l(0x1_0000_0000 + 400), i(8), i(3)],
            oob,
        );
        expect_trap(
            &mut inst,
            "copy_m_to_n",
            &[i(0), l(0x1_0000_0000), i(1)],
            oob,
        );
        expect_trap(&mut inst, "copy_m_to_n", &[i(0), l(PAGE), i(1)], oob);
    }
}

#[test]
fn data_segments_with_i64_offsets_are_checked_without_overflow() {
    for config in both_bounds_checks() {
        for offset in ["65531", "0x1_0000_0000", "-1", "0x7fff_ffff_ffff_ffff"] {
            let wat = format!(
                r#"(module (memory i64 1) (data (i64.const {offset}) "\01\02\03\04\05\06"))"#
            );
            let err = Linker::new()
                .instantiate_artifact(&open_artifact_bytes(&compile_wat_with(&wat, &config)))
                .unwrap_err()
                .to_string();
            assert!(err.contains("out of bounds"), "{offset}: {err}");
        }
    }
}

/// Code keeps no stale base of a 64-bit memory 0 when it moves, in either
/// mode: with guard pages too, a 64-bit memory gets a movable reservation.
#[test]
fn a_moving_64_bit_memory_is_followed_and_grows_past_4_gib() {
    const GROWER: &str = r#"
      (module
        (memory (export "memory") i64 1)
        (func $grow (param i64) (result i64) (memory.grow (local.get 0)))
        (func (export "grow_in_callee") (param i64) (result i32)
          (i32.store8 (i64.const 1) (i32.const 7))
          (drop (call $grow (local.get 0)))
          (i64.store8 (i64.sub (i64.mul (memory.size) (i64.const 65536)) (i64.const 1))
                      (i64.const 5))
          (i32.add (i32.load8_u (i64.const 1))
                   (i32.load8_u (i64.sub (i64.mul (memory.size) (i64.const 65536))
                                         (i64.const 1)))))
        (func (export "grow") (param i64) (result i64) (call $grow (local.get 0)))
        (func (export "store") (param i64 i32) (i32.store8 (local.get 0) (local.get 1)))
        (func (export "load") (param i64) (result i32) (i32.load8_u (local.get 0))))"#;
    for config in both_bounds_checks() {
        // Every grow moves the memory (nothing reserved ahead).
        let engine = Arc::new(Engine::new(EngineConfig {
            memory_reservation: 0,
            ..Default::default()
        }));
        let artifact = compile(&wasm(GROWER), &config).unwrap();
        let module = Module::from_artifact_bytes(&engine, &artifact).unwrap();
        let mut store = Store::new(engine);
        let mut inst = Linker::new().instantiate(&mut store, &module).unwrap();
        assert_eq!(call_i32(&mut inst, "grow_in_callee", &[l(3)]), 12);
        assert_eq!(call_i32(&mut inst, "grow_in_callee", &[l(4)]), 12);
        assert_eq!(call_i64(&mut inst, "grow", &[l(0)]), 8);
        let memory = inst.get_memory("memory").unwrap();
        assert!(memory.ty().index64);
        assert_eq!(memory.size_pages().unwrap(), 8);

        // Past 4 GiB where the embedder's limit allows: a reservation large
        // enough that nothing moves (moving would copy 4 GiB).
        let pages = (1 << 16) + 2;
        let engine = Arc::new(Engine::new(EngineConfig {
            memory_reservation: pages * PAGE as u64,
            memory_limit_pages: pages,
            ..Default::default()
        }));
        let module = Module::from_artifact_bytes(&engine, &artifact).unwrap();
        let mut store = Store::new(engine);
        let mut linker = Linker::new();
        linker.memory_limit_pages(pages);
        let mut inst = linker.instantiate(&mut store, &module).unwrap();
        let high = 0x1_0000_0000 + 12345;
        let oob = TrapCode::MemoryOutOfBounds;
        expect_trap(&mut inst, "load", &[l(high)], oob);
        assert_eq!(call_i32(&mut inst, "grow_in_callee", &[l(1 << 16)]), 12);
        call(&mut inst, "store", &[l(high), i(99)]);
        assert_eq!(call_i32(&mut inst, "load", &[l(high)]), 99);
        expect_trap(&mut inst, "load", &[l(0x1_0001_0000)], oob);
        // The limit: one page more is refused.
        assert_eq!(call_i64(&mut inst, "grow", &[l(1)]), (1 << 16) + 1);
        assert_eq!(call_i64(&mut inst, "grow", &[l(1)]), -1);
        let memory = inst.get_memory("memory").unwrap();
        assert_eq!(memory.size_pages().unwrap(), pages);
    }
}

/// A 64-bit memory import matches only a 64-bit memory; a host-made
/// 64-bit memory serves guard-page code too.
#[test]
fn imports_match_the_index_type() {
    let ty = |index64| MemoryType {
        min_pages: 1,
        max_pages: Some(4),
        index64,
    };
    for config in both_bounds_checks() {
        let mut linker = Linker::new();
        let narrow = linker.define_memory("env", "narrow", ty(false)).unwrap();
        let wide = linker.define_memory("env", "wide", ty(true)).unwrap();
        assert!(wide.ty().index64 && !narrow.ty().index64);
        wide.write(70, &[42]).unwrap();
        let importer = |name: &str, index_type: &str| {
            format!(
                r#"(module (import "env" "{name}" (memory {index_type} 1))
                     (func (export "get") (param {index_type}) (result i32)
                       (i32.load8_u (local.get 0)))
                     (func (export "grow") (param {index_type}) (result {index_type})
                       (memory.grow (local.get 0))))"#
            )
        };
        let mut inst = instantiate_configured(&importer("wide", "i64"), &config, &linker);
        assert_eq!(call_i32(&mut inst, "get", &[l(70)]), 42);
        assert_eq!(call_i64(&mut inst, "grow", &[l(3)]), 1);
        assert_eq!(wide.size_pages().unwrap(), 4);
        assert_eq!(call_i64(&mut inst, "grow", &[l(1)]), -1);
        for (name, index_type) in [("wide", "i32"), ("narrow", "i64")] {
            let artifact = compile_wat_with(&importer(name, index_type), &config);
            let err = linker
                .instantiate_artifact(&open_artifact_bytes(&artifact))
                .unwrap_err()
                .to_string();
            assert!(err.contains("memory"), "{name} as {index_type}: {err}");
        }
    }
}

#[test]
fn wasm2_refuses_64_bit_memories() {
    let config = Config {
        language: vibewasm_compiler::Language::Wasm2,
        ..Config::default()
    };
    let err = compile(&wasm("(module (memory i64 1))"), &config).unwrap_err();
    assert!(err.to_string().contains("memory64"), "{err}");
}
