//! Reference values and tables: `ref.null`, `ref.is_null`, `ref.func`,
//! `table.get`/`set`/`size` inline, and the bulk table operators through
//! runtime helpers.
//!
//! A `funcref` is a `*const FuncRef` and an `externref` a host handle; both
//! are 8-byte integers on the value stack, 0 being null.

use sljit_sys::*;
use vibewasm_format::vmctx::{self, Helper};
use vibewasm_format::{TrapCode, ValType};

use super::func::FuncCompiler;
use crate::emitter::{Operand, R0, R1, S0};

impl FuncCompiler<'_, '_> {
    pub fn visit_ref_null(&mut self, ty: ValType) {
        self.push_const(0, ty);
    }

    pub fn visit_ref_is_null(&mut self) {
        self.eqz(ValType::I64);
    }

    pub fn visit_ref_func(&mut self, index: u32) {
        let dst = self.alloc_reg();
        let slot = self.m.layout.func_ref(index) as i64;
        self.m
            .e
            .op1(SLJIT_MOV, Operand::reg(dst), Operand::mem(S0, slot));
        self.push_reg(dst, ValType::FuncRef);
    }

    /// The move that loads a `table` index operand into a register: a
    /// 64-bit table's (table64) is a whole i64, compared as it is with the
    /// length (an index with upper bits set is out of bounds).
    pub(super) fn table_index_move(&self, table: u32) -> i32 {
        match self.m.table_is_64(table) {
            true => SLJIT_MOV,
            false => SLJIT_MOV_U32,
        }
    }

    /// `i64` for a 64-bit table's sizes, else `i32`.
    fn table_size_type(&self, table: u32) -> ValType {
        match self.m.table_is_64(table) {
            true => ValType::I64,
            false => ValType::I32,
        }
    }

    /// Leaves the address of element `index` of `table` in `R0 + R1 << 3`
    /// after checking it is in bounds.
    fn table_element(&mut self, table: u32, index: Operand) -> Operand {
        let mov = self.table_index_move(table);
        let e = &mut self.m.e;
        e.op1(mov, Operand::reg(R1), index);
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(S0, self.m.layout.table(table) as i64),
        );
        let out = e.cmp(
            SLJIT_GREATER_EQUAL,
            Operand::reg(R1),
            Operand::mem(R0, vmctx::TABLE_DEF_LEN as i64),
        );
        self.trap_on(out, TrapCode::TableOutOfBounds);
        self.m.e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(R0, vmctx::TABLE_DEF_ELEMENTS as i64),
        );
        Operand::mem2(R0, R1, vmctx::TABLE_ELEMENT_SHIFT)
    }

    fn table_type(&self, table: u32) -> ValType {
        let imported = self.m.meta.imports.iter().filter_map(|i| match i.kind {
            vibewasm_format::ImportKind::Table(t) => Some(t.element),
            _ => None,
        });
        let mut all = imported.chain(self.m.meta.tables.iter().map(|t| t.element));
        all.nth(table as usize).unwrap_or(ValType::FuncRef)
    }

    pub fn visit_table_get(&mut self, table: u32) {
        let (index, _) = self.pop();
        let element = self.table_element(table, index);
        let dst = self.alloc_reg();
        self.m.e.op1(SLJIT_MOV, Operand::reg(dst), element);
        let ty = self.table_type(table);
        self.push_reg(dst, ty);
    }

    pub fn visit_table_set(&mut self, table: u32) {
        let (value, _) = self.pop();
        let (index, _) = self.pop();
        let element = self.table_element(table, index);
        self.m.e.op1(SLJIT_MOV, element, value);
    }

    pub fn visit_table_size(&mut self, table: u32) {
        let dst = self.alloc_reg();
        let e = &mut self.m.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(dst),
            Operand::mem(S0, self.m.layout.table(table) as i64),
        );
        e.op1(
            SLJIT_MOV32,
            Operand::reg(dst),
            Operand::mem(dst, vmctx::TABLE_DEF_LEN as i64),
        );
        let ty = self.table_size_type(table);
        self.push_reg(dst, ty);
    }

    /// The bulk helpers read each table's type: a 64-bit table's operands
    /// are whole slots, and its `table.grow` fails with an i64 -1.
    pub fn visit_table_grow(&mut self, table: u32) {
        let ty = self.table_size_type(table);
        self.call_helper(Helper::TableGrow, 2, &[table as i64], &[ty]);
    }

    pub fn visit_table_fill(&mut self, table: u32) {
        self.call_helper(Helper::TableFill, 3, &[table as i64], &[]);
    }

    pub fn visit_table_copy(&mut self, dst_table: u32, src_table: u32) {
        self.call_helper(
            Helper::TableCopy,
            3,
            &[dst_table as i64, src_table as i64],
            &[],
        );
    }

    pub fn visit_table_init(&mut self, table: u32, segment: u32) {
        self.call_helper(Helper::TableInit, 3, &[table as i64, segment as i64], &[]);
    }

    pub fn visit_elem_drop(&mut self, segment: u32) {
        self.call_helper(Helper::ElemDrop, 0, &[segment as i64], &[]);
    }
}
