//! Pass 1 over a body: validate it, and learn what code generation must know
//! before the prologue (SLJIT fixes the frame size at `enter`).

use wasmparser::{FuncValidator, FunctionBody, Operator as O, ValidatorResources};

use crate::error::CompileError;

/// What the validation pre-pass learned about a body.
pub struct BodyFacts {
    /// Deepest value stack, plus room for a helper's immediates.
    pub max_height: u32,
    /// Memory 0 is accessed (its base and size go in registers).
    pub uses_memory: bool,
    /// Static uses of each local, a use inside `n` nested loops counting `4^n`.
    pub local_weights: Vec<u32>,
    /// A call (to wasm, the host or a runtime helper) anywhere in the body.
    pub calls: bool,
    /// A call inside a loop.
    pub calls_in_loops: bool,
    /// `deep_weights[k]`: operators after which more than `3 + k` values
    /// are on the stack, weighted like `local_weights`: how much the value
    /// stack would lose without its 4th (5th) pool register.
    pub deep_weights: [u32; 2],
    /// A SIMD operator (prefix 0xFD) anywhere in the body.
    pub simd: bool,
}

/// Validates `body` and collects its facts; appends every operator with its
/// offset to `operators`, for the translation pass to use without decoding
/// the body again. With `strict_wasm2`, operators are held to 2.0's
/// binary rules too (`crate::strict`).
pub fn prepass<'b>(
    validator: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'b>,
    index: u32,
    num_locals: usize,
    wasm: &[u8],
    strict_wasm2: bool,
    operators: &mut Vec<(O<'b>, u64)>,
) -> Result<BodyFacts, CompileError> {
    let func = Some(index);
    let malformed = |e| CompileError::from_parser(e, func, false);
    let mut ops = body.get_operators_reader().map_err(malformed)?;
    let mut facts = BodyFacts {
        max_height: 0,
        uses_memory: false,
        local_weights: vec![0; num_locals],
        calls: false,
        calls_in_loops: false,
        deep_weights: [0; 2],
        simd: false,
    };
    // For each open block: is it a loop?
    let mut blocks: Vec<bool> = Vec::new();
    let mut loop_depth = 0u32;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset().map_err(malformed)?;
        let end = ops.original_position() as usize;
        if let Some(bytes) = wasm.get(offset as usize..end).filter(|_| strict_wasm2) {
            crate::strict::check_operator(bytes, offset as usize).map_err(|e| match e {
                CompileError::Malformed {
                    message, offset, ..
                } => CompileError::Malformed {
                    message,
                    func,
                    offset,
                },
                other => other,
            })?;
        }
        validator
            .op(offset, &op)
            .map_err(|e| CompileError::from_parser(e, func, true))?;
        let height = validator.operand_stack_height();
        facts.max_height = facts.max_height.max(height);
        let weight = 1u32 << (2 * loop_depth.min(8));
        for (k, deep) in facts.deep_weights.iter_mut().enumerate() {
            if height > 3 + k as u32 {
                *deep = deep.saturating_add(weight);
            }
        }
        match op {
            O::Block { .. } | O::If { .. } => blocks.push(false),
            O::Loop { .. } => {
                blocks.push(true);
                loop_depth += 1;
            }
            O::End => loop_depth -= u32::from(blocks.pop() == Some(true)),
            O::LocalGet { local_index }
            | O::LocalSet { local_index }
            | O::LocalTee { local_index } => {
                if let Some(w) = facts.local_weights.get_mut(local_index as usize) {
                    *w = w.saturating_add(weight);
                }
            }
            _ => {}
        }
        facts.simd |= wasm.get(offset as usize) == Some(&0xfd);
        facts.uses_memory |= touches_memory0(&op);
        let calls = calls_out(&op);
        facts.calls |= calls;
        facts.calls_in_loops |= calls && loop_depth > 0;
        operators.push((op, offset));
    }
    ops.finish().map_err(malformed)?;
    facts.max_height += 1 + vibewasm_format::vmctx::MAX_HELPER_IMMEDIATES;
    Ok(facts)
}

/// Operators whose code calls out (clobbering scratch registers): calls,
/// and the operators lowered to runtime helpers (see `visit.rs`).
fn calls_out(op: &O<'_>) -> bool {
    matches!(
        op,
        O::Call { .. }
            | O::CallIndirect { .. }
            | O::MemoryGrow { .. }
            | O::MemoryCopy { .. }
            | O::MemoryFill { .. }
            | O::MemoryInit { .. }
            | O::DataDrop { .. }
            | O::TableGrow { .. }
            | O::TableFill { .. }
            | O::TableCopy { .. }
            | O::TableInit { .. }
            | O::ElemDrop { .. }
    )
}

/// Operators that need memory 0's base and size in registers (other
/// memories are reached through the vmctx at each access).
fn touches_memory0(op: &O<'_>) -> bool {
    match op {
        O::MemorySize { mem } => *mem == 0,
        O::I32Load { memarg }
        | O::I64Load { memarg }
        | O::F32Load { memarg }
        | O::F64Load { memarg }
        | O::I32Load8S { memarg }
        | O::I32Load8U { memarg }
        | O::I32Load16S { memarg }
        | O::I32Load16U { memarg }
        | O::I64Load8S { memarg }
        | O::I64Load8U { memarg }
        | O::I64Load16S { memarg }
        | O::I64Load16U { memarg }
        | O::I64Load32S { memarg }
        | O::I64Load32U { memarg }
        | O::I32Store { memarg }
        | O::I64Store { memarg }
        | O::F32Store { memarg }
        | O::F64Store { memarg }
        | O::I32Store8 { memarg }
        | O::I32Store16 { memarg }
        | O::I64Store8 { memarg }
        | O::I64Store16 { memarg }
        | O::I64Store32 { memarg }
        | O::V128Load { memarg }
        | O::V128Load8x8S { memarg }
        | O::V128Load8x8U { memarg }
        | O::V128Load16x4S { memarg }
        | O::V128Load16x4U { memarg }
        | O::V128Load32x2S { memarg }
        | O::V128Load32x2U { memarg }
        | O::V128Load8Splat { memarg }
        | O::V128Load16Splat { memarg }
        | O::V128Load32Splat { memarg }
        | O::V128Load64Splat { memarg }
        | O::V128Load32Zero { memarg }
        | O::V128Load64Zero { memarg }
        | O::V128Store { memarg } => super::memory::memory_index(memarg) == 0,
        O::V128Load8Lane { memarg, .. }
        | O::V128Load16Lane { memarg, .. }
        | O::V128Load32Lane { memarg, .. }
        | O::V128Load64Lane { memarg, .. }
        | O::V128Store8Lane { memarg, .. }
        | O::V128Store16Lane { memarg, .. }
        | O::V128Store32Lane { memarg, .. }
        | O::V128Store64Lane { memarg, .. } => super::memory::memory_index(memarg) == 0,
        _ => false,
    }
}
