//! The machine an artifact's code was compiled for, and what the compiler
//! assumed about it.

use crate::prelude::*;
/// Instruction set architecture. Stored as one byte in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Arch {
    X86_64 = 1,
    Aarch64 = 2,
}

/// Operating system (it decides the C calling convention of helpers). One byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Os {
    Linux = 1,
    MacOs = 2,
}

/// CPU features bit set (header field `cpu_features`). A bit is set when the
/// code uses instructions that need that feature; the loader refuses the
/// artifact on a CPU that lacks any of them.
pub mod cpu {
    use super::*;

    /// x86-64 `LZCNT` (SLJIT emits it for `clz` when the compiling host has it).
    pub const LZCNT: u64 = 1 << 0;
    /// x86-64 BMI1 `TZCNT` (SLJIT emits it for `ctz` when the compiling host has it).
    pub const BMI1: u64 = 1 << 1;
    /// x86-64 `POPCNT`.
    pub const POPCNT: u64 = 1 << 2;
    /// x86-64 SSE4.1 (`roundsd`, SIMD).
    pub const SSE41: u64 = 1 << 3;
    /// x86-64 SSE4.2 (`pcmpgtq`, for `i64x2` comparisons).
    pub const SSE42: u64 = 1 << 4;

    /// What a named x86-64 target (`x86_64-linux`) may use: x86-64-v2's
    /// SSE4.1, SSE4.2 and POPCNT (with SSSE3, which every SSE4.1 CPU has),
    /// which every x86-64 CPU since about 2009 has. SIMD code needs
    /// SSE4.1; the `i64x2` comparisons SSE4.2.
    pub const X86_64_BASELINE: u64 = SSE41 | SSE42 | POPCNT;

    /// The bit of a feature's name (as [`names`] prints it).
    pub fn by_name(name: &str) -> Option<u64> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(bit, _)| *bit)
    }

    const NAMES: [(u64, &str); 5] = [
        (LZCNT, "lzcnt"),
        (BMI1, "bmi1"),
        (POPCNT, "popcnt"),
        (SSE41, "sse4.1"),
        (SSE42, "sse4.2"),
    ];

    /// Human-readable names of the bits in `features`, for error messages.
    pub fn names(features: u64) -> String {
        let mut out: Vec<String> = NAMES
            .iter()
            .filter(|(bit, _)| features & bit != 0)
            .map(|(_, name)| (*name).to_string())
            .collect();
        let unknown = features & !NAMES.iter().fold(0, |acc, (bit, _)| acc | bit);
        if unknown != 0 {
            out.push(format!("unknown({unknown:#x})"));
        }
        if out.is_empty() {
            "none".to_string()
        } else {
            out.join(",")
        }
    }

    /// The features of [`super::cpu`] that the CPU running this process has.
    /// Without the `std` feature (no operating system to ask), the features
    /// this crate was compiled to assume (`-C target-feature`): a CPU
    /// running this code has at least those.
    pub fn host_features() -> u64 {
        #[allow(unused_mut)]
        let mut features = 0;
        #[cfg(target_arch = "x86_64")]
        {
            #[cfg(feature = "std")]
            let has = [
                std::is_x86_feature_detected!("lzcnt"),
                std::is_x86_feature_detected!("bmi1"),
                std::is_x86_feature_detected!("popcnt"),
                std::is_x86_feature_detected!("sse4.1") && std::is_x86_feature_detected!("ssse3"),
                std::is_x86_feature_detected!("sse4.2"),
            ];
            #[cfg(not(feature = "std"))]
            let has = [
                cfg!(target_feature = "lzcnt"),
                cfg!(target_feature = "bmi1"),
                cfg!(target_feature = "popcnt"),
                cfg!(target_feature = "sse4.1") && cfg!(target_feature = "ssse3"),
                cfg!(target_feature = "sse4.2"),
            ];
            for (bit, present) in [LZCNT, BMI1, POPCNT, SSE41, SSE42].into_iter().zip(has) {
                if present {
                    features |= bit;
                }
            }
        }
        features
    }
}

/// What an artifact's code needs from the machine that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub arch: Arch,
    pub os: Os,
    /// Pointer width in bytes (8 on every supported target).
    pub pointer_width: u8,
    /// Required CPU features, a set of [`cpu`] bits.
    pub cpu_features: u64,
}

impl Target {
    /// The target of the running process, with no CPU features required.
    /// `None` when vibewasm does not support this machine.
    pub fn host() -> Option<Target> {
        let arch = if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            return None;
        };
        // Bare metal (`target_os = "none"`, the loader's no_std core) runs
        // Linux artifacts: what the header's OS decides is the calling
        // convention and the registers code may use, and bare-metal x86-64
        // and aarch64 follow Linux's (System V, AAPCS64); code compiled
        // with explicit bounds checks asks nothing else of an OS (a loader
        // without `std` refuses guard-page code).
        let os = if cfg!(any(target_os = "linux", target_os = "none")) {
            Os::Linux
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else {
            return None;
        };
        Some(Target {
            arch,
            os,
            pointer_width: core::mem::size_of::<usize>() as u8,
            cpu_features: 0,
        })
    }
}

impl Target {
    /// A target by name: `x86_64-linux` or `aarch64-linux` (Rust's
    /// `x86_64-unknown-linux-gnu` and `aarch64-unknown-linux-gnu` too),
    /// with the CPU features every such machine has ([`cpu::X86_64_BASELINE`];
    /// none on aarch64, whose code needs nothing beyond ARMv8.0-A).
    pub fn by_name(name: &str) -> Option<Target> {
        let arch = match name {
            "x86_64-linux" | "x86_64-unknown-linux-gnu" => Arch::X86_64,
            "aarch64-linux" | "aarch64-unknown-linux-gnu" => Arch::Aarch64,
            _ => return None,
        };
        Some(Target::baseline(arch, Os::Linux))
    }

    /// `arch` on `os` with the features every such machine has.
    pub fn baseline(arch: Arch, os: Os) -> Target {
        Target {
            arch,
            os,
            pointer_width: 8,
            cpu_features: match arch {
                Arch::X86_64 => cpu::X86_64_BASELINE,
                Arch::Aarch64 => 0,
            },
        }
    }

    /// The target's name, as [`Target::by_name`] takes it.
    pub fn name(&self) -> String {
        format!("{}-{}", arch_name(self.arch as u8), os_name(self.os as u8))
    }
}

pub(crate) fn arch_name(byte: u8) -> String {
    match byte {
        1 => "x86_64".into(),
        2 => "aarch64".into(),
        other => format!("unknown({other})"),
    }
}

pub(crate) fn os_name(byte: u8) -> String {
    match byte {
        1 => "linux".into(),
        2 => "macos".into(),
        other => format!("unknown({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_features_by_name() {
        for name in ["x86_64-linux", "x86_64-unknown-linux-gnu"] {
            let t = Target::by_name(name).unwrap();
            assert_eq!(
                (t.arch, t.os, t.pointer_width),
                (Arch::X86_64, Os::Linux, 8)
            );
            assert_eq!(t.cpu_features, cpu::SSE41 | cpu::SSE42 | cpu::POPCNT);
            assert_eq!(t.name(), "x86_64-linux");
        }
        let a = Target::by_name("aarch64-unknown-linux-gnu").unwrap();
        assert_eq!(
            (a.arch, a.cpu_features, a.name().as_str()),
            (Arch::Aarch64, 0, "aarch64-linux")
        );
        assert_eq!(Target::by_name("riscv64-linux"), None);
        assert_eq!(cpu::by_name("lzcnt"), Some(cpu::LZCNT));
        assert_eq!(cpu::by_name("sse4.1"), Some(cpu::SSE41));
        assert_eq!(cpu::by_name("sse4.2"), Some(cpu::SSE42));
        assert_eq!(cpu::by_name("avx512"), None);
    }
}
