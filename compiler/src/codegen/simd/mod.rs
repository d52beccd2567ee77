//! SIMD: the `v128` operators of fixed-width and relaxed SIMD.
//!
//! A `v128` value lives in a float register (`Loc::FReg`, the same pool as
//! f32/f64: on both targets a float register is a 128-bit vector register),
//! in its 16-byte home slot (two 8-byte slots, see `stack::Entry::slot`), or
//! in a local's frame slot; constants are materialised when pushed.
//!
//! This module moves values between the value stack and registers, and
//! uses SLJIT's portable SIMD operations where they exist (moves, splats,
//! lane moves, extending loads, sign masks). Everything else is one of the
//! operator families below ([`Binary`], [`Unary`], [`Ternary`], [`Shift`],
//! [`Test`]), lowered to machine code by the target's module:
//! [`x86_64`] (SSE4.1, SSE4.2 for `i64x2` comparisons) or [`aarch64`]
//! (NEON). Those modules see registers only: every lowering gets its
//! destination holding the first operand, the other operands in registers
//! distinct from it, and the temporaries [`Temps`] names.
//!
//! Relaxed SIMD operators have one fixed behaviour on every target, chosen
//! to be what the spec's deterministic profile gives (see `README.md`,
//! "SIMD"): `relaxed_swizzle` is `swizzle`, `relaxed_trunc*` are the
//! saturating truncations, `relaxed_madd`/`nmadd` round twice (multiply,
//! then add), `relaxed_laneselect` is `bitselect`, `relaxed_min`/`max` are
//! `min`/`max`, `relaxed_q15mulr_s` is `q15mulr_sat_s`, and the relaxed dot
//! products multiply signed by signed without saturation.

mod aarch64;
mod aarch64_encode;
mod memory;
mod visit;
mod x86_64;

use vibewasm_format::{cpu, Arch, ValType};

use super::func::FuncCompiler;
use super::stack::{Loc, FT0, FT1, FT2};
use crate::emitter::{FReg, Operand, R0};

/// The lanes of a `v128` an operator works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl Lanes {
    /// log2 of the lane width in bytes.
    pub fn log2_bytes(self) -> u32 {
        match self {
            Lanes::I8 => 0,
            Lanes::I16 => 1,
            Lanes::I32 | Lanes::F32 => 2,
            Lanes::I64 | Lanes::F64 => 3,
        }
    }

    pub fn bits(self) -> u32 {
        8 << self.log2_bytes()
    }

    pub fn is_float(self) -> bool {
        matches!(self, Lanes::F32 | Lanes::F64)
    }

    /// The scalar type of one lane.
    pub fn scalar(self) -> ValType {
        match self {
            Lanes::I8 | Lanes::I16 | Lanes::I32 => ValType::I32,
            Lanes::I64 => ValType::I64,
            Lanes::F32 => ValType::F32,
            Lanes::F64 => ValType::F64,
        }
    }
}

/// `v128 v128 -> v128` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add(Lanes),
    Sub(Lanes),
    Mul(Lanes),
    /// Float lanes only.
    Div(Lanes),
    AddSatS(Lanes),
    AddSatU(Lanes),
    SubSatS(Lanes),
    SubSatU(Lanes),
    MinS(Lanes),
    MinU(Lanes),
    MaxS(Lanes),
    MaxU(Lanes),
    AvgrU(Lanes),
    /// Float `min`/`max` (NaN-propagating, -0 below +0).
    Min(Lanes),
    Max(Lanes),
    PMin(Lanes),
    PMax(Lanes),
    Eq(Lanes),
    Ne(Lanes),
    /// Signed for integer lanes; the float comparison for float lanes.
    Lt(Lanes),
    Gt(Lanes),
    Le(Lanes),
    Ge(Lanes),
    LtU(Lanes),
    GtU(Lanes),
    LeU(Lanes),
    GeU(Lanes),
    And,
    Or,
    Xor,
    AndNot,
    /// Narrow to `Lanes` (I8 or I16) with signed or unsigned saturation.
    NarrowS(Lanes),
    NarrowU(Lanes),
    Q15MulrSat,
    /// `i32x4.dot_i16x8_s`.
    Dot,
    /// `i16x8.relaxed_dot_i8x16_i7x16_s`.
    DotI8,
    /// Extending multiply to `Lanes` (I16, I32 or I64) of the low or high halves.
    ExtMul {
        to: Lanes,
        high: bool,
        signed: bool,
    },
    Swizzle,
}

/// `v128 -> v128` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Not,
    Abs(Lanes),
    Neg(Lanes),
    Popcnt,
    Sqrt(Lanes),
    Ceil(Lanes),
    Floor(Lanes),
    Trunc(Lanes),
    Nearest(Lanes),
    /// `f32x4.convert_i32x4_{s,u}`.
    ConvertI32 {
        signed: bool,
    },
    /// `f64x2.convert_low_i32x4_{s,u}`.
    ConvertLowI32 {
        signed: bool,
    },
    /// `i32x4.trunc_sat_f32x4_{s,u}`.
    TruncSatF32 {
        signed: bool,
    },
    /// `i32x4.trunc_sat_f64x2_{s,u}_zero`.
    TruncSatF64Zero {
        signed: bool,
    },
    Demote,
    Promote,
    /// Widen the low or high half to `Lanes` (I16, I32 or I64).
    Extend {
        to: Lanes,
        high: bool,
        signed: bool,
    },
    /// Add adjacent pairs, widening to `Lanes` (I16 or I32).
    ExtAddPairwise {
        to: Lanes,
        signed: bool,
    },
}

/// `v128 v128 v128 -> v128` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ternary {
    Bitselect,
    /// `a * b + c`, rounded twice.
    Madd(Lanes),
    /// `-(a * b) + c`, rounded twice.
    Nmadd(Lanes),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    Shl,
    ShrS,
    ShrU,
}

/// `v128 -> i32` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    AnyTrue,
    AllTrue(Lanes),
    Bitmask(Lanes),
}

/// The float registers a lowering may clobber besides its destination.
/// `t1` is [`FT1`] unless that holds an operand.
#[derive(Clone, Copy)]
pub struct Temps {
    pub t0: FReg,
    pub t2: FReg,
}

const TEMPS: Temps = Temps { t0: FT0, t2: FT2 };

impl FuncCompiler<'_, '_> {
    /// Records that the code uses SIMD instructions, and of x86-64 the
    /// SSE4.2 ones when `sse42`.
    /// A target whose CPU features leave them out cannot compile SIMD.
    fn note_simd(&mut self, sse42: bool) {
        if self.m.e.arch() == Arch::X86_64 {
            let needed = cpu::SSE41 | if sse42 { cpu::SSE42 } else { 0 };
            let missing = needed & !self.m.allowed_features;
            if missing != 0 {
                self.m.e.simd_unsupported(format!(
                    "SIMD operator that needs {} (the target's CPU features leave it out)",
                    cpu::names(missing)
                ));
            }
            self.m.cpu_features |= needed;
        }
    }

    /// Copies a `v128` between registers and memory (16 bytes); memory to
    /// memory goes through two 8-byte general moves.
    pub fn move_vector(&mut self, dst: Operand, src: Operand) {
        let e = &mut self.m.e;
        match (dst.is_mem(), src.is_mem()) {
            (false, false) if dst != src => e.vec_move(false, FReg(dst.arg), src),
            (false, false) => {}
            (false, true) => e.vec_move(false, FReg(dst.arg), src),
            (true, false) => e.vec_move(true, FReg(src.arg), dst),
            (true, true) => {
                // Frame and global slots: `[base + offset]` operands.
                let high = |o: Operand| Operand {
                    arg: o.arg,
                    argw: o.argw + 8,
                };
                e.op1(sljit_sys::SLJIT_MOV, dst, src);
                e.op1(sljit_sys::SLJIT_MOV, high(dst), high(src));
            }
        }
    }

    /// Pops a `v128` into a register: its own if it has one, else `temp`.
    fn pop_vector(&mut self, temp: FReg) -> FReg {
        let (src, entry) = self.pop_entry();
        match entry.loc {
            Loc::FReg(r) => r,
            _ => {
                self.move_vector(Operand::freg(temp), src);
                temp
            }
        }
    }

    /// Pops the first operand of an operator whose other operands are in
    /// `others`, into the register the result will take: its own if it is
    /// in one, else a fresh one. An operand whose register that fresh one
    /// is moves to `FT1`; the (possibly updated) operands are returned.
    fn pop_first_operand<const N: usize>(&mut self, mut others: [FReg; N]) -> (FReg, [FReg; N]) {
        let (src, entry) = self.pop_entry();
        if let Loc::FReg(r) = entry.loc {
            return (r, others);
        }
        let dst = self.alloc_freg();
        for other in others.iter_mut() {
            if *other == dst {
                self.m.e.vec_move(false, FT1, Operand::freg(dst));
                *other = FT1;
            }
        }
        self.move_vector(Operand::freg(dst), src);
        (dst, others)
    }

    /// Materialises a `v128.const` in a fresh register.
    pub fn push_vector_const(&mut self, bits: u128) {
        self.note_simd(false);
        let dst = self.alloc_freg();
        self.m.vector_const(dst, bits);
        self.push_freg(dst, ValType::V128);
    }

    pub fn vector_binary(&mut self, op: Binary) {
        let sse42 = matches!(
            op,
            Binary::Gt(Lanes::I64)
                | Binary::Lt(Lanes::I64)
                | Binary::Le(Lanes::I64)
                | Binary::Ge(Lanes::I64)
        );
        self.note_simd(sse42);
        let b = self.pop_vector(FT1);
        let (dst, [b]) = self.pop_first_operand([b]);
        match self.m.e.arch() {
            Arch::X86_64 => x86_64::binary(self.m, op, dst, b, TEMPS),
            Arch::Aarch64 => aarch64::binary(&mut self.m.e, op, dst, b, TEMPS),
        }
        self.push_freg(dst, ValType::V128);
    }

    pub fn vector_unary(&mut self, op: Unary) {
        self.note_simd(false);
        let src = self.pop_vector(FT1);
        // The result takes the operand's register, or a fresh one when the
        // operand came from memory (then it is in `FT1`).
        let dst = if src == FT1 { self.alloc_freg() } else { src };
        match self.m.e.arch() {
            Arch::X86_64 => x86_64::unary(self.m, op, dst, src, TEMPS),
            Arch::Aarch64 => aarch64::unary(&mut self.m.e, op, dst, src, TEMPS),
        }
        self.push_freg(dst, ValType::V128);
    }

    pub fn vector_ternary(&mut self, op: Ternary) {
        self.note_simd(false);
        let c = self.pop_vector(FT1);
        let b = self.pop_vector(FT0);
        let (dst, [b, c]) = self.pop_first_operand([b, c]);
        // `pop_first_operand` may have moved `b` or `c` into `FT1`; `b`
        // and `c` then still differ (only one can have been in `dst`).
        let temp = FT2;
        match self.m.e.arch() {
            Arch::X86_64 => x86_64::ternary(self.m, op, dst, b, c, temp),
            Arch::Aarch64 => aarch64::ternary(&mut self.m.e, op, dst, b, c, temp),
        }
        self.push_freg(dst, ValType::V128);
    }

    /// `i32x4.relaxed_dot_i8x16_i7x16_add_s`: the `i16x8` dot product,
    /// its pairs added, plus the accumulator.
    pub fn vector_dot_add(&mut self) {
        // The accumulator waits in its home slot, above the values the
        // dot product uses, which nothing writes meanwhile.
        self.store_home(self.stack.len() - 1);
        let (accumulator, _) = self.pop_entry();
        self.vector_binary(Binary::DotI8);
        self.vector_unary(Unary::ExtAddPairwise {
            to: Lanes::I32,
            signed: true,
        });
        self.move_vector(Operand::freg(FT1), accumulator);
        let (dst, [b]) = self.pop_first_operand([FT1]);
        match self.m.e.arch() {
            Arch::X86_64 => x86_64::binary(self.m, Binary::Add(Lanes::I32), dst, b, TEMPS),
            Arch::Aarch64 => aarch64::binary(&mut self.m.e, Binary::Add(Lanes::I32), dst, b, TEMPS),
        }
        self.push_freg(dst, ValType::V128);
    }

    pub fn vector_shift(&mut self, op: Shift, lanes: Lanes) {
        self.note_simd(false);
        let (count, entry) = self.pop_entry();
        let mask = lanes.bits() as i64 - 1;
        let count = match entry.loc {
            Loc::Const(c) => ShiftCount::Imm((c & mask) as u32),
            _ => {
                let e = &mut self.m.e;
                e.op2(
                    sljit_sys::SLJIT_AND32,
                    Operand::reg(R0),
                    count,
                    Operand::imm(mask),
                );
                ShiftCount::Reg
            }
        };
        let src = self.pop_vector(FT1);
        let dst = if src == FT1 { self.alloc_freg() } else { src };
        if dst != src {
            self.m.e.vec_move(false, dst, Operand::freg(src));
        }
        match self.m.e.arch() {
            Arch::X86_64 => x86_64::shift(self.m, op, lanes, dst, count, TEMPS),
            Arch::Aarch64 => aarch64::shift(&mut self.m.e, op, lanes, dst, count, TEMPS),
        }
        self.push_freg(dst, ValType::V128);
    }

    pub fn vector_test(&mut self, op: Test) {
        self.note_simd(false);
        let src = self.pop_vector(FT1);
        let dst = self.alloc_reg();
        match (op, self.m.e.arch()) {
            (Test::Bitmask(lanes), _) => {
                self.m
                    .e
                    .vec_sign_mask(lanes.log2_bytes(), src, Operand::reg(dst))
            }
            (_, Arch::X86_64) => x86_64::test(self.m, op, dst, src, TEMPS),
            (_, Arch::Aarch64) => aarch64::test(&mut self.m.e, op, dst, src, TEMPS),
        }
        self.push_reg(dst, ValType::I32);
    }

    /// `i8x16.shuffle`.
    pub fn vector_shuffle(&mut self, lanes: [u8; 16]) {
        self.note_simd(false);
        let b = self.pop_vector(FT1);
        let (dst, [b]) = self.pop_first_operand([b]);
        match self.m.e.arch() {
            Arch::X86_64 => x86_64::shuffle(self.m, dst, b, lanes, TEMPS),
            Arch::Aarch64 => aarch64::shuffle(&mut self.m.e, dst, b, lanes, TEMPS),
        }
        self.push_freg(dst, ValType::V128);
    }

    /// `*.splat`: a scalar to every lane.
    pub fn vector_splat(&mut self, lanes: Lanes) {
        self.note_simd(false);
        let (src, entry) = self.pop_entry();
        let dst = self.alloc_freg();
        let e = &mut self.m.e;
        if lanes.is_float() {
            let src = match entry.loc {
                Loc::Const(bits) => {
                    e.fset(FT0, lanes == Lanes::F32, bits as u64);
                    Operand::freg(FT0)
                }
                _ => src,
            };
            e.vec_splat(lanes.log2_bytes(), true, dst, src);
        } else {
            let src = if src.is_reg() {
                src
            } else {
                e.op1(super::func::mov_op(lanes.scalar()), Operand::reg(R0), src);
                Operand::reg(R0)
            };
            e.vec_splat(lanes.log2_bytes(), false, dst, src);
        }
        self.push_freg(dst, ValType::V128);
    }

    /// `*.extract_lane[_s|_u]`.
    pub fn vector_extract_lane(&mut self, lanes: Lanes, lane: u8, signed: bool) {
        self.note_simd(false);
        let src = self.pop_vector(FT1);
        let log2 = lanes.log2_bytes();
        if lanes.is_float() {
            let dst = self.alloc_freg();
            self.m.e.vec_lane(
                true,
                log2,
                true,
                false,
                src,
                lane as u32,
                Operand::freg(dst),
            );
            self.push_freg(dst, lanes.scalar());
        } else {
            let dst = self.alloc_reg();
            self.m.e.vec_lane(
                true,
                log2,
                false,
                signed,
                src,
                lane as u32,
                Operand::reg(dst),
            );
            if signed || log2 >= 2 {
                self.push_reg(dst, lanes.scalar());
            } else {
                self.push_reg_zero_extended(dst);
            }
        }
    }

    /// `*.replace_lane`.
    pub fn vector_replace_lane(&mut self, lanes: Lanes, lane: u8) {
        self.note_simd(false);
        let (value, entry) = self.pop_entry();
        let log2 = lanes.log2_bytes();
        let value = if lanes.is_float() {
            match entry.loc {
                Loc::Const(bits) => {
                    self.m.e.fset(FT0, lanes == Lanes::F32, bits as u64);
                    Operand::freg(FT0)
                }
                _ if value.is_reg() => value,
                _ => {
                    let op = super::stack::fmov_op(lanes.scalar());
                    self.m.e.fop1(op, Operand::freg(FT0), value);
                    Operand::freg(FT0)
                }
            }
        } else if value.is_reg() {
            value
        } else {
            let op = super::func::mov_op(lanes.scalar());
            self.m.e.op1(op, Operand::reg(R0), value);
            Operand::reg(R0)
        };
        let src = self.pop_vector(FT1);
        let value = if src == FT1 && lanes.is_float() && value != Operand::freg(FT0) {
            // The fresh register below may be the one the value was in.
            self.m.e.float_copy(FT0, FReg(value.arg));
            Operand::freg(FT0)
        } else {
            value
        };
        let dst = if src == FT1 { self.alloc_freg() } else { src };
        if dst != src {
            self.m.e.vec_move(false, dst, Operand::freg(src));
        }
        self.m.e.vec_lane(
            false,
            log2,
            lanes.is_float(),
            false,
            dst,
            lane as u32,
            value,
        );
        self.push_freg(dst, ValType::V128);
    }

    /// `select` of two `v128`s.
    pub fn vector_select(&mut self) {
        use sljit_sys::*;
        let (cond, _) = self.pop();
        self.m.e.op1(SLJIT_MOV32, Operand::reg(R0), cond);
        let if_false = self.pop_vector(FT1);
        let (dst, [if_false]) = self.pop_first_operand([if_false]);
        let e = &mut self.m.e;
        let keep = e.cmp(
            SLJIT_NOT_EQUAL | SLJIT_32,
            Operand::reg(R0),
            Operand::imm(0),
        );
        e.vec_move(false, dst, Operand::freg(if_false));
        let label = e.label();
        e.set_label(keep, label);
        self.push_freg(dst, ValType::V128);
    }
}

/// A shift count: a constant (already reduced modulo the lane width), or
/// in `R0` (reduced).
#[derive(Clone, Copy, Debug)]
pub enum ShiftCount {
    Imm(u32),
    Reg,
}
