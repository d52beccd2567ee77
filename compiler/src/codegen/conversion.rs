//! Conversions between integers and floats: `convert`, trapping `trunc`,
//! saturating `trunc_sat`, `demote`/`promote` and `reinterpret`.

use sljit_sys::*;
use vibewasm_format::{TrapCode, ValType};

use super::float::fwidth;
use super::func::FuncCompiler;
use super::stack::{fmov_op, Loc, FT0, FT1};
use crate::emitter::{Jump, Operand, Reg, R0};

/// A float-to-integer truncation: source float type, result integer type, signedness.
#[derive(Clone, Copy)]
pub struct Trunc {
    pub from: ValType,
    pub to: ValType,
    pub signed: bool,
}

impl Trunc {
    /// The open/closed range of source values that convert without
    /// overflow: `(low, low_inclusive, high)`; `high` is always exclusive.
    fn range(self) -> (f64, bool, f64) {
        match (self.to, self.signed) {
            // -2^31 - 1 is exact in f64 but not in f32, whose next value
            // below -2^31 is far lower: so f32 uses an inclusive -2^31.
            (ValType::I32, true) if self.from == ValType::F64 => {
                (-2147483649.0, false, 2147483648.0)
            }
            (ValType::I32, true) => (-2147483648.0, true, 2147483648.0),
            (ValType::I32, false) => (-1.0, false, 4294967296.0),
            (_, true) => (-9223372036854775808.0, true, 9223372036854775808.0),
            (_, false) => (-1.0, false, 18446744073709551616.0),
        }
    }

    fn fset_bound(self, fc: &mut FuncCompiler<'_, '_>, value: f64) {
        let bits = if self.from == ValType::F32 {
            (value as f32).to_bits() as u64
        } else {
            value.to_bits()
        };
        fc.m.float_const(FT1, self.from == ValType::F32, bits);
    }
}

impl FuncCompiler<'_, '_> {
    /// `f32/f64.convert_i32/i64_s/u`.
    pub fn convert_int_to_float(&mut self, from: ValType, signed: bool, to: ValType) {
        let (a, _) = self.pop();
        let mov = if from == ValType::I32 {
            SLJIT_MOV32
        } else {
            SLJIT_MOV
        };
        self.m.e.op1(mov, Operand::reg(R0), a);
        let op = match (from, signed) {
            (ValType::I32, true) => SLJIT_CONV_F64_FROM_S32,
            (ValType::I32, false) => SLJIT_CONV_F64_FROM_U32,
            (_, true) => SLJIT_CONV_F64_FROM_SW,
            (_, false) => SLJIT_CONV_F64_FROM_UW,
        };
        let dst = self.alloc_freg();
        self.m
            .e
            .fop1(op | fwidth(to), Operand::freg(dst), Operand::reg(R0));
        self.push_freg(dst, to);
    }

    /// `f32.demote_f64` / `f64.promote_f32`.
    pub fn convert_float(&mut self, to: ValType) {
        let (a, _) = self.pop_float(FT0);
        let dst = self.alloc_freg();
        let op = if to == ValType::F32 {
            SLJIT_CONV_F32_FROM_F64
        } else {
            SLJIT_CONV_F64_FROM_F32
        };
        self.m.e.fop1(op, Operand::freg(dst), a);
        self.push_freg(dst, to);
    }

    /// Loads the value to truncate into `FT0`.
    fn trunc_source(&mut self) {
        let (a, ty) = self.pop_float(FT0);
        self.m.e.fop1(fmov_op(ty), Operand::freg(FT0), a);
    }

    /// Converts `FT0` (already range-checked) into `dst`. Clobbers `FT0`/`FT1`.
    fn trunc_in_range(&mut self, t: Trunc, dst: Reg) {
        let w = fwidth(t.from);
        let e = &mut self.m.e;
        match (t.to, t.signed) {
            (ValType::I32, true) => e.fop1(
                SLJIT_CONV_S32_FROM_F64 | w,
                Operand::reg(dst),
                Operand::freg(FT0),
            ),
            (ValType::I32, false) | (_, true) => e.fop1(
                SLJIT_CONV_SW_FROM_F64 | w,
                Operand::reg(dst),
                Operand::freg(FT0),
            ),
            (_, false) => {
                // Values of 2^63 and above are converted after subtracting
                // 2^63, which is then added back as the top bit.
                t.fset_bound(self, 9223372036854775808.0);
                let e = &mut self.m.e;
                let big = e.fcmp(
                    SLJIT_F_GREATER_EQUAL | w,
                    Operand::freg(FT0),
                    Operand::freg(FT1),
                );
                e.fop1(
                    SLJIT_CONV_SW_FROM_F64 | w,
                    Operand::reg(dst),
                    Operand::freg(FT0),
                );
                let done = e.jump(SLJIT_JUMP);
                let label = e.label();
                e.set_label(big, label);
                e.fop2(
                    SLJIT_SUB_F64 | w,
                    Operand::freg(FT0),
                    Operand::freg(FT0),
                    Operand::freg(FT1),
                );
                e.fop1(
                    SLJIT_CONV_SW_FROM_F64 | w,
                    Operand::reg(dst),
                    Operand::freg(FT0),
                );
                e.op2(
                    SLJIT_XOR,
                    Operand::reg(dst),
                    Operand::reg(dst),
                    Operand::imm(i64::MIN),
                );
                let label = e.label();
                e.set_label(done, label);
            }
        }
    }

    /// Branches taken when `FT0` is below / at-or-above the convertible range.
    fn trunc_range_checks(&mut self, t: Trunc) -> (Jump, Jump) {
        let (low, inclusive, high) = t.range();
        let w = fwidth(t.from);
        t.fset_bound(self, low);
        let below_condition = if inclusive {
            SLJIT_F_LESS
        } else {
            SLJIT_F_LESS_EQUAL
        };
        let below = self
            .m
            .e
            .fcmp(below_condition | w, Operand::freg(FT0), Operand::freg(FT1));
        t.fset_bound(self, high);
        let above = self.m.e.fcmp(
            SLJIT_F_GREATER_EQUAL | w,
            Operand::freg(FT0),
            Operand::freg(FT1),
        );
        (below, above)
    }

    /// Trapping `trunc`: NaN is an invalid conversion, out of range an overflow.
    pub fn trunc(&mut self, t: Trunc) {
        self.trunc_source();
        let w = fwidth(t.from);
        let nan = self
            .m
            .e
            .fcmp(SLJIT_UNORDERED | w, Operand::freg(FT0), Operand::freg(FT0));
        self.trap_on(nan, TrapCode::InvalidConversionToInteger);
        let (below, above) = self.trunc_range_checks(t);
        self.trap_on(below, TrapCode::IntegerOverflow);
        self.trap_on(above, TrapCode::IntegerOverflow);
        let dst = self.alloc_reg();
        self.trunc_in_range(t, dst);
        self.push_reg(dst, t.to);
    }

    /// Saturating `trunc_sat`: NaN gives 0, out-of-range values the nearest bound.
    pub fn trunc_sat(&mut self, t: Trunc) {
        self.trunc_source();
        let dst = self.alloc_reg();
        let w = fwidth(t.from);
        self.m.e.op1(SLJIT_MOV, Operand::reg(dst), Operand::imm(0));
        let nan = self
            .m
            .e
            .fcmp(SLJIT_UNORDERED | w, Operand::freg(FT0), Operand::freg(FT0));
        let (below, above) = self.trunc_range_checks(t);
        self.trunc_in_range(t, dst);
        let (min, max) = match (t.to, t.signed) {
            (ValType::I32, true) => (i32::MIN as i64, i32::MAX as i64),
            (ValType::I32, false) => (0, u32::MAX as i32 as i64),
            (_, true) => (i64::MIN, i64::MAX),
            (_, false) => (0, -1),
        };
        let e = &mut self.m.e;
        let done_in_range = e.jump(SLJIT_JUMP);
        let label = e.label();
        e.set_label(below, label);
        e.op1(SLJIT_MOV, Operand::reg(dst), Operand::imm(min));
        let done_below = e.jump(SLJIT_JUMP);
        let label = e.label();
        e.set_label(above, label);
        e.op1(SLJIT_MOV, Operand::reg(dst), Operand::imm(max));
        let done = e.label();
        for jump in [nan, done_in_range, done_below] {
            e.set_label(jump, done);
        }
        self.push_reg(dst, t.to);
    }

    /// `reinterpret`: the same bits under another type.
    pub fn reinterpret(&mut self, to: ValType) {
        let (src, entry) = self.pop_entry();
        let to_f32_or_i32 = matches!(to, ValType::F32 | ValType::I32);
        // A local homed in a register is, for this purpose, a register.
        let loc = match (entry.loc, self.float_register_of(entry.loc), src.as_reg()) {
            (Loc::Local(_), Some(f), _) => Loc::FReg(f),
            (Loc::Local(_), None, Some(r)) => Loc::Reg(r),
            (loc, _, _) => loc,
        };
        match loc {
            Loc::FReg(f) => {
                let dst = self.alloc_reg();
                let op = if to_f32_or_i32 {
                    SLJIT_COPY32_FROM_F32
                } else {
                    SLJIT_COPY_FROM_F64
                };
                self.m.e.fcopy(op, f, dst);
                self.push_reg(dst, to);
            }
            Loc::Reg(r) => {
                let dst = self.alloc_freg();
                let op = if to_f32_or_i32 {
                    SLJIT_COPY32_TO_F32
                } else {
                    SLJIT_COPY_TO_F64
                };
                self.m.e.fcopy(op, dst, r);
                self.push_freg(dst, to);
            }
            Loc::Const(bits) => {
                let bits = match to {
                    ValType::I32 => bits as u32 as i32 as i64,
                    ValType::F32 => bits as u32 as i64,
                    _ => bits,
                };
                self.push_const(bits, to);
            }
            // In memory the bits are already there; only the type changes.
            Loc::Local(_) | Loc::Slot => {
                let _ = src;
                self.stack.push(entry.loc, to);
            }
        }
    }
}
