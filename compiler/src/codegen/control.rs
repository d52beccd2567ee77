//! Structured control flow: blocks, loops, ifs and every kind of branch.
//!
//! At each join (block end, loop head, if/else) the stack is in one canonical
//! state: the values the join receives sit in the home slots of their
//! heights, and nothing below is in a register. Every branch, conditional or
//! not, goes through [`FuncCompiler::branch`], which copies the branch values
//! to the target's slots on the taken path only.

use vibewasm_format::ValType;
use wasmparser::BlockType;

use super::func::FuncCompiler;
use crate::emitter::{Jump, Label, Operand, R0, R1};
use crate::error::CompileError;

pub enum FrameKind {
    /// The function body: branching to it returns.
    Function,
    Block,
    Loop {
        head: Label,
    },
    If {
        else_jump: Option<Jump>,
    },
    Else,
}

pub struct ControlFrame {
    pub kind: FrameKind,
    /// Stack height below the frame's parameters.
    pub height: usize,
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
    /// Branches to the frame's end.
    pub exits: Vec<Jump>,
    /// `br_table` entries that jump straight to the frame's end.
    pub table_exits: Vec<crate::emitter::TableEntry>,
    /// The frame was entered in unreachable code: it emits nothing.
    pub dead: bool,
}

impl ControlFrame {
    pub fn function(results: Vec<ValType>) -> ControlFrame {
        ControlFrame {
            kind: FrameKind::Function,
            height: 0,
            params: Vec::new(),
            results,
            exits: Vec::new(),
            table_exits: Vec::new(),
            dead: false,
        }
    }

    /// Types the frame's branch targets receive.
    fn branch_types(&self) -> &[ValType] {
        match self.kind {
            FrameKind::Loop { .. } => &self.params,
            _ => &self.results,
        }
    }
}

/// A comparison a conditional branch tests, emitted as one compare-and-jump.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    /// SLJIT condition, with `SLJIT_32` for 32-bit operands.
    pub kind: i32,
    pub a: Operand,
    pub b: Operand,
    pub float: bool,
}

impl Condition {
    /// `value != 0` for an i32 value.
    pub fn non_zero(value: Operand) -> Condition {
        Condition {
            kind: sljit_sys::SLJIT_NOT_EQUAL | sljit_sys::SLJIT_32,
            a: value,
            b: Operand::imm(0),
            float: false,
        }
    }

    /// The opposite test: SLJIT numbers each condition next to its inverse.
    pub fn inverse(self) -> Condition {
        Condition {
            kind: self.kind ^ 1,
            ..self
        }
    }

    pub fn jump(self, e: &mut crate::emitter::Emitter) -> Jump {
        if self.float {
            e.fcmp(self.kind, self.a, self.b)
        } else {
            e.cmp(self.kind, self.a, self.b)
        }
    }
}

/// Whether code after a branch still runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BranchKind {
    Always,
    /// Taken when the condition holds.
    If(Condition),
}

impl FuncCompiler<'_, '_> {
    fn block_signature(&self, ty: BlockType) -> Result<(Vec<ValType>, Vec<ValType>), CompileError> {
        Ok(match ty {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![crate::module::val_type(t, self.offset)?]),
            BlockType::FuncType(i) => {
                let ty = &self.m.meta.types[i as usize];
                (ty.params.clone(), ty.results.clone())
            }
        })
    }

    fn push_frame(&mut self, kind: FrameKind, ty: BlockType) -> Result<(), CompileError> {
        let (params, results) = self.block_signature(ty)?;
        let dead = !self.reachable;
        let height = if dead {
            0
        } else {
            self.stack.len() - params.len()
        };
        self.control.push(ControlFrame {
            kind,
            height,
            params,
            results,
            exits: Vec::new(),
            table_exits: Vec::new(),
            dead,
        });
        Ok(())
    }

    pub fn visit_block(&mut self, ty: BlockType) -> Result<(), CompileError> {
        if self.reachable {
            let (params, _) = self.block_signature(ty)?;
            self.flush_for_join(self.stack.len() - params.len());
        }
        self.push_frame(FrameKind::Block, ty)
    }

    pub fn visit_loop(&mut self, ty: BlockType) -> Result<(), CompileError> {
        if !self.reachable {
            let head = self.m.e.label();
            return self.push_frame(FrameKind::Loop { head }, ty);
        }
        let (params, _) = self.block_signature(ty)?;
        self.flush_for_join(self.stack.len() - params.len());
        let head = self.m.e.label();
        if self.m.options.epoch {
            self.epoch_check();
        }
        self.push_frame(FrameKind::Loop { head }, ty)
    }

    pub fn visit_if(&mut self, ty: BlockType) -> Result<(), CompileError> {
        if !self.reachable {
            return self.push_frame(FrameKind::If { else_jump: None }, ty);
        }
        let (cond, _) = self.pop();
        self.m.e.op1(sljit_sys::SLJIT_MOV32, Operand::reg(R0), cond);
        self.visit_if_condition(ty, Condition::non_zero(Operand::reg(R0)))
    }

    /// `if` on a condition whose operands are already popped. The flush
    /// to the join state only stores, so it leaves them intact.
    pub fn visit_if_condition(
        &mut self,
        ty: BlockType,
        condition: Condition,
    ) -> Result<(), CompileError> {
        let (params, _) = self.block_signature(ty)?;
        self.flush_for_join(self.stack.len() - params.len());
        let else_jump = condition.inverse().jump(&mut self.m.e);
        self.push_frame(
            FrameKind::If {
                else_jump: Some(else_jump),
            },
            ty,
        )
    }

    pub fn visit_else(&mut self) -> Result<(), CompileError> {
        let frame = self.control.last_mut().expect("validated");
        if frame.dead {
            frame.kind = FrameKind::Else;
            return Ok(());
        }
        let else_jump = match &mut frame.kind {
            FrameKind::If { else_jump } => else_jump.take(),
            _ => return Err(CompileError::Internal("else without if".into())),
        };
        frame.kind = FrameKind::Else;
        let (height, results, params) = (frame.height, frame.results.clone(), frame.params.clone());
        if self.reachable {
            self.move_branch_values(height, results.len());
            let jump = self.m.e.jump(sljit_sys::SLJIT_JUMP);
            self.control.last_mut().expect("frame").exits.push(jump);
        }
        if let Some(jump) = else_jump {
            let label = self.m.e.label();
            self.m.e.set_label(jump, label);
        }
        self.stack.truncate(height);
        for ty in params {
            self.push_slot(ty);
        }
        self.reachable = true;
        Ok(())
    }

    pub fn visit_end(&mut self) -> Result<(), CompileError> {
        let frame = self.control.pop().expect("validated");
        if frame.dead {
            if let FrameKind::Function = frame.kind {
                return Ok(());
            }
            return Ok(());
        }
        let else_jump = match frame.kind {
            FrameKind::If { else_jump } => else_jump,
            _ => None,
        };
        let joins = !frame.exits.is_empty() || !frame.table_exits.is_empty() || else_jump.is_some();
        if let FrameKind::Function = frame.kind {
            if self.reachable && !joins {
                self.emit_return();
                return Ok(());
            }
        }
        if self.reachable && joins {
            self.move_branch_values(frame.height, frame.results.len());
        }
        if joins {
            let label = self.m.e.label();
            for jump in frame.exits.iter().chain(else_jump.iter()) {
                self.m.e.set_label(*jump, label);
            }
            for entry in &frame.table_exits {
                self.m.e.set_table_target(*entry, label);
            }
            self.stack.truncate(frame.height);
            for ty in &frame.results {
                self.push_slot(*ty);
            }
            self.reachable = true;
        }
        if let FrameKind::Function = frame.kind {
            if self.reachable {
                self.emit_return();
            }
        }
        Ok(())
    }

    /// Copies the top `arity` values to the home slots starting at `base`,
    /// and records them there (the fall-through path into a join).
    fn move_branch_values(&mut self, base: usize, arity: usize) {
        let len = self.stack.len();
        self.copy_results_to(base, arity);
        let types: Vec<ValType> = (len - arity..len).map(|h| self.stack.get(h).ty).collect();
        self.stack.truncate(base);
        for ty in types {
            self.push_slot(ty);
        }
    }

    /// Emits a branch to the frame `depth` levels out.
    pub fn branch(&mut self, depth: u32, kind: BranchKind) {
        use sljit_sys::*;
        let target = self.control.len() - 1 - depth as usize;
        let frame = &self.control[target];
        let arity = frame.branch_types().len();
        let base = frame.height;
        let len = self.stack.len();
        let is_return = matches!(frame.kind, FrameKind::Function);
        // The values are already where the target expects them.
        let in_place = !is_return
            && base == len - arity
            && (base..len).all(|h| self.stack.get(h).loc == super::stack::Loc::Slot);

        let skip = match kind {
            BranchKind::If(condition) if in_place => {
                let jump = condition.jump(&mut self.m.e);
                self.link_branch(target, jump);
                return;
            }
            BranchKind::If(condition) => Some(condition.inverse().jump(&mut self.m.e)),
            BranchKind::Always => None,
        };
        if is_return {
            self.emit_return();
        } else {
            self.copy_results_to(base, arity);
            let jump = self.m.e.jump(SLJIT_JUMP);
            self.link_branch(target, jump);
        }
        if let Some(skip) = skip {
            let label = self.m.e.label();
            self.m.e.set_label(skip, label);
        }
        if kind == BranchKind::Always {
            self.reachable = false;
        }
    }

    fn link_branch(&mut self, target: usize, jump: Jump) {
        match self.control[target].kind {
            FrameKind::Loop { head } => self.m.e.set_label(jump, head),
            _ => self.control[target].exits.push(jump),
        }
    }

    pub fn visit_br(&mut self, depth: u32) {
        self.branch(depth, BranchKind::Always);
    }

    pub fn visit_br_if(&mut self, depth: u32) {
        let (cond, _) = self.pop();
        // Branch-value copies use only memory and the operand registers; the
        // condition must survive them, so it moves to a temporary first.
        self.m.e.op1(sljit_sys::SLJIT_MOV32, Operand::reg(R1), cond);
        self.branch(depth, BranchKind::If(Condition::non_zero(Operand::reg(R1))));
    }

    pub fn visit_br_table(
        &mut self,
        targets: &wasmparser::BrTable<'_>,
    ) -> Result<(), CompileError> {
        use sljit_sys::*;
        let depths: Vec<u32> = targets
            .targets()
            .collect::<Result<_, _>>()
            .map_err(|e| CompileError::from_parser(e, Some(self.index), false))?;
        let default = targets.default();
        let (index, _) = self.pop();
        self.m.e.op1(SLJIT_MOV_U32, Operand::reg(R1), index);
        if depths.is_empty() {
            self.branch(default, BranchKind::Always);
            return Ok(());
        }
        // Every target receives the same number of values: put them in their
        // home slots once, so each edge copies memory to memory.
        let arity = {
            let frame = &self.control[self.control.len() - 1 - default as usize];
            frame.branch_types().len()
        };
        let len = self.stack.len();
        for h in len - arity..len {
            self.store_home(h);
        }
        let out_of_range = self.m.e.cmp(
            SLJIT_GREATER_EQUAL,
            Operand::reg(R1),
            Operand::imm(depths.len() as i64),
        );
        let table_address = self.m.e.label_address(R0);
        self.m
            .e
            .op1(SLJIT_MOV_S32, Operand::reg(R1), Operand::mem2(R0, R1, 2));
        self.m.e.op2(
            SLJIT_ADD,
            Operand::reg(R0),
            Operand::reg(R0),
            Operand::reg(R1),
        );
        self.m.e.ijump(Operand::reg(R0));

        // Each distinct target: straight there when the values are already
        // in place, else through an edge that copies them, then jumps.
        enum Way {
            Label(crate::emitter::Label),
            /// A block's end, which has no label yet.
            Exit(usize),
        }
        let mut ways: Vec<(u32, Way)> = Vec::new();
        for &depth in depths.iter().chain(std::iter::once(&default)) {
            if ways.iter().any(|(d, _)| *d == depth) {
                continue;
            }
            let target = self.control.len() - 1 - depth as usize;
            let frame = &self.control[target];
            let direct = !matches!(frame.kind, FrameKind::Function) && frame.height == len - arity;
            let way = match (direct, &frame.kind) {
                (true, FrameKind::Loop { head }) => Way::Label(*head),
                (true, _) => Way::Exit(target),
                (false, _) => {
                    let label = self.m.e.label();
                    self.reachable = true;
                    self.branch(depth, BranchKind::Always);
                    Way::Label(label)
                }
            };
            ways.push((depth, way));
        }
        let way = |d: u32| &ways.iter().find(|(depth, _)| *depth == d).expect("way").1;
        let entries: Vec<Option<crate::emitter::Label>> = depths
            .iter()
            .map(|d| match way(*d) {
                Way::Label(label) => Some(*label),
                Way::Exit(_) => None,
            })
            .collect();
        let table = self.m.e.jump_table(entries);
        self.m.e.set_label(table_address, table);
        for (k, d) in depths.iter().enumerate() {
            if let Way::Exit(frame) = way(*d) {
                let entry = self.m.e.table_entry(k);
                self.control[*frame].table_exits.push(entry);
            }
        }
        match way(default) {
            Way::Label(label) => self.m.e.set_label(out_of_range, *label),
            Way::Exit(frame) => self.control[*frame].exits.push(out_of_range),
        }
        self.reachable = false;
        Ok(())
    }

    pub fn visit_return(&mut self) {
        self.emit_return();
        self.reachable = false;
    }
}
