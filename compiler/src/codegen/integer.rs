//! Integer operators: arithmetic, bit counting, comparisons, conversions and
//! `select`.

use sljit_sys::*;
use vibewasm_format::{TrapCode, ValType};

use super::func::{mov_op, FuncCompiler};
use super::stack::FT1;
use crate::emitter::{Operand, R0, R1};

#[derive(Clone, Copy)]
pub enum IntOp {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Shl,
    ShrS,
    ShrU,
    Rotl,
    Rotr,
}

impl IntOp {
    /// The SLJIT opcode (64-bit form; `| SLJIT_32` selects the i32 form).
    /// Shifts use SLJIT's masked forms, which take the count modulo the
    /// width exactly as wasm does.
    fn opcode(self) -> i32 {
        match self {
            IntOp::Add => SLJIT_ADD,
            IntOp::Sub => SLJIT_SUB,
            IntOp::Mul => SLJIT_MUL,
            IntOp::And => SLJIT_AND,
            IntOp::Or => SLJIT_OR,
            IntOp::Xor => SLJIT_XOR,
            IntOp::Shl => SLJIT_MSHL,
            IntOp::ShrS => SLJIT_MASHR,
            IntOp::ShrU => SLJIT_MLSHR,
            IntOp::Rotl => SLJIT_ROTL,
            IntOp::Rotr => SLJIT_ROTR,
        }
    }

    /// Folds two constants. i32 operands arrive sign-extended.
    fn fold(self, a: i64, b: i64, ty: ValType) -> i64 {
        macro_rules! fold {
            ($signed:ty, $unsigned:ty) => {{
                let (a, b) = (a as $signed, b as $signed);
                let bits = <$signed>::BITS - 1;
                let result: $signed = match self {
                    IntOp::Add => a.wrapping_add(b),
                    IntOp::Sub => a.wrapping_sub(b),
                    IntOp::Mul => a.wrapping_mul(b),
                    IntOp::And => a & b,
                    IntOp::Or => a | b,
                    IntOp::Xor => a ^ b,
                    IntOp::Shl => a.wrapping_shl(b as u32),
                    IntOp::ShrS => a.wrapping_shr(b as u32),
                    IntOp::ShrU => (a as $unsigned).wrapping_shr(b as u32) as $signed,
                    IntOp::Rotl => a.rotate_left(b as u32 & bits),
                    IntOp::Rotr => a.rotate_right(b as u32 & bits),
                };
                result as i64
            }};
        }
        if ty == ValType::I32 {
            fold!(i32, u32)
        } else {
            fold!(i64, u64)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DivKind {
    DivS,
    DivU,
    RemS,
    RemU,
}

#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    Eq,
    Ne,
    LtS,
    LtU,
    GtS,
    GtU,
    LeS,
    LeU,
    GeS,
    GeU,
}

impl Cmp {
    /// The SLJIT condition (`LESS`/`GREATER` are unsigned, `SIG_*` signed).
    pub fn condition(self) -> i32 {
        match self {
            Cmp::Eq => SLJIT_EQUAL,
            Cmp::Ne => SLJIT_NOT_EQUAL,
            Cmp::LtS => SLJIT_SIG_LESS,
            Cmp::LtU => SLJIT_LESS,
            Cmp::GtS => SLJIT_SIG_GREATER,
            Cmp::GtU => SLJIT_GREATER,
            Cmp::LeS => SLJIT_SIG_LESS_EQUAL,
            Cmp::LeU => SLJIT_LESS_EQUAL,
            Cmp::GeS => SLJIT_SIG_GREATER_EQUAL,
            Cmp::GeU => SLJIT_GREATER_EQUAL,
        }
    }

    /// The flag request that makes `condition` valid after a subtraction.
    fn set_flags(self) -> i32 {
        match self {
            Cmp::Eq | Cmp::Ne => SLJIT_SET_Z,
            // SLJIT_SET(condition) in C; a condition and its inverse share the
            // even-numbered flag type (SLJIT_SET_GREATER_EQUAL is SET(LESS)).
            other => (other.condition() & !1) << 10,
        }
    }
}

/// `SLJIT_32` for i32 operations, 0 for i64.
pub fn width(ty: ValType) -> i32 {
    if ty == ValType::I32 {
        SLJIT_32
    } else {
        0
    }
}

impl FuncCompiler<'_, '_> {
    pub fn binary(&mut self, op: IntOp, ty: ValType) {
        let len = self.stack.len();
        if let (super::stack::Loc::Const(a), super::stack::Loc::Const(b)) =
            (self.stack.get(len - 2).loc, self.stack.get(len - 1).loc)
        {
            self.stack.truncate(len - 2);
            self.push_const(op.fold(a, b, ty), ty);
            return;
        }
        let (mut b, _) = self.pop();
        let (a, _) = self.pop();
        if b.is_imm()
            && matches!(
                op,
                IntOp::Shl | IntOp::ShrS | IntOp::ShrU | IntOp::Rotl | IntOp::Rotr
            )
        {
            // wasm takes shift counts modulo the width; make constants explicit.
            let bits = if ty == ValType::I32 { 32 } else { 64 };
            b = Operand::imm(b.argw & (bits - 1));
        }
        let dst = self.alloc_reg();
        if matches!(op, IntOp::And) && ty == ValType::I64 && b == Operand::imm(0xffff_ffff) {
            // Zero-extension: a 32-bit move instead of a 64-bit mask constant.
            self.m.e.op1(SLJIT_MOV_U32, Operand::reg(dst), a);
        } else {
            self.m
                .e
                .op2(op.opcode() | width(ty), Operand::reg(dst), a, b);
            // SLJIT always emits these (no shortcut for an identity
            // operand) as 32-bit instructions writing `dst` (add/sub may
            // become a 32-bit `lea`).
            let writes_32_bits = matches!(
                op,
                IntOp::Add | IntOp::Sub | IntOp::Mul | IntOp::And | IntOp::Or | IntOp::Xor
            );
            if ty == ValType::I32 && writes_32_bits {
                return self.push_reg_zero_extended(dst);
            }
        }
        self.push_reg(dst, ty);
    }

    /// Division and remainder, with the traps wasm requires (x86 `idiv`
    /// would fault instead).
    pub fn division(&mut self, kind: DivKind, ty: ValType) {
        let (divisor, _) = self.pop();
        let (dividend, _) = self.pop();
        let w = width(ty);
        let e = &mut self.m.e;
        e.op1(mov_op(ty), Operand::reg(R1), divisor);
        e.op1(mov_op(ty), Operand::reg(R0), dividend);
        if !(divisor.is_imm() && divisor.argw != 0) {
            let zero = e.cmp(SLJIT_EQUAL | w, Operand::reg(R1), Operand::imm(0));
            self.trap_on(zero, TrapCode::IntegerDivideByZero);
        }
        let min = if ty == ValType::I32 {
            i32::MIN as i64
        } else {
            i64::MIN
        };
        let may_be_minus_one = !divisor.is_imm() || divisor.argw == -1;
        let mut skip = None;
        match kind {
            DivKind::DivS if may_be_minus_one => {
                // INT_MIN / -1 overflows: trap when divisor == -1 and dividend == INT_MIN.
                let e = &mut self.m.e;
                let not_minus_one = e.cmp(SLJIT_NOT_EQUAL | w, Operand::reg(R1), Operand::imm(-1));
                let overflow = e.cmp(SLJIT_EQUAL | w, Operand::reg(R0), Operand::imm(min));
                self.trap_on(overflow, TrapCode::IntegerOverflow);
                let label = self.m.e.label();
                self.m.e.set_label(not_minus_one, label);
            }
            DivKind::RemS if may_be_minus_one => {
                // x % -1 is 0 for every x, and INT_MIN % -1 would fault.
                let e = &mut self.m.e;
                let not_minus_one = e.cmp(SLJIT_NOT_EQUAL | w, Operand::reg(R1), Operand::imm(-1));
                e.op1(SLJIT_MOV, Operand::reg(R1), Operand::imm(0));
                skip = Some(e.jump(SLJIT_JUMP));
                let label = e.label();
                e.set_label(not_minus_one, label);
            }
            _ => {}
        }
        let e = &mut self.m.e;
        let signed = matches!(kind, DivKind::DivS | DivKind::RemS);
        let op = match (signed, ty == ValType::I32) {
            (true, true) => SLJIT_DIVMOD_S32,
            (true, false) => SLJIT_DIVMOD_SW,
            (false, true) => SLJIT_DIVMOD_U32,
            (false, false) => SLJIT_DIVMOD_UW,
        };
        e.op0(op);
        if let Some(skip) = skip {
            let label = e.label();
            e.set_label(skip, label);
        }
        let result = if matches!(kind, DivKind::DivS | DivKind::DivU) {
            R0
        } else {
            R1
        };
        let dst = self.alloc_reg();
        self.m
            .e
            .op1(mov_op(ty), Operand::reg(dst), Operand::reg(result));
        self.push_reg(dst, ty);
    }

    /// `clz`/`ctz`: LZCNT/TZCNT when the target allows them (the artifact
    /// then requires them), else SLJIT's own sequence.
    pub fn count_bits(&mut self, op: i32, ty: ValType) {
        let (a, _) = self.pop();
        if a.is_imm() {
            // Folded: SLJIT mishandles an immediate operand here.
            let clz = op & !SLJIT_32 == SLJIT_CLZ;
            let value = match (ty, clz) {
                (ValType::I32, true) => (a.argw as u32).leading_zeros(),
                (ValType::I32, false) => (a.argw as u32).trailing_zeros(),
                (_, true) => (a.argw as u64).leading_zeros(),
                (_, false) => (a.argw as u64).trailing_zeros(),
            };
            self.push_const(value as i64, ty);
            return;
        }
        let dst = self.alloc_reg();
        let leading = op & !SLJIT_32 == SLJIT_CLZ;
        if self.m.has_count_zeros(leading) {
            let src = self.in_register(a, ty);
            self.m.count_zeros(leading, dst, src, ty == ValType::I64);
        } else {
            self.m.e.op1(op, Operand::reg(dst), a);
        }
        self.push_reg(dst, ty);
    }

    /// `a` itself when it is a register, else `a` moved into `R0`.
    fn in_register(&mut self, a: Operand, ty: ValType) -> crate::emitter::Reg {
        a.as_reg().unwrap_or_else(|| {
            self.m.e.op1(mov_op(ty), Operand::reg(R0), a);
            R0
        })
    }

    /// Population count: SLJIT has none, so the target's instruction(s), or
    /// the classic SWAR sequence on x86-64 CPUs without POPCNT.
    pub fn popcnt(&mut self, ty: ValType) {
        let (a, _) = self.pop();
        let x = self.alloc_reg();
        let w = width(ty);
        if self.m.has_popcnt() {
            let src = self.in_register(a, ty);
            self.m.popcnt(x, src, ty == ValType::I64, FT1);
            self.push_reg(x, ty);
            return;
        }
        let (m1, m2, m4, h01, shift) = if ty == ValType::I32 {
            (0x5555_5555, 0x3333_3333, 0x0f0f_0f0f, 0x0101_0101, 24)
        } else {
            (
                0x5555_5555_5555_5555u64 as i64,
                0x3333_3333_3333_3333,
                0x0f0f_0f0f_0f0f_0f0f,
                0x0101_0101_0101_0101,
                56,
            )
        };
        let (rx, t) = (Operand::reg(x), Operand::reg(R0));
        let e = &mut self.m.e;
        e.op1(mov_op(ty), rx, a);
        // x -= (x >> 1) & m1
        e.op2(SLJIT_LSHR | w, t, rx, Operand::imm(1));
        e.op2(SLJIT_AND | w, t, t, Operand::imm(m1));
        e.op2(SLJIT_SUB | w, rx, rx, t);
        // x = (x & m2) + ((x >> 2) & m2)
        e.op2(SLJIT_LSHR | w, t, rx, Operand::imm(2));
        e.op2(SLJIT_AND | w, t, t, Operand::imm(m2));
        e.op2(SLJIT_AND | w, rx, rx, Operand::imm(m2));
        e.op2(SLJIT_ADD | w, rx, rx, t);
        // x = (x + (x >> 4)) & m4
        e.op2(SLJIT_LSHR | w, t, rx, Operand::imm(4));
        e.op2(SLJIT_ADD | w, rx, rx, t);
        e.op2(SLJIT_AND | w, rx, rx, Operand::imm(m4));
        // (x * h01) >> shift
        e.op2(SLJIT_MUL | w, rx, rx, Operand::imm(h01));
        e.op2(SLJIT_LSHR | w, rx, rx, Operand::imm(shift));
        self.push_reg(x, ty);
    }

    pub fn compare(&mut self, cmp: Cmp, ty: ValType) {
        let (b, _) = self.pop();
        let (a, _) = self.pop();
        let dst = self.alloc_reg();
        let w = width(ty);
        let e = &mut self.m.e;
        e.op2u(SLJIT_SUB | w | cmp.set_flags(), a, b);
        e.op_flags(SLJIT_MOV32, Operand::reg(dst), cmp.condition());
        self.push_reg(dst, ValType::I32);
    }

    pub fn eqz(&mut self, ty: ValType) {
        let (a, _) = self.pop();
        let dst = self.alloc_reg();
        let e = &mut self.m.e;
        e.op2u(SLJIT_SUB | width(ty) | SLJIT_SET_Z, a, Operand::imm(0));
        e.op_flags(SLJIT_MOV32, Operand::reg(dst), SLJIT_EQUAL);
        self.push_reg(dst, ValType::I32);
    }

    /// Wraps and extensions: one SLJIT move with the right width and sign.
    pub fn convert(&mut self, op: i32, result: ValType) {
        let (a, _) = self.pop();
        let dst = self.alloc_reg();
        self.m.e.op1(op, Operand::reg(dst), a);
        self.push_reg(dst, result);
    }

    pub fn visit_select(&mut self) {
        let (cond, _) = self.pop();
        self.m.e.op1(SLJIT_MOV32, Operand::reg(R0), cond);
        let (if_false, ty) = self.pop();
        let (if_true, _) = self.pop();
        let dst = self.alloc_reg();
        let w = if matches!(ty, ValType::I32 | ValType::F32) {
            SLJIT_32
        } else {
            0
        };
        let e = &mut self.m.e;
        // `dst` may be the register `if_true` was popped from; then keep it
        // and select the other way round.
        let (condition, initial, other) = if if_true.as_reg() == Some(dst) {
            (SLJIT_ZERO, if_true, if_false)
        } else {
            (SLJIT_NOT_ZERO, if_false, if_true)
        };
        e.op1(mov_op(ty), Operand::reg(dst), initial);
        e.op2u(SLJIT_SUB32 | SLJIT_SET_Z, Operand::reg(R0), Operand::imm(0));
        e.select(condition | w, dst, other, dst);
        self.push_reg(dst, ty);
    }
}
