//! Linear memory: loads and stores of every width with sign/zero
//! extension, offsets, unaligned access, memory.size/memory.grow, data
//! segments, start functions, and memory shared with the host.

use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}
fn l(v: i64) -> Val {
    Val::I64(v)
}

const ACCESS: &str = r#"
(module
  (memory (export "memory") 1 4)
  (data (i32.const 0) "\80\ff\7f\01\fe\ff\ff\ff\81\82\83\84\85\86\87\88")
  (func (export "i32.load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (export "i32.load8_u") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "i32.load16_s") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "i32.load16_u") (param i32) (result i32) (i32.load16_u (local.get 0)))
  (func (export "i32.load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "i64.load8_s") (param i32) (result i64) (i64.load8_s (local.get 0)))
  (func (export "i64.load8_u") (param i32) (result i64) (i64.load8_u (local.get 0)))
  (func (export "i64.load16_s") (param i32) (result i64) (i64.load16_s (local.get 0)))
  (func (export "i64.load16_u") (param i32) (result i64) (i64.load16_u (local.get 0)))
  (func (export "i64.load32_s") (param i32) (result i64) (i64.load32_s (local.get 0)))
  (func (export "i64.load32_u") (param i32) (result i64) (i64.load32_u (local.get 0)))
  (func (export "i64.load") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "i32.store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "i32.store16") (param i32 i32) (i32.store16 (local.get 0) (local.get 1)))
  (func (export "i32.store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "i64.store8") (param i32 i64) (i64.store8 (local.get 0) (local.get 1)))
  (func (export "i64.store16") (param i32 i64) (i64.store16 (local.get 0) (local.get 1)))
  (func (export "i64.store32") (param i32 i64) (i64.store32 (local.get 0) (local.get 1)))
  (func (export "i64.store") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  ;; constant addresses and static offsets
  (func (export "const_addr") (result i32) (i32.load16_s (i32.const 1)))
  (func (export "offset_load") (param i32) (result i64) (i64.load offset=8 (local.get 0)))
  (func (export "offset_store") (param i32 i32) (i32.store offset=1000 (local.get 0) (local.get 1)))
  (func (export "offset_load8") (param i32) (result i32) (i32.load8_u offset=1003 (local.get 0)))
  (func (export "big_offset") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
)"#;

#[test]
fn loads_of_every_width_with_extension() {
    let mut inst = instantiate_wat(ACCESS);
    let cases32: &[(&str, i32, i32)] = &[
        ("i32.load8_s", 0, -128),
        ("i32.load8_u", 0, 0x80),
        ("i32.load8_s", 2, 0x7f),
        ("i32.load8_s", 1, -1),
        ("i32.load8_u", 1, 0xff),
        ("i32.load16_s", 0, 0xff80u16 as i16 as i32),
        ("i32.load16_u", 0, 0xff80),
        ("i32.load16_s", 2, 0x017f),
        ("i32.load16_u", 1, 0x7fff),
        ("i32.load", 0, 0x017f_ff80),
        ("i32.load", 4, -2),
        ("i32.load", 1, 0xfe01_7fffu32 as i32), // unaligned
        ("i32.load", 9, 0x8584_8382u32 as i32),
    ];
    for &(name, addr, want) in cases32 {
        assert_eq!(
            call_i32(&mut inst, name, &[i(addr)]),
            want,
            "{name} at {addr}"
        );
    }
    let cases64: &[(&str, i32, i64)] = &[
        ("i64.load8_s", 0, -128),
        ("i64.load8_u", 0, 0x80),
        ("i64.load16_s", 0, -128),
        ("i64.load16_u", 0, 0xff80),
        ("i64.load32_s", 4, -2),
        ("i64.load32_u", 4, 0xffff_fffe),
        ("i64.load32_s", 8, 0x8483_8281u32 as i32 as i64),
        ("i64.load32_u", 8, 0x8483_8281),
        ("i64.load", 8, 0x8887_8685_8483_8281u64 as i64),
        ("i64.load", 3, 0x8382_81ff_ffff_fe01u64 as i64), // unaligned
        ("i64.load", 0, 0xffff_fffe_017f_ff80u64 as i64),
    ];
    for &(name, addr, want) in cases64 {
        assert_eq!(
            call_i64(&mut inst, name, &[i(addr)]),
            want,
            "{name} at {addr}"
        );
    }
    assert_eq!(call_i32(&mut inst, "const_addr", &[]), 0x7fff);
    assert_eq!(
        call_i64(&mut inst, "offset_load", &[i(0)]),
        0x8887_8685_8483_8281u64 as i64
    );
    // Memory beyond the data is zero.
    assert_eq!(call_i64(&mut inst, "i64.load", &[i(16)]), 0);
    assert_eq!(call_i64(&mut inst, "i64.load", &[i(65536 - 8)]), 0);
}

#[test]
fn stores_of_every_width_truncate() {
    let mut inst = instantiate_wat(ACCESS);
    // Fill a region with a pattern first so narrow stores are seen to
    // leave their neighbours alone.
    call(&mut inst, "i64.store", &[i(100), l(-1)]);
    call(&mut inst, "i64.store", &[i(108), l(-1)]);
    call(&mut inst, "i32.store8", &[i(101), i(0x1234_5678)]);
    call(&mut inst, "i32.store16", &[i(103), i(0x1234_5678)]);
    call(&mut inst, "i64.store8", &[i(106), l(0x0102_0304_0506_0708)]);
    call(&mut inst, "i64.store16", &[i(108), l(-0x1_0000_0000)]); // low 16 bits 0
    call(
        &mut inst,
        "i64.store32",
        &[i(111), l(0x1122_3344_5566_7788)],
    );
    let mem = inst.memory().unwrap();
    assert_eq!(
        &mem[100..116],
        &[
            0xff, 0x78, 0xff, 0x78, 0x56, 0xff, 0x08, 0xff, 0x00, 0x00, 0xff, 0x88, 0x77, 0x66,
            0x55, 0xff
        ]
    );
    call(&mut inst, "i32.store", &[i(201), i(-0x1234_5679)]); // unaligned
    assert_eq!(call_i32(&mut inst, "i32.load", &[i(201)]), -0x1234_5679);
    call(&mut inst, "i64.store", &[i(301), l(i64::MIN + 5)]);
    assert_eq!(call_i64(&mut inst, "i64.load", &[i(301)]), i64::MIN + 5);
    assert_eq!(
        inst.memory().unwrap()[301..309],
        (i64::MIN + 5).to_le_bytes()
    );
    // Static offsets apply to stores and loads alike.
    call(&mut inst, "offset_store", &[i(24), i(0x0a0b_0c0d)]);
    assert_eq!(call_i32(&mut inst, "i32.load", &[i(1024)]), 0x0a0b_0c0d);
    assert_eq!(call_i32(&mut inst, "offset_load8", &[i(24)]), 0x0a);
    // The last 4 bytes of memory through a large static offset.
    call(&mut inst, "i32.store", &[i(65532), i(77)]);
    assert_eq!(call_i32(&mut inst, "big_offset", &[i(0)]), 77);
    expect_trap(
        &mut inst,
        "big_offset",
        &[i(1)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "big_offset",
        &[i(-1)],
        TrapCode::MemoryOutOfBounds,
    );
    assert_eq!(call_i32(&mut inst, "big_offset", &[i(0)]), 77);
}

#[test]
fn memory_size_and_grow() {
    let wat = r#"
    (module
      (memory (export "memory") 1 3)
      (func (export "size") (result i32) (memory.size))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i32(&mut inst, "size", &[]), 1);
    assert_eq!(inst.memory().unwrap().len(), 65536);
    expect_trap(&mut inst, "load", &[i(65536)], TrapCode::MemoryOutOfBounds);
    // grow returns the old size
    assert_eq!(call_i32(&mut inst, "grow", &[i(0)]), 1);
    assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), 1);
    assert_eq!(call_i32(&mut inst, "size", &[]), 2);
    assert_eq!(inst.memory().unwrap().len(), 2 * 65536);
    // the new page is zeroed and usable
    assert_eq!(call_i32(&mut inst, "load", &[i(65536)]), 0);
    call(&mut inst, "store", &[i(2 * 65536 - 4), i(1234)]);
    assert_eq!(call_i32(&mut inst, "load", &[i(2 * 65536 - 4)]), 1234);
    expect_trap(
        &mut inst,
        "load",
        &[i(2 * 65536 - 3)],
        TrapCode::MemoryOutOfBounds,
    );
    // beyond the maximum: -1 and nothing changes
    assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), -1);
    assert_eq!(call_i32(&mut inst, "grow", &[i(-1)]), -1);
    assert_eq!(call_i32(&mut inst, "grow", &[i(0x1_0000)]), -1);
    assert_eq!(call_i32(&mut inst, "size", &[]), 2);
    assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), 2);
    assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), -1);
    assert_eq!(call_i32(&mut inst, "size", &[]), 3);
    assert_eq!(call_i32(&mut inst, "load", &[i(2 * 65536 - 4)]), 1234);
    assert_eq!(inst.memory().unwrap().len(), 3 * 65536);
}

#[test]
fn memory_grow_without_maximum_and_with_embedder_limit() {
    let wat = r#"
    (module
      (memory 0)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) (memory.size))
      (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i32(&mut inst, "size", &[]), 0);
    expect_trap(&mut inst, "load", &[i(0)], TrapCode::MemoryOutOfBounds);
    assert_eq!(call_i32(&mut inst, "grow", &[i(16)]), 0);
    assert_eq!(call_i32(&mut inst, "load", &[i(16 * 65536 - 1)]), 0);
    // more than 4 GiB worth of pages can never be had
    assert_eq!(call_i32(&mut inst, "grow", &[i(65536)]), -1);
    // the embedder's limit
    let mut linker = Linker::new();
    linker.memory_limit_pages(4);
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(call_i32(&mut inst, "grow", &[i(4)]), 0);
    assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), -1);
    assert_eq!(call_i32(&mut inst, "size", &[]), 4);
}

#[test]
fn data_segments_and_start_function() {
    let wat = r#"
    (module
      (memory (export "memory") 1)
      (global $started (mut i32) (i32.const 0))
      (data (i32.const 0) "hello")
      (data (i32.const 3) "LO world")          ;; overlapping: later wins
      (data (i32.const 32) "\de\ad\be\ef")
      (data (i32.const 65534) "!?")            ;; the very end
      (func $start
        (global.set $started (i32.add (global.get $started) (i32.const 1)))
        ;; the start function runs after the data segments were applied
        (i32.store8 (i32.const 40) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1))))
      (start $start)
      (func (export "started") (result i32) (global.get $started))
      (func (export "word") (param i32) (result i32) (i32.load (local.get 0)))
    )"#;
    let mut inst = instantiate_wat(wat);
    let mem = inst.memory().unwrap();
    assert_eq!(&mem[0..11], b"helLO world");
    assert_eq!(&mem[32..36], &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(&mem[65534..], b"!?");
    assert_eq!(mem[40], b'h' + 1);
    assert_eq!(mem[11], 0);
    assert_eq!(call_i32(&mut inst, "started", &[]), 1);
    assert_eq!(
        call_i32(&mut inst, "word", &[i(32)]),
        0xefbe_adde_u32 as i32
    );
}

#[test]
fn start_function_trap_fails_instantiation() {
    let wat = r#"
    (module
      (memory 1)
      (func $start (i32.store (i32.const 65535) (i32.const 1)))
      (start $start))"#;
    let err = try_instantiate_with(wat, &Linker::new()).unwrap_err();
    assert_trap(&err, TrapCode::MemoryOutOfBounds);
    assert!(err.as_trap().is_some(), "{err}");
}

#[test]
fn data_segment_out_of_bounds_fails_instantiation() {
    let wat = r#"(module (memory 1) (data (i32.const 65535) "ab"))"#;
    let err = try_instantiate_with(wat, &Linker::new()).unwrap_err();
    assert_trap(&err, TrapCode::MemoryOutOfBounds);
}

#[test]
fn host_writes_are_visible_to_wasm_and_back() {
    let wat = r#"
    (module
      (memory (export "memory") 1)
      (func (export "sum") (param $p i32) (param $n i32) (result i64)
        (local $s i64)
        (block $done (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $s (i64.add (local.get $s) (i64.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
        (local.get $s))
      (func (export "double") (param $p i32) (param $n i32)
        (block $done (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (i64.store (local.get $p) (i64.mul (i64.load (local.get $p)) (i64.const 2)))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l))))
    )"#;
    let mut inst = instantiate_wat(wat);
    {
        let mem = inst.memory_mut().unwrap();
        for k in 0..100u64 {
            let at = 512 + 8 * k as usize;
            mem[at..at + 8].copy_from_slice(&(k * k).to_le_bytes());
        }
    }
    let want: i64 = (0..100).map(|k| k * k).sum();
    assert_eq!(call_i64(&mut inst, "sum", &[i(512), i(100)]), want);
    call(&mut inst, "double", &[i(512), i(100)]);
    let mem = inst.memory().unwrap();
    for k in 0..100u64 {
        let at = 512 + 8 * k as usize;
        assert_eq!(mem[at..at + 8], (2 * k * k).to_le_bytes());
    }
}

#[test]
fn instances_have_separate_memories() {
    let wat = r#"
    (module
      (memory 1)
      (func (export "set") (param i32) (i32.store (i32.const 0) (local.get 0)))
      (func (export "get") (result i32) (i32.load (i32.const 0))))"#;
    let artifact = load_wat(wat);
    let mut a = Linker::new().instantiate_artifact(&artifact).unwrap();
    let mut b = Linker::new().instantiate_artifact(&artifact).unwrap();
    call(&mut a, "set", &[i(1)]);
    call(&mut b, "set", &[i(2)]);
    assert_eq!(call_i32(&mut a, "get", &[]), 1);
    assert_eq!(call_i32(&mut b, "get", &[]), 2);
    assert_eq!(a.memory().unwrap()[0], 1);
    assert_eq!(b.memory().unwrap()[0], 2);
}

/// Pseudo-random loads and stores of all widths against a model in Rust.
#[test]
fn random_accesses_match_a_model() {
    let mut inst = instantiate_wat(ACCESS);
    let mut model = inst.memory().unwrap().to_vec();
    let mut rng = Rng::new(0x5eed);
    let stores = [
        ("i32.store8", 1usize),
        ("i32.store16", 2),
        ("i32.store", 4),
        ("i64.store8", 1),
        ("i64.store16", 2),
        ("i64.store32", 4),
        ("i64.store", 8),
    ];
    for _ in 0..2000 {
        let (name, width) = stores[rng.below(stores.len() as u64) as usize];
        let addr = rng.below(4096) as usize;
        let value = rng.next_u64();
        let arg = if name.starts_with("i32") {
            Val::I32(value as i32)
        } else {
            Val::I64(value as i64)
        };
        call(&mut inst, name, &[i(addr as i32), arg]);
        model[addr..addr + width].copy_from_slice(&value.to_le_bytes()[..width]);
        let check = rng.below(4096) as usize;
        let got = call_i64(&mut inst, "i64.load", &[i(check as i32)]);
        let want = i64::from_le_bytes(model[check..check + 8].try_into().unwrap());
        assert_eq!(got, want, "after {name} at {addr}, load at {check}");
    }
    assert_eq!(inst.memory().unwrap(), &model[..]);
}
