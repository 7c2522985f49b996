//! `cargo fuzz run npz`: see `synops::fuzzing::Target::Npz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Npz, data);
});
