//! Loader fuzzing with hostile artifacts. An input that starts with the
//! artifact magic is an artifact (the seed corpus holds real ones, see
//! `write_seed_corpus`): it is checked as is, then with the checksum
//! re-fixed, then with the file length and checksum re-fixed, so that
//! libFuzzer's mutations reach the structural checks. Any other input
//! drives the test suite's mutator over the built-in seeds. A panic, crash
//! or hang is a bug. See `../common/hostile.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/hostile.rs"]
#[allow(dead_code)]
mod hostile;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(&vibewasm_format::MAGIC) {
        hostile::check(data);
        hostile::check(&hostile::refix_checksum(data.to_vec()));
        hostile::check(&hostile::refix_length_and_checksum(data.to_vec()));
    } else if data.len() >= 8 {
        let seeds = hostile::seeds();
        let n = u64::from_le_bytes(data[..8].try_into().unwrap());
        let seed = &seeds[(n % seeds.len() as u64) as usize];
        let bytes = hostile::mutate(&seed.bytes, &mut hostile::Mutator::new(n));
        hostile::check(&bytes);
    }
});
