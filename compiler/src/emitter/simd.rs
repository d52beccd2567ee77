//! SLJIT's portable SIMD operations on 128-bit vector registers (the float
//! registers, `FReg`): moves to and from memory, splats, lane moves,
//! extending loads, sign masks and the bitwise operations. Everything else
//! is machine code from the per-architecture SIMD modules
//! (`codegen::simd::{x86_64, aarch64}`) through [`Emitter::custom`].

use sljit_sys as sys;

use super::{Emitter, FReg, Operand};

/// `SLJIT_SIMD_REG_128` with lanes of `1 << log2_lane_bytes` bytes.
fn vector(log2_lane_bytes: u32) -> i32 {
    sys::SLJIT_SIMD_REG_128 | ((log2_lane_bytes as i32) << 18)
}

impl Emitter {
    /// SLJIT returns `SLJIT_ERR_UNSUPPORTED` from SIMD operations without
    /// latching it; remember the first so that `generate` fails.
    fn simd_status(&mut self, ty: i32, status: i32) {
        if status != 0 && self.simd_refused.is_none() {
            self.simd_refused = Some((ty, status));
        }
    }

    /// Loads (`store == false`) or stores all 128 bits of `v` from or to
    /// `mem` (any alignment), or copies a vector register.
    pub fn vec_move(&mut self, store: bool, v: FReg, mem: Operand) {
        let ty = vector(0) | if store { sys::SLJIT_SIMD_STORE } else { 0 };
        // SAFETY: `compiler` is live; `mem` is a register or memory operand.
        let status = unsafe {
            (self.b.f.emit_simd_mov)(self.compiler, ty, v.0, self.b.fp(mem.arg), mem.argw)
        };
        self.simd_status(ty, status);
    }

    /// Every lane of `v` = the low `1 << log2_lane_bytes` bytes of `src`
    /// (a general register, memory, or a float register when `float`).
    pub fn vec_splat(&mut self, log2_lane_bytes: u32, float: bool, v: FReg, src: Operand) {
        let ty = vector(log2_lane_bytes) | if float { sys::SLJIT_SIMD_FLOAT } else { 0 };
        let arg = if float {
            self.b.fp(src.arg)
        } else {
            self.b.gp(src.arg)
        };
        // SAFETY: as in `vec_move`.
        let status =
            unsafe { (self.b.f.emit_simd_replicate)(self.compiler, ty, v.0, arg, src.argw) };
        self.simd_status(ty, status);
    }

    /// Moves lane `lane` of `v` to or from `other` (a general register or
    /// memory; a float register when `float`). Loading with `zero` clears
    /// the other lanes; storing to a register with `signed` sign-extends.
    #[allow(clippy::too_many_arguments)]
    pub fn vec_lane(
        &mut self,
        store: bool,
        log2_lane_bytes: u32,
        float: bool,
        zero_or_signed: bool,
        v: FReg,
        lane: u32,
        other: Operand,
    ) {
        let mut ty = vector(log2_lane_bytes);
        if store {
            ty |= sys::SLJIT_SIMD_STORE;
        }
        if float {
            ty |= sys::SLJIT_SIMD_FLOAT;
        } else if log2_lane_bytes < 3 {
            ty |= sys::SLJIT_32;
        }
        if zero_or_signed {
            ty |= if store {
                sys::SLJIT_SIMD_LANE_SIGNED
            } else {
                sys::SLJIT_SIMD_LANE_ZERO
            };
        }
        let arg = if float {
            self.b.fp(other.arg)
        } else {
            self.b.gp(other.arg)
        };
        // SAFETY: as in `vec_move`; `lane` is below the lane count.
        let status = unsafe {
            (self.b.f.emit_simd_lane_mov)(self.compiler, ty, v.0, lane as i32, arg, other.argw)
        };
        self.simd_status(ty, status);
    }

    /// `v` = the low half of `src` (a vector register or 8 bytes of
    /// memory) with each lane widened from `1 << log2_lane_bytes` bytes to
    /// twice that, signed or not.
    pub fn vec_extend(&mut self, log2_lane_bytes: u32, signed: bool, v: FReg, src: Operand) {
        let ty = vector(log2_lane_bytes)
            | ((log2_lane_bytes as i32 + 1) << 24)
            | if signed {
                sys::SLJIT_SIMD_EXTEND_SIGNED
            } else {
                0
            };
        // SAFETY: as in `vec_move`.
        let status = unsafe {
            (self.b.f.emit_simd_extend)(self.compiler, ty, v.0, self.b.fp(src.arg), src.argw)
        };
        self.simd_status(ty, status);
    }

    /// `dst` (a general register) = the sign bit of each lane of `v`, lane
    /// 0 in bit 0.
    pub fn vec_sign_mask(&mut self, log2_lane_bytes: u32, v: FReg, dst: Operand) {
        let ty = vector(log2_lane_bytes) | sys::SLJIT_SIMD_STORE | sys::SLJIT_32;
        // SAFETY: as in `vec_move`.
        let status = unsafe {
            (self.b.f.emit_simd_sign)(self.compiler, ty, v.0, self.b.gp(dst.arg), dst.argw)
        };
        self.simd_status(ty, status);
    }

    /// `dst = bits`, through general register `R0`.
    pub fn vec_const(&mut self, dst: FReg, bits: u128) {
        use super::R0;
        let (low, high) = (bits as u64, (bits >> 64) as u64);
        self.op1(sys::SLJIT_MOV, Operand::reg(R0), Operand::imm(low as i64));
        if low == high {
            self.vec_splat(3, false, dst, Operand::reg(R0));
            return;
        }
        self.vec_lane(false, 3, false, true, dst, 0, Operand::reg(R0));
        self.op1(sys::SLJIT_MOV, Operand::reg(R0), Operand::imm(high as i64));
        self.vec_lane(false, 3, false, false, dst, 1, Operand::reg(R0));
    }

    /// Records that SIMD operation `what` has no lowering for this target,
    /// which makes [`Emitter::generate`] fail.
    pub fn simd_unsupported(&mut self, what: impl Into<String>) {
        if self.simd_unsupported.is_none() {
            self.simd_unsupported = Some(what.into());
        }
    }
}
