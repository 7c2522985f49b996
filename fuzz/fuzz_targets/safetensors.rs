//! `cargo fuzz run safetensors`: see `synops::fuzzing::Target::Safetensors`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Safetensors, data);
});
