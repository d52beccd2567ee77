//! x86-64 (System V): what the loader knows about the machine.

use vibewasm_format::{CodeRange, TrapSite};

use super::FrameStep;

/// Whether the guard-page fault handler exists on this target: it needs
/// the Linux `ucontext_t` layout below.
#[cfg(feature = "std")]
pub(crate) const SIGNALS_SUPPORTED: bool = cfg!(target_os = "linux");

/// The saved program counter (`rip`) of an interrupted thread.
///
/// # Safety
/// `context` must be the `ucontext_t` the kernel passed to a signal handler.
#[cfg(all(feature = "std", target_os = "linux"))]
pub(crate) unsafe fn program_counter(context: *mut libc::c_void) -> *mut usize {
    let context = context.cast::<libc::ucontext_t>();
    // SAFETY: the caller guarantees `context` is a valid ucontext_t; RIP
    // is a 64-bit register slot.
    unsafe { core::ptr::addr_of_mut!((*context).uc_mcontext.gregs[libc::REG_RIP as usize]).cast() }
}

/// The saved trap-site register of an interrupted thread
/// (`vibewasm_format::TRAP_SITE_REGISTER_X86_64`: rsi).
///
/// # Safety
/// `context` must be the `ucontext_t` the kernel passed to a signal handler.
#[cfg(all(feature = "std", target_os = "linux"))]
pub(crate) unsafe fn trap_site_register(context: *mut libc::c_void) -> *mut usize {
    const _: () = assert!(vibewasm_format::TRAP_SITE_REGISTER_X86_64 == 6);
    let context = context.cast::<libc::ucontext_t>();
    // SAFETY: the caller guarantees `context` is a valid ucontext_t; RSI
    // is a 64-bit register slot.
    unsafe { core::ptr::addr_of_mut!((*context).uc_mcontext.gregs[libc::REG_RSI as usize]).cast() }
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

/// The frame size of the trapping frame: its trap site's
/// (`TrapSite::frame_size`: a stack-overflow stub shifts the stack pointer
/// by `OVERFLOW_STUB_SHIFT` before the frame exists).
pub(crate) fn trapping_frame_size(site: &TrapSite, function: &CodeRange) -> u32 {
    site.frame_size(function)
}

/// `call` pushes the return address, so a frame of `frame_size` bytes
/// (everything the callee pushed and allocated below that address) has it
/// at `sp + frame_size`, and the caller's stack pointer is 8 bytes above.
pub(crate) fn frame_step(sp: usize, frame_size: u32) -> Option<FrameStep> {
    let return_address_slot = sp.checked_add(frame_size as usize)?;
    Some(FrameStep {
        return_address_slot,
        caller_sp: return_address_slot.checked_add(8)?,
    })
}

/// x86 keeps instruction fetch coherent with data writes: nothing to do
/// after copying code (the `mprotect` that makes it executable suffices).
pub(crate) fn sync_instruction_cache(_code: &[u8]) {}
