//! Guard-page faults in hand-written code: an access at a fault site that
//! lands in its memory's reservation becomes an "out of bounds" trap; one
//! whose address lies outside every memory reservation (what a miscompile
//! would do) aborts the process with a message instead of becoming a trap.
//!
//! The code follows the conventions of `x86_64.rs`: the "trampoline" is
//! `jmp *%rdx`, each function is a C function `(vmctx, argv) -> u32`, and
//! the trap path records the site number the handler put in `esi` in the
//! runtime state and returns 1.

use std::sync::Arc;

use vibewasm_format::vmctx::{
    MEMORY0, MEMORY_DEF_BASE, RUNTIME, RUNTIME_TRAP_SITE, RUNTIME_TRAP_VMCTX,
};
use vibewasm_format::{
    CodeRange, Export, ExternKind, FaultSite, MemoryType, Metadata, SiteTables, Trampolines,
    TrapCode, ValType,
};

use super::asm::*;
use super::{func_type, load_with};
use crate::{Artifact, Error, Linker, Val};

/// The artifact: `load_mem(addr)` reads byte `addr` of memory 0 and
/// `load_abs(addr)` reads the byte at absolute address `addr`, each one
/// unchecked access listed as a fault site whose stub traps with "out of
/// bounds memory access".
fn artifact() -> Arc<Artifact> {
    let mut a = Asm::default();
    a.jmp_reg(RDX); // the "trampoline"

    // 0: load_mem: movzbl (base,%rcx),%eax with rcx = the zero-extended arg.
    let load_mem = a.align();
    a.load(RAX, RDI, MEMORY0);
    a.load(RAX, RAX, MEMORY_DEF_BASE);
    a.load32(RCX, RSI, 0);
    let mem_site = a.offset();
    a.raw(&[0x0f, 0xb6, 0x04, 0x08]); // movzbl (%rax,%rcx),%eax
    let mem_site_end = a.offset();
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]); // xor %eax,%eax
    a.ret();

    // 1: load_abs: movzbl (%rcx),%eax, an address outside any memory.
    let load_abs = a.align();
    a.load32(RCX, RSI, 0);
    let abs_site = a.offset();
    a.raw(&[0x0f, 0xb6, 0x01]); // movzbl (%rcx),%eax
    let abs_site_end = a.offset();
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]); // xor %eax,%eax
    a.ret();
    let end = a.align();

    // The shared trap path: the fault handler resumes here with the
    // site's number in esi.
    let trap_path = a.align();
    a.load(RAX, RDI, RUNTIME);
    a.store32(RAX, RUNTIME_TRAP_SITE, RSI);
    a.store(RAX, RUNTIME_TRAP_VMCTX, RDI);
    a.mov_imm32(RAX, 1);
    a.ret();

    let site = |start, end: u32, wasm_offset| FaultSite {
        start,
        len: (end - start) as u8,
        wasm_offset,
        code: TrapCode::MemoryOutOfBounds,
    };
    let export = |name: &str, index| Export {
        name: name.into(),
        kind: ExternKind::Func,
        index,
    };
    let metadata = Metadata {
        types: vec![func_type(&[ValType::I32], &[ValType::I32])],
        func_types: vec![0, 0],
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: Some(1),
        }],
        exports: vec![export("load_mem", 0), export("load_abs", 1)],
        trampolines: Some(Trampolines {
            host_entry: 0,
            trap_path,
        }),
        ..Metadata::default()
    };
    let tables = SiteTables {
        functions: vec![
            CodeRange {
                offset: load_mem,
                len: load_abs - load_mem,
                frame_size: 8,
            },
            CodeRange {
                offset: load_abs,
                len: end - load_abs,
                frame_size: 8,
            },
        ],
        fault_sites: vec![
            site(mem_site, mem_site_end, 0x20),
            site(abs_site, abs_site_end, 0x21),
        ],
        ..SiteTables::default()
    };
    load_with(&metadata, &tables, &a.finish())
}

fn load_byte(name: &str, address: u32) -> Result<Vec<Val>, Error> {
    let mut instance = Linker::new().instantiate_artifact(&artifact()).unwrap();
    instance.call(name, &[Val::I32(address as i32)])
}

#[test]
fn a_fault_inside_the_reservation_is_a_trap() {
    assert_eq!(load_byte("load_mem", 65535).unwrap(), vec![Val::I32(0)]);
    for address in [65536, 65537, 0x1000_0000, u32::MAX] {
        match load_byte("load_mem", address) {
            Err(Error::Trap(trap)) => {
                assert_eq!(trap.code, TrapCode::MemoryOutOfBounds, "{address:#x}");
                // From the fault site's record, found by the faulting pc.
                assert_eq!((trap.func, trap.wasm_offset), (Some(0), Some(0x20)));
            }
            other => panic!("{address:#x}: expected a trap, got {other:?}"),
        }
    }
}

/// Set in the child process of the abort test.
const CHILD_ENV: &str = "VIBEWASM_FAULT_SITES_CHILD";

/// A fault at a fault site outside every memory reservation is no wasm
/// trap but a code generation bug: the handler says so on stderr and
/// aborts (as wasmtime does), rather than resuming at the trap stub.
#[test]
fn a_fault_site_outside_every_reservation_aborts() {
    if std::env::var_os(CHILD_ENV).is_some() {
        // No core file for the expected abort.
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit with a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
        // Address 16: mapped by no one, and in no memory's reservation.
        let result = load_byte("load_abs", 16);
        eprintln!("the handler let the call go on: {result:?}");
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::fault_sites::a_fault_site_outside_every_reservation_aborts",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("outside every linear memory reservation"),
        "{stderr}"
    );
    assert!(stderr.contains("address 0x10"), "{stderr}");
    assert!(
        !stderr.contains("the handler let the call go on"),
        "{stderr}"
    );
}
