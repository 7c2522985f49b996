//! `cargo fuzz run network`: see `synops::fuzzing::Target::Network`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Network, data);
});
