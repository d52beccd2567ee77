//! The one operator dispatcher: each wasm operator goes to its family's
//! lowering. Operators not listed are reported as unsupported, by name.

use vibewasm_format::ValType::{F32, F64, I32, I64};
use wasmparser::Operator as O;

use super::conversion::Trunc;
use super::float::{FloatBinary as FB, FloatCmp as FC, FloatUnary as FU};
use super::func::FuncCompiler;
use super::integer::{Cmp, DivKind, IntOp};
use super::memory::Access;
use super::stack::is_float;
use crate::error::CompileError;

impl FuncCompiler<'_, '_> {
    pub fn visit(&mut self, op: O<'_>) -> Result<(), CompileError> {
        // Unreachable code is validated but not compiled; only the nesting
        // of control frames is tracked.
        if !self.reachable {
            return match op {
                O::Block { blockty } => self.visit_block(blockty),
                O::Loop { blockty } => self.visit_loop(blockty),
                O::If { blockty } => self.visit_if(blockty),
                O::Else => self.visit_else(),
                O::End => self.visit_end(),
                _ => Ok(()),
            };
        }
        // Structure is free: `block`, `loop`, `else` and `end` execute no
        // instruction of their own (a chain of `end`s would otherwise be
        // charged once each).
        if !matches!(op, O::Block { .. } | O::Loop { .. } | O::Else | O::End) {
            self.count_fuel();
        }
        if matches!(
            op,
            O::Block { .. }
                | O::Loop { .. }
                | O::If { .. }
                | O::Else
                | O::End
                | O::Br { .. }
                | O::BrIf { .. }
                | O::BrTable { .. }
                | O::Return
                | O::Call { .. }
                | O::CallIndirect { .. }
                | O::ReturnCall { .. }
                | O::ReturnCallIndirect { .. }
        ) {
            self.charge_fuel();
        }
        match op {
            // Control.
            O::Unreachable => self.trap(vibewasm_format::TrapCode::Unreachable),
            O::Nop => {}
            O::Block { blockty } => self.visit_block(blockty)?,
            O::Loop { blockty } => self.visit_loop(blockty)?,
            O::If { blockty } => self.visit_if(blockty)?,
            O::Else => self.visit_else()?,
            O::End => self.visit_end()?,
            O::Br { relative_depth } => self.visit_br(relative_depth),
            O::BrIf { relative_depth } => self.visit_br_if(relative_depth),
            O::BrTable { targets } => self.visit_br_table(&targets)?,
            O::Return => self.visit_return(),
            O::Drop => {
                self.pop();
            }
            O::Select | O::TypedSelect { .. } => {
                let ty = self.stack.get(self.stack.len() - 2).ty;
                if ty == vibewasm_format::ValType::V128 {
                    self.vector_select()
                } else if is_float(ty) {
                    self.float_select(ty)
                } else {
                    self.visit_select()
                }
            }

            // Calls.
            O::Call { function_index } => self.visit_call(function_index),
            O::CallIndirect {
                type_index,
                table_index,
            } => self.visit_call_indirect(type_index, table_index),
            O::ReturnCall { function_index } => self.visit_return_call(function_index),
            O::ReturnCallIndirect {
                type_index,
                table_index,
            } => self.visit_return_call_indirect(type_index, table_index),

            // Locals and globals.
            O::LocalGet { local_index } => self.visit_local_get(local_index),
            O::LocalSet { local_index } => self.visit_local_set(local_index),
            O::LocalTee { local_index } => self.visit_local_tee(local_index),
            O::GlobalGet { global_index } => self.visit_global_get(global_index),
            O::GlobalSet { global_index } => self.visit_global_set(global_index),

            // Constants.
            O::I32Const { value } => self.push_const(value as i64, I32),
            O::I64Const { value } => self.push_const(value, I64),
            O::F32Const { value } => self.push_const(value.bits() as i64, F32),
            O::F64Const { value } => self.push_const(value.bits() as i64, F64),

            // Integer arithmetic.
            O::I32Add => self.binary(IntOp::Add, I32),
            O::I32Sub => self.binary(IntOp::Sub, I32),
            O::I32Mul => self.binary(IntOp::Mul, I32),
            O::I32And => self.binary(IntOp::And, I32),
            O::I32Or => self.binary(IntOp::Or, I32),
            O::I32Xor => self.binary(IntOp::Xor, I32),
            O::I32Shl => self.binary(IntOp::Shl, I32),
            O::I32ShrS => self.binary(IntOp::ShrS, I32),
            O::I32ShrU => self.binary(IntOp::ShrU, I32),
            O::I32Rotl => self.binary(IntOp::Rotl, I32),
            O::I32Rotr => self.binary(IntOp::Rotr, I32),
            O::I64Add => self.binary(IntOp::Add, I64),
            O::I64Sub => self.binary(IntOp::Sub, I64),
            O::I64Mul => self.binary(IntOp::Mul, I64),
            O::I64And => self.binary(IntOp::And, I64),
            O::I64Or => self.binary(IntOp::Or, I64),
            O::I64Xor => self.binary(IntOp::Xor, I64),
            O::I64Shl => self.binary(IntOp::Shl, I64),
            O::I64ShrS => self.binary(IntOp::ShrS, I64),
            O::I64ShrU => self.binary(IntOp::ShrU, I64),
            O::I64Rotl => self.binary(IntOp::Rotl, I64),
            O::I64Rotr => self.binary(IntOp::Rotr, I64),
            O::I32DivS => self.division(DivKind::DivS, I32),
            O::I32DivU => self.division(DivKind::DivU, I32),
            O::I32RemS => self.division(DivKind::RemS, I32),
            O::I32RemU => self.division(DivKind::RemU, I32),
            O::I64DivS => self.division(DivKind::DivS, I64),
            O::I64DivU => self.division(DivKind::DivU, I64),
            O::I64RemS => self.division(DivKind::RemS, I64),
            O::I64RemU => self.division(DivKind::RemU, I64),
            O::I32Clz => self.count_bits(sljit_sys::SLJIT_CLZ32, I32),
            O::I32Ctz => self.count_bits(sljit_sys::SLJIT_CTZ32, I32),
            O::I64Clz => self.count_bits(sljit_sys::SLJIT_CLZ, I64),
            O::I64Ctz => self.count_bits(sljit_sys::SLJIT_CTZ, I64),
            O::I32Popcnt => self.popcnt(I32),
            O::I64Popcnt => self.popcnt(I64),

            // Integer comparisons.
            O::I32Eqz => self.eqz(I32),
            O::I64Eqz => self.eqz(I64),
            O::I32Eq => self.compare(Cmp::Eq, I32),
            O::I32Ne => self.compare(Cmp::Ne, I32),
            O::I32LtS => self.compare(Cmp::LtS, I32),
            O::I32LtU => self.compare(Cmp::LtU, I32),
            O::I32GtS => self.compare(Cmp::GtS, I32),
            O::I32GtU => self.compare(Cmp::GtU, I32),
            O::I32LeS => self.compare(Cmp::LeS, I32),
            O::I32LeU => self.compare(Cmp::LeU, I32),
            O::I32GeS => self.compare(Cmp::GeS, I32),
            O::I32GeU => self.compare(Cmp::GeU, I32),
            O::I64Eq => self.compare(Cmp::Eq, I64),
            O::I64Ne => self.compare(Cmp::Ne, I64),
            O::I64LtS => self.compare(Cmp::LtS, I64),
            O::I64LtU => self.compare(Cmp::LtU, I64),
            O::I64GtS => self.compare(Cmp::GtS, I64),
            O::I64GtU => self.compare(Cmp::GtU, I64),
            O::I64LeS => self.compare(Cmp::LeS, I64),
            O::I64LeU => self.compare(Cmp::LeU, I64),
            O::I64GeS => self.compare(Cmp::GeS, I64),
            O::I64GeU => self.compare(Cmp::GeU, I64),

            // Integer conversions.
            O::I32WrapI64 => self.convert(sljit_sys::SLJIT_MOV_U32, I32),
            O::I64ExtendI32S => self.convert(sljit_sys::SLJIT_MOV_S32, I64),
            O::I64ExtendI32U => self.convert(sljit_sys::SLJIT_MOV_U32, I64),
            O::I32Extend8S => self.convert(sljit_sys::SLJIT_MOV32_S8, I32),
            O::I32Extend16S => self.convert(sljit_sys::SLJIT_MOV32_S16, I32),
            O::I64Extend8S => self.convert(sljit_sys::SLJIT_MOV_S8, I64),
            O::I64Extend16S => self.convert(sljit_sys::SLJIT_MOV_S16, I64),
            O::I64Extend32S => self.convert(sljit_sys::SLJIT_MOV_S32, I64),

            // Float arithmetic.
            O::F32Add | O::F64Add => self.float_binary(FB::Add),
            O::F32Sub | O::F64Sub => self.float_binary(FB::Sub),
            O::F32Mul | O::F64Mul => self.float_binary(FB::Mul),
            O::F32Div | O::F64Div => self.float_binary(FB::Div),
            O::F32Min | O::F64Min => self.float_binary(FB::Min),
            O::F32Max | O::F64Max => self.float_binary(FB::Max),
            O::F32Copysign | O::F64Copysign => self.float_binary(FB::Copysign),
            O::F32Abs | O::F64Abs => self.float_unary(FU::Abs),
            O::F32Neg | O::F64Neg => self.float_unary(FU::Neg),
            O::F32Sqrt | O::F64Sqrt => self.float_unary(FU::Sqrt),
            O::F32Ceil | O::F64Ceil => self.float_unary(FU::Ceil),
            O::F32Floor | O::F64Floor => self.float_unary(FU::Floor),
            O::F32Trunc | O::F64Trunc => self.float_unary(FU::Trunc),
            O::F32Nearest | O::F64Nearest => self.float_unary(FU::Nearest),
            O::F32Eq | O::F64Eq => self.float_compare(FC::Eq),
            O::F32Ne | O::F64Ne => self.float_compare(FC::Ne),
            O::F32Lt | O::F64Lt => self.float_compare(FC::Lt),
            O::F32Gt | O::F64Gt => self.float_compare(FC::Gt),
            O::F32Le | O::F64Le => self.float_compare(FC::Le),
            O::F32Ge | O::F64Ge => self.float_compare(FC::Ge),

            // Float conversions.
            O::F32ConvertI32S => self.convert_int_to_float(I32, true, F32),
            O::F32ConvertI32U => self.convert_int_to_float(I32, false, F32),
            O::F32ConvertI64S => self.convert_int_to_float(I64, true, F32),
            O::F32ConvertI64U => self.convert_int_to_float(I64, false, F32),
            O::F64ConvertI32S => self.convert_int_to_float(I32, true, F64),
            O::F64ConvertI32U => self.convert_int_to_float(I32, false, F64),
            O::F64ConvertI64S => self.convert_int_to_float(I64, true, F64),
            O::F64ConvertI64U => self.convert_int_to_float(I64, false, F64),
            O::F32DemoteF64 => self.convert_float(F32),
            O::F64PromoteF32 => self.convert_float(F64),
            O::I32ReinterpretF32 => self.reinterpret(I32),
            O::I64ReinterpretF64 => self.reinterpret(I64),
            O::F32ReinterpretI32 => self.reinterpret(F32),
            O::F64ReinterpretI64 => self.reinterpret(F64),
            O::I32TruncF32S => self.trunc(trunc(F32, I32, true)),
            O::I32TruncF32U => self.trunc(trunc(F32, I32, false)),
            O::I32TruncF64S => self.trunc(trunc(F64, I32, true)),
            O::I32TruncF64U => self.trunc(trunc(F64, I32, false)),
            O::I64TruncF32S => self.trunc(trunc(F32, I64, true)),
            O::I64TruncF32U => self.trunc(trunc(F32, I64, false)),
            O::I64TruncF64S => self.trunc(trunc(F64, I64, true)),
            O::I64TruncF64U => self.trunc(trunc(F64, I64, false)),
            O::I32TruncSatF32S => self.trunc_sat(trunc(F32, I32, true)),
            O::I32TruncSatF32U => self.trunc_sat(trunc(F32, I32, false)),
            O::I32TruncSatF64S => self.trunc_sat(trunc(F64, I32, true)),
            O::I32TruncSatF64U => self.trunc_sat(trunc(F64, I32, false)),
            O::I64TruncSatF32S => self.trunc_sat(trunc(F32, I64, true)),
            O::I64TruncSatF32U => self.trunc_sat(trunc(F32, I64, false)),
            O::I64TruncSatF64S => self.trunc_sat(trunc(F64, I64, true)),
            O::I64TruncSatF64U => self.trunc_sat(trunc(F64, I64, false)),

            // Memory.
            O::F32Load { memarg } => self.load(memarg, Access::F32),
            O::F64Load { memarg } => self.load(memarg, Access::F64),
            O::F32Store { memarg } => self.store(memarg, Access::F32),
            O::F64Store { memarg } => self.store(memarg, Access::F64),
            O::I32Load { memarg } => self.load(memarg, Access::I32),
            O::I64Load { memarg } => self.load(memarg, Access::I64),
            O::I32Load8S { memarg } => self.load(memarg, Access::I32_8S),
            O::I32Load8U { memarg } => self.load(memarg, Access::I32_8U),
            O::I32Load16S { memarg } => self.load(memarg, Access::I32_16S),
            O::I32Load16U { memarg } => self.load(memarg, Access::I32_16U),
            O::I64Load8S { memarg } => self.load(memarg, Access::I64_8S),
            O::I64Load8U { memarg } => self.load(memarg, Access::I64_8U),
            O::I64Load16S { memarg } => self.load(memarg, Access::I64_16S),
            O::I64Load16U { memarg } => self.load(memarg, Access::I64_16U),
            O::I64Load32S { memarg } => self.load(memarg, Access::I64_32S),
            O::I64Load32U { memarg } => self.load(memarg, Access::I64_32U),
            O::I32Store { memarg } => self.store(memarg, Access::I32),
            O::I64Store { memarg } => self.store(memarg, Access::I64),
            O::I32Store8 { memarg } => self.store(memarg, Access::I32_8U),
            O::I32Store16 { memarg } => self.store(memarg, Access::I32_16U),
            O::I64Store8 { memarg } => self.store(memarg, Access::I64_8U),
            O::I64Store16 { memarg } => self.store(memarg, Access::I64_16U),
            O::I64Store32 { memarg } => self.store(memarg, Access::I64_32U),
            O::MemorySize { mem } => self.visit_memory_size(mem),
            O::MemoryGrow { mem } => self.visit_memory_grow(mem),
            O::MemoryCopy { dst_mem, src_mem } => self.visit_memory_copy(dst_mem, src_mem),
            O::MemoryFill { mem } => self.visit_memory_fill(mem),
            O::MemoryInit { data_index, mem } => self.visit_memory_init(mem, data_index),
            O::DataDrop { data_index } => self.visit_data_drop(data_index),

            // References and tables.
            O::RefNull { hty } => self.visit_ref_null(match hty {
                wasmparser::HeapType::Abstract {
                    ty: wasmparser::AbstractHeapType::Extern,
                    ..
                } => vibewasm_format::ValType::ExternRef,
                _ => vibewasm_format::ValType::FuncRef,
            }),
            O::RefIsNull => self.visit_ref_is_null(),
            O::RefFunc { function_index } => self.visit_ref_func(function_index),
            O::TableGet { table } => self.visit_table_get(table),
            O::TableSet { table } => self.visit_table_set(table),
            O::TableSize { table } => self.visit_table_size(table),
            O::TableGrow { table } => self.visit_table_grow(table),
            O::TableFill { table } => self.visit_table_fill(table),
            O::TableCopy {
                dst_table,
                src_table,
            } => self.visit_table_copy(dst_table, src_table),
            O::TableInit { elem_index, table } => self.visit_table_init(table, elem_index),
            O::ElemDrop { elem_index } => self.visit_elem_drop(elem_index),

            other => {
                if let Some(other) = self.visit_simd(other) {
                    return Err(self.unsupported(format_args!("operator {other:?}")));
                }
            }
        }
        Ok(())
    }
}

fn trunc(from: vibewasm_format::ValType, to: vibewasm_format::ValType, signed: bool) -> Trunc {
    Trunc { from, to, signed }
}
