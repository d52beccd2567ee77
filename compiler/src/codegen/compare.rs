//! A comparison followed by `br_if` or `if` compiles to one compare-and-jump
//! instead of materialising a boolean and testing it.

use sljit_sys::*;
use vibewasm_format::ValType::{self, F32, F64, I32, I64};
use wasmparser::Operator as O;

use super::control::{BranchKind, Condition};
use super::float::fwidth;
use super::func::FuncCompiler;
use super::integer::{width, Cmp};
use super::stack::{FT0, FT1};
use crate::emitter::Operand;
use crate::error::CompileError;

/// What a comparison operator tests.
enum Test {
    /// `eqz`: the operand equals zero.
    Zero(ValType),
    Int(Cmp, ValType),
    /// An SLJIT float condition that is false on NaN (true for `ne`).
    Float(i32, ValType),
}

fn test_of(op: &O<'_>) -> Option<Test> {
    use Cmp::*;
    Some(match op {
        O::I32Eqz => Test::Zero(I32),
        O::I64Eqz => Test::Zero(I64),
        O::I32Eq => Test::Int(Eq, I32),
        O::I32Ne => Test::Int(Ne, I32),
        O::I32LtS => Test::Int(LtS, I32),
        O::I32LtU => Test::Int(LtU, I32),
        O::I32GtS => Test::Int(GtS, I32),
        O::I32GtU => Test::Int(GtU, I32),
        O::I32LeS => Test::Int(LeS, I32),
        O::I32LeU => Test::Int(LeU, I32),
        O::I32GeS => Test::Int(GeS, I32),
        O::I32GeU => Test::Int(GeU, I32),
        O::I64Eq => Test::Int(Eq, I64),
        O::I64Ne => Test::Int(Ne, I64),
        O::I64LtS => Test::Int(LtS, I64),
        O::I64LtU => Test::Int(LtU, I64),
        O::I64GtS => Test::Int(GtS, I64),
        O::I64GtU => Test::Int(GtU, I64),
        O::I64LeS => Test::Int(LeS, I64),
        O::I64LeU => Test::Int(LeU, I64),
        O::I64GeS => Test::Int(GeS, I64),
        O::I64GeU => Test::Int(GeU, I64),
        O::F32Eq => Test::Float(SLJIT_ORDERED_EQUAL, F32),
        O::F32Ne => Test::Float(SLJIT_UNORDERED_OR_NOT_EQUAL, F32),
        O::F32Lt => Test::Float(SLJIT_ORDERED_LESS, F32),
        O::F32Gt => Test::Float(SLJIT_ORDERED_GREATER, F32),
        O::F32Le => Test::Float(SLJIT_ORDERED_LESS_EQUAL, F32),
        O::F32Ge => Test::Float(SLJIT_ORDERED_GREATER_EQUAL, F32),
        O::F64Eq => Test::Float(SLJIT_ORDERED_EQUAL, F64),
        O::F64Ne => Test::Float(SLJIT_UNORDERED_OR_NOT_EQUAL, F64),
        O::F64Lt => Test::Float(SLJIT_ORDERED_LESS, F64),
        O::F64Gt => Test::Float(SLJIT_ORDERED_GREATER, F64),
        O::F64Le => Test::Float(SLJIT_ORDERED_LESS_EQUAL, F64),
        O::F64Ge => Test::Float(SLJIT_ORDERED_GREATER_EQUAL, F64),
        _ => return None,
    })
}

/// Whether `op` is a comparison that can fuse with a following branch.
pub fn fusible(op: &O<'_>) -> bool {
    test_of(op).is_some()
}

impl FuncCompiler<'_, '_> {
    /// Pops the operands of `test` and returns the condition it checks.
    fn pop_condition(&mut self, test: Test) -> Condition {
        match test {
            Test::Zero(ty) => {
                let (a, _) = self.pop();
                Condition {
                    kind: SLJIT_EQUAL | width(ty),
                    a,
                    b: Operand::imm(0),
                    float: false,
                }
            }
            Test::Int(cmp, ty) => {
                let (b, _) = self.pop();
                let (a, _) = self.pop();
                Condition {
                    kind: cmp.condition() | width(ty),
                    a,
                    b,
                    float: false,
                }
            }
            Test::Float(kind, ty) => {
                let (b, _) = self.pop_float(FT1);
                let (a, _) = self.pop_float(FT0);
                Condition {
                    kind: kind | fwidth(ty),
                    a,
                    b,
                    float: true,
                }
            }
        }
    }

    /// `compare` followed by `br_if`/`if` (`next`, at `next_offset`).
    pub fn fused_compare_branch(
        &mut self,
        compare: &O<'_>,
        next: O<'_>,
        next_offset: u64,
    ) -> Result<(), CompileError> {
        let test = test_of(compare).expect("checked by fusible");
        self.count_fuel();
        self.offset = next_offset;
        self.count_fuel();
        self.charge_fuel();
        let condition = self.pop_condition(test);
        match next {
            O::BrIf { relative_depth } => {
                self.branch(relative_depth, BranchKind::If(condition));
                Ok(())
            }
            O::If { blockty } => self.visit_if_condition(blockty, condition),
            _ => Err(CompileError::Internal("fused with a non-branch".into())),
        }
    }
}
