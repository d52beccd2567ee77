//! Locals and globals.

use sljit_sys::*;
use vibewasm_format::ValType;

use super::func::{mov_op, FuncCompiler};
use super::stack::{fmov_op, is_float, Loc};
use crate::emitter::{Operand, R0, S0};

impl FuncCompiler<'_, '_> {
    /// Locals are read lazily: the stack records "local i" and the read
    /// happens where the value is used.
    pub fn visit_local_get(&mut self, index: u32) {
        let ty = self.locals[index as usize];
        self.push_local(index, ty);
    }

    pub fn visit_local_set(&mut self, index: u32) {
        if self.top_loc() == Loc::Local(index) {
            self.pop();
            return;
        }
        let (value, entry) = self.pop_entry();
        self.flush_local(index);
        let home = self.local_operand(index);
        self.move_value(home, value, entry.loc, entry.ty);
    }

    /// Stores the top value into the local and leaves it where it was (a
    /// register stays a register, rather than becoming a read of the local).
    pub fn visit_local_tee(&mut self, index: u32) {
        if self.top_loc() == Loc::Local(index) {
            return;
        }
        let height = self.stack.len() - 1;
        let entry = self.stack.get(height);
        let value = self.operand_at(height);
        self.flush_local_below(index, height);
        let home = self.local_operand(index);
        self.move_value(home, value, entry.loc, entry.ty);
    }

    /// The operand of global `index`: inline in vmctx, or behind a pointer
    /// when imported (loaded into `R0`).
    /// A `v128` global always lives behind a pointer (`vmctx` docs).
    fn global_operand(&mut self, index: u32) -> Operand {
        let slot = self.m.layout.global(index) as i64;
        let ty = self.m.meta.global_type(index).expect("validated").ty;
        if self.m.layout.global_is_imported(index) || ty == ValType::V128 {
            self.m
                .e
                .op1(SLJIT_MOV, Operand::reg(R0), Operand::mem(S0, slot));
            Operand::mem(R0, 0)
        } else {
            Operand::mem(S0, slot)
        }
    }

    pub fn visit_global_get(&mut self, index: u32) {
        let ty = self.m.meta.global_type(index).expect("validated").ty;
        if ty == ValType::V128 {
            let dst = self.alloc_freg();
            let src = self.global_operand(index);
            self.move_vector(Operand::freg(dst), src);
            self.push_freg(dst, ty);
        } else if is_float(ty) {
            let dst = self.alloc_freg();
            let src = self.global_operand(index);
            self.m.e.fop1(fmov_op(ty), Operand::freg(dst), src);
            self.push_freg(dst, ty);
        } else {
            let dst = self.alloc_reg();
            let src = self.global_operand(index);
            self.m.e.op1(mov_op(ty), Operand::reg(dst), src);
            self.push_reg(dst, ty);
        }
    }

    pub fn visit_global_set(&mut self, index: u32) {
        let (value, entry) = self.pop_entry();
        // `global_operand` may need R0; the value is never in R0.
        let dst = self.global_operand(index);
        self.move_value(dst, value, entry.loc, entry.ty);
    }
}
