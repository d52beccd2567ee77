//! aarch64 SIMD lowerings (NEON).
//!
//! NEON instructions take separate destination and source registers, and
//! most wasm operators are one instruction: the float `min`/`max` of both
//! are NaN-propagating with -0 below +0, the float-to-integer conversions
//! saturate (NaN to 0), `tbl` gives 0 for out-of-range indices like
//! `swizzle`, and `sqrdmulh` is `q15mulr_sat_s`. The sequences for
//! `i64x2.mul` and the `all_true`/`any_true` reductions follow Cranelift's
//! aarch64 lowerings. Encodings are in `aarch64_encode.rs` ([`enc`]).

use super::aarch64_encode as enc;
use super::{Binary, Lanes, Shift, ShiftCount, Temps, Ternary, Test, Unary};
use crate::emitter::{Emitter, FReg, Reg, R0};
use enc::{ShiftImm, Q};

/// Emits NEON instructions on vector (float) registers.
struct Asm<'e> {
    e: &'e mut Emitter,
}

impl Asm<'_> {
    fn v(&self, r: FReg) -> u32 {
        self.e.float_machine_index(r) as u32
    }

    fn emit(&mut self, word: u32) {
        self.e.custom(&word.to_le_bytes());
    }

    /// `op d, n, m`.
    fn rrr(&mut self, op: u32, size: u32, d: FReg, n: FReg, m: FReg) {
        let word = enc::rrr(op, size, self.v(d), self.v(n), self.v(m));
        self.emit(word);
    }

    /// `op d, n`.
    fn rr(&mut self, op: u32, size: u32, d: FReg, n: FReg) {
        let word = enc::rr(op, size, self.v(d), self.v(n));
        self.emit(word);
    }

    fn shift_imm(&mut self, op: ShiftImm, size: u32, d: FReg, n: FReg, amount: u32) {
        let word = enc::shift_imm(op, size, self.v(d), self.v(n), amount);
        self.emit(word);
    }

    /// `mov d.16b, n.16b` (nothing when they are the same register).
    fn mov(&mut self, d: FReg, n: FReg) {
        if d != n {
            self.rrr(enc::ORR, 0, d, n, n);
        }
    }

    fn tbl(&mut self, extend: bool, d: FReg, table: FReg, indices: FReg) {
        let word = enc::tbl(extend, self.v(d), self.v(table), self.v(indices));
        self.emit(word);
    }
}

/// The `size` field of an instruction on `lanes`: the lane size of integer
/// lanes, 0 (f32) or 1 (f64) for float lanes.
fn size(lanes: Lanes) -> u32 {
    match lanes {
        Lanes::F32 => 0,
        Lanes::F64 => 1,
        l => l.log2_bytes(),
    }
}

pub fn binary(e: &mut Emitter, op: Binary, dst: FReg, b: FReg, t: Temps) {
    use Binary::*;
    let mut a = Asm { e };
    let (t0, t2) = (t.t0, t.t2);
    // `op dst, dst, b` and `op dst, b, dst`.
    let ab = |a: &mut Asm, op: u32, l: Lanes| a.rrr(op, size(l), dst, dst, b);
    let ba = |a: &mut Asm, op: u32, l: Lanes| a.rrr(op, size(l), dst, b, dst);
    match op {
        Add(l) if l.is_float() => ab(&mut a, enc::FADD, l),
        Add(l) => ab(&mut a, enc::ADD, l),
        Sub(l) if l.is_float() => ab(&mut a, enc::FSUB, l),
        Sub(l) => ab(&mut a, enc::SUB, l),
        Mul(l) if l.is_float() => ab(&mut a, enc::FMUL, l),
        Mul(Lanes::I64) => {
            // The cross products a_lo * b_hi + a_hi * b_lo, shifted up,
            // plus the full product a_lo * b_lo.
            a.rr(enc::REV64, 2, t0, b);
            a.rrr(enc::MUL, 2, t0, t0, dst);
            a.rr(enc::XTN, 2, t2, dst);
            a.rrr(enc::ADDP, 2, t0, t0, t0);
            a.rr(enc::SHLL, 2, dst, t0);
            a.rr(enc::XTN, 2, t0, b);
            a.rrr(enc::UMLAL, 2, dst, t2, t0);
        }
        Mul(l) => ab(&mut a, enc::MUL, l),
        Div(l) => ab(&mut a, enc::FDIV, l),
        AddSatS(l) => ab(&mut a, enc::SQADD, l),
        AddSatU(l) => ab(&mut a, enc::UQADD, l),
        SubSatS(l) => ab(&mut a, enc::SQSUB, l),
        SubSatU(l) => ab(&mut a, enc::UQSUB, l),
        MinS(l) => ab(&mut a, enc::SMIN, l),
        MinU(l) => ab(&mut a, enc::UMIN, l),
        MaxS(l) => ab(&mut a, enc::SMAX, l),
        MaxU(l) => ab(&mut a, enc::UMAX, l),
        AvgrU(l) => ab(&mut a, enc::URHADD, l),
        Min(l) => ab(&mut a, enc::FMIN, l),
        Max(l) => ab(&mut a, enc::FMAX, l),
        // pmin: b < a ? b : a; pmax: a < b ? b : a (a NaN compares false
        // and keeps a).
        PMin(l) => {
            a.rrr(enc::FCMGT, size(l), t0, dst, b);
            a.rrr(enc::BIT, 0, dst, b, t0);
        }
        PMax(l) => {
            a.rrr(enc::FCMGT, size(l), t0, b, dst);
            a.rrr(enc::BIT, 0, dst, b, t0);
        }
        Eq(l) | Ne(l) => {
            let cmp = if l.is_float() { enc::FCMEQ } else { enc::CMEQ };
            ab(&mut a, cmp, l);
            if matches!(op, Ne(_)) {
                a.rr(enc::NOT, 0, dst, dst);
            }
        }
        Gt(l) if l.is_float() => ab(&mut a, enc::FCMGT, l),
        Ge(l) if l.is_float() => ab(&mut a, enc::FCMGE, l),
        Lt(l) if l.is_float() => ba(&mut a, enc::FCMGT, l),
        Le(l) if l.is_float() => ba(&mut a, enc::FCMGE, l),
        Gt(l) => ab(&mut a, enc::CMGT, l),
        Ge(l) => ab(&mut a, enc::CMGE, l),
        Lt(l) => ba(&mut a, enc::CMGT, l),
        Le(l) => ba(&mut a, enc::CMGE, l),
        GtU(l) => ab(&mut a, enc::CMHI, l),
        GeU(l) => ab(&mut a, enc::CMHS, l),
        LtU(l) => ba(&mut a, enc::CMHI, l),
        LeU(l) => ba(&mut a, enc::CMHS, l),
        And => a.rrr(enc::AND, 0, dst, dst, b),
        Or => a.rrr(enc::ORR, 0, dst, dst, b),
        Xor => a.rrr(enc::EOR, 0, dst, dst, b),
        AndNot => a.rrr(enc::BIC, 0, dst, dst, b),
        NarrowS(l) | NarrowU(l) => {
            // The low half from `dst`, then the high half from `b`.
            let op = if matches!(op, NarrowS(_)) {
                enc::SQXTN
            } else {
                enc::SQXTUN
            };
            a.rr(op, size(l), dst, dst);
            a.rr(op | Q, size(l), dst, b);
        }
        Q15MulrSat => ab(&mut a, enc::SQRDMULH, Lanes::I16),
        // Products of each half, then adjacent pairs added (wrapping).
        Dot | DotI8 => {
            let from = if op == Dot { Lanes::I16 } else { Lanes::I8 };
            a.rrr(enc::SMULL, size(from), t0, dst, b);
            a.rrr(enc::SMULL | Q, size(from), t2, dst, b);
            a.rrr(enc::ADDP, size(from) + 1, dst, t0, t2);
        }
        ExtMul { to, high, signed } => {
            let op = if signed { enc::SMULL } else { enc::UMULL };
            let op = if high { op | Q } else { op };
            a.rrr(op, size(to) - 1, dst, dst, b);
        }
        Swizzle => a.tbl(false, dst, dst, b),
    }
}

pub fn unary(e: &mut Emitter, op: Unary, dst: FReg, src: FReg, _t: Temps) {
    use Unary::*;
    let mut a = Asm { e };
    let rr = |a: &mut Asm, op: u32, l: Lanes| a.rr(op, size(l), dst, src);
    match op {
        Not => rr(&mut a, enc::NOT, Lanes::I8),
        Abs(l) if l.is_float() => rr(&mut a, enc::FABS, l),
        Abs(l) => rr(&mut a, enc::ABS, l),
        Neg(l) if l.is_float() => rr(&mut a, enc::FNEG, l),
        Neg(l) => rr(&mut a, enc::NEG, l),
        Popcnt => rr(&mut a, enc::CNT, Lanes::I8),
        Sqrt(l) => rr(&mut a, enc::FSQRT, l),
        Ceil(l) => rr(&mut a, enc::FRINTP, l),
        Floor(l) => rr(&mut a, enc::FRINTM, l),
        Trunc(l) => rr(&mut a, enc::FRINTZ, l),
        Nearest(l) => rr(&mut a, enc::FRINTN, l),
        ConvertI32 { signed } => {
            let op = if signed { enc::SCVTF } else { enc::UCVTF };
            rr(&mut a, op, Lanes::F32);
        }
        ConvertLowI32 { signed } => {
            let (extend, convert) = if signed {
                (ShiftImm::Sxtl, enc::SCVTF)
            } else {
                (ShiftImm::Uxtl, enc::UCVTF)
            };
            a.shift_imm(extend, 2, dst, src, 0);
            a.rr(convert, size(Lanes::F64), dst, dst);
        }
        TruncSatF32 { signed } => {
            let op = if signed { enc::FCVTZS } else { enc::FCVTZU };
            rr(&mut a, op, Lanes::F32);
        }
        TruncSatF64Zero { signed } => {
            // Saturated to 64 bits, then narrowed with saturation (the
            // high half cleared).
            let (convert, narrow) = if signed {
                (enc::FCVTZS, enc::SQXTN)
            } else {
                (enc::FCVTZU, enc::UQXTN)
            };
            rr(&mut a, convert, Lanes::F64);
            a.rr(narrow, 2, dst, dst);
        }
        Demote => rr(&mut a, enc::FCVTN, Lanes::F64),
        Promote => rr(&mut a, enc::FCVTL, Lanes::F64),
        Extend { to, high, signed } => {
            let op = if signed {
                ShiftImm::Sxtl
            } else {
                ShiftImm::Uxtl
            };
            let word = enc::shift_imm(op, size(to) - 1, a.v(dst), a.v(src), 0);
            a.emit(if high { word | Q } else { word });
        }
        ExtAddPairwise { to, signed } => {
            let op = if signed { enc::SADDLP } else { enc::UADDLP };
            a.rr(op, size(to) - 1, dst, src);
        }
    }
}

pub fn ternary(e: &mut Emitter, op: Ternary, dst: FReg, b: FReg, c: FReg, _temp: FReg) {
    let mut a = Asm { e };
    match op {
        // `b`'s bits where the mask `c` is clear.
        Ternary::Bitselect => a.rrr(enc::BIF, 0, dst, b, c),
        // Rounded twice: no `fmla`, which fuses.
        Ternary::Madd(l) => {
            a.rrr(enc::FMUL, size(l), dst, dst, b);
            a.rrr(enc::FADD, size(l), dst, dst, c);
        }
        Ternary::Nmadd(l) => {
            a.rrr(enc::FMUL, size(l), dst, dst, b);
            a.rrr(enc::FSUB, size(l), dst, c, dst);
        }
    }
}

pub fn shift(e: &mut Emitter, op: Shift, lanes: Lanes, dst: FReg, count: ShiftCount, t: Temps) {
    let mut a = Asm { e };
    let size = size(lanes);
    match count {
        ShiftCount::Imm(0) => {}
        ShiftCount::Imm(n) => {
            let op = match op {
                Shift::Shl => ShiftImm::Shl,
                Shift::ShrS => ShiftImm::Sshr,
                Shift::ShrU => ShiftImm::Ushr,
            };
            a.shift_imm(op, size, dst, dst, n);
        }
        ShiftCount::Reg => {
            // `sshl`/`ushl` shift by the signed low byte of each lane's
            // count: left when positive, right when negative.
            let r0 = a.e.machine_index(R0) as u32;
            let word = enc::dup_bytes(a.v(t.t0), r0);
            a.emit(word);
            if op != Shift::Shl {
                a.rr(enc::NEG, 0, t.t0, t.t0);
            }
            let op = if op == Shift::ShrS {
                enc::SSHL
            } else {
                enc::USHL
            };
            a.rrr(op, size, dst, dst, t.t0);
        }
    }
}

pub fn test(e: &mut Emitter, op: Test, dst: Reg, src: FReg, t: Temps) {
    let mut a = Asm { e };
    // A scalar in `t0` that is nonzero exactly when the result is true
    // (`equal` false) or false (`equal` true).
    let equal = match op {
        Test::AnyTrue => {
            a.rr(enc::UMAXV, 2, t.t0, src);
            false
        }
        Test::AllTrue(Lanes::I64) => {
            a.rr(enc::CMEQ0, 3, t.t0, src);
            a.rr(enc::UMAXV, 2, t.t0, t.t0);
            true
        }
        Test::AllTrue(l) => {
            a.rr(enc::UMINV, size(l), t.t0, src);
            false
        }
        Test::Bitmask(_) => unreachable!("SLJIT's simd_sign"),
    };
    let (d, t0) = (a.e.machine_index(dst) as u32, a.v(t.t0));
    a.emit(enc::fmov_to_general(d, t0));
    a.emit(enc::cmp_zero(d));
    a.emit(enc::cset(equal, d));
}

pub fn shuffle(e: &mut Emitter, dst: FReg, b: FReg, lanes: [u8; 16], t: Temps) {
    let mut a = Asm { e };
    let (t0, t2) = (t.t0, t.t2);
    let from_a = lanes.iter().any(|&l| l < 16);
    let from_b = lanes.iter().any(|&l| l >= 16);
    if !from_b {
        a.e.vec_const(t0, u128::from_le_bytes(lanes));
        a.tbl(false, dst, dst, t0);
    } else if !from_a {
        a.e.vec_const(t0, u128::from_le_bytes(lanes.map(|l| l - 16)));
        a.tbl(false, dst, b, t0);
    } else {
        // The lanes of `a` (indices 16 and up give 0), then those of `b`:
        // the indices with bit 4 flipped, 0 to 15 for `b`'s lanes and out
        // of range (keeping the lane) for `a`'s.
        a.e.vec_const(t0, u128::from_le_bytes(lanes));
        a.tbl(false, t2, dst, t0);
        let word = enc::movi_bytes(a.v(dst), 0x10);
        a.emit(word);
        a.rrr(enc::EOR, 0, t0, t0, dst);
        a.tbl(true, t2, b, t0);
        a.mov(dst, t2);
    }
}
