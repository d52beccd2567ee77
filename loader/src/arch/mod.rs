//! What the loader needs to know about the machine its code runs on, one
//! module per architecture, so that the rest of the loader stays portable:
//!
//! * where the signal context (`ucontext_t`) keeps the program counter and
//!   the trap-site register (`vibewasm_format::TRAP_SITE_REGISTER_*`), for
//!   the guard-page fault handler (`crate::signals`), and whether that
//!   handler exists on this target at all;
//! * how a backtrace steps from a wasm frame to its caller
//!   (`crate::backtrace`): where the frame's return address lies and where
//!   the caller's stack pointer is, given a frame's size as the artifact's
//!   tables record it (`CodeRange::frame_size`, `TrapSite::frame_size`);
//! * what makes freshly copied code executable besides the page
//!   protections (instruction-cache maintenance, `crate::artifact`).
//!
//! Each module provides the same items; an architecture without generated
//! code gets the `unsupported` one (no fault handler, no frame walk).

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod unsupported;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) use unsupported::*;

/// One step of a backtrace: the stack slot holding the frame's return
/// address, and the caller's stack pointer once that address is returned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameStep {
    pub(crate) return_address_slot: usize,
    pub(crate) caller_sp: usize,
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_64_return_address_on_top_of_the_frame() {
        let step = frame_step(0x1000, 24).unwrap();
        assert_eq!(step.return_address_slot, 0x1018);
        assert_eq!(step.caller_sp, 0x1020);
        assert_eq!(frame_step(usize::MAX - 8, 24), None);
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn aarch64_frame_record_at_the_bottom_of_the_frame() {
        let step = frame_step(0x1000, 48).unwrap();
        assert_eq!(step.return_address_slot, 0x1008);
        assert_eq!(step.caller_sp, 0x1030);
        // No room for the frame record: no step.
        assert_eq!(frame_step(0x1000, 8), None);
        assert_eq!(frame_step(usize::MAX - 8, 48), None);
    }

    /// Cache maintenance of unaligned ranges, and of none (the code that
    /// runs after it is tested by `tests::fault_sites` and the x86-64
    /// tests, whose code is copied).
    #[test]
    fn instruction_cache_sync_accepts_any_range() {
        sync_instruction_cache(&[]);
        let bytes = vec![0u8; 3 * 4096 + 5];
        sync_instruction_cache(&bytes[1..]);
    }
}
