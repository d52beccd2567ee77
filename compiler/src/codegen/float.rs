//! f32/f64 operators with IEEE semantics: arithmetic, comparisons, `min`/
//! `max`, `sqrt`, rounding, `abs`/`neg`/`copysign` as bit operations, and
//! `select` of floats.
//!
//! Float values live in the float register pool, in memory, or as constant
//! bit patterns. SLJIT lacks sqrt, rounding and min/max; `machine.rs`
//! gives them per target (x86-64 rounding needs SSE4.1, recorded in the
//! artifact).

use sljit_sys::*;
use vibewasm_format::ValType;

use super::func::FuncCompiler;
use super::machine::Rounding;
use super::stack::{fmov_op, Loc, FT0, FT1};
use crate::emitter::{FReg, Operand, R0, R1};

#[derive(Clone, Copy)]
pub enum FloatBinary {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Copysign,
}

#[derive(Clone, Copy)]
pub enum FloatUnary {
    Abs,
    Neg,
    Sqrt,
    Ceil,
    Floor,
    Trunc,
    Nearest,
}

#[derive(Clone, Copy)]
pub enum FloatCmp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl FloatCmp {
    /// Conditions that are false on NaN (true for `ne`), as wasm requires.
    fn condition(self) -> i32 {
        match self {
            FloatCmp::Eq => SLJIT_ORDERED_EQUAL,
            FloatCmp::Ne => SLJIT_UNORDERED_OR_NOT_EQUAL,
            FloatCmp::Lt => SLJIT_ORDERED_LESS,
            FloatCmp::Gt => SLJIT_ORDERED_GREATER,
            FloatCmp::Le => SLJIT_ORDERED_LESS_EQUAL,
            FloatCmp::Ge => SLJIT_ORDERED_GREATER_EQUAL,
        }
    }
}

/// `SLJIT_32` for f32 operations (SLJIT's f32 opcodes are the f64 ones | SLJIT_32).
pub fn fwidth(ty: ValType) -> i32 {
    if ty == ValType::F32 {
        SLJIT_32
    } else {
        0
    }
}

/// SSE prefix for scalar single (F3) or double (F2) instructions.
impl FuncCompiler<'_, '_> {
    /// Pops a float into a float register that the caller may overwrite:
    /// a fresh pool register holding the value.
    fn pop_float_to_reg(&mut self) -> (FReg, ValType) {
        let (src, entry) = self.pop_entry();
        if let Loc::FReg(r) = entry.loc {
            // Freed by the pop, so ours to overwrite until the next allocation.
            return (r, entry.ty);
        }
        let dst = self.alloc_freg();
        match entry.loc {
            Loc::Const(bits) => self
                .m
                .float_const(dst, entry.ty == ValType::F32, bits as u64),
            _ => self.m.e.fop1(fmov_op(entry.ty), Operand::freg(dst), src),
        }
        (dst, entry.ty)
    }

    pub fn float_binary(&mut self, op: FloatBinary) {
        match op {
            FloatBinary::Min | FloatBinary::Max => return self.float_min_max(op),
            FloatBinary::Copysign => return self.float_copysign(),
            _ => {}
        }
        let (b, _) = self.pop_float(FT1);
        let (a, ty) = self.pop_float(FT0);
        // `dst = a - b` (or `/`) into `b`'s register costs SLJIT a temporary
        // and a merging copy back: take another register when one is free.
        let dst = match op {
            FloatBinary::Sub | FloatBinary::Div if b.is_reg() => {
                self.alloc_freg_other_than(FReg(b.arg))
            }
            _ => self.alloc_freg(),
        };
        let opcode = match op {
            FloatBinary::Add => SLJIT_ADD_F64,
            FloatBinary::Sub => SLJIT_SUB_F64,
            FloatBinary::Mul => SLJIT_MUL_F64,
            FloatBinary::Div => SLJIT_DIV_F64,
            _ => unreachable!("handled above"),
        };
        self.m.e.fop2(opcode | fwidth(ty), Operand::freg(dst), a, b);
        self.push_freg(dst, ty);
    }

    /// wasm `min`/`max`: NaN if either operand is NaN, and `-0 < +0`.
    /// `minsd` alone returns its second operand for NaN and for equal zeros.
    fn float_min_max(&mut self, op: FloatBinary) {
        let (b, ty) = self.pop_float(FT1);
        // Into FT1 before `a` takes a register (perhaps the one `b` was in).
        self.m.e.fop1(fmov_op(ty), Operand::freg(FT1), b);
        let (a, _) = self.pop_float_to_reg();
        let w = fwidth(ty);
        let is_min = matches!(op, FloatBinary::Min);
        let is_f32 = ty == ValType::F32;
        if self.m.float_min_max(is_min, is_f32, a, FT1) {
            self.push_freg(a, ty);
            return;
        }
        let e = &mut self.m.e;
        let unordered = e.fcmp(SLJIT_UNORDERED | w, Operand::freg(a), Operand::freg(FT1));
        let different = e.fcmp(SLJIT_F_NOT_EQUAL | w, Operand::freg(a), Operand::freg(FT1));
        // Equal: only the sign of a zero can differ; OR keeps -0 (min), AND keeps +0 (max).
        self.m.float_min_max_step(true, is_min, is_f32, a, FT1);
        let e = &mut self.m.e;
        let done_equal = e.jump(SLJIT_JUMP);
        let label = e.label();
        e.set_label(different, label);
        self.m.float_min_max_step(false, is_min, is_f32, a, FT1);
        let e = &mut self.m.e;
        let done_different = e.jump(SLJIT_JUMP);
        let label = e.label();
        e.set_label(unordered, label);
        // Adding propagates the NaN, quieted.
        e.fop2(
            SLJIT_ADD_F64 | w,
            Operand::freg(a),
            Operand::freg(a),
            Operand::freg(FT1),
        );
        let done = e.label();
        e.set_label(done_equal, done);
        e.set_label(done_different, done);
        self.push_freg(a, ty);
    }

    /// `copysign` on the bit patterns, in general registers (SLJIT's own
    /// COPYSIGN on x86 reads a mask from an absolute address).
    fn float_copysign(&mut self) {
        let (b, b_entry) = self.pop_entry();
        let ty = b_entry.ty;
        self.float_bits_to(R1, b, b_entry.loc, ty);
        let (a, a_entry) = self.pop_entry();
        self.float_bits_to(R0, a, a_entry.loc, ty);
        let (sign, op_and, op_or, copy) = if ty == ValType::F32 {
            (0x8000_0000i64, SLJIT_AND32, SLJIT_OR32, SLJIT_COPY32_TO_F32)
        } else {
            (i64::MIN, SLJIT_AND, SLJIT_OR, SLJIT_COPY_TO_F64)
        };
        let e = &mut self.m.e;
        e.op2(
            op_and,
            Operand::reg(R1),
            Operand::reg(R1),
            Operand::imm(sign),
        );
        e.op2(
            op_and,
            Operand::reg(R0),
            Operand::reg(R0),
            Operand::imm(!sign),
        );
        e.op2(op_or, Operand::reg(R0), Operand::reg(R0), Operand::reg(R1));
        let dst = self.alloc_freg();
        self.m.e.fcopy(copy, dst, R0);
        self.push_freg(dst, ty);
    }

    /// Puts the bit pattern of a float operand into general register `dst`.
    pub fn float_bits_to(&mut self, dst: crate::emitter::Reg, src: Operand, loc: Loc, ty: ValType) {
        let f32 = ty == ValType::F32;
        match self.float_register_of(loc) {
            Some(f) => {
                let op = if f32 {
                    SLJIT_COPY32_FROM_F32
                } else {
                    SLJIT_COPY_FROM_F64
                };
                self.m.e.fcopy(op, f, dst);
            }
            None => {
                let op = if f32 { SLJIT_MOV32 } else { SLJIT_MOV };
                self.m.e.op1(op, Operand::reg(dst), src);
            }
        }
    }

    pub fn float_unary(&mut self, op: FloatUnary) {
        let (a, ty) = self.pop_float(FT0);
        let dst = self.alloc_freg();
        let w = fwidth(ty);
        let e = &mut self.m.e;
        match op {
            FloatUnary::Abs | FloatUnary::Neg => {
                // Register destination: SLJIT builds the mask in registers
                // (with a memory destination it would read an absolute table).
                let opcode = if matches!(op, FloatUnary::Abs) {
                    SLJIT_ABS_F64
                } else {
                    SLJIT_NEG_F64
                };
                e.fop1(opcode | w, Operand::freg(dst), a);
            }
            FloatUnary::Sqrt => {
                e.fop1(fmov_op(ty), Operand::freg(dst), a);
                self.m.float_sqrt(ty == ValType::F32, dst);
            }
            FloatUnary::Ceil | FloatUnary::Floor | FloatUnary::Trunc | FloatUnary::Nearest => {
                let mode = match op {
                    FloatUnary::Nearest => Rounding::Nearest,
                    FloatUnary::Floor => Rounding::Floor,
                    FloatUnary::Ceil => Rounding::Ceil,
                    _ => Rounding::Trunc,
                };
                e.fop1(fmov_op(ty), Operand::freg(dst), a);
                self.m.float_round(mode, ty == ValType::F32, dst);
            }
        }
        self.push_freg(dst, ty);
    }

    pub fn float_compare(&mut self, cmp: FloatCmp) {
        let (b, _) = self.pop_float(FT1);
        let (a, ty) = self.pop_float(FT0);
        let dst = self.alloc_reg();
        let condition = cmp.condition();
        let e = &mut self.m.e;
        // SLJIT_SET(condition): a condition and its inverse share the even flag type.
        e.fop1(SLJIT_CMP_F64 | fwidth(ty) | ((condition & !1) << 10), a, b);
        e.op_flags(SLJIT_MOV32, Operand::reg(dst), condition);
        self.push_reg(dst, ValType::I32);
    }

    /// `select` of two floats.
    pub fn float_select(&mut self, ty: ValType) {
        let (cond, _) = self.pop();
        self.m.e.op1(SLJIT_MOV32, Operand::reg(R0), cond);
        let (if_false, _) = self.pop_float(FT1);
        let (if_true, _) = self.pop_float(FT0);
        let dst = self.alloc_freg();
        let e = &mut self.m.e;
        let w = fwidth(ty);
        if if_true == Operand::freg(dst) {
            e.op2u(SLJIT_SUB32 | SLJIT_SET_Z, Operand::reg(R0), Operand::imm(0));
            e.fselect(SLJIT_ZERO | w, dst, if_false, dst);
        } else {
            e.fop1(fmov_op(ty), Operand::freg(dst), if_false);
            e.op2u(SLJIT_SUB32 | SLJIT_SET_Z, Operand::reg(R0), Operand::imm(0));
            e.fselect(SLJIT_NOT_ZERO | w, dst, if_true, dst);
        }
        self.push_freg(dst, ty);
    }
}
