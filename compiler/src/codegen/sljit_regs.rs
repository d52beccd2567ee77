//! SLJIT's register numbers for each target the compiler generates code
//! for.
//!
//! `sljit-sys` 0.4.0 ships bindings (`src/wrapper.rs`) generated once, for
//! x86-64: its register constants (`SLJIT_S0 = 13`, `SLJIT_SP = 14`, ...)
//! are what SLJIT's C headers say for x86-64 only. SLJIT numbers the
//! scratch registers up from 1 (`R(i) = 1 + i`) and the saved registers
//! down from the number of registers (`S(i) = NUMBER_OF_REGISTERS - i`),
//! so on aarch64, where that number is 26 instead of 13, every `S*` and
//! `SP` differ (float registers likewise: `FS(i) = NUMBER_OF_FLOAT_REGISTERS
//! - i`). Of the 114 `SLJIT_*` constants the compiler uses today, only
//! `SLJIT_S0..S5` and `SLJIT_SP` differ between the two targets (checked
//! with SLJIT's headers and both compilers); everything else (operations,
//! flags, argument types, `R*`, `FR*`) has the same value.
//!
//! Code generation keeps naming registers with the bindings' (x86-64)
//! constants; `crate::sljit::Backend` renumbers them for the target with
//! [`SljitRegs::for_arch`]. The test below checks every value against
//! SLJIT's C headers for both targets, by compiling a few constants with
//! each target's C compiler.

use vibewasm_format::Arch;

/// The register numbers SLJIT uses for one target (its `SLJIT_*` macros).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SljitRegs {
    /// `SLJIT_NUMBER_OF_REGISTERS`: general registers usable as `R*`/`S*`.
    pub number_of_registers: i32,
    /// `SLJIT_NUMBER_OF_SAVED_REGISTERS`: callee-saved ones among them.
    pub number_of_saved_registers: i32,
    /// `SLJIT_NUMBER_OF_SCRATCH_REGISTERS`.
    pub number_of_scratch_registers: i32,
    /// `SLJIT_NUMBER_OF_FLOAT_REGISTERS`.
    pub number_of_float_registers: i32,
    /// `SLJIT_NUMBER_OF_SAVED_FLOAT_REGISTERS`.
    pub number_of_saved_float_registers: i32,
    /// `SLJIT_NUMBER_OF_SCRATCH_FLOAT_REGISTERS`.
    pub number_of_scratch_float_registers: i32,
    /// `SLJIT_R0..SLJIT_R6`, the scratch registers the compiler names.
    pub r: [i32; 7],
    /// `SLJIT_S0..SLJIT_S5`, the saved registers the compiler names.
    pub s: [i32; 6],
    /// `SLJIT_SP`.
    pub sp: i32,
    /// `SLJIT_FIRST_SAVED_REG`.
    pub first_saved_reg: i32,
    /// `SLJIT_FR0`; `FR(i) = FR0 + i`.
    pub fr0: i32,
    /// `SLJIT_FS0`; `FS(i) = FS0 - i`.
    pub fs0: i32,
    /// `SLJIT_FIRST_SAVED_FLOAT_REG`.
    pub first_saved_float_reg: i32,
}

/// x86-64 System V (`SLJIT_CONFIG_X86_64`, not Windows): what the
/// `sljit-sys` bindings hold.
pub(crate) const X86_64: SljitRegs = SljitRegs {
    number_of_registers: 13,
    number_of_saved_registers: 6,
    number_of_scratch_registers: 7,
    number_of_float_registers: 15,
    number_of_saved_float_registers: 0,
    number_of_scratch_float_registers: 15,
    r: [1, 2, 3, 4, 5, 6, 7],
    s: [13, 12, 11, 10, 9, 8],
    sp: 14,
    first_saved_reg: 8,
    fr0: 1,
    fs0: 15,
    first_saved_float_reg: 16,
};

/// aarch64 (`SLJIT_CONFIG_ARM_64`).
pub(crate) const AARCH64: SljitRegs = SljitRegs {
    number_of_registers: 26,
    number_of_saved_registers: 10,
    number_of_scratch_registers: 16,
    number_of_float_registers: 30,
    number_of_saved_float_registers: 8,
    number_of_scratch_float_registers: 22,
    r: [1, 2, 3, 4, 5, 6, 7],
    s: [26, 25, 24, 23, 22, 21],
    sp: 27,
    first_saved_reg: 17,
    fr0: 1,
    fs0: 30,
    first_saved_float_reg: 23,
};

impl SljitRegs {
    /// The table for `arch`.
    pub(crate) const fn for_arch(arch: Arch) -> &'static SljitRegs {
        match arch {
            Arch::X86_64 => &X86_64,
            Arch::Aarch64 => &AARCH64,
        }
    }

    /// `SLJIT_FR(n)`.
    #[cfg(test)]
    const fn fr(&self, n: i32) -> i32 {
        self.fr0 + n
    }

    /// `SLJIT_FS(n)`.
    #[cfg(test)]
    const fn fs(&self, n: i32) -> i32 {
        self.fs0 - n
    }

    /// The table as `(SLJIT macro name, value)` pairs, as the C headers
    /// name them.
    #[cfg(test)]
    fn named(&self) -> Vec<(String, i32)> {
        let mut out = vec![
            ("SLJIT_NUMBER_OF_REGISTERS".into(), self.number_of_registers),
            (
                "SLJIT_NUMBER_OF_SAVED_REGISTERS".into(),
                self.number_of_saved_registers,
            ),
            (
                "SLJIT_NUMBER_OF_SCRATCH_REGISTERS".into(),
                self.number_of_scratch_registers,
            ),
            (
                "SLJIT_NUMBER_OF_FLOAT_REGISTERS".into(),
                self.number_of_float_registers,
            ),
            (
                "SLJIT_NUMBER_OF_SAVED_FLOAT_REGISTERS".into(),
                self.number_of_saved_float_registers,
            ),
            (
                "SLJIT_NUMBER_OF_SCRATCH_FLOAT_REGISTERS".into(),
                self.number_of_scratch_float_registers,
            ),
            ("SLJIT_SP".into(), self.sp),
            ("SLJIT_FIRST_SAVED_REG".into(), self.first_saved_reg),
            ("SLJIT_FR0".into(), self.fr0),
            ("SLJIT_FS0".into(), self.fs0),
            (
                "SLJIT_FIRST_SAVED_FLOAT_REG".into(),
                self.first_saved_float_reg,
            ),
        ];
        out.extend((0..).zip(self.r).map(|(i, v)| (format!("SLJIT_R{i}"), v)));
        out.extend((0..).zip(self.s).map(|(i, v)| (format!("SLJIT_S{i}"), v)));
        // A few float registers past the first, through the C macros.
        for n in [1, 7] {
            out.push((format!("SLJIT_FR({n})"), self.fr(n)));
            out.push((format!("SLJIT_FS({n})"), self.fs(n)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sljit_sys as sys;

    /// The x86-64 table is what the bindings hold.
    #[test]
    fn x86_64_table_matches_the_bindings() {
        let t = &X86_64;
        assert_eq!(
            t.r,
            [
                sys::SLJIT_R0,
                sys::SLJIT_R1,
                sys::SLJIT_R2,
                sys::SLJIT_R3,
                sys::SLJIT_R4,
                sys::SLJIT_R5,
                sys::SLJIT_R6
            ]
        );
        assert_eq!(
            t.s,
            [
                sys::SLJIT_S0,
                sys::SLJIT_S1,
                sys::SLJIT_S2,
                sys::SLJIT_S3,
                sys::SLJIT_S4,
                sys::SLJIT_S5
            ]
        );
        assert_eq!(t.sp, sys::SLJIT_SP);
        assert_eq!(t.fr0, sys::SLJIT_FR0);
        assert_eq!(t.fs0, sys::SLJIT_FS0);
        assert_eq!(t.number_of_registers, sys::SLJIT_NUMBER_OF_REGISTERS);
        assert_eq!(
            t.number_of_float_registers,
            sys::SLJIT_NUMBER_OF_FLOAT_REGISTERS
        );
    }

    /// SLJIT's C sources, as the `sljit-sys` crate cargo built ships them.
    fn sljit_source_dir() -> std::path::PathBuf {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
            .expect("CARGO_HOME or HOME");
        let registry = cargo_home.join("registry").join("src");
        let found = std::fs::read_dir(&registry)
            .into_iter()
            .flatten()
            .flatten()
            .map(|index| index.path().join("sljit-sys-0.4.0/sljit/sljit_src"))
            .find(|dir| dir.join("sljitLir.h").is_file());
        found.unwrap_or_else(|| {
            panic!(
                "SLJIT's headers (sljit-sys-0.4.0/sljit/sljit_src) not found under {}",
                registry.display()
            )
        })
    }

    /// The values of `names` (C constant expressions) as `compiler`
    /// compiles SLJIT's headers with `config` defined: each becomes a
    /// `long` constant, and the assembly (`-S`) says its value (`.quad N`
    /// on x86-64, `.xword N` on aarch64, `.zero 8` for 0). `None` if
    /// `compiler` is not installed.
    fn c_values(compiler: &str, config: &str, names: &[String]) -> Option<Vec<i64>> {
        let dir = std::env::temp_dir().join(format!(
            "vibewasm-sljit-regs-{}-{config}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("regs.c");
        let mut c = String::from("#include \"sljitLir.h\"\n");
        for (i, name) in names.iter().enumerate() {
            c.push_str(&format!(
                "const long vibewasm_value_{i} = (long)({name});\n"
            ));
        }
        std::fs::write(&source, c).unwrap();
        let output = std::process::Command::new(compiler)
            .args(["-S", "-O0", "-w", "-o", "-"])
            .arg(format!("-D{config}=1"))
            .arg("-I")
            .arg(sljit_source_dir())
            .arg(&source)
            .output();
        std::fs::remove_dir_all(&dir).ok();
        let output = match output {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            other => other.unwrap(),
        };
        assert!(
            output.status.success(),
            "{compiler}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let asm = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = asm.lines().collect();
        let values = (0..names.len())
            .map(|i| {
                let label = format!("vibewasm_value_{i}:");
                let at = lines
                    .iter()
                    .position(|l| l.trim() == label)
                    .unwrap_or_else(|| panic!("{label} not in {compiler}'s output"));
                let directive = lines[at + 1].split_whitespace().collect::<Vec<_>>();
                match directive[..] {
                    [".quad" | ".xword" | ".8byte" | ".dword", value] => value.parse().unwrap(),
                    // A zero is emitted as 8 zero bytes.
                    [".zero", "8"] => 0,
                    _ => panic!("unexpected directive for {label} {}", lines[at + 1]),
                }
            })
            .collect();
        Some(values)
    }

    /// The C compiler for `arch`: the host's `cc` on that architecture,
    /// the Debian cross compiler elsewhere.
    fn compiler_for(arch: &str) -> String {
        if std::env::consts::ARCH == arch {
            "cc".into()
        } else {
            format!("{arch}-linux-gnu-gcc")
        }
    }

    fn check(table: &SljitRegs, arch: &str, config: &str) {
        let compiler = compiler_for(arch);
        let named = table.named();
        let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
        let Some(values) = c_values(&compiler, config, &names) else {
            assert_ne!(
                compiler, "cc",
                "the host C compiler (`cc`) builds sljit-sys; it must exist"
            );
            eprintln!(
                "SKIPPED: checking SLJIT's {arch} register numbers needs {compiler} \
                 (.ci/aarch64-setup installs it)"
            );
            return;
        };
        for ((name, ours), theirs) in named.iter().zip(values) {
            assert_eq!(i64::from(*ours), theirs, "{arch}: {name}");
        }
    }

    #[test]
    fn x86_64_table_matches_sljit_headers() {
        check(&X86_64, "x86_64", "SLJIT_CONFIG_X86_64");
    }

    #[test]
    fn aarch64_table_matches_sljit_headers() {
        check(&AARCH64, "aarch64", "SLJIT_CONFIG_ARM_64");
    }

    #[test]
    fn tables_by_arch() {
        assert_eq!(SljitRegs::for_arch(Arch::X86_64), &X86_64);
        assert_eq!(SljitRegs::for_arch(Arch::Aarch64), &AARCH64);
        // What differs: the saved registers and SP, not the scratch ones.
        assert_eq!(X86_64.r, AARCH64.r);
        assert_ne!(X86_64.s, AARCH64.s);
        assert_eq!(AARCH64.s[0], 26);
    }
}
