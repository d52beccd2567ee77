//! Code compiled with `BoundsChecks::GuardPages`: no compare per access;
//! out-of-bounds accesses fault in the memory's guard region and the loader
//! turns the fault into the same "out of bounds memory access" trap. Every
//! case of the explicit-check tests, plus faults on small threads, on many
//! threads at once, after memory.grow, and real programs (kernels).

use vibewasm_format::BoundsChecks;
use vibewasm_tests::*;

fn guarded() -> Config {
    Config {
        bounds_checks: BoundsChecks::GuardPages,
        ..Config::default()
    }
}

fn i(v: i32) -> Val {
    Val::I32(v)
}

const MODULE: &str = r#"
(module
  (memory (export "memory") 1 4)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 0) "\01\02\03\04\05\06\07\08")
  (func (export "ok") (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (global.get $calls))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load16") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load64") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "loadf64") (param i32) (result f64) (f64.load (local.get 0)))
  (func (export "store8") (param i32) (i32.store8 (local.get 0) (i32.const 0x55)))
  (func (export "store") (param i32) (i32.store (local.get 0) (i32.const 0x01020304)))
  (func (export "store64") (param i32) (i64.store (local.get 0) (i64.const -1)))
  (func (export "storef32") (param i32) (f32.store (local.get 0) (f32.const 1.5)))
  (func (export "load_max_offset") (param i32) (result i32) (i32.load offset=0xffffffff (local.get 0)))
  (func (export "store_max_offset") (param i32) (i64.store offset=0xfffffff8 (local.get 0) (i64.const 1)))
  (func (export "load_big_offset") (param i32) (result i32) (i32.load offset=0x7ffffff0 (local.get 0)))
  (func (export "load_small_offset") (param i32) (result i32) (i32.load16_u offset=6 (local.get 0)))
  (func (export "const_oob") (result i32) (i32.load8_u offset=0xfffffff0 (i32.const 0x10)))
  (func (export "wrap_addr") (param i32) (result i32) (i32.load8_u (i32.add (local.get 0) (i32.const 8))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func $deep (export "deep") (param i32) (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.load (local.get 1)))
      (else (i32.add (i32.const 1) (call $deep (i32.sub (local.get 0) (i32.const 1)) (local.get 1))))))
)"#;

fn instance() -> Instance {
    instantiate_configured(MODULE, &guarded(), &Linker::new())
}

#[test]
fn header_records_guard_pages() {
    let bytes = compile_wat_with(MODULE, &guarded());
    let artifact = open_artifact_bytes(&bytes);
    assert_eq!(
        artifact.header().options.bounds_checks,
        BoundsChecks::GuardPages
    );
    // Guard pages are the default on 64-bit hosts.
    assert_eq!(bytes, compile_wat(MODULE));
    // The two strategies produce different code for the same module.
    let explicit = Config {
        bounds_checks: BoundsChecks::Explicit,
        ..Config::default()
    };
    assert!(bytes != compile_wat_with(MODULE, &explicit));
}

#[test]
fn in_bounds_accesses_work() {
    let mut inst = instance();
    assert_eq!(call_i32(&mut inst, "load", &[i(0)]), 0x0403_0201);
    assert_eq!(call_i32(&mut inst, "load", &[i(5)]), 0x0008_0706);
    assert_eq!(call_i32(&mut inst, "load16", &[i(65534)]), 0);
    assert_eq!(call_i64(&mut inst, "load64", &[i(65528)]), 0);
    call(&mut inst, "store", &[i(65532)]);
    assert_eq!(call_i32(&mut inst, "load", &[i(65532)]), 0x0102_0304);
    call(&mut inst, "storef32", &[i(100)]);
    assert_eq!(
        call_i32(&mut inst, "load", &[i(100)]),
        1.5f32.to_bits() as i32
    );
    assert_eq!(call_i32(&mut inst, "wrap_addr", &[i(-4)]), 5);
}

#[test]
fn offsets_add_to_the_index() {
    let mut inst = instance();
    assert_eq!(call_i32(&mut inst, "load_small_offset", &[i(0)]), 0x0807);
    assert_eq!(call_i32(&mut inst, "load_small_offset", &[i(65528)]), 0);
}

#[test]
fn out_of_bounds_accesses_trap() {
    let mut inst = instance();
    let mut calls = 0;
    for (name, addr) in [
        ("load8", 65536),
        ("load8", -1),
        ("load16", 65535),
        ("load", 65533),
        ("load", 65536),
        ("load", i32::MAX),
        ("load", i32::MIN),
        ("load64", 65529),
        ("loadf64", -8),
        ("store8", 65536),
        ("store", 65533),
        ("store64", 65529),
        ("storef32", 0x7fff_ffff),
        ("load_max_offset", 0),
        ("load_max_offset", -1),
        ("store_max_offset", 8),
        // A zero-extended index plus an offset below 2^31 in one add.
        ("load_big_offset", 0),
        ("load_big_offset", -1),
        ("load_big_offset", i32::MIN),
        ("load_small_offset", 65529),
        ("load_small_offset", -1),
        ("store_max_offset", -1),
        ("wrap_addr", -9),
    ] {
        let err = expect_trap(&mut inst, name, &[i(addr)], TrapCode::MemoryOutOfBounds);
        let trap = err.as_trap().expect("a trap");
        assert!(trap.func.is_some(), "{name}({addr}): {err}");
        calls += 1;
        assert_eq!(
            call_i32(&mut inst, "ok", &[]),
            calls,
            "after {name}({addr})"
        );
    }
    expect_trap(&mut inst, "const_oob", &[], TrapCode::MemoryOutOfBounds);
    // Partial stores never happen... at least nothing at the end changed
    // by the straddling stores above except what is allowed to: the spec
    // leaves no room, the bytes must be untouched.
    let mem = inst.memory_mut().unwrap();
    assert_eq!(&mem[65528..], &[0; 8]);
}

#[test]
fn grown_memory_is_accessible_and_the_new_end_faults() {
    let mut inst = instance();
    expect_trap(&mut inst, "load", &[i(65536)], TrapCode::MemoryOutOfBounds);
    assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), 1);
    assert_eq!(call_i32(&mut inst, "load", &[i(65536)]), 0);
    call(&mut inst, "store", &[i(3 * 65536 - 4)]);
    assert_eq!(
        call_i32(&mut inst, "load", &[i(3 * 65536 - 4)]),
        0x0102_0304
    );
    expect_trap(
        &mut inst,
        "load",
        &[i(3 * 65536 - 2)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "load8",
        &[i(3 * 65536)],
        TrapCode::MemoryOutOfBounds,
    );
    assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), -1);
    assert_eq!(call_i32(&mut inst, "size", &[]), 3);
}

#[test]
fn empty_memory_faults_everywhere() {
    let wat = r#"(module (memory 0)
        (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#;
    let mut inst = instantiate_configured(wat, &guarded(), &Linker::new());
    for addr in [0, 1, 65535, -1] {
        expect_trap(&mut inst, "load", &[i(addr)], TrapCode::MemoryOutOfBounds);
    }
    assert_eq!(call_i32(&mut inst, "grow", &[]), 0);
    assert_eq!(call_i32(&mut inst, "load", &[i(65535)]), 0);
    expect_trap(&mut inst, "load", &[i(65536)], TrapCode::MemoryOutOfBounds);
}

#[test]
fn faults_deep_in_recursion_and_on_a_small_thread() {
    let mut inst = instance();
    expect_trap(
        &mut inst,
        "deep",
        &[i(200), i(-1)],
        TrapCode::MemoryOutOfBounds,
    );
    assert_eq!(
        call_i32(&mut inst, "deep", &[i(200), i(0)]),
        200 + 0x0403_0201
    );
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            expect_trap(
                &mut inst,
                "deep",
                &[i(100), i(70000)],
                TrapCode::MemoryOutOfBounds,
            );
            expect_trap(&mut inst, "load", &[i(-4)], TrapCode::MemoryOutOfBounds);
            call_i32(&mut inst, "deep", &[i(10), i(4)])
        })
        .unwrap();
    assert_eq!(handle.join().expect("thread survived"), 10 + 0x0807_0605);
}

#[test]
fn faults_on_many_threads_at_once() {
    let artifact = open_artifact_bytes(&compile_wat_with(MODULE, &guarded()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let artifact = artifact.clone();
            std::thread::spawn(move || {
                let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
                for k in 0..300 {
                    if (k + t) % 2 == 0 {
                        expect_trap(
                            &mut inst,
                            "load",
                            &[i(65536 + k)],
                            TrapCode::MemoryOutOfBounds,
                        );
                    } else {
                        assert_eq!(call_i32(&mut inst, "load8", &[i(k % 8)]), k % 8 + 1);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread failed");
    }
}

#[test]
fn two_strategies_agree_on_random_accesses() {
    let explicit_checks = Config {
        bounds_checks: BoundsChecks::Explicit,
        ..Config::default()
    };
    let mut explicit = instantiate_configured(MODULE, &explicit_checks, &Linker::new());
    let mut guard = instance();
    let mut rng = Rng::new(0x6a4d);
    let names = [
        "load8", "load16", "load", "load64", "store8", "store", "store64",
    ];
    for _ in 0..3000 {
        let name = names[rng.below(names.len() as u64) as usize];
        // mostly near the end of memory, sometimes anywhere
        let addr = if rng.below(4) == 0 {
            rng.next_u64() as i32
        } else {
            65536 - 16 + rng.below(32) as i32
        };
        let a = explicit.call(name, &[i(addr)]);
        let b = guard.call(name, &[i(addr)]);
        match (&a, &b) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "{name}({addr})"),
            (Err(x), Err(y)) => {
                assert_eq!(x.trap_code(), y.trap_code(), "{name}({addr}): {x} / {y}")
            }
            _ => panic!("{name}({addr}): explicit {a:?}, guard pages {b:?}"),
        }
    }
    assert!(explicit.memory_mut().unwrap() == guard.memory_mut().unwrap());
}

#[test]
fn kernels_give_their_checksums_with_guard_pages() {
    let text = std::fs::read_to_string(kernels_dir().join("checksums.tsv")).unwrap();
    for name in ["sort", "sha256"] {
        let want: i64 = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .and_then(|l| l.split('\t').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no checksum for {name}"));
        let wasm = std::fs::read(kernels_dir().join(format!("{name}.wasm"))).unwrap();
        let bytes = compile(&wasm, &guarded()).unwrap();
        let mut inst = Linker::new()
            .instantiate_artifact(&open_artifact_bytes(&bytes))
            .unwrap();
        assert_eq!(call_i64(&mut inst, "run", &[]), want, "{name}");
    }
}
