//! The stack limit generated code checks in every function prologue.
//!
//! Wasm runs on the calling thread's own stack. Before the outermost entry
//! the loader stores a limit in `vmctx.stack_limit`; a prologue that finds the
//! stack pointer below it traps with "call stack exhausted" instead of running
//! into the guard page. The limit leaves [`RED_ZONE`] bytes above the
//! thread's lowest stack address for what wasm calls into (host functions,
//! helpers) and for the trap path itself.

/// Stack kept free below the wasm limit for host functions and runtime
/// helpers called from wasm, and their frames.
pub const RED_ZONE: usize = 128 * 1024;

/// Default amount of stack wasm may use below the point where it is entered.
pub const DEFAULT_MAX_WASM_STACK: usize = 1024 * 1024;

/// `(lowest, highest)` address of the current thread's stack, if the OS says.
#[cfg(feature = "std")]
pub fn thread_stack_bounds() -> Option<(usize, usize)> {
    thread_local! {
        // Asking is not free (on the main thread glibc parses /proc/self/maps),
        // and a thread's stack never moves.
        static BOUNDS: core::cell::Cell<Option<Option<(usize, usize)>>> =
            const { core::cell::Cell::new(None) };
    }
    BOUNDS.with(|cell| match cell.get() {
        Some(bounds) => bounds,
        None => {
            let bounds = query_stack_bounds();
            cell.set(Some(bounds));
            bounds
        }
    })
}

#[cfg(all(feature = "std", target_os = "linux"))]
fn query_stack_bounds() -> Option<(usize, usize)> {
    let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread
    // when it returns 0; only then is it read and destroyed (exactly once).
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if rc != 0 || addr.is_null() {
            return None;
        }
        let low = addr as usize;
        Some((low, low.checked_add(size)?))
    }
}

#[cfg(all(feature = "std", target_os = "macos"))]
fn query_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: both functions only read the calling thread's own descriptor.
    let (high, size) = unsafe {
        let thread = libc::pthread_self();
        (
            libc::pthread_get_stackaddr_np(thread) as usize,
            libc::pthread_get_stacksize_np(thread),
        )
    };
    Some((high.checked_sub(size)?, high))
}

#[cfg(all(feature = "std", not(any(target_os = "linux", target_os = "macos"))))]
fn query_stack_bounds() -> Option<(usize, usize)> {
    None
}

/// An address on the current stack, close to the stack pointer.
#[inline(never)]
pub fn approximate_sp() -> usize {
    let marker = 0u8;
    core::hint::black_box(&marker) as *const u8 as usize
}

/// The limit for wasm entered at stack pointer `sp`: `max_wasm_stack` below
/// `sp`, but never into the red zone. `None` when the stack left is no more
/// than the red zone, so wasm must not be entered at all. Without known
/// bounds only `max_wasm_stack` applies.
pub fn compute_limit(
    bounds: Option<(usize, usize)>,
    sp: usize,
    max_wasm_stack: usize,
) -> Option<usize> {
    let wanted = sp.saturating_sub(max_wasm_stack);
    match bounds {
        Some((low, _)) => {
            let floor = low.checked_add(RED_ZONE)?;
            if sp <= floor {
                return None;
            }
            Some(wanted.max(floor))
        }
        None => Some(wanted),
    }
}

/// The stack limit for wasm entered from here, or `None` if the thread is
/// already too deep to enter wasm.
pub fn wasm_stack_limit(max_wasm_stack: usize) -> Option<usize> {
    compute_limit(
        crate::platform::stack_bounds(),
        approximate_sp(),
        max_wasm_stack,
    )
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn bounds_contain_the_stack_pointer() {
        let (low, high) = thread_stack_bounds().expect("stack bounds known");
        let sp = approximate_sp();
        assert!(low < sp && sp < high, "{low:#x} < {sp:#x} < {high:#x}");
        assert_eq!(thread_stack_bounds(), Some((low, high)));
    }

    #[test]
    fn small_thread_bounds() {
        let size = 256 * 1024;
        let (low, high, sp) = std::thread::Builder::new()
            .stack_size(size)
            .spawn(|| {
                let (low, high) = thread_stack_bounds().unwrap();
                (low, high, approximate_sp())
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(high - low >= size && high - low < 4 * size);
        assert!(low < sp && sp < high);
        // With a 256 KiB stack the red zone, not the 1 MiB budget, decides.
        let limit = compute_limit(Some((low, high)), sp, DEFAULT_MAX_WASM_STACK).unwrap();
        assert_eq!(limit, low + RED_ZONE);
    }

    #[test]
    fn limit_rules() {
        let low = 0x10_0000;
        let high = low + 8 * 1024 * 1024;
        let bounds = Some((low, high));
        let sp = high - 4096;
        assert_eq!(compute_limit(bounds, sp, 1 << 20), Some(sp - (1 << 20)));
        assert_eq!(compute_limit(bounds, sp, usize::MAX), Some(low + RED_ZONE));
        assert_eq!(compute_limit(bounds, low + RED_ZONE, 1 << 20), None);
        assert_eq!(compute_limit(bounds, low + 100, 1 << 20), None);
        assert_eq!(compute_limit(None, 5000, 1 << 20), Some(0));
        assert_eq!(
            compute_limit(Some((usize::MAX - 10, usize::MAX)), 1, 1),
            None
        );
    }
}
