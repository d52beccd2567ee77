//! `vibewasmc inspect --elf OUT.o`: the code section as an ELF object with a
//! sized symbol per function, import stub, trampoline and trap stub; read
//! back with the `object` crate and, when it is installed, `objdump -d`.

use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use vibewasm_format::{read_artifact_for, Arch, Os, Target};
use vibewasm_tests::*;

const MODULE: &str = r#"
(module
  (import "env" "log" (func (param i32)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $quot (export "quot") (param i32 i32) (result i32)
    (call 0 (local.get 0))
    (i32.div_s (local.get 0) (local.get 1)))
  (func (export "anonymous") (result i32) (i32.const 7))
)"#;

#[test]
fn x86_64_elf_object_has_the_code_and_a_symbol_per_function() {
    elf_object_has_the_code_and_a_symbol_per_function(Arch::X86_64);
}

#[test]
fn aarch64_elf_object_has_the_code_and_a_symbol_per_function() {
    elf_object_has_the_code_and_a_symbol_per_function(Arch::Aarch64);
}

/// `inspect --elf` of an artifact compiled for `arch` (from any host).
fn elf_object_has_the_code_and_a_symbol_per_function(arch: Arch) {
    let dir = TempDir::new();
    let art = dir.join("m.vwa");
    let target = Target::baseline(arch, Os::Linux);
    let config = Config {
        target: Some(target),
        ..Config::default()
    };
    let artifact = compile_wat_with(MODULE, &config);
    std::fs::write(&art, &artifact).unwrap();
    let obj_path = dir.join("m.o");
    let out = run_cli([
        "inspect".as_ref(),
        "--elf".as_ref(),
        obj_path.as_os_str(),
        art.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "inspect --elf failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let view = read_artifact_for(&artifact, target, u64::MAX).unwrap();
    let meta = &view.metadata;
    let bytes = std::fs::read(&obj_path).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    assert_eq!(file.format(), object::BinaryFormat::Elf);
    let architecture = match arch {
        Arch::X86_64 => object::Architecture::X86_64,
        Arch::Aarch64 => object::Architecture::Aarch64,
    };
    assert_eq!(file.architecture(), architecture);
    let text = file.section_by_name(".text").expect(".text section");
    assert_eq!(text.data().unwrap(), view.code, ".text is the code section");
    assert_eq!(
        file.sections()
            .filter(|s| s.kind() == object::SectionKind::Text)
            .count(),
        1
    );

    let symbol = |name: &str| {
        let found: Vec<_> = file
            .symbols()
            .filter(|s| s.name() == Ok(name))
            .map(|s| {
                assert_eq!(s.kind(), SymbolKind::Text, "{name} is a function");
                assert_eq!(s.section_index(), Some(text.index()), "{name} in .text");
                (s.address(), s.size())
            })
            .collect();
        assert_eq!(found.len(), 1, "one symbol named {name}");
        found[0]
    };
    // Function indices: 0 the import, 1 fib, 2 quot, 3 unnamed.
    let range = |f: usize| {
        let r = view.tables.function(f as u32).unwrap();
        (u64::from(r.offset), u64::from(r.len))
    };
    assert_eq!(symbol("wasm_import_env.log"), range(0));
    assert_eq!(symbol("fib"), range(1));
    assert_eq!(symbol("quot"), range(2));
    assert_eq!(symbol("wasm_func_3"), range(3));
    // The trampoline runs from its entry to the trap path, which runs to
    // the first function.
    let trampolines = meta.trampolines.unwrap();
    let (start, size) = symbol("vibewasm_trampoline_host_entry");
    assert_eq!(start, u64::from(trampolines.host_entry));
    assert_eq!(start + size, u64::from(trampolines.trap_path));
    let (start, size) = symbol("vibewasm_trap_path");
    assert_eq!(start, u64::from(trampolines.trap_path));
    assert_eq!(start + size, range(0).0);
    // quot's division traps through a stub of its own.
    let traps = view.tables.to_owned().traps;
    assert!(traps.iter().any(|t| t.func == 2
        && matches!(
            t.code,
            TrapCode::IntegerDivideByZero | TrapCode::IntegerOverflow
        )));

    // objdump, when installed, disassembles by name: binutils for the
    // target's architecture (Debian's `binutils` depends on the one for its
    // own machine), else plain `objdump` on a machine of that architecture.
    let cross = match arch {
        Arch::X86_64 => "x86_64-linux-gnu-objdump",
        Arch::Aarch64 => "aarch64-linux-gnu-objdump",
    };
    let native = Target::host().map(|t| t.arch) == Some(arch);
    let run = |program: &str| Command::new(program).arg("-d").arg(&obj_path).output();
    let objdump = match run(cross).or_else(|e| if native { run("objdump") } else { Err(e) }) {
        Ok(out) => out,
        Err(e) => {
            eprintln!(
                "SKIPPED the objdump check (the object checks above ran): cannot run {cross}: {e}"
            );
            return;
        }
    };
    assert!(objdump.status.success(), "objdump -d failed");
    let text = String::from_utf8_lossy(&objdump.stdout);
    for name in [
        "vibewasm_trampoline_host_entry",
        "wasm_import_env.log",
        "fib",
        "quot",
        "wasm_func_3",
    ] {
        assert!(
            text.contains(&format!(" <{name}>:")),
            "no {name} in\n{text}"
        );
    }
    // fib's recursive calls name their target.
    let call = match arch {
        Arch::X86_64 => "call",
        Arch::Aarch64 => "\tbl\t",
    };
    assert!(
        text.lines()
            .any(|l| l.contains(call) && l.ends_with("<fib>")),
        "no call to <fib> in\n{text}"
    );
    assert!(
        text.contains("<vibewasm_trap_"),
        "no branch to a trap stub in\n{text}"
    );
}

#[test]
fn inspect_without_elf_prints_the_summary() {
    let dir = TempDir::new();
    let art = dir.join("m.vwa");
    std::fs::write(&art, compile_wat(MODULE)).unwrap();
    let out = run_cli(["inspect".as_ref(), art.as_os_str()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("functions       4"), "{text}");
    assert!(text.contains(" fib "), "{text}");
}

#[test]
fn inspect_elf_refuses_a_non_artifact() {
    let dir = TempDir::new();
    let bogus = dir.join("bogus.vwa");
    std::fs::write(&bogus, b"not an artifact at all").unwrap();
    let obj_path = dir.join("bogus.o");
    let out = run_cli([
        "inspect".as_ref(),
        "--elf".as_ref(),
        obj_path.as_os_str(),
        bogus.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("magic"));
    assert!(!obj_path.exists());
}
