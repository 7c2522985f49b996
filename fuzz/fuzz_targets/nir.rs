//! `cargo fuzz run nir`: see `synops::fuzzing::Target::Nir`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Nir, data);
});
