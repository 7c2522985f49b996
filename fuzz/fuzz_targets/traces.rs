//! `cargo fuzz run traces`: see `synops::fuzzing::Target::Traces`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Traces, data);
});
