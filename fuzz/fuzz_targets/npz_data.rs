//! `cargo fuzz run npz_data`: see `synops::fuzzing::Target::NpzData`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::NpzData, data);
});
