//! The SLJIT back ends this compiler carries, one per target
//! (`compiler/build.rs` builds `sljit/backend.c` once for each), and the
//! translation of register numbers between them.
//!
//! Code generation names registers with the `sljit-sys` constants, which
//! are x86-64's (`SLJIT_S0 = 13`, `SLJIT_SP = 14`; see
//! `codegen::sljit_regs`). Only the saved registers and `SLJIT_SP` differ
//! on aarch64, so [`Backend::gp`] renumbers those at the call into SLJIT;
//! the register allocation above is the same on both targets (aarch64 has
//! registers to spare, which it leaves unused for now).

use std::ffi::c_void;

use sljit_sys::{
    sljit_compiler, sljit_f32, sljit_f64, sljit_jump, sljit_label, sljit_read_only_buffer,
    sljit_s32, sljit_sw, sljit_u32, sljit_uw,
};
use vibewasm_format::Arch;

use crate::codegen::sljit_regs::{SljitRegs, X86_64};

type C = *mut sljit_compiler;
/// `op1`, `op2u` and `fop1`: `(compiler, op, dst|src1, w, src|src2, w)`.
type Op1 =
    unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_sw, sljit_s32, sljit_sw) -> sljit_s32;
/// `op2` and `fop2`: `(compiler, op, dst, w, src1, w, src2, w)`.
type Op2 = unsafe extern "C" fn(
    C,
    sljit_s32,
    sljit_s32,
    sljit_sw,
    sljit_s32,
    sljit_sw,
    sljit_s32,
    sljit_sw,
) -> sljit_s32;
/// `enter` and `set_context`: `(compiler, options, args, scratches, saveds, local_size)`.
type Enter =
    unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_s32, sljit_s32) -> sljit_s32;
/// `select` and `fselect`: `(compiler, type, dst_reg, src1, w, src2_reg)`.
type Select =
    unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_sw, sljit_s32) -> sljit_s32;
/// `cmp` and `fcmp`: `(compiler, type, src1, w, src2, w)`.
type Cmp =
    unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_sw, sljit_s32, sljit_sw) -> *mut sljit_jump;
/// `(compiler, type, vreg, operand, w)`.
type SimdMov = unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_sw) -> sljit_s32;

/// `struct vw_sljit_backend` of `sljit/backend.c`, field for field.
#[repr(C)]
pub struct Functions {
    pub create_compiler: unsafe extern "C" fn(*mut c_void) -> C,
    pub free_compiler: unsafe extern "C" fn(C),
    pub get_compiler_error: unsafe extern "C" fn(C) -> sljit_s32,
    pub generate_code: unsafe extern "C" fn(C, sljit_s32, *mut c_void) -> *mut c_void,
    pub get_generated_code_size: unsafe extern "C" fn(C) -> sljit_uw,
    pub get_register_index: unsafe extern "C" fn(sljit_s32, sljit_s32) -> sljit_s32,
    pub emit_enter: Enter,
    pub set_context: Enter,
    pub emit_return_void: unsafe extern "C" fn(C) -> sljit_s32,
    pub emit_return: unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_sw) -> sljit_s32,
    pub emit_op0: unsafe extern "C" fn(C, sljit_s32) -> sljit_s32,
    pub emit_op1: Op1,
    pub emit_op2: Op2,
    pub emit_op2u: Op1,
    pub emit_op_flags:
        unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_sw, sljit_s32) -> sljit_s32,
    pub emit_select: Select,
    pub emit_fop1: Op1,
    pub emit_fop2: Op2,
    pub emit_fset32: unsafe extern "C" fn(C, sljit_s32, sljit_f32) -> sljit_s32,
    pub emit_fset64: unsafe extern "C" fn(C, sljit_s32, sljit_f64) -> sljit_s32,
    pub emit_fcopy: unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32) -> sljit_s32,
    pub emit_fcmp: Cmp,
    pub emit_fselect: Select,
    pub emit_label: unsafe extern "C" fn(C) -> *mut sljit_label,
    pub emit_aligned_label:
        unsafe extern "C" fn(C, sljit_s32, *mut sljit_read_only_buffer) -> *mut sljit_label,
    pub emit_jump: unsafe extern "C" fn(C, sljit_s32) -> *mut sljit_jump,
    pub emit_cmp: Cmp,
    pub emit_icall: unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_sw) -> sljit_s32,
    pub emit_ijump: unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_sw) -> sljit_s32,
    pub set_label: unsafe extern "C" fn(*mut sljit_jump, *mut sljit_label),
    pub get_local_base: unsafe extern "C" fn(C, sljit_s32, sljit_sw, sljit_sw) -> sljit_s32,
    pub emit_op_custom: unsafe extern "C" fn(C, *mut c_void, sljit_u32) -> sljit_s32,
    pub emit_op_addr: unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_sw) -> *mut sljit_jump,
    pub get_label_addr: unsafe extern "C" fn(*mut sljit_label) -> sljit_uw,
    /// `simd_mov`, `simd_replicate`, `simd_extend` and `simd_sign`:
    /// `(compiler, type, vreg, src|dst, w)`.
    pub emit_simd_mov: SimdMov,
    pub emit_simd_replicate: SimdMov,
    pub emit_simd_lane_mov:
        unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_s32, sljit_sw) -> sljit_s32,
    pub emit_simd_lane_replicate:
        unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_s32) -> sljit_s32,
    pub emit_simd_extend: SimdMov,
    pub emit_simd_sign: SimdMov,
    pub emit_simd_op2:
        unsafe extern "C" fn(C, sljit_s32, sljit_s32, sljit_s32, sljit_s32, sljit_sw) -> sljit_s32,
    /// `vw_emit_frame_release` of `backend.c`: a tail call's epilogue.
    pub emit_frame_release: unsafe extern "C" fn(C) -> sljit_s32,
    pub number_of_registers: sljit_s32,
    pub number_of_float_registers: sljit_s32,
    pub s0: sljit_s32,
    pub sp: sljit_s32,
}

extern "C" {
    static vibewasm_sljit_x86_64: Functions;
    static vibewasm_sljit_aarch64: Functions;
}

/// One target's SLJIT: its functions and its register numbers.
pub struct Backend {
    pub f: &'static Functions,
    pub regs: &'static SljitRegs,
    /// Whether the compiler's (x86-64) register numbers need renumbering.
    renumber: bool,
}

impl Backend {
    pub fn for_arch(arch: Arch) -> Backend {
        // SAFETY: both tables are immutable `const` data defined by
        // `sljit/backend.c`, initialised at load time, never written.
        let f = unsafe {
            match arch {
                Arch::X86_64 => &vibewasm_sljit_x86_64,
                Arch::Aarch64 => &vibewasm_sljit_aarch64,
            }
        };
        Backend {
            f,
            regs: SljitRegs::for_arch(arch),
            renumber: arch != Arch::X86_64,
        }
    }

    /// The target's number for general register `reg`, given in the
    /// compiler's (x86-64) numbering.
    pub fn reg(&self, reg: i32) -> i32 {
        if !self.renumber || !(X86_64.first_saved_reg..=X86_64.sp).contains(&reg) {
            reg
        } else if reg == X86_64.sp {
            self.regs.sp
        } else {
            self.regs.s[(X86_64.s[0] - reg) as usize]
        }
    }

    /// The target's operand for a general operand `arg` (a register, an
    /// immediate, or memory based on general registers).
    pub fn gp(&self, arg: i32) -> i32 {
        use sljit_sys::{SLJIT_IMM, SLJIT_MEM};
        if !self.renumber || arg == SLJIT_IMM {
            arg
        } else if arg & SLJIT_MEM != 0 {
            SLJIT_MEM | self.reg(arg & 0x7f) | self.reg((arg >> 8) & 0x7f) << 8
        } else {
            self.reg(arg)
        }
    }

    /// The target's operand for a float operand `arg`: float registers are
    /// numbered alike; memory is based on general registers.
    pub fn fp(&self, arg: i32) -> i32 {
        if arg & sljit_sys::SLJIT_MEM != 0 {
            self.gp(arg)
        } else {
            arg
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables the C side exports agree with the register tables.
    #[test]
    fn each_backend_has_its_targets_registers() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let b = Backend::for_arch(arch);
            assert_eq!(b.f.number_of_registers, b.regs.number_of_registers);
            assert_eq!(
                b.f.number_of_float_registers,
                b.regs.number_of_float_registers
            );
            assert_eq!(b.f.s0, b.regs.s[0]);
            assert_eq!(b.f.sp, b.regs.sp);
        }
    }

    #[test]
    fn renumbers_saved_registers_and_sp_for_aarch64() {
        use sljit_sys::*;
        let a = Backend::for_arch(Arch::Aarch64);
        assert_eq!(a.reg(SLJIT_R0), SLJIT_R0);
        assert_eq!(a.reg(SLJIT_S0), 26);
        assert_eq!(a.reg(SLJIT_S5), 21);
        assert_eq!(a.reg(SLJIT_SP), 27);
        assert_eq!(a.gp(SLJIT_IMM), SLJIT_IMM);
        assert_eq!(
            a.gp(SLJIT_MEM | SLJIT_S1 | SLJIT_R2 << 8),
            SLJIT_MEM | 25 | SLJIT_R2 << 8
        );
        assert_eq!(a.fp(SLJIT_FR0 + 14), SLJIT_FR0 + 14);
        let x = Backend::for_arch(Arch::X86_64);
        assert_eq!(x.gp(SLJIT_MEM | SLJIT_S1), SLJIT_MEM | SLJIT_S1);
    }
}
