//! `cargo fuzz run csv`: see `synops::fuzzing::Target::Csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Csv, data);
});
