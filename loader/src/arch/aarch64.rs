//! aarch64 (AAPCS64): what the loader knows about the machine.
//!
//! Code generation for aarch64 does not exist yet (issue 14); this module
//! fixes the conventions the loader expects of it, chosen to match what
//! SLJIT's aarch64 back end does (`sljitNativeARM_64.c`):
//!
//! * The trap-site register is `x1` (`TRAP_SITE_REGISTER_AARCH64`), where
//!   SLJIT keeps `R1`.
//! * `sljit_emit_enter` stores the frame record (`x29`, `x30` = the link
//!   register) at the *bottom* of the frame (`stp x29, x30, [sp, #-n]!`,
//!   or `sub sp` then `stp x29, x30, [sp]` for large frames) and calls
//!   push nothing (`bl` puts the return address in `x30`). So in a
//!   function's body the return address is at `sp + 8` and the caller's
//!   stack pointer is `sp + frame_size`, with `frame_size` the *whole*
//!   frame (a multiple of 16, the record included): that is what
//!   `CodeRange::frame_size` must hold for aarch64 code.
//! * A stack-overflow stub runs before the prologue, with the return
//!   address still in `x30`: it must push a frame record
//!   (`stp x29, x30, [sp, #-16]!`, which also keeps `sp` 16-aligned) before
//!   it jumps to the trap path, so its frame is [`OVERFLOW_STUB_FRAME`]
//!   bytes under the rule above.

use vibewasm_format::{CodeRange, TrapCode, TrapSite};

use super::FrameStep;

/// Whether the guard-page fault handler exists on this target: it needs
/// the Linux `ucontext_t` layout below.
#[cfg(feature = "std")]
pub(crate) const SIGNALS_SUPPORTED: bool = cfg!(target_os = "linux");

/// The frame a stack-overflow stub builds before jumping to the trap path
/// (see the module documentation); the aarch64 counterpart of x86-64's
/// `vibewasm_format::OVERFLOW_STUB_SHIFT`, which describes x86-64 stubs.
pub(crate) const OVERFLOW_STUB_FRAME: u32 = 16;

/// The saved program counter (`pc`) of an interrupted thread.
///
/// # Safety
/// `context` must be the `ucontext_t` the kernel passed to a signal handler.
#[cfg(all(feature = "std", target_os = "linux"))]
pub(crate) unsafe fn program_counter(context: *mut libc::c_void) -> *mut usize {
    let context = context.cast::<libc::ucontext_t>();
    // SAFETY: the caller guarantees `context` is a valid ucontext_t;
    // `uc_mcontext.pc` is the 64-bit program counter slot.
    unsafe { core::ptr::addr_of_mut!((*context).uc_mcontext.pc).cast() }
}

/// The saved trap-site register of an interrupted thread
/// (`vibewasm_format::TRAP_SITE_REGISTER_AARCH64`: x1).
///
/// # Safety
/// `context` must be the `ucontext_t` the kernel passed to a signal handler.
#[cfg(all(feature = "std", target_os = "linux"))]
pub(crate) unsafe fn trap_site_register(context: *mut libc::c_void) -> *mut usize {
    const REGISTER: usize = vibewasm_format::TRAP_SITE_REGISTER_AARCH64 as usize;
    const _: () = assert!(REGISTER < 31);
    let context = context.cast::<libc::ucontext_t>();
    // SAFETY: the caller guarantees `context` is a valid ucontext_t;
    // `regs[0..31]` are the 64-bit slots of x0..x30.
    unsafe { core::ptr::addr_of_mut!((*context).uc_mcontext.regs[REGISTER]).cast() }
}

/// Elsewhere the handler is never installed (see `SIGNALS_SUPPORTED`).
#[cfg(all(feature = "std", not(target_os = "linux")))]
pub(crate) unsafe fn program_counter(_context: *mut libc::c_void) -> *mut usize {
    core::ptr::null_mut()
}

/// See `program_counter`.
#[cfg(all(feature = "std", not(target_os = "linux")))]
pub(crate) unsafe fn trap_site_register(_context: *mut libc::c_void) -> *mut usize {
    core::ptr::null_mut()
}

/// The frame size of the trapping frame: the function's, except for a
/// stack-overflow site, whose stub built only a frame record.
pub(crate) fn trapping_frame_size(site: &TrapSite, function: &CodeRange) -> u32 {
    match site.code {
        TrapCode::StackOverflow => OVERFLOW_STUB_FRAME,
        _ => function.frame_size,
    }
}

/// The frame record is at the bottom of the frame: the return address
/// (saved `x30`) at `sp + 8`, the caller's stack pointer `frame_size`
/// bytes up. A frame too small to hold the record ends the walk.
pub(crate) fn frame_step(sp: usize, frame_size: u32) -> Option<FrameStep> {
    if frame_size < 16 {
        return None;
    }
    Some(FrameStep {
        return_address_slot: sp.checked_add(8)?,
        caller_sp: sp.checked_add(frame_size as usize)?,
    })
}

/// Makes `code`, just written through the data side, safe to execute on
/// this core: aarch64 instruction fetch is not coherent with data writes.
/// What `__clear_cache` (libgcc, compiler-rt) does: clean the data cache
/// lines to the point of unification, invalidate the instruction cache
/// lines, then an `isb`. `CTR_EL0` gives the line sizes and says when a
/// step is not needed (IDC, DIC); Linux lets user space read it and run
/// these instructions. Other cores: the `ic ivau` is broadcast (inner
/// shareable); a core that already ran code at these addresses (a freed
/// artifact's) gets its context synchronisation from the hand-over of the
/// module to it (a lock or atomic, then a branch to new code); wasmtime
/// adds a `membarrier(SYNC_CORE)` for that case, which we may want too.
pub(crate) fn sync_instruction_cache(code: &[u8]) {
    if code.is_empty() {
        return;
    }
    let start = code.as_ptr() as usize;
    let end = start + code.len();
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects; Linux traps and
    // emulates it for EL0 where the hardware does not allow it.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    // Bits 19:16 (DminLine) and 3:0 (IminLine): log2 of the line size in
    // 4-byte words.
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    // IDC (bit 28): no data cache clean needed for coherence.
    if ctr & (1 << 28) == 0 {
        let mut line = start & !(dline - 1);
        while line < end {
            // SAFETY: cleaning a cache line of memory we own and just wrote
            // changes no memory contents.
            unsafe { core::arch::asm!("dc cvau, {}", in(reg) line, options(nostack)) };
            line += dline;
        }
    }
    // SAFETY: a barrier; no memory access of its own.
    unsafe { core::arch::asm!("dsb ish", options(nostack)) };
    // DIC (bit 29): no instruction cache invalidation needed.
    if ctr & (1 << 29) == 0 {
        let mut line = start & !(iline - 1);
        while line < end {
            // SAFETY: invalidating instruction cache lines of our own
            // mapping changes no memory contents.
            unsafe { core::arch::asm!("ic ivau, {}", in(reg) line, options(nostack)) };
            line += iline;
        }
        // SAFETY: as above.
        unsafe { core::arch::asm!("dsb ish", options(nostack)) };
    }
    // SAFETY: a context synchronisation barrier.
    unsafe { core::arch::asm!("isb", options(nostack)) };
}
