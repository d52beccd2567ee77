//! The loader's `no_std` core on Linux, with a test platform that takes
//! linear memories from a static arena and code pages from another, and
//! never maps anything: built with `cargo test -p vibewasm-loader
//! --no-default-features --test arena_platform`, the loader has no `libc`
//! or `memmap2` to map with (CI checks its dependency tree), so every
//! memory and every code copy below comes from this file's arenas. (With
//! the default features the same tests run through a `std` loader that
//! has a platform installed.)
//!
//! The platform is global (like an allocator), so this file is a test
//! binary of its own and every test installs the same one.

#[path = "../../fuzz/common/hostile.rs"]
#[allow(dead_code)]
mod hostile;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};

use vibewasm_compiler::{compile, BoundsChecks, Config};
use vibewasm_loader::{
    set_platform, Artifact, Engine, EngineConfig, Linker, Module, Platform, Store, TrustedKeys, Val,
};

/// A first-fit allocator over a fixed region, in `unit`-byte units.
struct Arena {
    base: usize,
    len: usize,
    unit: usize,
    /// Free blocks `(offset, len)`, sorted by offset, adjacent ones merged.
    free: Mutex<Vec<(usize, usize)>>,
    in_use: AtomicUsize,
}

impl Arena {
    /// The arena of the `len` bytes at `base`, which nothing else uses.
    fn new(base: *mut u8, len: usize, unit: usize) -> Arena {
        let base = base as usize;
        assert_eq!(base % unit, 0, "arena not aligned to its unit");
        Arena {
            base,
            len,
            unit,
            free: Mutex::new(vec![(0, len)]),
            in_use: AtomicUsize::new(0),
        }
    }

    fn alloc(&self, len: usize) -> Option<NonNull<u8>> {
        let len = len.max(1).next_multiple_of(self.unit);
        let mut free = self.free.lock().unwrap();
        let i = free.iter().position(|&(_, l)| l >= len)?;
        let (offset, block) = free[i];
        if block == len {
            free.remove(i);
        } else {
            free[i] = (offset + len, block - len);
        }
        self.in_use.fetch_add(len, Ordering::Relaxed);
        NonNull::new((self.base + offset) as *mut u8)
    }

    fn free(&self, ptr: NonNull<u8>, len: usize) {
        let len = len.max(1).next_multiple_of(self.unit);
        let offset = ptr.as_ptr() as usize - self.base;
        assert!(offset + len <= self.len, "freed outside the arena");
        let mut free = self.free.lock().unwrap();
        let i = free.partition_point(|&(o, _)| o < offset);
        free.insert(i, (offset, len));
        // Merge with the neighbours.
        if i + 1 < free.len() && free[i].0 + free[i].1 == free[i + 1].0 {
            free[i].1 += free[i + 1].1;
            free.remove(i + 1);
        }
        if i > 0 && free[i - 1].0 + free[i - 1].1 == free[i].0 {
            free[i - 1].1 += free[i].1;
            free.remove(i);
        }
        self.in_use.fetch_sub(len, Ordering::Relaxed);
    }

    fn contains(&self, bytes: &[u8]) -> bool {
        let start = bytes.as_ptr() as usize;
        start >= self.base && start + bytes.len() <= self.base + self.len
    }
}

const PAGE: usize = 4096;

#[repr(C, align(65536))]
struct Region<const N: usize>([u8; N]);

/// 96 MiB for linear memories (in .bss: the kernel commits only what is
/// touched), 8 MiB of code pages, 4 MiB standing in for executable flash.
static mut MEMORY_REGION: Region<{ 96 << 20 }> = Region([0; 96 << 20]);
static mut CODE_REGION: Region<{ 8 << 20 }> = Region([0; 8 << 20]);
static mut FLASH_REGION: Region<{ 4 << 20 }> = Region([0; 4 << 20]);

struct ArenaPlatform {
    memory: Arena,
    code: Arena,
    /// Artifacts "programmed into flash" ([`flash`]): executable in place.
    flash: Arena,
}

/// Sets the protection of whole pages of one of this file's regions (an
/// MPU's job on a microcontroller; `mprotect` changes no mapping).
fn protect(ptr: *const u8, len: usize, executable: bool) {
    let prot = match executable {
        true => libc::PROT_READ | libc::PROT_EXEC,
        false => libc::PROT_READ | libc::PROT_WRITE,
    };
    let len = len.next_multiple_of(PAGE);
    // SAFETY: whole pages of a static region of this file, at a
    // page-aligned address, that nothing else uses meanwhile.
    let rc = unsafe { libc::mprotect(ptr as *mut libc::c_void, len, prot) };
    assert_eq!(rc, 0, "mprotect: {}", std::io::Error::last_os_error());
}

impl Platform for ArenaPlatform {
    fn alloc_memory(&self, len: usize) -> Option<NonNull<u8>> {
        let ptr = self.memory.alloc(len)?;
        // SAFETY: `len` bytes just allocated from the arena, ours alone.
        unsafe { ptr.as_ptr().write_bytes(0, len) };
        Some(ptr)
    }

    unsafe fn free_memory(&self, base: NonNull<u8>, len: usize) {
        self.memory.free(base, len)
    }

    fn alloc_code(&self, code: &[u8]) -> Option<NonNull<u8>> {
        let ptr = self.code.alloc(code.len())?;
        // SAFETY: whole pages just allocated from the code arena, writable
        // (fresh, or made writable again by `free_code`).
        unsafe {
            ptr.as_ptr()
                .copy_from_nonoverlapping(code.as_ptr(), code.len())
        };
        protect(ptr.as_ptr(), code.len(), true);
        // SAFETY: the bytes just written, now executable.
        vibewasm_loader::sync_instruction_cache(unsafe {
            std::slice::from_raw_parts(ptr.as_ptr(), code.len())
        });
        Some(ptr)
    }

    unsafe fn free_code(&self, base: NonNull<u8>, len: usize) {
        protect(base.as_ptr(), len, false);
        self.code.free(base, len)
    }

    fn executes_in_place(&self, code: &[u8]) -> bool {
        self.flash.contains(code)
    }
}

fn platform() -> &'static ArenaPlatform {
    static PLATFORM: OnceLock<&'static ArenaPlatform> = OnceLock::new();
    PLATFORM.get_or_init(|| {
        // The regions are only ever reached through these arenas, created
        // once here (no reference to a region is ever made).
        let region = |base: *mut u8, len: usize, unit: usize| Arena::new(base, len, unit);
        let platform: &'static ArenaPlatform = Box::leak(Box::new(ArenaPlatform {
            memory: region(
                std::ptr::addr_of_mut!(MEMORY_REGION).cast(),
                size_of::<Region<{ 96 << 20 }>>(),
                65536,
            ),
            code: region(
                std::ptr::addr_of_mut!(CODE_REGION).cast(),
                size_of::<Region<{ 8 << 20 }>>(),
                PAGE,
            ),
            flash: region(
                std::ptr::addr_of_mut!(FLASH_REGION).cast(),
                size_of::<Region<{ 4 << 20 }>>(),
                PAGE,
            ),
        }));
        assert!(set_platform(platform), "a platform was installed before");
        platform
    })
}

/// Tests share the arenas (read), except the one that counts the memory
/// arena's bytes in use before and after (write), which then runs alone.
static ARENA_USERS: RwLock<()> = RwLock::new(());

/// What every test but the counting one holds while it runs.
fn shared_arena() -> RwLockReadGuard<'static, ()> {
    ARENA_USERS.read().unwrap_or_else(|e| e.into_inner())
}

/// "Programs" `bytes` into the flash region (4 KiB-aligned, as a linker
/// script would place it) and makes the pages read+execute: from then on
/// they are static and never written.
fn flash(bytes: &[u8]) -> &'static [u8] {
    let flash = &platform().flash;
    let ptr = flash.alloc(bytes.len()).expect("flash full");
    // SAFETY: fresh pages of the flash region, ours alone.
    unsafe {
        ptr.as_ptr()
            .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len())
    };
    protect(ptr.as_ptr(), bytes.len(), true);
    // SAFETY: never written or freed again.
    let stored = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), bytes.len()) };
    vibewasm_loader::sync_instruction_cache(stored);
    stored
}

/// A store whose memories start at their minimum size (every byte of a
/// platform memory is allocated, so no head room is reserved).
fn store() -> Store {
    platform();
    Store::new(Arc::new(Engine::new(EngineConfig {
        memory_reservation: 0,
        ..EngineConfig::default()
    })))
}

fn explicit() -> Config {
    Config {
        bounds_checks: BoundsChecks::Explicit,
        ..Config::default()
    }
}

fn artifact(wat: &str, config: &Config) -> Vec<u8> {
    compile(&wat::parse_str(wat).expect("valid wat"), config).expect("compiles")
}

fn module(wat: &str) -> Module {
    platform();
    let engine = Engine::default();
    Module::from_artifact_bytes(&engine, &artifact(wat, &explicit())).expect("loads")
}

fn i32s(values: Vec<Val>) -> Vec<i32> {
    values
        .into_iter()
        .map(|v| match v {
            Val::I32(x) => x,
            other => panic!("not an i32: {other:?}"),
        })
        .collect()
}

const CALC: &str = r#"
(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (memory (export "memory") 1 5000)
  (data (i32.const 16) "hello")
  (func (export "sum3") (param i32 i32 i32) (result i32)
    (call $add (call $add (local.get 0) (local.get 1)) (local.get 2)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "store_last") (param i32) (result i32)
    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))
                (local.get 0))
    (i32.load8_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))))
  (func $forever (export "recurse") (param i32) (result i32)
    (call $forever (i32.add (local.get 0) (i32.const 1))))
  (type $t (func (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $seven)
  (func $seven (result i32) (i32.const 7))
  (func (export "indirect") (param i32) (result i32) (call_indirect (type $t) (local.get 0)))
)"#;

fn calc() -> (Store, vibewasm_loader::Instance) {
    let mut store = store();
    let mut linker = Linker::new();
    linker
        .func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b))
        .unwrap();
    let instance = linker.instantiate(&mut store, &module(CALC)).unwrap();
    (store, instance)
}

#[test]
fn calls_host_functions_memory_and_tables() {
    let _arena = shared_arena();
    let (_store, mut inst) = calc();
    let sum = inst
        .call("sum3", &[Val::I32(1), Val::I32(20), Val::I32(300)])
        .unwrap();
    assert_eq!(i32s(sum), [321]);
    assert_eq!(
        i32s(inst.call("load", &[Val::I32(16)]).unwrap()),
        [b'h' as i32]
    );
    assert_eq!(i32s(inst.call("indirect", &[Val::I32(0)]).unwrap()), [7]);
    let memory = inst.get_memory("memory").unwrap();
    let mut hello = [0u8; 5];
    memory.read(16, &mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    // The memory is in the arena, exactly its one page.
    assert_eq!(memory.reserved_bytes(), 65536);
}

#[test]
fn traps_say_what_the_spec_says() {
    let _arena = shared_arena();
    let (_store, mut inst) = calc();
    let mut message = |name: &str, args: &[Val]| {
        let err = inst.call(name, args).unwrap_err();
        let trap = err.as_trap().unwrap_or_else(|| panic!("{name}: {err}"));
        trap.message.clone()
    };
    assert_eq!(
        message("div", &[Val::I32(1), Val::I32(0)]),
        "integer divide by zero"
    );
    assert_eq!(
        message("load", &[Val::I32(65536)]),
        "out of bounds memory access"
    );
    assert_eq!(message("indirect", &[Val::I32(1)]), "uninitialized element");
    assert_eq!(message("indirect", &[Val::I32(2)]), "undefined element");
    // No stack bounds from this platform: the 1 MiB wasm stack budget
    // below the entry point stops the recursion.
    assert_eq!(message("recurse", &[Val::I32(0)]), "call stack exhausted");
    // The instance still works after every trap.
    assert_eq!(
        i32s(inst.call("div", &[Val::I32(9), Val::I32(3)]).unwrap()),
        [3]
    );
}

#[test]
fn memories_grow_by_moving_inside_the_arena_and_go_back_to_it() {
    // Alone with the arenas: the bytes in use are this test's only.
    let _alone = ARENA_USERS.write().unwrap_or_else(|e| e.into_inner());
    let before = platform().memory.in_use.load(Ordering::Relaxed);
    {
        let (_store, mut inst) = calc();
        let memory = inst.get_memory("memory").unwrap();
        assert_eq!(i32s(inst.call("store_last", &[Val::I32(9)]).unwrap()), [9]);
        for (grow, size) in [(1, 2), (5, 7), (30, 37)] {
            assert_eq!(
                i32s(inst.call("grow", &[Val::I32(grow)]).unwrap()),
                [size - grow]
            );
            assert_eq!(memory.size_pages().unwrap(), size as u64);
            // The old bytes moved with the memory; the new last byte works.
            assert_eq!(
                i32s(inst.call("load", &[Val::I32(16)]).unwrap()),
                [b'h' as i32]
            );
            assert_eq!(
                i32s(inst.call("store_last", &[Val::I32(size)]).unwrap()),
                [size]
            );
        }
        // More than the arena holds (125 MiB): memory.grow fails, nothing
        // breaks.
        assert_eq!(i32s(inst.call("grow", &[Val::I32(2000)]).unwrap()), [-1]);
        assert_eq!(memory.size_pages().unwrap(), 37);
        assert!(platform().memory.in_use.load(Ordering::Relaxed) > before);
    }
    // The store dropped its memory: every byte is back in the arena.
    assert_eq!(platform().memory.in_use.load(Ordering::Relaxed), before);
}

#[test]
fn guard_page_code_is_refused_with_the_reason() {
    let _arena = shared_arena();
    let bytes = artifact(
        "(module (memory 1) (func (export \"f\")))",
        &Config {
            bounds_checks: BoundsChecks::GuardPages,
            ..Config::default()
        },
    );
    let mut store = store();
    let module = Module::from_artifact_bytes(&Engine::default(), &bytes).unwrap();
    let result = Linker::new().instantiate(&mut store, &module);
    if cfg!(feature = "std") {
        // A std loader still has the OS and its fault handler.
        assert!(result.is_ok(), "{:?}", result.err());
    } else {
        let Err(err) = result else {
            panic!("guard-page code instantiated without std");
        };
        let err = err.to_string();
        assert!(err.contains("guard-page bounds checks"), "{err}");
        assert!(err.contains("`std` feature"), "{err}");
    }
}

#[test]
fn fuel_and_epochs_stop_runaway_code() {
    let _arena = shared_arena();
    const LOOP: &str = r#"(module (func (export "spin") (loop $l (br $l))))"#;
    let bytes = artifact(
        LOOP,
        &Config {
            fuel: true,
            ..explicit()
        },
    );
    let mut store = store();
    let module = Module::from_artifact_bytes(&Engine::default(), &bytes).unwrap();
    let mut inst = Linker::new().instantiate(&mut store, &module).unwrap();
    store.set_fuel(10_000).unwrap();
    let err = inst.call("spin", &[]).unwrap_err();
    assert_eq!(err.as_trap().unwrap().message, "out of fuel");

    let bytes = artifact(
        LOOP,
        &Config {
            epoch: true,
            ..explicit()
        },
    );
    let engine = Arc::new(Engine::new(EngineConfig {
        memory_reservation: 0,
        ..EngineConfig::default()
    }));
    let mut store = Store::new(engine.clone());
    let module = Module::from_artifact_bytes(&engine, &bytes).unwrap();
    let mut inst = Linker::new().instantiate(&mut store, &module).unwrap();
    store.set_epoch_deadline(1).unwrap();
    let ticker = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        engine.increment_epoch();
    });
    let err = inst.call("spin", &[]).unwrap_err();
    ticker.join().unwrap();
    assert_eq!(err.as_trap().unwrap().message, "interrupted");
}

const XIP: &str = r#"
(module
  (memory 1)
  (data (i32.const 0) "\05\00\00\00")
  (func (export "triple") (param i32) (result i32)
    (i32.mul (local.get 0) (i32.load (i32.const 0))))
)"#;

fn triple(artifact: Artifact) -> i32 {
    let module = Module::from_artifact(&Engine::default(), Arc::new(artifact)).unwrap();
    let mut inst = Linker::new().instantiate(&mut store(), &module).unwrap();
    i32s(inst.call("triple", &[Val::I32(3)]).unwrap())[0]
}

/// Compiled with `page_aligned_code` (`vibewasmc compile --xip`), the code
/// runs from flash on every architecture; without it, a small artifact's
/// code is 16-byte aligned in the file: enough for x86-64, and copied on
/// aarch64, whose code must start at a multiple of 4 KiB.
#[test]
fn artifacts_in_executable_flash_run_in_place() {
    let _arena = shared_arena();
    platform();
    for page_aligned_code in [true, false] {
        let config = Config {
            page_aligned_code,
            ..explicit()
        };
        let stored = flash(&artifact(XIP, &config));
        let loaded = Artifact::from_static(stored).unwrap();
        let code_offset = loaded.header().code_offset as usize;
        assert_eq!(code_offset.is_multiple_of(4096), page_aligned_code);
        if page_aligned_code || cfg!(target_arch = "x86_64") {
            assert!(loaded.code_in_place(), "flash code should run in place");
            assert_eq!(
                loaded.code_base(),
                stored[code_offset..].as_ptr(),
                "the code runs from flash"
            );
        } else {
            assert!(!loaded.code_in_place());
        }
        assert_eq!(triple(loaded), 15);
    }
}

#[test]
fn static_buffers_that_are_not_executable_get_their_code_copied() {
    let _arena = shared_arena();
    platform();
    let bytes: &'static [u8] = Box::leak(artifact(XIP, &explicit()).into_boxed_slice());
    let loaded = Artifact::from_static(bytes).unwrap();
    assert!(!loaded.code_in_place());
    assert!(platform().code.contains(unsafe {
        // SAFETY: the artifact's own code, alive as long as `loaded`.
        std::slice::from_raw_parts(loaded.code_base(), loaded.code_len())
    }));
    assert_eq!(triple(loaded), 15);
}

#[test]
fn damaged_and_unsigned_static_artifacts_are_refused() {
    let _arena = shared_arena();
    platform();
    let mut bytes = artifact(XIP, &explicit());
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let damaged: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let err = Artifact::from_static(damaged).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");

    let unsigned = flash(&artifact(XIP, &explicit()));
    let err = Artifact::from_static_trusted(unsigned, &TrustedKeys::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not signed"), "{err}");
}

#[test]
fn signed_artifacts_from_flash_load_with_trusted_keys() {
    let _arena = shared_arena();
    let secret = vibewasm_format::SecretKey::from_seed(&[7; 32]);
    let mut keys = TrustedKeys::new();
    keys.add(secret.public_key());
    let signed = vibewasm_format::sign_artifact(&artifact(XIP, &explicit()), &secret).unwrap();
    let stored = flash(&signed);
    let loaded = Artifact::from_static_trusted(stored, &keys).unwrap();
    assert_eq!(triple(loaded), 15);
}

/// The benchmark kernels (C compiled to wasm), compiled with explicit
/// checks and run through the platform: the checksums of
/// `../shared/bench/kernels/checksums.tsv`. Every kernel on x86-64; the
/// three quickest elsewhere (aarch64 runs under qemu in CI, where each
/// kernel takes many seconds).
#[test]
fn the_benchmark_kernels_give_their_checksums() {
    let _arena = shared_arena();
    platform();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/kernels");
    let sums = std::fs::read_to_string(dir.join("checksums.tsv")).expect("checksums.tsv");
    // (name, checksum, native seconds)
    let mut kernels: Vec<(&str, i64, f64)> = sums
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let sum = fields.get(1)?.parse().ok()?;
            let seconds = fields
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::MAX);
            Some((fields[0], sum, seconds))
        })
        .collect();
    assert!(kernels.len() >= 10, "only {} kernels", kernels.len());
    if !cfg!(target_arch = "x86_64") {
        kernels.sort_by(|a, b| a.2.total_cmp(&b.2));
        kernels.truncate(3);
    }
    for (name, want, _) in kernels {
        let wasm = std::fs::read(dir.join(format!("{name}.wasm"))).expect("kernel wasm");
        let bytes = compile(&wasm, &explicit()).expect("kernel compiles");
        let module = Module::from_artifact_bytes(&Engine::default(), &bytes).unwrap();
        let mut inst = Linker::new().instantiate(&mut store(), &module).unwrap();
        let got = inst.call("run", &[]).unwrap();
        assert_eq!(got, [Val::I64(want)], "kernel {name}");
    }
}

/// Mutated artifacts (the hostile-artifact fuzzer's mutations, checksums
/// fixed up so that the structural checks are what is tested) through the
/// platform: every one is refused, or loads and runs without harming the
/// process.
/// `VIBEWASM_HOSTILE_CASES` (default 3,000; 300 on other architectures
/// than x86-64, which run under qemu in CI).
#[test]
fn mutated_artifacts_never_crash_the_core() {
    let _arena = shared_arena();
    platform();
    let default = if cfg!(target_arch = "x86_64") {
        3000
    } else {
        300
    };
    let cases = std::env::var("VIBEWASM_HOSTILE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    let seeds = hostile::seeds();
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for case in 0..cases {
        let seed = &seeds[(case % seeds.len() as u64) as usize];
        let bytes = hostile::mutate(&seed.bytes, &mut hostile::Mutator::new(case));
        let outcome = match hostile::check(&bytes) {
            hostile::Outcome::Refused(_) => "refused".to_string(),
            other => format!("{other:?}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!("hostile artifacts through the platform: {outcomes:?}");
    assert!(
        outcomes.get("refused").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("Ran").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
}
