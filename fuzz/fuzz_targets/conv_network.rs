//! `cargo fuzz run conv_network`: see `synops::fuzzing::Target::ConvNetwork`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::ConvNetwork, data);
});
