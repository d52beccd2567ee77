//! Sandboxing through the real pipeline (compile -> artifact file -> open ->
//! instantiate -> call): memory bounds with both strategies, memory limits,
//! the stack limit on small threads, fuel, epoch interruption, backtraces,
//! resident memory over many traps, and faults outside wasm going to the
//! handler installed before the loader's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vibewasm_format::{BoundsChecks, GUARD_RESERVATION};
use vibewasm_loader::{EpochCounter, Frame, Store};
use vibewasm_tests::*;

const STRATEGIES: [BoundsChecks; 2] = [BoundsChecks::Explicit, BoundsChecks::GuardPages];

fn config(bounds_checks: BoundsChecks) -> Config {
    Config {
        bounds_checks,
        ..Config::default()
    }
}

fn i(v: i32) -> Val {
    Val::I32(v)
}

fn trap_of(err: &Error) -> &Trap {
    err.as_trap().unwrap_or_else(|| panic!("not a trap: {err}"))
}

/// Instantiates `artifact` in `store` with `linker` settings.
fn instantiate_in(store: &Store, artifact: &Arc<Artifact>) -> Instance {
    Linker::with_store(store.clone())
        .instantiate_artifact(artifact)
        .unwrap_or_else(|e| panic!("instantiate failed: {e}"))
}

// ---------------------------------------------------------------------------
// Memory bounds.

const MEMORY: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load_far") (param i32) (result i32) (i32.load offset=0xfffffff0 (local.get 0)))
  (func (export "load_last") (param i32) (result i32) (i32.load8_u offset=0xffffffff (local.get 0)))
  (func (export "load64_far") (param i32) (result i64) (i64.load offset=0xfffffff8 (local.get 0)))
  (func (export "store_far") (param i32) (i64.store offset=0xfffffffc (local.get 0) (i64.const -1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
)"#;

#[test]
fn out_of_bounds_accesses_trap_in_both_strategies() {
    for strategy in STRATEGIES {
        let mut inst = instantiate_configured(MEMORY, &config(strategy), &Linker::new());
        let s = format!("{strategy:?}");
        call(&mut inst, "store", &[i(65532), i(0x1234_5678)]);
        assert_eq!(call_i32(&mut inst, "load", &[i(65532)]), 0x1234_5678, "{s}");
        for (name, addr) in [
            ("load", 65533),
            ("load", 65536),
            ("load", -1),
            ("load", i32::MIN),
            ("load8", 65536),
            ("load_far", 0),
            ("load_far", 0x10),
            ("load_far", -1),
            ("load_last", 0),
            ("load_last", -1),
            ("load64_far", 0),
            ("load64_far", 8),
            ("load64_far", -8),
            ("store_far", 0),
            ("store_far", 4),
            ("store_far", -1),
        ] {
            let err = expect_trap(&mut inst, name, &[i(addr)], TrapCode::MemoryOutOfBounds);
            let trap = trap_of(&err);
            assert!(trap.func.is_some(), "{s} {name}({addr}): {err}");
            assert_eq!(trap.backtrace.len(), 1, "{s} {name}({addr}): {err}");
            assert_eq!(trap.backtrace[0].func_name.as_deref(), None, "{s}: {err}");
        }
        // memory.grow, then the new pages are there and the new end faults.
        assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), 1, "{s}");
        assert_eq!(call_i32(&mut inst, "load", &[i(65536)]), 0, "{s}");
        call(&mut inst, "store", &[i(131068), i(7)]);
        assert_eq!(call_i32(&mut inst, "load", &[i(131068)]), 7, "{s}");
        expect_trap(&mut inst, "load", &[i(131069)], TrapCode::MemoryOutOfBounds);
        expect_trap(
            &mut inst,
            "load8",
            &[i(131072)],
            TrapCode::MemoryOutOfBounds,
        );
        assert_eq!(call_i32(&mut inst, "size", &[]), 2, "{s}");
    }
}

#[test]
fn a_full_four_gib_memory_traps_exactly_at_its_end() {
    let wat = r#"(module
      (memory 0)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "load8_off1") (param i32) (result i32) (i32.load8_u offset=1 (local.get 0)))
      (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))"#;
    for strategy in STRATEGIES {
        let mut inst = instantiate_configured(wat, &config(strategy), &Linker::new());
        expect_trap(&mut inst, "load", &[i(0)], TrapCode::MemoryOutOfBounds);
        assert_eq!(call_i32(&mut inst, "grow", &[i(65536)]), 0);
        // Only the last page is touched: the rest stays uncommitted.
        call(&mut inst, "store8", &[i(-1), i(0xab)]);
        assert_eq!(call_i32(&mut inst, "load", &[i(-4)]), 0xab00_0000u32 as i32);
        assert_eq!(call_i32(&mut inst, "load8_off1", &[i(-2)]), 0xab);
        expect_trap(&mut inst, "load", &[i(-3)], TrapCode::MemoryOutOfBounds);
        expect_trap(
            &mut inst,
            "load8_off1",
            &[i(-1)],
            TrapCode::MemoryOutOfBounds,
        );
        assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), -1);
    }
}

#[test]
fn a_declared_maximum_is_all_a_memory_gets() {
    let wat = r#"(module
      (memory (export "memory") 1 3)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;
    for strategy in STRATEGIES {
        let mut inst = instantiate_configured(wat, &config(strategy), &Linker::new());
        let memory = inst.get_memory("memory").unwrap();
        let reserved = memory.reserved_bytes() as u64;
        match strategy {
            // Explicit checks need no more address space than the maximum.
            BoundsChecks::Explicit => assert_eq!(reserved, 3 * 65536),
            BoundsChecks::GuardPages => assert_eq!(reserved, GUARD_RESERVATION),
        }
        assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), 1);
        assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), -1);
        assert_eq!(call_i32(&mut inst, "load8", &[i(3 * 65536 - 1)]), 0);
        expect_trap(
            &mut inst,
            "load8",
            &[i(3 * 65536)],
            TrapCode::MemoryOutOfBounds,
        );
        assert_eq!(memory.size_pages(), Ok(3));

        // The embedder's limit is below the maximum: growing past it fails
        // with -1, not a crash.
        let mut linker = Linker::new();
        linker.memory_limit_pages(2);
        let mut inst = instantiate_configured(wat, &config(strategy), &linker);
        assert_eq!(call_i32(&mut inst, "grow", &[i(2)]), -1);
        assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), 1);
        assert_eq!(call_i32(&mut inst, "grow", &[i(1)]), -1);
        assert_eq!(call_i32(&mut inst, "grow", &[i(0)]), 2);
        expect_trap(
            &mut inst,
            "load8",
            &[i(2 * 65536)],
            TrapCode::MemoryOutOfBounds,
        );
    }
}

#[test]
fn guard_page_code_only_imports_memories_with_a_guard_region() {
    let exporter = r#"(module (memory (export "memory") 1 2))"#;
    let importer = r#"(module (import "lib" "memory" (memory 1))
      (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;
    let explicit = config(BoundsChecks::Explicit);
    let guarded = config(BoundsChecks::GuardPages);

    // An explicit-check memory (its maximum reserved) cannot back guard-page code.
    let lib = instantiate_configured(exporter, &explicit, &Linker::new());
    let mut linker = Linker::new();
    linker.define_instance("lib", &lib).unwrap();
    let artifact = open_artifact_bytes(&compile_wat_with(importer, &guarded));
    let err = linker.instantiate_artifact(&artifact).unwrap_err();
    assert!(err.is_link_error(), "{err}");
    assert!(err.to_string().contains("guard region"), "{err}");
    // Explicit-check code can import it.
    let artifact = open_artifact_bytes(&compile_wat_with(importer, &explicit));
    let mut inst = linker.instantiate_artifact(&artifact).unwrap();
    expect_trap(&mut inst, "load8", &[i(65536)], TrapCode::MemoryOutOfBounds);

    // A guard-page memory backs both; so does a memory the host creates.
    let lib = instantiate_configured(exporter, &guarded, &Linker::new());
    for cfg in [&explicit, &guarded] {
        let mut linker = Linker::new();
        linker.define_instance("lib", &lib).unwrap();
        let artifact = open_artifact_bytes(&compile_wat_with(importer, cfg));
        let mut inst = linker.instantiate_artifact(&artifact).unwrap();
        expect_trap(&mut inst, "load8", &[i(65536)], TrapCode::MemoryOutOfBounds);

        let mut linker = Linker::new();
        let ty = vibewasm_loader::MemoryType {
            min_pages: 1,
            max_pages: None,
            index64: false,
        };
        let memory = linker.define_memory("lib", "memory", ty).unwrap();
        assert_eq!(memory.reserved_bytes() as u64, GUARD_RESERVATION);
        let artifact = open_artifact_bytes(&compile_wat_with(importer, cfg));
        let mut inst = linker.instantiate_artifact(&artifact).unwrap();
        expect_trap(&mut inst, "load8", &[i(65536)], TrapCode::MemoryOutOfBounds);
    }
}

#[test]
fn a_host_that_forbids_signal_handlers_gets_a_clear_refusal() {
    let wat = r#"(module (memory 1)
      (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;
    let mut linker = Linker::new();
    linker.allow_signal_handlers(false);
    let guarded = open_artifact_bytes(&compile_wat_with(wat, &config(BoundsChecks::GuardPages)));
    let err = linker.instantiate_artifact(&guarded).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("guard-page bounds checks") && text.contains("--bounds-checks explicit"),
        "{text}"
    );
    let explicit = open_artifact_bytes(&compile_wat_with(wat, &config(BoundsChecks::Explicit)));
    let mut inst = linker.instantiate_artifact(&explicit).unwrap();
    expect_trap(&mut inst, "load8", &[i(65536)], TrapCode::MemoryOutOfBounds);
}

// ---------------------------------------------------------------------------
// Stack.

const RECURSION: &str = r#"
(module
  (memory 1)
  (func $forever (export "forever") (param i32) (result i32)
    (i32.add
      (i32.load (i32.and (local.get 0) (i32.const 0xffc)))
      (call $forever (i32.add (local.get 0) (i32.const 4)))))
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $depth (i32.sub (local.get 0) (i32.const 1)))))))
)"#;

#[test]
fn deep_recursion_traps_on_a_256_kib_thread_which_goes_on_working() {
    for strategy in STRATEGIES {
        let artifact = open_artifact_bytes(&compile_wat_with(RECURSION, &config(strategy)));
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
                for round in 0..20 {
                    let err = expect_trap(&mut inst, "forever", &[i(0)], TrapCode::StackOverflow);
                    let trap = trap_of(&err);
                    // Every frame is `forever`, innermost first, with the call's offset.
                    assert!(trap.backtrace.len() > 100, "round {round}: {err}");
                    assert!(trap.backtrace.iter().all(|f| f.func_index == 0));
                    assert!(trap.backtrace[1..]
                        .windows(2)
                        .all(|w| w[0].wasm_offset == w[1].wasm_offset));
                    assert_eq!(call_i32(&mut inst, "depth", &[i(500)]), 500);
                }
            })
            .unwrap();
        handle.join().expect("the small thread survived");
    }
}

#[test]
fn the_stack_limit_is_configurable_in_both_strategies() {
    for strategy in STRATEGIES {
        let artifact = open_artifact_bytes(&compile_wat_with(RECURSION, &config(strategy)));
        let mut roomy = Linker::new().instantiate_artifact(&artifact).unwrap();
        assert_eq!(call_i32(&mut roomy, "depth", &[i(3000)]), 3000);
        let mut linker = Linker::new();
        linker.max_wasm_stack(16 * 1024);
        let mut tight = linker.instantiate_artifact(&artifact).unwrap();
        expect_trap(&mut tight, "depth", &[i(3000)], TrapCode::StackOverflow);
        assert_eq!(call_i32(&mut tight, "depth", &[i(20)]), 20);
        tight.set_max_wasm_stack(1 << 20);
        assert_eq!(call_i32(&mut tight, "depth", &[i(3000)]), 3000);
    }
}

#[test]
fn deep_recursion_on_the_main_thread_of_the_cli() {
    let dir = TempDir::new();
    let path = dir.join("rec.wat");
    std::fs::write(&path, RECURSION).unwrap();
    for strategy in ["guard", "explicit"] {
        let vwa = dir.join(&format!("rec-{strategy}.vwa"));
        let out = run_cli([
            "compile".as_ref(),
            path.as_os_str(),
            "-o".as_ref(),
            vwa.as_os_str(),
            "--bounds-checks".as_ref(),
            strategy.as_ref(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let out = run_cli([
            "run".as_ref(),
            vwa.as_os_str(),
            "--invoke".as_ref(),
            "forever".as_ref(),
            "0".as_ref(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("call stack exhausted"), "{stderr}");
        assert!(stderr.contains("wasm backtrace:"), "{stderr}");
        assert!(stderr.contains("!forever"), "{stderr}");
        // --max-stack: 3000 frames fit the default, not 16 KiB.
        let depth = |extra: &[&str]| {
            let mut args = vec!["run", vwa.to_str().unwrap(), "--invoke", "depth"];
            args.extend_from_slice(extra);
            args.push("3000");
            run_cli(args)
        };
        let out = depth(&[]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3000");
        let out = depth(&["--max-stack", "16384"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("call stack exhausted"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------
// Fuel and epochs.

const SPIN: &str = r#"
(module
  (global $g (export "g") (mut i32) (i32.const 0))
  (func $tick (global.set $g (i32.add (global.get $g) (i32.const 1))))
  (func (export "spin")
    (loop $l (call $tick) (br $l)))
  (func (export "spin_flat")
    (loop $l (global.set $g (i32.add (global.get $g) (i32.const 1))) (br $l)))
  (func (export "count") (param i32) (result i32) (local i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get 1) (local.get 0)))
        (local.set 1 (i32.add (local.get 1) (i32.const 1)))
        (br $l)))
    (local.get 1))
  (func (export "ticks") (result i32) (global.get $g))
)"#;

/// The counter `spin` increments (read without running code, which would
/// trap again once fuel or the deadline ran out).
fn ticks(inst: &Instance) -> i32 {
    match inst.global("g") {
        Some(Val::I32(v)) => v,
        other => panic!("global g: {other:?}"),
    }
}

fn spin_artifact(fuel: bool, epoch: bool) -> Arc<Artifact> {
    let cfg = Config {
        fuel,
        epoch,
        ..Config::default()
    };
    open_artifact_bytes(&compile_wat_with(SPIN, &cfg))
}

/// Fuel left after `count(n)` with `fuel` to start with.
fn fuel_after_count(artifact: &Arc<Artifact>, fuel: u64, n: i32) -> u64 {
    let store = Store::default();
    store.set_fuel(fuel).unwrap();
    let mut inst = instantiate_in(&store, artifact);
    assert_eq!(call_i32(&mut inst, "count", &[i(n)]), n);
    store.fuel()
}

#[test]
fn fuel_stops_an_infinite_loop_and_more_fuel_goes_on() {
    let artifact = spin_artifact(true, false);
    let store = Store::default();
    let mut inst = instantiate_in(&store, &artifact);
    // A store starts without fuel.
    expect_trap(&mut inst, "count", &[i(1)], TrapCode::OutOfFuel);
    for name in ["spin", "spin_flat"] {
        store.set_fuel(100_000).unwrap();
        let start = Instant::now();
        let err = expect_trap(&mut inst, name, &[], TrapCode::OutOfFuel);
        assert!(start.elapsed() < Duration::from_secs(5));
        let trap = trap_of(&err);
        assert!(!trap.backtrace.is_empty(), "{err}");
        // Less is left than one region costs.
        assert!(store.fuel() < 20, "{name}: {} left", store.fuel());
        assert!(ticks(&inst) > 1000, "{err}");
    }
    // The host adds fuel and calls again.
    store.add_fuel(10_000).unwrap();
    assert_eq!(call_i32(&mut inst, "count", &[i(10)]), 10);
}

#[test]
fn host_functions_read_and_charge_fuel() {
    let wat = r#"(module
      (import "env" "work" (func $work (param i32)))
      (func (export "run") (param i32)
        (loop $l
          (call $work (local.get 0))
          (br $l))))"#;
    let cfg = Config {
        fuel: true,
        ..Config::default()
    };
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let store = Store::default();
    let mut linker = Linker::with_store(store.clone());
    linker
        .func_wrap("env", "work", move |caller: &mut Caller<'_>, cost: i32| {
            let left = caller.fuel();
            log.lock().unwrap().push(left);
            caller.set_fuel(left.saturating_sub(cost as u64));
        })
        .unwrap();
    let mut inst = linker
        .instantiate_artifact(&open_artifact_bytes(&compile_wat_with(wat, &cfg)))
        .unwrap();
    store.set_fuel(10_000).unwrap();
    expect_trap(&mut inst, "run", &[i(1000)], TrapCode::OutOfFuel);
    let seen = seen.lock().unwrap();
    // Each round: a few operators, then the host takes 1000.
    assert!((9..=10).contains(&seen.len()), "{seen:?}");
    assert!(seen
        .windows(2)
        .all(|w| w[0] - w[1] > 1000 && w[0] - w[1] < 1010));
    assert!(store.fuel() < 1000);
}

#[test]
fn fuel_counts_are_deterministic_and_linear() {
    let artifact = spin_artifact(true, false);
    let runs: Vec<u64> = (0..3)
        .map(|_| fuel_after_count(&artifact, 1_000_000, 1000))
        .collect();
    assert!(runs.windows(2).all(|w| w[0] == w[1]), "{runs:?}");
    // One unit per executed operator: each loop iteration runs the same
    // operators, so the cost is linear in the iterations.
    let used = |n| 1_000_000 - fuel_after_count(&artifact, 1_000_000, n);
    let (a, b, c) = (used(10), used(20), used(30));
    assert_eq!(b - a, c - b, "{a} {b} {c}");
    // An iteration is `local.get, local.get, i32.ge_u, br_if, local.get,
    // i32.const, i32.add, local.set, br`: 9 operators.
    assert_eq!((b - a) / 10, 9, "{a} {b} {c}");
    // Stopping is deterministic too: the same fuel stops at the same place.
    let stop = || {
        let store = Store::default();
        store.set_fuel(12_345).unwrap();
        let mut inst = instantiate_in(&store, &artifact);
        expect_trap(&mut inst, "spin", &[], TrapCode::OutOfFuel);
        (store.fuel(), ticks(&inst))
    };
    assert_eq!(stop(), stop());
}

#[test]
fn code_without_fuel_or_epoch_checks_pays_nothing() {
    let plain = compile_wat(SPIN);
    let fuel = compile_wat_with(
        SPIN,
        &Config {
            fuel: true,
            ..Config::default()
        },
    );
    let epoch = compile_wat_with(
        SPIN,
        &Config {
            epoch: true,
            ..Config::default()
        },
    );
    let code_len = |bytes: &[u8]| open_artifact_bytes(bytes).code_len();
    assert!(code_len(&plain) < code_len(&fuel));
    assert!(code_len(&plain) < code_len(&epoch));
    // Without fuel (0 left) and with a passed deadline it runs all the same.
    let store = Store::default();
    store.set_epoch_deadline(0).unwrap();
    let mut inst = instantiate_in(&store, &open_artifact_bytes(&plain));
    assert_eq!(call_i32(&mut inst, "count", &[i(100)]), 100);
}

#[test]
fn an_epoch_deadline_from_another_thread_stops_an_infinite_loop() {
    let artifact = spin_artifact(false, true);
    for name in ["spin", "spin_flat"] {
        let store = Store::default();
        let mut inst = instantiate_in(&store, &artifact);
        store.set_epoch_deadline(1).unwrap();
        let counter = store.epoch_counter();
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            (counter.increment(), Instant::now())
        });
        let err = expect_trap(&mut inst, name, &[], TrapCode::Interrupted);
        let stopped = Instant::now();
        let (_, incremented) = watchdog.join().unwrap();
        let latency = stopped.saturating_duration_since(incremented);
        assert!(latency < Duration::from_secs(1), "{name}: {latency:?}");
        assert!(!trap_of(&err).backtrace.is_empty());
        assert!(ticks(&inst) > 0);
        // The deadline has passed: code with checks stops at once until
        // the host sets a new one.
        expect_trap(&mut inst, "count", &[i(5)], TrapCode::Interrupted);
        store.set_epoch_deadline(1).unwrap();
        assert_eq!(call_i32(&mut inst, "count", &[i(5)]), 5);
    }
}

#[test]
fn stores_can_share_an_engine_wide_epoch_counter() {
    let artifact = spin_artifact(false, true);
    let counter = EpochCounter::new();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let counter = counter.clone();
            let artifact = artifact.clone();
            std::thread::spawn(move || {
                let store = Store::default();
                store.set_epoch_counter(&counter).unwrap();
                store.set_epoch_deadline(1).unwrap();
                let mut inst = instantiate_in(&store, &artifact);
                expect_trap(&mut inst, "spin", &[], TrapCode::Interrupted);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    counter.increment();
    for h in handles {
        h.join().expect("interrupted");
    }
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn fuel_and_epochs_together() {
    let artifact = spin_artifact(true, true);
    let store = Store::default();
    store.set_fuel(u64::MAX).unwrap();
    store.set_epoch_deadline(1).unwrap();
    let mut inst = instantiate_in(&store, &artifact);
    let counter = store.epoch_counter();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        counter.increment();
    });
    expect_trap(&mut inst, "spin", &[], TrapCode::Interrupted);
    store.set_epoch_deadline(1000).unwrap();
    store.set_fuel(500).unwrap();
    expect_trap(&mut inst, "spin", &[], TrapCode::OutOfFuel);
}

#[test]
fn interrupted_runs_of_the_cli_exit_3_with_kind_and_backtrace() {
    let dir = TempDir::new();
    let wat = dir.join("spin.wat");
    std::fs::write(&wat, SPIN).unwrap();
    let limit = Duration::from_secs(60);
    // A .wat input is compiled with what the flags need.
    let start = Instant::now();
    let out = run_cli_with_timeout(
        [
            "run",
            wat.to_str().unwrap(),
            "--invoke",
            "spin",
            "--timeout",
            "200ms",
        ],
        limit,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("wasm backtrace:"), "{stderr}");
    // Named after the input file (it stops in `tick` or in the loop).
    assert!(stderr.contains("- spin.wat!"), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(30));

    let out = run_cli([
        "run",
        wat.to_str().unwrap(),
        "--invoke",
        "spin_flat",
        "--fuel",
        "1000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("out of fuel"), "{stderr}");
    assert!(stderr.contains("wasm backtrace:"), "{stderr}");

    let out = run_cli([
        "run",
        wat.to_str().unwrap(),
        "--invoke",
        "count",
        "--fuel",
        "100000",
        "--timeout",
        "10s",
        "50",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "50");

    // An artifact compiled without the checks cannot honour the limits.
    let vwa = dir.join("plain.vwa");
    let out = run_cli([
        "compile",
        wat.to_str().unwrap(),
        "-o",
        vwa.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    for flag in [["--fuel", "10"], ["--timeout", "1s"]] {
        let out = run_cli([
            "run",
            vwa.to_str().unwrap(),
            "--invoke",
            "count",
            flag[0],
            flag[1],
            "5",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(flag[0]), "{stderr}");
    }
    let fueled = dir.join("fuel.vwa");
    let out = run_cli([
        "compile",
        wat.to_str().unwrap(),
        "-o",
        fueled.to_str().unwrap(),
        "--fuel",
        "--epoch",
        "--bounds-checks",
        "explicit",
    ]);
    assert!(out.status.success(), "{out:?}");
    let artifact = Artifact::open(&fueled).unwrap();
    let options = artifact.header().options;
    assert!(options.fuel && options.epoch);
    assert_eq!(options.bounds_checks, BoundsChecks::Explicit);
    let out = run_cli(["inspect", fueled.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bounds checks   explicit"), "{text}");
    assert!(
        text.contains("fuel metering   yes, epoch checks yes"),
        "{text}"
    );
    // Without --fuel, fuel-metered code runs unbounded.
    let out = run_cli([
        "run",
        fueled.to_str().unwrap(),
        "--invoke",
        "count",
        "100000",
    ]);
    assert!(out.status.success(), "{out:?}");
}

// ---------------------------------------------------------------------------
// Backtraces.

const CHAIN: &str = r#"
(module
  (import "env" "fail" (func $fail (param i32)))
  (memory 1)
  (func $outer (export "outer") (param i32) (result i32)
    (i32.add (i32.const 1) (call $middle (local.get 0))))
  (func $middle (param i32) (result i32)
    (i32.add (i32.const 2) (call $inner (local.get 0))))
  (func $inner (param i32) (result i32)
    (if (i32.eq (local.get 0) (i32.const 1)) (then unreachable))
    (if (i32.eq (local.get 0) (i32.const 2)) (then (call $fail (local.get 0))))
    (i32.load (i32.mul (local.get 0) (i32.const 65536))))
)"#;

fn chain_linker() -> Linker {
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "fail", |x: i32| -> Result<(), Trap> {
            Err(Trap::new(format!("host says no to {x}")))
        })
        .unwrap();
    linker
}

fn names(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match &f.func_name {
            Some(n) => n.clone(),
            None => format!("#{}", f.func_index),
        })
        .collect()
}

/// The backtrace must be innermost first, with increasing offsets (the
/// functions are defined in call order, outer first, so each caller's call
/// lies before its callee's code).
fn check_chain(trap: &Trap, innermost: &[&str], named: bool) {
    let want: Vec<String> = innermost
        .iter()
        .chain(["middle", "outer"].iter())
        .map(|s| s.to_string())
        .collect();
    let indices = [("fail", 0), ("inner", 3), ("middle", 2), ("outer", 1)];
    let got = names(&trap.backtrace);
    if named {
        assert_eq!(got, want, "{trap}");
    } else {
        let want: Vec<String> = want
            .iter()
            .map(|n| match n.as_str() {
                // An import without a name-section name is `module.name`.
                "fail" => "env.fail".into(),
                n => format!("#{}", indices.iter().find(|(m, _)| *m == n).unwrap().1),
            })
            .collect();
        assert_eq!(got, want, "{trap}");
    }
    let expected_index: Vec<u32> = want
        .iter()
        .map(|n| indices.iter().find(|(m, _)| m == n).unwrap().1)
        .collect();
    let got_index: Vec<u32> = trap.backtrace.iter().map(|f| f.func_index).collect();
    assert_eq!(got_index, expected_index, "{trap}");
    let offsets: Vec<u32> = trap
        .backtrace
        .iter()
        .filter_map(|f| f.wasm_offset)
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] > w[1]), "{trap}");
    assert_eq!(trap.backtrace[0].func_index, trap.func.unwrap());
    assert_eq!(trap.backtrace[0].wasm_offset, trap.wasm_offset);
    let text = trap.to_string();
    assert!(text.contains("wasm backtrace:"), "{text}");
    assert_eq!(text.lines().count(), 2 + trap.backtrace.len(), "{text}");
}

#[test]
fn backtraces_name_every_frame_innermost_first() {
    for strategy in STRATEGIES {
        let mut inst = instantiate_configured(CHAIN, &config(strategy), &chain_linker());
        let err = expect_trap(&mut inst, "outer", &[i(1)], TrapCode::Unreachable);
        check_chain(trap_of(&err), &["inner"], true);
        let err = expect_trap(&mut inst, "outer", &[i(3)], TrapCode::MemoryOutOfBounds);
        check_chain(trap_of(&err), &["inner"], true);
        let err = call_err(&mut inst, "outer", &[i(2)]);
        let trap = trap_of(&err);
        assert_eq!(trap.message, "host says no to 2");
        check_chain(trap, &["fail", "inner"], true);
        assert_eq!(trap.backtrace[0].wasm_offset, None);
        assert_eq!(trap.backtrace[0].module.as_deref(), Some("module.vwa"));
        assert_eq!(call_i32(&mut inst, "outer", &[i(0)]), 3);
    }
}

#[test]
fn stripped_artifacts_load_and_give_indices() {
    let dir = TempDir::new();
    let wat = dir.join("chain.wat");
    std::fs::write(&wat, CHAIN).unwrap();
    let named = dir.join("named.vwa");
    let stripped = dir.join("stripped.vwa");
    for (out, strip) in [(&named, false), (&stripped, true)] {
        let mut args = vec![
            "compile".to_string(),
            wat.to_str().unwrap().into(),
            "-o".into(),
            out.to_str().unwrap().into(),
        ];
        if strip {
            args.push("--strip".into());
        }
        let o = run_cli(args);
        assert!(o.status.success(), "{o:?}");
    }
    let named_artifact = Arc::new(Artifact::open(&named).unwrap());
    let stripped_artifact = Arc::new(Artifact::open(&stripped).unwrap());
    assert!(named_artifact.tables().num_names() > 0);
    assert_eq!(stripped_artifact.tables().num_names(), 0);
    // Same code, same source hash.
    assert_eq!(
        named_artifact.header().wasm_sha256,
        stripped_artifact.header().wasm_sha256
    );
    assert_eq!(named_artifact.code_len(), stripped_artifact.code_len());

    let mut inst = chain_linker()
        .instantiate_artifact(&stripped_artifact)
        .unwrap();
    let err = expect_trap(&mut inst, "outer", &[i(1)], TrapCode::Unreachable);
    let trap = trap_of(&err);
    check_chain(trap, &["inner"], false);
    assert!(trap.backtrace.iter().all(|f| f.func_name.is_none()));
    assert!(
        trap.to_string().contains("stripped.vwa!<wasm function 3>"),
        "{trap}"
    );
    let err = call_err(&mut inst, "outer", &[i(2)]);
    check_chain(trap_of(&err), &["fail", "inner"], false);
}

#[test]
fn backtraces_follow_calls_into_other_instances() {
    let lib = r#"(module
      (func $boom (export "boom") (param i32) (result i32)
        (if (local.get 0) (then unreachable))
        (i32.const 7)))"#;
    let app = r#"(module
      (import "lib" "boom" (func $boom (param i32) (result i32)))
      (func $run (export "run") (param i32) (result i32)
        (call $boom (local.get 0))))"#;
    for strategy in STRATEGIES {
        let lib = instantiate_configured(lib, &config(strategy), &Linker::new());
        let mut linker = Linker::new();
        linker.define_instance("lib", &lib).unwrap();
        let mut app = instantiate_configured(app, &config(strategy), &linker);
        assert_eq!(call_i32(&mut app, "run", &[i(0)]), 7);
        let err = expect_trap(&mut app, "run", &[i(1)], TrapCode::Unreachable);
        let trap = trap_of(&err);
        // lib's `boom`, then app's `run` (the import stub between them is
        // no wasm function).
        assert_eq!(names(&trap.backtrace), ["boom", "run"], "{trap}");
        assert_eq!(trap.backtrace[0].func_index, 0);
        assert_eq!(trap.backtrace[1].func_index, 1);
        assert!(trap.backtrace[1].wasm_offset.is_some());
    }
}

// ---------------------------------------------------------------------------
// Many traps, flat memory.

const CHILD_ENV: &str = "VIBEWASM_SANDBOX_CHILD";

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// The child's side of the resident-memory test (alone in its process, so
/// no other test's allocations count).
fn hundred_thousand_traps() {
    let mut inst =
        instantiate_configured(CHAIN, &config(BoundsChecks::GuardPages), &chain_linker());
    let mut round = |k: i32| {
        // Guard-page faults (the signal path), unreachable and host traps,
        // each with a 3-4 frame backtrace.
        let arg = match k % 4 {
            0 | 3 => 3,
            1 => 1,
            _ => 2,
        };
        let err = inst.call("outer", &[i(arg)]).unwrap_err();
        assert!(trap_of(&err).backtrace.len() >= 3);
    };
    for k in 0..2000 {
        round(k);
    }
    let before = resident_kib();
    for k in 0..100_000 {
        round(k);
    }
    let after = resident_kib();
    let growth = after.saturating_sub(before);
    println!("resident memory {before} KiB -> {after} KiB");
    assert!(
        growth < 10 * 1024,
        "resident memory grew by {growth} KiB ({before} -> {after})"
    );
}

#[test]
fn a_hundred_thousand_traps_leave_resident_memory_flat() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("traps") {
        hundred_thousand_traps();
        return;
    }
    let out = run_child(
        "a_hundred_thousand_traps_leave_resident_memory_flat",
        "traps",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("resident memory"), "{stdout}");
}

/// Runs test `name` of this executable alone in a child process with
/// `CHILD_ENV` set to `mode`.
fn run_child(name: &str, mode: &str) -> std::process::Output {
    self_command()
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Faults outside wasm.

mod c {
    extern "C" {
        pub fn signal(signum: i32, handler: usize) -> usize;
        pub fn write(fd: i32, buf: *const u8, count: usize) -> isize;
        pub fn _exit(status: i32) -> !;
        pub fn pthread_self() -> usize;
        pub fn pthread_kill(thread: usize, signal: i32) -> i32;
    }
}

const SIGSEGV: i32 = 11;

extern "C" fn host_handler(_signal: i32) {
    let message = b"the host's own SIGSEGV handler ran\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        c::write(2, message.as_ptr(), message.len());
        c::_exit(42);
    }
}

#[inline(never)]
fn fault_in_host_code() {
    // An address no one maps.
    let p = std::hint::black_box(16usize) as *mut u8;
    // SAFETY: none: this faults on purpose, in a child process.
    unsafe { p.write_volatile(1) };
}

/// The child's side: the host installs its own handler, then guard-page
/// code runs (installing the loader's, which must forward), then host code
/// faults (`where_ == "host"`) or a host function called by wasm does.
fn child(where_: &str) {
    // SAFETY: installing a handler that only writes and exits.
    unsafe { c::signal(SIGSEGV, host_handler as *const () as usize) };
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "fault", fault_in_host_code)
        .unwrap();
    let wat = r#"(module (import "env" "fault" (func $fault)) (memory 1)
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "call_host") (call $fault)))"#;
    let mut inst = instantiate_configured(wat, &config(BoundsChecks::GuardPages), &linker);
    // The loader's handler is in place and turns wasm faults into traps.
    for _ in 0..3 {
        expect_trap(&mut inst, "load", &[i(65536)], TrapCode::MemoryOutOfBounds);
    }
    eprintln!("wasm faults became traps");
    match where_ {
        "host" => fault_in_host_code(),
        _ => {
            let _ = inst.call("call_host", &[]);
        }
    }
    eprintln!("the fault was swallowed");
    std::process::exit(1);
}

#[test]
fn faults_outside_wasm_reach_the_previous_handler() {
    if let Ok(where_) = std::env::var(CHILD_ENV) {
        child(&where_);
        return;
    }
    for where_ in ["host", "host-function"] {
        let out = run_child("faults_outside_wasm_reach_the_previous_handler", where_);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("wasm faults became traps"),
            "{where_}: {stderr}"
        );
        assert!(
            stderr.contains("the host's own SIGSEGV handler ran"),
            "{where_}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(42), "{where_}: {stderr}");
    }
}

// ---------------------------------------------------------------------------
// SIGSEGV sent by a process, not raised by a fault.

/// Eight in-bounds loads per iteration (each one a fault site of
/// guard-page code); returns `n` (word 0 is 1, the others 0).
const LOADS: &str = r#"
(module
  (memory 1)
  (data (i32.const 64) "\01")
  (func (export "spin") (param $n i32) (result i32)
    (local $p i32) (local $sum i32)
    (local.set $p (i32.const 64))
    (loop $again
      (local.set $sum
        (i32.add (local.get $sum)
          (i32.add
            (i32.add
              (i32.add (i32.load offset=0 (local.get $p)) (i32.load offset=4 (local.get $p)))
              (i32.add (i32.load offset=8 (local.get $p)) (i32.load offset=12 (local.get $p))))
            (i32.add
              (i32.add (i32.load offset=16 (local.get $p)) (i32.load offset=20 (local.get $p)))
              (i32.add (i32.load offset=24 (local.get $p)) (i32.load offset=28 (local.get $p)))))))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $sum)))"#;

static RECEIVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn counting_handler(_signal: i32) {
    RECEIVED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// The child's side: the host counts SIGSEGVs in its own handler; another
/// thread sends SIGSEGV (`pthread_kill`, i.e. `tgkill`) to the thread
/// running guard-page code, again and again. Many land while that thread
/// is at one of the code's loads, a registered fault site; each must reach
/// the host's handler, none may become an "out of bounds" trap.
fn killed_while_loading() {
    use std::sync::atomic::{AtomicBool, Ordering};
    // SAFETY: installing a handler that only increments an atomic.
    unsafe { c::signal(SIGSEGV, counting_handler as *const () as usize) };
    let mut inst = instantiate_configured(LOADS, &config(BoundsChecks::GuardPages), &Linker::new());
    // SAFETY: pthread_self has no preconditions.
    let target = unsafe { c::pthread_self() };
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                // SAFETY: the target thread outlives this one (joined below).
                assert_eq!(unsafe { c::pthread_kill(target, SIGSEGV) }, 0);
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let start = Instant::now();
    let mut calls = 0;
    while RECEIVED.load(Ordering::SeqCst) < 2000 && start.elapsed() < Duration::from_secs(20) {
        match inst.call("spin", &[i(200_000)]) {
            Ok(v) => assert_eq!(v, vec![i(200_000)]),
            Err(e) => {
                done.store(true, Ordering::SeqCst);
                eprintln!("a SIGSEGV sent by pthread_kill became a trap: {e}");
                std::process::exit(1);
            }
        }
        calls += 1;
    }
    done.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    eprintln!(
        "{} signals reached the host's handler during {calls} calls",
        RECEIVED.load(Ordering::SeqCst)
    );
    std::process::exit(0);
}

#[test]
fn sigsegv_sent_by_kill_reaches_the_previous_handler_even_at_a_fault_site() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("kill") {
        killed_while_loading();
        return;
    }
    let out = run_child(
        "sigsegv_sent_by_kill_reaches_the_previous_handler_even_at_a_fault_site",
        "kill",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("signals reached the host's handler"),
        "{stderr}"
    );
}
