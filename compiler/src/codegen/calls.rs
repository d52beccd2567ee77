//! Direct and indirect calls between wasm functions, and tail calls.
//!
//! Arguments are passed in memory: the caller puts them in the home slots of
//! their stack heights and passes the address of the first one in `R0` and
//! again in `R1` (a callee without results never reads `R1`); the callee
//! reads its arguments from `R0`'s array in its prologue and writes its
//! results from `R1`'s, which it keeps in its frame (see `vmctx` docs).
//!
//! A tail call (`return_call`, `return_call_indirect`) runs in constant
//! stack space: the caller writes the callee's arguments to its vmctx's
//! `tail_call_args` region (its own frame is about to go, and the array it
//! was given may be too small), loads `R0` with that region and `R1` with
//! its own results array, releases its frame (SLJIT's epilogue without the
//! return) and jumps to the callee, which returns to the caller's caller:
//!
//! ```text
//! h: call f            f: ...                       g: prologue reads R0
//!    (R0 = R1 = slots)     args -> vmctx.tail_call_args   ...
//!                          R0 = &tail_call_args           results -> [R1]
//!                          R1 = own results array         ret (to h)
//!                          epilogue; jmp g
//! ```
//!
//! The one exception: a callee of another instance (through a table;
//! imports go through their stub, which calls) needs its own vmctx in `S0`,
//! and a caller of ours that called us directly expects its own back, which
//! only we can restore. So `return_call_indirect` to another instance's
//! function is a call followed by a return: it keeps this frame until the
//! callee returns, as a call through an imported function's stub does.

use sljit_sys::*;
use vibewasm_format::vmctx::{self, Helper};
use vibewasm_format::{RelocTarget, TrapCode, ValType};

use super::func::{FuncCompiler, CTX_SLOT, RESULTS_SLOT};
use crate::emitter::{self, arg_types, Operand, Reg, R0, R1, R2, R3, S0, SP};

impl FuncCompiler<'_, '_> {
    /// Puts the arguments of a call in their home slots and every other
    /// register value in its slot too (calls clobber scratch registers).
    /// Returns the stack height of the first argument.
    fn prepare_call(&mut self, num_params: usize) -> usize {
        let base = self.stack.len() - num_params;
        for h in base..self.stack.len() {
            self.store_home(h);
        }
        self.spill_registers();
        self.save_scratch_locals(true);
        base
    }

    /// Replaces the arguments by the results, which the callee wrote to the
    /// same slots. A callee that may have grown memory 0 may have moved it
    /// (explicit bounds checks; see `reload_memory0_base`).
    fn finish_call(&mut self, base: usize, results: &[ValType], may_grow_memory: bool) {
        if may_grow_memory {
            self.reload_memory0_base();
        }
        self.save_scratch_locals(false);
        self.stack.truncate(base);
        for ty in results {
            self.push_slot(*ty);
        }
    }

    /// Calls runtime helper `helper` with the top `operands` values and then
    /// `immediates` as its arguments; its results replace the operands.
    pub fn call_helper(
        &mut self,
        helper: Helper,
        operands: usize,
        immediates: &[i64],
        results: &[ValType],
    ) {
        let base = self.prepare_call(operands);
        for (k, imm) in immediates.iter().enumerate() {
            let slot = self.slot(base + operands + k);
            self.m.e.op1(SLJIT_MOV, slot, Operand::imm(*imm));
        }
        let slot = self.m.layout.helper(helper) as i64;
        self.m.use_slot(RelocTarget::Helper(helper as u32));
        let args = self.slot_offset(base);
        let e = &mut self.m.e;
        e.op1(SLJIT_MOV, Operand::reg(R0), Operand::reg(S0));
        e.local_address(R1, args);
        e.icall(
            SLJIT_CALL,
            arg_types(SLJIT_ARG_TYPE_32, &[SLJIT_ARG_TYPE_P, SLJIT_ARG_TYPE_P]),
            Operand::mem(S0, slot),
        );
        self.m.call_returns_here(self.offset as u32);
        if let Some(code) = helper.trap() {
            let failed = self.m.e.cmp(
                SLJIT_NOT_EQUAL | SLJIT_32,
                Operand::reg(R0),
                Operand::imm(0),
            );
            self.trap_on(failed, code);
        }
        let grows = matches!(helper, Helper::MemoryGrow | Helper::MultiMemoryGrow);
        self.finish_call(base, results, grows);
    }

    pub fn visit_call(&mut self, callee: u32) {
        let ty = self.m.meta.func_type(callee).expect("validated").clone();
        let base = self.prepare_call(ty.params.len());
        let argv = self.slot_offset(base);
        self.m.e.local_address(R0, argv);
        self.results_array_is_arguments_array(&ty.results);
        self.m.call_function(callee, self.offset as u32);
        self.finish_call(base, &ty.results, true);
    }

    pub fn visit_call_indirect(&mut self, type_index: u32, table_index: u32) {
        let ty = self.m.meta.types[type_index as usize].clone();
        let (index, _) = self.pop();
        let mov = self.table_index_move(table_index);
        self.m.e.op1(mov, Operand::reg(R1), index);
        let base = self.prepare_call(ty.params.len());
        self.load_checked_func_ref(type_index, table_index);

        // The callee may belong to another instance: it runs with its own
        // vmctx, and ours comes back from the frame afterwards.
        let saved_ctx = Operand::mem(SP, CTX_SLOT as i64);
        self.m.e.op1(SLJIT_MOV, saved_ctx, Operand::reg(S0));
        self.load_callee_of_func_ref(S0);
        let argv = self.slot_offset(base);
        let e = &mut self.m.e;
        e.local_address(R0, argv);
        self.results_array_is_arguments_array(&ty.results);
        let e = &mut self.m.e;
        e.icall(
            SLJIT_CALL_REG_ARG,
            emitter::wasm_call_args(),
            Operand::reg(R2),
        );
        self.m.call_returns_here(self.offset as u32);
        let e = &mut self.m.e;
        e.op1(SLJIT_MOV, Operand::reg(S0), saved_ctx);
        self.finish_call(base, &ty.results, true);
    }

    /// From the `FuncRef` in `R0`: its code address into `R2`, its vmctx
    /// into `vmctx_reg`.
    fn load_callee_of_func_ref(&mut self, vmctx_reg: Reg) {
        let e = &mut self.m.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R2),
            Operand::mem(R0, vmctx::FUNC_REF_CODE as i64),
        );
        e.op1(
            SLJIT_MOV,
            Operand::reg(vmctx_reg),
            Operand::mem(R0, vmctx::FUNC_REF_VMCTX as i64),
        );
    }

    /// `R1 = R0`: a call's results go where its arguments were. A callee
    /// without results never reads `R1` (see `vmctx`): then nothing.
    fn results_array_is_arguments_array(&mut self, results: &[ValType]) {
        if !results.is_empty() {
            self.m.e.op1(SLJIT_MOV, Operand::reg(R1), Operand::reg(R0));
        }
    }

    /// With the element index in `R1`: loads the `FuncRef` of that element
    /// of table `table_index` into `R0`, trapping if the index is out of
    /// bounds, the element null, or its type not `type_index`. Uses `R0`
    /// and `R1` only.
    fn load_checked_func_ref(&mut self, type_index: u32, table_index: u32) {
        let table_slot = self.m.layout.table(table_index) as i64;
        let type_slot = self.m.layout.type_id(type_index) as i64;

        let e = &mut self.m.e;
        e.op1(SLJIT_MOV, Operand::reg(R0), Operand::mem(S0, table_slot));
        let out_of_bounds = e.cmp(
            SLJIT_GREATER_EQUAL,
            Operand::reg(R1),
            Operand::mem(R0, vmctx::TABLE_DEF_LEN as i64),
        );
        self.trap_on(out_of_bounds, TrapCode::UndefinedElement);
        let e = &mut self.m.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(R0, vmctx::TABLE_DEF_ELEMENTS as i64),
        );
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem2(R0, R1, vmctx::TABLE_ELEMENT_SHIFT),
        );
        let null = e.cmp(SLJIT_EQUAL, Operand::reg(R0), Operand::imm(0));
        self.trap_on(null, TrapCode::UninitializedElement);
        let e = &mut self.m.e;
        e.op1(
            SLJIT_MOV32,
            Operand::reg(R1),
            Operand::mem(R0, vmctx::FUNC_REF_TYPE_ID as i64),
        );
        let mismatch = e.cmp(
            SLJIT_NOT_EQUAL | SLJIT_32,
            Operand::reg(R1),
            Operand::mem(S0, type_slot),
        );
        self.trap_on(mismatch, TrapCode::IndirectCallTypeMismatch);
    }

    /// Writes the top `params.len()` values, a tail call's arguments, to
    /// the vmctx's `tail_call_args` region (see the module docs). Moves
    /// use no `R` register.
    fn store_tail_call_arguments(&mut self, params: &[ValType]) {
        let area = self.m.layout.tail_call_args() as i64;
        let (slots, _) = vibewasm_format::slot_offsets(params);
        let first = self.stack.len() - params.len();
        for (k, slot) in slots.into_iter().enumerate() {
            let src = self.operand_at(first + k);
            let entry = self.stack.get(first + k);
            let dst = Operand::mem(S0, area + 8 * slot as i64);
            self.move_value(dst, src, entry.loc, entry.ty);
        }
    }

    /// What a tail-called function is entered with besides `S0`: `R0` the
    /// arguments (`tail_call_args` of the vmctx in `S0` now), `R1` this
    /// function's results array (the callee's results are ours; without
    /// results, neither reads it).
    fn load_tail_call_registers(&mut self) {
        let area = self.m.layout.tail_call_args() as i64;
        let e = &mut self.m.e;
        e.op2(
            SLJIT_ADD,
            Operand::reg(R0),
            Operand::reg(S0),
            Operand::imm(area),
        );
        if !self.results.is_empty() {
            e.op1(
                SLJIT_MOV,
                Operand::reg(R1),
                Operand::mem(SP, RESULTS_SLOT as i64),
            );
        }
    }

    /// `return_call`: the callee replaces this function's frame (an
    /// imported function's stub too: it restores our vmctx before it
    /// returns to our caller).
    pub fn visit_return_call(&mut self, callee: u32) {
        let ty = self.m.meta.func_type(callee).expect("validated").clone();
        self.store_tail_call_arguments(&ty.params);
        self.load_tail_call_registers();
        self.m.tail_call_function(callee);
        self.reachable = false;
    }

    /// `return_call_indirect`: a tail call if the callee is of this
    /// instance, else a call and a return (see the module docs).
    pub fn visit_return_call_indirect(&mut self, type_index: u32, table_index: u32) {
        let ty = self.m.meta.types[type_index as usize].clone();
        let (index, _) = self.pop();
        let mov = self.table_index_move(table_index);
        self.m.e.op1(mov, Operand::reg(R1), index);
        self.store_tail_call_arguments(&ty.params);
        self.load_checked_func_ref(type_index, table_index);

        self.load_callee_of_func_ref(R3);
        let e = &mut self.m.e;
        let other_instance = e.cmp(SLJIT_NOT_EQUAL, Operand::reg(R3), Operand::reg(S0));
        self.load_tail_call_registers();
        self.m.e.icall(
            SLJIT_CALL_REG_ARG | SLJIT_CALL_RETURN,
            emitter::wasm_call_args(),
            Operand::reg(R2),
        );

        // Another instance's function: called with its vmctx, then ours
        // back for the return (our caller may rely on it).
        let e = &mut self.m.e;
        let label = e.label();
        e.set_label(other_instance, label);
        self.load_tail_call_registers();
        let e = &mut self.m.e;
        let saved_ctx = Operand::mem(SP, CTX_SLOT as i64);
        e.op1(SLJIT_MOV, saved_ctx, Operand::reg(S0));
        e.op1(SLJIT_MOV, Operand::reg(S0), Operand::reg(R3));
        e.icall(
            SLJIT_CALL_REG_ARG,
            emitter::wasm_call_args(),
            Operand::reg(R2),
        );
        self.m.call_returns_here(self.offset as u32);
        let e = &mut self.m.e;
        e.op1(SLJIT_MOV, Operand::reg(S0), saved_ctx);
        e.return_void();
        self.reachable = false;
    }
}
