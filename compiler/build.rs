//! Builds SLJIT once per target the compiler generates code for
//! (`sljit/backend.c`), so that one `vibewasmc` cross-compiles: every build
//! can produce x86-64 and aarch64 artifacts, whatever machine it runs on.
//!
//! The SLJIT sources are those of the `sljit-sys` crate (pinned to 0.4.0,
//! whose bindings give the compiler SLJIT's operation and flag constants),
//! found in Cargo's registry, or in `VIBEWASM_SLJIT_SRC` (the crate's
//! `sljit/sljit_src` directory) when the crates are vendored elsewhere.
//! They are copied to `OUT_DIR` with one change: the x86-64 back end's CPU
//! features are fixed (`CPU_FEATURE_DETECTED | CMOV | SSE41`: the
//! x86-64 baseline, whose SSE2 SLJIT assumes, and SSE4.1, which its SIMD
//! operations check for; the compiler uses them only when the target has
//! SSE4.1, see `codegen::simd`) instead of read with CPUID, which ties code to the compiling
//! machine and does not even build on another architecture. The features a
//! target has beyond the baseline are the compiler's business (`Target`).

use std::path::{Path, PathBuf};

const SLJIT_SYS: &str = "sljit-sys-0.4.0";

/// `(SLJIT_CONFIG_* macro, exported table name)` for each target.
const BACKENDS: [(&str, &str); 2] = [
    ("SLJIT_CONFIG_X86_64", "vibewasm_sljit_x86_64"),
    ("SLJIT_CONFIG_ARM_64", "vibewasm_sljit_aarch64"),
];

fn main() {
    println!("cargo:rerun-if-changed=sljit/backend.c");
    println!("cargo:rerun-if-env-changed=VIBEWASM_SLJIT_SRC");
    let source = find_sljit_sources();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("sljit_src");
    copy_patched(&source, &out);
    // SLJIT's own assertions (an abort on a misuse of its API) in debug
    // builds, as sljit-sys builds it.
    let debug = std::env::var("PROFILE").as_deref() == Ok("debug");
    for (config, name) in BACKENDS {
        cc::Build::new()
            .file("sljit/backend.c")
            .include(&out)
            .define(config, "1")
            .define("VW_BACKEND", name)
            .define("SLJIT_DEBUG", if debug { "1" } else { "0" })
            .define("SLJIT_VERBOSE", "0")
            // LSE atomics only when asked for, never because the C
            // compiler's defaults happen to enable them.
            .flag_if_supported("-U__ARM_FEATURE_ATOMICS")
            .warnings(false)
            .compile(name);
    }
}

fn find_sljit_sources() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIBEWASM_SLJIT_SRC") {
        return PathBuf::from(dir);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let registries = cargo_home.join("registry").join("src");
    let found = std::fs::read_dir(&registries).ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| d.path().join(SLJIT_SYS).join("sljit").join("sljit_src"))
            .find(|p| p.join("sljitLir.c").is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the SLJIT sources of {SLJIT_SYS} are not under {}; set VIBEWASM_SLJIT_SRC \
             to that crate's sljit/sljit_src directory",
            registries.display()
        )
    })
}

/// Copies SLJIT's sources to `out`, fixing the x86-64 CPU features.
fn copy_patched(source: &Path, out: &Path) {
    for dir in ["", "allocator_src"] {
        std::fs::create_dir_all(out.join(dir)).unwrap();
        for entry in std::fs::read_dir(source.join(dir)).unwrap().flatten() {
            let path = entry.path();
            if path.is_file() {
                println!("cargo:rerun-if-changed={}", path.display());
                let mut text = std::fs::read_to_string(&path).unwrap();
                if path.file_name().unwrap() == "sljitNativeX86_common.c" {
                    text = fix_x86_cpu_features(&text);
                }
                let target = out.join(dir).join(path.file_name().unwrap());
                if std::fs::read_to_string(&target).ok().as_deref() != Some(&text) {
                    std::fs::write(&target, text).unwrap();
                }
            }
        }
    }
}

/// Replaces everything from CPUID's helper to the end of
/// `get_cpu_features` with a `get_cpu_features` that sets the baseline.
fn fix_x86_cpu_features(text: &str) -> String {
    const FROM: &str = "static void execute_cpu_id(sljit_u32 info[4])";
    const TO: &str = "\tcpu_feature_list = feature_list;\n}\n";
    let start = text
        .find(FROM)
        .expect("sljitNativeX86_common.c: no execute_cpu_id");
    let end = start
        + text[start..]
            .find(TO)
            .expect("sljitNativeX86_common.c: no end of get_cpu_features")
        + TO.len();
    let fixed = "static void get_cpu_features(void)\n{\n\
        \t/* vibewasm: the x86-64 baseline, never the compiling CPU's (compiler/build.rs). */\n\
        \tcpu_feature_list = CPU_FEATURE_DETECTED | CPU_FEATURE_CMOV | CPU_FEATURE_SSE41;\n}\n";
    format!("{}{fixed}{}", &text[..start], &text[end..])
}
