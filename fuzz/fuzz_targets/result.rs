//! `cargo fuzz run result`: see `synops::fuzzing::Target::Result`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Result, data);
});
