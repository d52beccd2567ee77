//! `include/vibewasm.h` is generated from the crate's source by cbindgen
//! (configured by `cbindgen.toml`) and checked in; this test regenerates it
//! in memory and fails if the checked-in file differs.
//!
//! To regenerate it: `VIBEWASM_BLESS=1 cargo test -p vibewasm-capi --test header`.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = dir.join("include/vibewasm.h");
    if std::env::var_os("VIBEWASM_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/vibewasm.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || checked_in.lines().count().min(generated.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "capi/include/vibewasm.h is stale (first difference at line {line}): \
             the C API's Rust source changed. Regenerate it with\n\n    \
             VIBEWASM_BLESS=1 cargo test -p vibewasm-capi --test header\n\n\
             and commit the result."
        );
    }
}
