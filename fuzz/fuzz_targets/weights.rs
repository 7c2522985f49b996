//! `cargo fuzz run weights`: see `synops::fuzzing::Target::Weights`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Weights, data);
});
