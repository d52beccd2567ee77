//! Architectures without generated code: no fault handler, no frame walk.

use vibewasm_format::{CodeRange, TrapSite};

use super::FrameStep;

#[cfg(feature = "std")]
pub(crate) const SIGNALS_SUPPORTED: bool = false;

#[cfg(feature = "std")]
pub(crate) unsafe fn program_counter(_context: *mut libc::c_void) -> *mut usize {
    core::ptr::null_mut()
}

#[cfg(feature = "std")]
pub(crate) unsafe fn trap_site_register(_context: *mut libc::c_void) -> *mut usize {
    core::ptr::null_mut()
}

pub(crate) fn trapping_frame_size(site: &TrapSite, function: &CodeRange) -> u32 {
    site.frame_size(function)
}

pub(crate) fn frame_step(_sp: usize, _frame_size: u32) -> Option<FrameStep> {
    None
}

pub(crate) fn sync_instruction_cache(_code: &[u8]) {}
