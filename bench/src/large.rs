//! A large module for the compile-throughput check: every function of a
//! kernel copied as many times as it takes to reach a size, with each copy's
//! calls pointing at its own copies of the callees. Types, memory, globals,
//! exports, element and data segments are the original's (so exports and
//! tables reach the first copy); custom sections are dropped.

use anyhow::{bail, Result};
use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::{CodeSection, FunctionSection, RawSection};
use wasmparser::{Parser, Payload};

/// Renumbers function indices by a fixed offset.
struct Shift(u32);

impl Reencode for Shift {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, ReencodeError<Self::Error>> {
        Ok(func + self.0)
    }
}

/// Where the replicated sections go among the original's sections.
enum Piece {
    Raw(u8, std::ops::Range<usize>),
    Functions,
    Code,
}

fn usize_range(range: std::ops::Range<u64>) -> Result<std::ops::Range<usize>> {
    Ok(usize::try_from(range.start)?..usize::try_from(range.end)?)
}

/// Appends one copy of `bodies`, with function indices shifted by `offset`,
/// to `code`; returns how many bytes that added.
fn encode_copy(
    code: &mut CodeSection,
    bodies: &[wasmparser::FunctionBody<'_>],
    offset: u32,
) -> Result<usize> {
    let before = code.byte_len();
    let mut shift = Shift(offset);
    for body in bodies {
        shift
            .parse_function_body(code, body.clone())
            .map_err(|e| anyhow::anyhow!("re-encoding a function: {e}"))?;
    }
    Ok(code.byte_len() - before)
}

/// Returns the replicated module and the number of copies.
pub fn replicate(wasm: &[u8], min_bytes: usize) -> Result<(Vec<u8>, u32)> {
    let mut pieces = Vec::new();
    let mut types = Vec::new();
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::ImportSection(_) => bail!("functions are imported: not supported"),
            Payload::FunctionSection(reader) => {
                for ty in reader.clone() {
                    types.push(ty?);
                }
                pieces.push(Piece::Functions);
            }
            Payload::CodeSectionStart { .. } => pieces.push(Piece::Code),
            Payload::CodeSectionEntry(body) => bodies.push(body.clone()),
            Payload::CustomSection(_) => {}
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    pieces.push(Piece::Raw(id, usize_range(range)?));
                }
            }
        }
    }
    let num_funcs = u32::try_from(types.len())?;
    if num_funcs == 0 {
        bail!("the module has no code to copy");
    }
    // Re-encoding can shrink bodies (the original may pad LEB128 immediates),
    // so one copy is encoded first to know the size of a copy.
    let copy_bytes = encode_copy(&mut CodeSection::new(), &bodies, 0)?;
    let copies = u32::try_from(min_bytes.div_ceil(copy_bytes.max(1)))?;

    let mut module = wasm_encoder::Module::new();
    for piece in &pieces {
        match piece {
            Piece::Raw(id, range) => {
                module.section(&RawSection {
                    id: *id,
                    data: &wasm[range.clone()],
                });
            }
            Piece::Functions => {
                let mut functions = FunctionSection::new();
                for _ in 0..copies {
                    for &ty in &types {
                        functions.function(ty);
                    }
                }
                module.section(&functions);
            }
            Piece::Code => {
                let mut code = CodeSection::new();
                for copy in 0..copies {
                    encode_copy(&mut code, &bodies, copy * num_funcs)?;
                }
                module.section(&code);
            }
        }
    }
    let bytes = module.finish();
    wasmparser::Validator::new().validate_all(&bytes)?;
    Ok((bytes, copies))
}

#[cfg(test)]
mod tests {
    #[test]
    fn replicated_module_is_valid_and_large_enough() {
        let wasm = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1)
                 (func $a (param i32) (result i32) local.get 0 call $b)
                 (func $b (param i32) (result i32) local.get 0 i32.const 1 i32.add)
                 (func (export "run") (result i64) i32.const 41 call $a i64.extend_i32_u))"#,
        )
        .unwrap();
        let (big, copies) = super::replicate(&wasm, 10_000).unwrap();
        assert!(big.len() >= 10_000);
        assert!(copies > 1);
    }
}
