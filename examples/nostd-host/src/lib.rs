//! `int vw_core_run(const uint8_t *artifact, size_t len, int64_t *result)`:
//! checks and loads an artifact from the host's bytes, instantiates it
//! without imports and calls its export `run: [] -> [i64]`, through the
//! loader's `no_std` core. The C host provides the allocator (`malloc`,
//! `free`, `realloc`), `abort`, and the platform (`vw_host_*` below).
//! Returns 0, or 1 (load), 2 (instantiate), 3 (call or trap), 4 (no
//! platform); `vw_core_error` copies the last message.
#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::RefCell;
use core::ptr::NonNull;

use vibewasm_loader::{
    set_platform, Artifact, Engine, EngineConfig, Linker, Module, Platform, Store, Val,
};

extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
    fn realloc(ptr: *mut u8, size: usize) -> *mut u8;
    fn abort() -> !;
    /// `len` zeroed writable bytes for a linear memory, or NULL.
    fn vw_host_alloc_memory(len: usize) -> *mut u8;
    fn vw_host_free_memory(base: *mut u8, len: usize);
    /// An executable copy of `code` at a 4 KiB-aligned address, or NULL.
    fn vw_host_alloc_code(code: *const u8, len: usize) -> *mut u8;
    fn vw_host_free_code(base: *mut u8, len: usize);
}

/// `malloc` gives 16-byte alignment; larger alignments are padded by hand.
struct CAllocator;

// SAFETY: forwards to the C allocator, which returns blocks of at least
// the requested size aligned to 16; larger alignments get a block with room
// to align inside and the original pointer stored just before.
unsafe impl GlobalAlloc for CAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= 16 {
            // SAFETY: plain malloc.
            return unsafe { malloc(layout.size().max(1)) };
        }
        let total = layout.size() + layout.align() + 8;
        // SAFETY: plain malloc.
        let raw = unsafe { malloc(total) };
        if raw.is_null() {
            return raw;
        }
        let aligned = (raw as usize + 8).next_multiple_of(layout.align());
        // SAFETY: `aligned - 8 >= raw` lies in the block.
        unsafe { ((aligned - 8) as *mut usize).write(raw as usize) };
        aligned as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() <= 16 {
            // SAFETY: from malloc above.
            return unsafe { free(ptr) };
        }
        // SAFETY: `alloc` stored the block's start just before `ptr`.
        unsafe { free(((ptr as usize - 8) as *const usize).read() as *mut u8) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= 16 {
            // SAFETY: from malloc above.
            return unsafe { realloc(ptr, new_size.max(1)) };
        }
        let new = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
        // SAFETY: the default strategy, through `alloc` and `dealloc`.
        unsafe {
            let out = self.alloc(new);
            if !out.is_null() {
                core::ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            out
        }
    }
}

#[global_allocator]
static ALLOCATOR: CAllocator = CAllocator;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: the C library's abort.
    unsafe { abort() }
}

/// The precompiled `core` and `alloc` of a target with unwinding name the
/// personality routine in their unwind tables; with `panic = "abort"`
/// nothing ever unwinds, so it is never called (stable Rust cannot drop
/// the reference without rebuilding `core`).
#[no_mangle]
extern "C" fn rust_eh_personality() {}

/// The host's platform functions.
struct HostPlatform;

impl Platform for HostPlatform {
    fn alloc_memory(&self, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: the host's allocator.
        NonNull::new(unsafe { vw_host_alloc_memory(len) })
    }

    unsafe fn free_memory(&self, base: NonNull<u8>, len: usize) {
        // SAFETY: forwarded contract.
        unsafe { vw_host_free_memory(base.as_ptr(), len) }
    }

    fn alloc_code(&self, code: &[u8]) -> Option<NonNull<u8>> {
        // SAFETY: the host copies `code.len()` bytes from `code`.
        NonNull::new(unsafe { vw_host_alloc_code(code.as_ptr(), code.len()) })
    }

    unsafe fn free_code(&self, base: NonNull<u8>, len: usize) {
        // SAFETY: forwarded contract.
        unsafe { vw_host_free_code(base.as_ptr(), len) }
    }
}

static PLATFORM: HostPlatform = HostPlatform;

/// The last error's message (the host is single-threaded).
struct LastError(RefCell<String>);
// SAFETY: only used from the host's one thread (documented above).
unsafe impl Sync for LastError {}
static LAST_ERROR: LastError = LastError(RefCell::new(String::new()));

fn fail(code: i32, message: impl ToString) -> i32 {
    *LAST_ERROR.0.borrow_mut() = message.to_string();
    code
}

/// # Safety
/// `artifact` points to `len` readable bytes; `result` to an `int64_t`.
#[no_mangle]
pub unsafe extern "C" fn vw_core_run(artifact: *const u8, len: usize, result: *mut i64) -> i32 {
    set_platform(&PLATFORM);
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { core::slice::from_raw_parts(artifact, len) };
    let artifact = match Artifact::from_bytes(bytes) {
        Ok(a) => Arc::new(a),
        Err(e) => return fail(1, e),
    };
    let engine = Arc::new(Engine::new(EngineConfig {
        memory_reservation: 0,
        ..EngineConfig::default()
    }));
    let module = match Module::from_artifact(&engine, artifact) {
        Ok(m) => m,
        Err(e) => return fail(1, e),
    };
    let mut store = Store::new(engine);
    let mut instance = match Linker::new().instantiate(&mut store, &module) {
        Ok(i) => i,
        Err(e) => return fail(2, e),
    };
    match instance.call("run", &[]).as_deref() {
        Ok([Val::I64(v)]) => {
            // SAFETY: guaranteed by the caller.
            unsafe { *result = *v };
            0
        }
        Ok(_) => fail(3, "run does not return one i64"),
        Err(e) => fail(3, e),
    }
}

/// Copies the last error's message (NUL-terminated, truncated to `cap`).
///
/// # Safety
/// `buf` points to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vw_core_error(buf: *mut u8, cap: usize) {
    let message = LAST_ERROR.0.borrow();
    let n = message.len().min(cap.saturating_sub(1));
    if cap == 0 {
        return;
    }
    // SAFETY: `n + 1 <= cap` bytes of the caller's buffer.
    unsafe {
        core::ptr::copy_nonoverlapping(message.as_ptr(), buf, n);
        *buf.add(n) = 0;
    }
}
