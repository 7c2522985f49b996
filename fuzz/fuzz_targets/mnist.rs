//! `cargo fuzz run mnist`: see `synops::fuzzing::Target::Mnist`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Mnist, data);
});
