//! `vibewasmc inspect --elf OUT.o`: an artifact's code section as an x86-64
//! ELF relocatable object, so that `objdump -d OUT.o` disassembles it
//! function by function.
//!
//! The object has one `.text` section holding the code section's bytes
//! unchanged (section offset = code offset, so addresses in the disassembly
//! are the offsets `inspect` prints) and one local `STT_FUNC` symbol, with a
//! size, for every piece of code the metadata locates:
//!
//! | symbol | code |
//! |---|---|
//! | the name-section name, else `wasm_func_N` | defined function `N` (its range includes its trap stubs) |
//! | the name-section name, else `wasm_import_MODULE.NAME` | the stub of an imported function |
//! | `vibewasm_trampoline_host_entry` | the host entry trampoline and the shared trap exit after it |
//! | `vibewasm_trap_N_KIND` | the out-of-line stub of trap site `N` (e.g. `vibewasm_trap_3_integer_divide_by_zero`) |
//!
//! Trap stubs lie inside their function's range, so their symbols overlap
//! the function's; `objdump` labels both, and a branch to a stub shows the
//! stub's name. All symbols are local: names need not be unique (a name
//! section may repeat one), and the object is for reading, not linking.

use std::path::Path;

use object::write::{Object, StandardSection, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};
use vibewasm_format::{self as format, Arch, ImportKind, Metadata};

use crate::Failure;

/// One symbol of the object: `name` covers `[offset, offset + size)` of the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSymbol {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The symbols for a code section of `code_len` bytes described by `meta`
/// (which `read_artifact` validated: every offset is inside the code).
pub fn code_symbols(meta: &Metadata, code_len: u64) -> Vec<CodeSymbol> {
    let mut symbols = Vec::new();
    let mut imports = meta.imports.iter().filter_map(|i| match i.kind {
        ImportKind::Func(_) => Some((&i.module, &i.name)),
        _ => None,
    });
    let mut func_starts: Vec<u64> = Vec::with_capacity(meta.functions.len());
    for (index, range) in (0u32..).zip(&meta.functions) {
        let import = imports.next();
        let name = match (meta.func_name(index).filter(|n| !n.is_empty()), import) {
            (Some(name), _) => name.to_string(),
            (None, Some((module, field))) => format!("wasm_import_{module}.{field}"),
            (None, None) => format!("wasm_func_{index}"),
        };
        func_starts.push(range.offset.into());
        symbols.push(CodeSymbol {
            name,
            offset: range.offset.into(),
            size: range.len.into(),
        });
    }
    // The metadata gives where the trampoline starts; it ends where the
    // next function does (it is emitted first, followed by the trap exit).
    let next_start = |after: u64, starts: &[u64]| {
        starts
            .iter()
            .copied()
            .filter(|&s| s > after)
            .min()
            .unwrap_or(code_len)
    };
    if let Some(t) = &meta.trampolines {
        let start = u64::from(t.host_entry);
        symbols.push(CodeSymbol {
            name: "vibewasm_trampoline_host_entry".into(),
            offset: start,
            size: next_start(start, &func_starts) - start,
        });
    }
    // A trap stub ends where the next stub starts or its function ends.
    let mut stubs: Vec<u64> = meta.traps.iter().map(|t| t.code_offset.into()).collect();
    stubs.sort_unstable();
    for (site, trap) in meta.traps.iter().enumerate() {
        let start = u64::from(trap.code_offset);
        let Some(range) = meta.functions.get(trap.func as usize) else {
            continue;
        };
        let (func_start, func_end) = (
            u64::from(range.offset),
            u64::from(range.offset) + u64::from(range.len),
        );
        // A site raised only by faults has no stub: it resumes at the
        // shared trap path, outside its function.
        if !(func_start..func_end).contains(&start) {
            continue;
        }
        let end = next_start(start, &stubs).min(func_end);
        let kind = trap.code.message().replace(' ', "_");
        symbols.push(CodeSymbol {
            name: format!("vibewasm_trap_{site}_{kind}"),
            offset: start,
            size: end - start,
        });
    }
    symbols
}

/// An x86-64 ELF relocatable object with `code` as its `.text` section and
/// `symbols` in it.
pub fn elf_object(code: &[u8], symbols: &[CodeSymbol], file_name: &str) -> Result<Vec<u8>, String> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    obj.add_file_symbol(file_name.as_bytes().to_vec());
    let text = obj.section_id(StandardSection::Text);
    obj.section_mut(text).set_data(code.to_vec(), 16);
    for symbol in symbols {
        obj.add_symbol(Symbol {
            // Wasm names are UTF-8 and may contain NUL, which ends an ELF name.
            name: symbol.name.replace('\0', "?").into_bytes(),
            value: symbol.offset,
            size: symbol.size,
            kind: SymbolKind::Text,
            scope: SymbolScope::Compilation,
            weak: false,
            section: SymbolSection::Section(text),
            flags: SymbolFlags::None,
        });
    }
    obj.write()
        .map_err(|e| format!("cannot build the ELF object: {e}"))
}

/// `inspect --elf OUT INPUT`: checks the artifact (for any x86-64 CPU: the
/// code is only read), writes the object to `output` and says what it holds.
pub fn cmd_inspect_elf(input: &Path, output: &Path) -> Result<(), Failure> {
    let bytes = crate::read(input)?;
    let at_input = |e: format::FormatError| format!("{}: {e}", input.display());
    let header = format::Header::decode(&bytes).map_err(at_input)?;
    if header.target.arch != Arch::X86_64 {
        return Err(format!(
            "{}: --elf writes x86-64 objects; this artifact is for {:?}",
            input.display(),
            header.target.arch
        )
        .into());
    }
    // Disassembling needs no CPU feature: accept whatever the code uses.
    let view = format::read_artifact_for(&bytes, header.target, u64::MAX).map_err(at_input)?;
    let symbols = code_symbols(&view.metadata, view.code.len() as u64);
    let file_name = input.file_name().unwrap_or_default().to_string_lossy();
    let object = elf_object(view.code, &symbols, &file_name)?;
    crate::write_atomically(output, &object)?;
    println!(
        "wrote {}: .text of {} bytes, {} symbols (objdump -d {0})",
        output.display(),
        view.code.len(),
        symbols.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vibewasm_format::{CodeRange, Import, Trampolines, TrapCode, TrapSite};

    fn range(offset: u32, len: u32) -> CodeRange {
        CodeRange {
            offset,
            len,
            frame_size: 0,
        }
    }

    #[test]
    fn every_piece_of_code_gets_a_sized_symbol() {
        let meta = Metadata {
            imports: vec![Import {
                module: "env".into(),
                name: "log".into(),
                kind: ImportKind::Func(0),
            }],
            functions: vec![range(0x40, 0x20), range(0x60, 0x40), range(0xa0, 0x30)],
            trampolines: Some(Trampolines { host_entry: 0 }),
            traps: vec![
                TrapSite {
                    code_offset: 0x90,
                    func: 1,
                    wasm_offset: 7,
                    code: TrapCode::Unreachable,
                },
                TrapSite {
                    code_offset: 0x98,
                    func: 1,
                    wasm_offset: 9,
                    code: TrapCode::StackOverflow,
                },
            ],
            func_names: vec![(1, "fib".into()), (2, String::new())],
            ..Metadata::default()
        };
        let symbols = code_symbols(&meta, 0xd0);
        let sym = |name: &str, offset, size| CodeSymbol {
            name: name.into(),
            offset,
            size,
        };
        assert_eq!(
            symbols,
            [
                sym("wasm_import_env.log", 0x40, 0x20),
                sym("fib", 0x60, 0x40),
                sym("wasm_func_2", 0xa0, 0x30),
                sym("vibewasm_trampoline_host_entry", 0, 0x40),
                sym("vibewasm_trap_0_unreachable", 0x90, 8),
                sym("vibewasm_trap_1_call_stack_exhausted", 0x98, 8),
            ]
        );
        let object = elf_object(&[0xc3; 0xd0], &symbols, "m.vwa").unwrap();
        assert_eq!(&object[..4], b"\x7fELF");
    }
}
