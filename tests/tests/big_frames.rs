//! Functions with large frames on small stacks: every call either runs or
//! traps with "call stack exhausted", and the thread goes on working. A
//! prologue that allocated its frame before comparing the stack pointer
//! with the limit ran the trap path up to a whole frame below the limit,
//! past the thread's guard page: the process died with SIGSEGV.
//!
//! Covered: threads of 64 KiB, 256 KiB and 2 MiB; frames from 160 KB to
//! the largest a function may have (1 MiB); called directly, at the end of
//! a deep recursion of small frames, and recursing without end; both
//! bounds-check strategies; and the CLI under `ulimit -s 256`.

use vibewasm_format::BoundsChecks;
use vibewasm_tests::*;

const STRATEGIES: [BoundsChecks; 2] = [BoundsChecks::Explicit, BoundsChecks::GuardPages];

/// The most locals a function may have (wasmparser's limit, parameters
/// included).
const MOST_LOCALS: usize = 50_000;

/// The value-stack height that, with [`MOST_LOCALS`] locals, makes the
/// largest frame the compiler accepts: 16 bytes of fixed slots, 8 per local
/// and 8 per stack height make exactly 1 MiB (the compiler's frame keeps 3
/// more slots than `big` pushes values).
const LARGEST_HEIGHT: usize = ((1 << 20) - 16 - 8 * MOST_LOCALS) / 8 - 3;

/// A module whose `big` function has `locals` i64 locals (its parameter
/// included) and pushes `height` values: `big(n)` sets the last local to
/// `n` and returns `height * n`. `deep(d)` recurses `d` times through a
/// small frame, then calls `big(7)`; `endless(n)` has `big`'s locals and
/// calls itself without end.
fn module(locals: usize, height: usize) -> String {
    let decl = "i64 ".repeat(locals - 1);
    let last = locals - 1;
    let pushes = format!("(local.get {last})").repeat(height);
    let adds = "i64.add ".repeat(height - 1);
    let deep_result = 7 * height;
    format!(
        r#"(module
  (func $big (export "big") (param i64) (result i64) (local {decl})
    (local.set {last} (local.get 0))
    {pushes}
    {adds})
  (func $deep (export "deep") (param i32) (result i64)
    (if (result i64) (i32.eqz (local.get 0))
      (then (call $big (i64.const 7)))
      (else (call $deep (i32.sub (local.get 0) (i32.const 1))))))
  (func (export "deep_result") (param i32) (result i64) (i64.const {deep_result}))
  (func $endless (export "endless") (param i64) (result i64) (local {decl})
    (local.set {last} (call $endless (local.get 0)))
    (local.get {last})))"#
    )
}

/// Compiles `module(locals, height)` with both strategies.
fn artifacts(locals: usize, height: usize) -> Vec<std::sync::Arc<Artifact>> {
    let wat = module(locals, height);
    STRATEGIES
        .iter()
        .map(|&bounds_checks| {
            let config = Config {
                bounds_checks,
                ..Config::default()
            };
            open_artifact_bytes(&compile_wat_with(&wat, &config))
        })
        .collect()
}

/// Outcome of one call: its result, or `None` after the stack-exhausted trap
/// (any other error fails the test).
fn run_or_exhaust(inst: &mut Instance, name: &str, arg: Val) -> Option<Val> {
    match inst.call(name, &[arg]) {
        Ok(results) => Some(results[0]),
        Err(err) => {
            assert_trap(&err, TrapCode::StackOverflow);
            None
        }
    }
}

/// A frame shape: locals (parameter included) and value-stack height.
#[derive(Clone, Copy, Debug)]
struct Frame {
    locals: usize,
    height: usize,
}

/// 160 KB, 400 KB and the largest frame (1 MiB).
const SMALLER: Frame = Frame {
    locals: 20_000,
    height: 1,
};
const MIDDLE: Frame = Frame {
    locals: MOST_LOCALS,
    height: 1,
};
const LARGEST: Frame = Frame {
    locals: MOST_LOCALS,
    height: LARGEST_HEIGHT,
};

/// Runs every case on a thread of `stack` bytes; `fits_directly` says
/// whether `big`'s frame fits when called straight from the host, as the
/// limit rules predict (the stack left above the 128 KiB red zone, and at
/// most the 1 MiB default wasm stack).
fn on_thread(stack: usize, frame: Frame, fits_directly: bool) {
    // Small frames run on threads with room beyond the 128 KiB red zone.
    // (A thread asked for 64 KiB may get more: glibc adds room for
    // thread-local storage. Either way, no call may fail otherwise.)
    let small_frames_run = stack >= 256 * 1024;
    let artifacts = artifacts(frame.locals, frame.height);
    let want = move |n: i64| Some(Val::I64(n * frame.height as i64));
    let depths = (0..4000).step_by(97);
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            for artifact in &artifacts {
                let mut inst = Linker::new().instantiate_artifact(artifact).unwrap();
                let context = format!("{frame:?} on a {stack} B stack");
                let direct = run_or_exhaust(&mut inst, "big", Val::I64(5));
                assert_eq!(
                    direct,
                    if fits_directly { want(5) } else { None },
                    "{context}"
                );
                // At the end of recursions of many depths, so that the big
                // frame starts at many distances from the limit.
                let mut exhausted = 0;
                for depth in depths.clone() {
                    match run_or_exhaust(&mut inst, "deep", Val::I32(depth)) {
                        Some(v) => assert_eq!(Some(v), want(7), "{context}"),
                        None => exhausted += 1,
                    }
                }
                if !fits_directly {
                    assert_eq!(exhausted, depths.clone().count(), "{context}");
                }
                assert_eq!(run_or_exhaust(&mut inst, "endless", Val::I64(1)), None);
                // The thread and the instance go on working.
                let again = run_or_exhaust(&mut inst, "big", Val::I64(2));
                assert_eq!(
                    again,
                    if fits_directly { want(2) } else { None },
                    "{context}"
                );
                let small = run_or_exhaust(&mut inst, "deep_result", Val::I32(0));
                let want_small = Val::I64(7 * frame.height as i64);
                if small_frames_run {
                    assert_eq!(small, Some(want_small), "{context}");
                }
            }
        })
        .unwrap()
        .join()
        .expect("the thread survived");
}

#[test]
fn a_64_kib_thread_refuses_every_big_frame() {
    for frame in [SMALLER, MIDDLE, LARGEST] {
        on_thread(64 * 1024, frame, false);
    }
}

#[test]
fn a_256_kib_thread_traps_on_frames_larger_than_its_stack() {
    // About 128 KiB above the red zone: none of these fits.
    for frame in [SMALLER, MIDDLE, LARGEST] {
        on_thread(256 * 1024, frame, false);
    }
}

#[test]
fn a_2_mib_thread_runs_what_fits_and_traps_on_the_rest() {
    on_thread(2 << 20, SMALLER, true);
    on_thread(2 << 20, MIDDLE, true);
    // 1 MiB of frame is more than the default 1 MiB wasm stack budget.
    on_thread(2 << 20, LARGEST, false);
}

#[test]
fn the_largest_frame_compiles_and_one_more_slot_does_not() {
    // The tests above use the real maximum, not a smaller stand-in.
    if let Err(err) = try_compile_wat(&module(MOST_LOCALS, LARGEST_HEIGHT)) {
        panic!("the largest frame: {err}");
    }
    let err = try_compile_wat(&module(MOST_LOCALS, LARGEST_HEIGHT + 1)).unwrap_err();
    assert!(err.to_string().contains("stack frame"), "{err}");
    let err = try_compile_wat(&module(MOST_LOCALS + 1, 1)).unwrap_err();
    assert!(err.to_string().contains("too many locals"), "{err}");
}

#[test]
fn the_cli_traps_on_a_400_kb_frame_under_ulimit_256() {
    let dir = std::env::temp_dir().join(format!("vibewasm-big-frames-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wat = dir.join("big.wat");
    std::fs::write(&wat, module(MIDDLE.locals, MIDDLE.height)).unwrap();
    for strategy in ["guard", "explicit"] {
        let vwa = dir.join(format!("big-{strategy}.vwa"));
        let out = run_cli([
            "compile".as_ref(),
            wat.as_os_str(),
            "-o".as_ref(),
            vwa.as_os_str(),
            "--bounds-checks".as_ref(),
            strategy.as_ref(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let script = format!(
            "ulimit -s 256 && exec '{}' run '{}' --invoke big 3",
            vibewasmc().display(),
            vwa.display()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{strategy}: {:?} {stderr}",
            out.status
        );
        assert!(stderr.contains("call stack exhausted"), "{stderr}");
        assert!(
            stderr.contains("!big"),
            "the backtrace names the function: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
