//! `vibewasmc inspect --elf OUT.o`: an artifact's code section as an ELF
//! relocatable object of its target (x86-64 or aarch64), so that `objdump -d OUT.o` disassembles it
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
//! | `vibewasm_trampoline_host_entry` | the host entry trampoline |
//! | `vibewasm_trap_path` | the shared trap path after it (trap stubs and faults end there) |
//!
//! A function's range includes its trap stubs (the site number in the
//! trap-site register and a jump to the trap path; the format keeps no
//! table of stub addresses). All
//! symbols are local: names need not be unique (a name section may repeat
//! one), and the object is for reading, not linking.

use std::path::Path;

use object::write::{Object, StandardSection, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};
use vibewasm_format::{self as format, Arch, ImportKind, Metadata, Tables};

use crate::Failure;

/// One symbol of the object: `name` covers `[offset, offset + size)` of the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSymbol {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The symbols for a code section of `code_len` bytes described by `meta`
/// and `tables` (code ranges outside the code are left out).
pub fn code_symbols(meta: &Metadata, tables: &Tables<'_>, code_len: u64) -> Vec<CodeSymbol> {
    let mut symbols = Vec::new();
    let mut imports = meta.imports.iter().filter_map(|i| match i.kind {
        ImportKind::Func(_) => Some((&i.module, &i.name)),
        _ => None,
    });
    let num_funcs = tables.num_functions() as u32;
    let mut starts: Vec<u64> = Vec::with_capacity(num_funcs as usize + 1);
    for index in 0..num_funcs {
        let import = imports.next();
        let Some(range) = tables.checked_function(index, code_len) else {
            continue;
        };
        let name = match (tables.func_name(index).filter(|n| !n.is_empty()), import) {
            (Some(name), _) => name.to_string(),
            (None, Some((module, field))) => format!("wasm_import_{module}.{field}"),
            (None, None) => format!("wasm_func_{index}"),
        };
        starts.push(range.offset.into());
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
        starts.push(t.trap_path.into());
        for (name, start) in [
            ("vibewasm_trampoline_host_entry", t.host_entry),
            ("vibewasm_trap_path", t.trap_path),
        ] {
            let start = u64::from(start);
            symbols.push(CodeSymbol {
                name: name.into(),
                offset: start,
                size: next_start(start, &starts).saturating_sub(start),
            });
        }
    }
    symbols
}

/// An ELF relocatable object for `arch` with `code` as its `.text` section
/// and `symbols` in it.
pub fn elf_object(
    arch: Arch,
    code: &[u8],
    symbols: &[CodeSymbol],
    file_name: &str,
) -> Result<Vec<u8>, String> {
    let architecture = match arch {
        Arch::X86_64 => Architecture::X86_64,
        Arch::Aarch64 => Architecture::Aarch64,
    };
    let mut obj = Object::new(BinaryFormat::Elf, architecture, Endianness::Little);
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

/// `inspect --elf OUT INPUT`: checks the artifact (for its own target and
/// any CPU: the code is only read), writes the object to `output` and says
/// what it holds (`aarch64-linux-gnu-objdump -d` disassembles aarch64).
pub fn cmd_inspect_elf(input: &Path, output: &Path) -> Result<(), Failure> {
    let bytes = crate::read(input)?;
    let at_input = |e: format::FormatError| format!("{}: {e}", input.display());
    let header = format::Header::decode(&bytes).map_err(at_input)?;
    // Disassembling needs no CPU feature: accept whatever the code uses.
    let view = format::read_artifact_for(&bytes, header.target, u64::MAX).map_err(at_input)?;
    let symbols = code_symbols(&view.metadata, &view.tables, view.code.len() as u64);
    let file_name = input.file_name().unwrap_or_default().to_string_lossy();
    let object = elf_object(header.target.arch, view.code, &symbols, &file_name)?;
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
    use vibewasm_format::{CodeRange, Import, SiteTables, Trampolines};

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
            trampolines: Some(Trampolines {
                host_entry: 0,
                trap_path: 0x20,
            }),
            ..Metadata::default()
        };
        let (bytes, ranges) = format::encode_tables(&SiteTables {
            functions: vec![range(0x40, 0x20), range(0x60, 0x40), range(0xa0, 0x30)],
            func_names: vec![(1, "fib".into()), (2, String::new())],
            ..SiteTables::default()
        })
        .unwrap();
        let tables = Tables::new(&bytes, &ranges).unwrap();
        let symbols = code_symbols(&meta, &tables, 0xd0);
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
                sym("vibewasm_trampoline_host_entry", 0, 0x20),
                sym("vibewasm_trap_path", 0x20, 0x20),
            ]
        );
        let object = elf_object(Arch::X86_64, &[0xc3; 0xd0], &symbols, "m.vwa").unwrap();
        assert_eq!(&object[..4], b"\x7fELF");
        // e_machine: EM_X86_64 (62), EM_AARCH64 (183).
        assert_eq!(u16::from_le_bytes([object[18], object[19]]), 62);
        let object = elf_object(Arch::Aarch64, &[0; 0xd0], &symbols, "m.vwa").unwrap();
        assert_eq!(u16::from_le_bytes([object[18], object[19]]), 183);
    }
}
