//! Reads a module's sections (validating them) into artifact metadata, and
//! collects the function bodies for code generation.

use vibewasm_format as format;
use wasmparser::{
    ExternalKind, FuncToValidate, FunctionBody, Parser, Payload, TypeRef, ValidPayload, Validator,
    ValidatorResources, WasmFeatures,
};

use crate::error::CompileError;

/// A module after its sections were read and validated; function bodies are
/// validated later, while they are compiled.
pub struct ParsedModule<'a> {
    pub metadata: format::Metadata,
    pub bodies: Vec<FuncBody<'a>>,
    /// Function names from the name section, sorted by function index.
    pub func_names: Vec<(u32, String)>,
}

/// A function body and what validates it.
pub type FuncBody<'a> = (FuncToValidate<ValidatorResources>, FunctionBody<'a>);

/// The proposals `language` accepts (see [`crate::Language`]).
pub fn features(language: crate::Language) -> WasmFeatures {
    match language {
        crate::Language::Latest => {
            WasmFeatures::WASM2
                | WasmFeatures::RELAXED_SIMD
                | WasmFeatures::MULTI_MEMORY
                | WasmFeatures::EXTENDED_CONST
                | WasmFeatures::MEMORY64
                | WasmFeatures::TAIL_CALL
        }
        crate::Language::Wasm2 => WasmFeatures::WASM2,
    }
}

fn malformed(err: wasmparser::BinaryReaderError) -> CompileError {
    CompileError::from_parser(err, None, false)
}

fn invalid(err: wasmparser::BinaryReaderError) -> CompileError {
    CompileError::from_parser(err, None, true)
}

pub fn val_type(ty: wasmparser::ValType, offset: u64) -> Result<format::ValType, CompileError> {
    use wasmparser::ValType as W;
    Ok(match ty {
        W::I32 => format::ValType::I32,
        W::I64 => format::ValType::I64,
        W::F32 => format::ValType::F32,
        W::F64 => format::ValType::F64,
        W::V128 => format::ValType::V128,
        W::Ref(r) if r.is_func_ref() => format::ValType::FuncRef,
        W::Ref(r) if r.is_extern_ref() => format::ValType::ExternRef,
        W::Ref(r) => {
            return Err(CompileError::unsupported(
                format!("reference type {r}"),
                None,
                offset,
            ))
        }
    })
}

fn ref_type(ty: wasmparser::RefType, offset: u64) -> Result<format::ValType, CompileError> {
    val_type(wasmparser::ValType::Ref(ty), offset)
}

fn memory_type(
    ty: wasmparser::MemoryType,
    offset: u64,
) -> Result<format::MemoryType, CompileError> {
    if ty.shared || ty.page_size_log2.is_some() {
        return Err(CompileError::unsupported(
            "shared or custom-page-size memory",
            None,
            offset,
        ));
    }
    Ok(format::MemoryType {
        min_pages: ty.initial,
        max_pages: ty.maximum,
        index64: ty.memory64,
    })
}

fn table_type(ty: wasmparser::TableType, offset: u64) -> Result<format::TableType, CompileError> {
    if ty.shared {
        return Err(CompileError::unsupported("shared table", None, offset));
    }
    Ok(format::TableType {
        element: ref_type(ty.element_type, offset)?,
        min: ty.initial,
        max: ty.maximum,
        index64: ty.table64,
    })
}

fn global_type(
    ty: wasmparser::GlobalType,
    offset: u64,
) -> Result<format::GlobalType, CompileError> {
    Ok(format::GlobalType {
        ty: val_type(ty.content_type, offset)?,
        mutable: ty.mutable,
    })
}

/// The artifact's form of a constant expression (validated already). One
/// instruction is one of the simple variants; an extended expression
/// (Wasm 3.0) without `global.get` is computed here into its constant,
/// and one that reads globals becomes a program of `programs`
/// ([`format::ConstExpr::Extended`]).
fn const_expr(
    expr: &wasmparser::ConstExpr<'_>,
    programs: &mut Vec<Vec<format::ConstOp>>,
) -> Result<format::ConstExpr, CompileError> {
    use wasmparser::Operator as O;
    let mut reader = expr.get_operators_reader();
    let offset = reader.original_position();
    let mut operators = Vec::new();
    loop {
        match reader.read().map_err(malformed)? {
            O::End => break,
            op => operators.push(op),
        }
    }
    let unsupported =
        |op: &O<'_>| CompileError::unsupported(format!("constant expression {op:?}"), None, offset);
    if let [single] = &operators[..] {
        return Ok(match *single {
            O::I32Const { value } => format::ConstExpr::I32(value),
            O::I64Const { value } => format::ConstExpr::I64(value),
            O::F32Const { value } => format::ConstExpr::F32(value.bits()),
            O::F64Const { value } => format::ConstExpr::F64(value.bits()),
            // Lane 0 is the first byte, the low bits of the little-endian u128.
            O::V128Const { value } => format::ConstExpr::V128(u128::from_le_bytes(*value.bytes())),
            O::GlobalGet { global_index } => format::ConstExpr::GlobalGet(global_index),
            O::RefNull { hty } => {
                let ty = match hty {
                    wasmparser::HeapType::Abstract {
                        ty: wasmparser::AbstractHeapType::Extern,
                        ..
                    } => format::ValType::ExternRef,
                    _ => format::ValType::FuncRef,
                };
                format::ConstExpr::RefNull(ty)
            }
            O::RefFunc { function_index } => format::ConstExpr::RefFunc(function_index),
            ref other => return Err(unsupported(other)),
        });
    }
    // Validation allowed more than one instruction: integer arithmetic
    // over integer constants and globals, ending with one value.
    let mut program = Vec::with_capacity(operators.len());
    for op in &operators {
        program.push(match *op {
            O::I32Const { value } => format::ConstOp::I32(value),
            O::I64Const { value } => format::ConstOp::I64(value),
            O::GlobalGet { global_index } => format::ConstOp::GlobalGet(global_index),
            O::I32Add => format::ConstOp::I32Add,
            O::I32Sub => format::ConstOp::I32Sub,
            O::I32Mul => format::ConstOp::I32Mul,
            O::I64Add => format::ConstOp::I64Add,
            O::I64Sub => format::ConstOp::I64Sub,
            O::I64Mul => format::ConstOp::I64Mul,
            ref other => return Err(unsupported(other)),
        });
    }
    if program.len() > format::MAX_CONST_OPS {
        return Err(CompileError::unsupported(
            format!(
                "constant expression of {} instructions (at most {})",
                program.len(),
                format::MAX_CONST_OPS
            ),
            None,
            offset,
        ));
    }
    let program_error =
        || CompileError::unsupported("constant expression that does not type-check", None, offset);
    // Without globals, the value is known now.
    if !program
        .iter()
        .any(|op| matches!(op, format::ConstOp::GlobalGet(_)))
    {
        return match format::ConstOp::run(&program, |_| None) {
            Ok((format::ValType::I32, v)) => Ok(format::ConstExpr::I32(v as u32 as i32)),
            Ok((format::ValType::I64, v)) => Ok(format::ConstExpr::I64(v as i64)),
            _ => Err(program_error()),
        };
    }
    if programs.len() >= format::MAX_CONST_EXPRS {
        return Err(CompileError::unsupported(
            format!(
                "more than {} extended constant expressions that read globals",
                format::MAX_CONST_EXPRS
            ),
            None,
            offset,
        ));
    }
    programs.push(program);
    Ok(format::ConstExpr::Extended(programs.len() as u32 - 1))
}

/// Reads and validates every section of `wasm`.
pub fn parse(wasm: &[u8], language: crate::Language) -> Result<ParsedModule<'_>, CompileError> {
    let mut validator = Validator::new_with_features(features(language));
    let mut m = format::Metadata::default();
    let mut bodies = Vec::new();
    let mut func_names = Vec::new();

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(malformed)?;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Func(to_validate, body) => {
                bodies.push((to_validate, body));
                continue;
            }
            ValidPayload::End(_) => break,
            ValidPayload::Ok | ValidPayload::Parser(_) => {}
        }
        match payload {
            Payload::TypeSection(reader) => {
                let offset = reader.range().start;
                for func_type in reader.into_iter_err_on_gc_types() {
                    let func_type = func_type.map_err(malformed)?;
                    let params = func_type
                        .params()
                        .iter()
                        .map(|t| val_type(*t, offset))
                        .collect::<Result<_, _>>()?;
                    let results = func_type
                        .results()
                        .iter()
                        .map(|t| val_type(*t, offset))
                        .collect::<Result<_, _>>()?;
                    m.types.push(format::FuncType { params, results });
                }
            }
            Payload::ImportSection(reader) => {
                let offset = reader.range().start;
                for import in reader.into_imports() {
                    let import = import.map_err(malformed)?;
                    let kind = match import.ty {
                        TypeRef::Func(t) => {
                            m.func_types.push(t);
                            format::ImportKind::Func(t)
                        }
                        TypeRef::Memory(ty) => format::ImportKind::Memory(memory_type(ty, offset)?),
                        TypeRef::Table(ty) => format::ImportKind::Table(table_type(ty, offset)?),
                        TypeRef::Global(ty) => format::ImportKind::Global(global_type(ty, offset)?),
                        other => {
                            return Err(CompileError::unsupported(
                                format!("import of {other:?}"),
                                None,
                                offset,
                            ))
                        }
                    };
                    m.imports.push(format::Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    m.func_types.push(ty.map_err(malformed)?);
                }
            }
            Payload::TableSection(reader) => {
                let offset = reader.range().start;
                for table in reader {
                    let table = table.map_err(malformed)?;
                    if !matches!(table.init, wasmparser::TableInit::RefNull) {
                        return Err(CompileError::unsupported(
                            "table with an initialiser expression",
                            None,
                            offset,
                        ));
                    }
                    m.tables.push(table_type(table.ty, offset)?);
                }
            }
            Payload::MemorySection(reader) => {
                let range = reader.range();
                let (start, end) = (range.start as usize, range.end as usize);
                if language == crate::Language::Wasm2 {
                    crate::strict::check_memory_section(&wasm[start..end], start)?;
                }
                let offset = start as u64;
                for memory in reader {
                    m.memories
                        .push(memory_type(memory.map_err(malformed)?, offset)?);
                }
            }
            Payload::GlobalSection(reader) => {
                let offset = reader.range().start;
                for global in reader {
                    let global = global.map_err(malformed)?;
                    m.globals.push(format::GlobalDef {
                        ty: global_type(global.ty, offset)?,
                        init: const_expr(&global.init_expr, &mut m.const_exprs)?,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(malformed)?;
                    let kind = match export.kind {
                        ExternalKind::Func => format::ExternKind::Func,
                        ExternalKind::Memory => format::ExternKind::Memory,
                        ExternalKind::Table => format::ExternKind::Table,
                        ExternalKind::Global => format::ExternKind::Global,
                        other => {
                            return Err(CompileError::unsupported(
                                format!("export of {other:?}"),
                                None,
                                0,
                            ))
                        }
                    };
                    m.exports.push(format::Export {
                        name: export.name.to_string(),
                        kind,
                        index: export.index,
                    });
                }
            }
            Payload::StartSection { func, .. } => m.start = Some(func),
            Payload::ElementSection(reader) => {
                let offset = reader.range().start;
                for element in reader {
                    let element = element.map_err(malformed)?;
                    let segment = element_segment(element, offset, &mut m.const_exprs)?;
                    m.elements.push(segment);
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.map_err(malformed)?;
                    let mode = match data.kind {
                        wasmparser::DataKind::Passive => format::SegmentMode::Passive,
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => format::SegmentMode::Active {
                            index: memory_index,
                            offset: const_expr(&offset_expr, &mut m.const_exprs)?,
                        },
                    };
                    m.data.push(format::DataSegment {
                        mode,
                        bytes: data.data.to_vec(),
                    });
                }
            }
            Payload::CustomSection(reader) if reader.name() == "name" => {
                // A broken name section is not an error (the spec says custom
                // sections never make a module invalid); keep what parses.
                if let wasmparser::KnownCustom::Name(names) = reader.as_known() {
                    for name in names.into_iter().flatten() {
                        if let wasmparser::Name::Function(map) = name {
                            for naming in map.into_iter().flatten() {
                                func_names.push((naming.index, naming.name.to_string()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    func_names.sort_by_key(|(i, _)| *i);
    func_names.dedup_by_key(|(i, _)| *i);
    func_names.retain(|(i, _)| (*i as usize) < m.func_types.len());
    Ok(ParsedModule {
        metadata: m,
        bodies,
        func_names,
    })
}

fn element_segment(
    element: wasmparser::Element<'_>,
    offset: u64,
    programs: &mut Vec<Vec<format::ConstOp>>,
) -> Result<format::ElementSegment, CompileError> {
    let mode = match element.kind {
        wasmparser::ElementKind::Passive => format::SegmentMode::Passive,
        wasmparser::ElementKind::Declared => format::SegmentMode::Declared,
        wasmparser::ElementKind::Active {
            table_index,
            offset_expr,
        } => format::SegmentMode::Active {
            index: table_index.unwrap_or(0),
            offset: const_expr(&offset_expr, programs)?,
        },
    };
    let (element_type, items) = match element.items {
        wasmparser::ElementItems::Functions(reader) => {
            let mut items = Vec::new();
            for f in reader {
                items.push(format::ConstExpr::RefFunc(f.map_err(malformed)?));
            }
            (format::ValType::FuncRef, items)
        }
        wasmparser::ElementItems::Expressions(ty, reader) => {
            let mut items = Vec::new();
            for expr in reader {
                items.push(const_expr(&expr.map_err(malformed)?, programs)?);
            }
            (ref_type(ty, offset)?, items)
        }
    };
    Ok(format::ElementSegment {
        mode,
        element: element_type,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v128_globals_and_their_constants() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "env" "v" (global (mut v128)))
                 (import "env" "w" (global $w v128))
                 (global (export "c") v128 (v128.const i32x4 1 2 3 0x80000000))
                 (global (export "b") v128 (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15))
                 (global (export "copy") v128 (global.get $w))
                 (global (export "m") (mut v128) (v128.const f64x2 1.0 -0.0)))"#,
        )
        .unwrap();
        let m = parse(&wasm, crate::Language::Latest).unwrap().metadata;
        let v128 = |mutable| format::GlobalType {
            ty: format::ValType::V128,
            mutable,
        };
        assert_eq!(m.imports[0].kind, format::ImportKind::Global(v128(true)));
        assert_eq!(m.imports[1].kind, format::ImportKind::Global(v128(false)));
        let inits: Vec<_> = m.globals.iter().map(|g| (g.ty, g.init)).collect();
        assert_eq!(
            inits,
            [
                (
                    v128(false),
                    format::ConstExpr::V128(0x8000_0000_0000_0003_0000_0002_0000_0001)
                ),
                (
                    v128(false),
                    format::ConstExpr::V128(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100)
                ),
                (v128(false), format::ConstExpr::GlobalGet(1)),
                (
                    v128(true),
                    format::ConstExpr::V128(
                        (u128::from((-0.0f64).to_bits()) << 64) | u128::from(1.0f64.to_bits())
                    )
                ),
            ]
        );
        assert_eq!(m.exports.len(), 4);
    }
}
