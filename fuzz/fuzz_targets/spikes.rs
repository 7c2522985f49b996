//! `cargo fuzz run spikes`: see `synops::fuzzing::Target::Spikes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Spikes, data);
});
