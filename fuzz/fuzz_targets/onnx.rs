//! `cargo fuzz run onnx`: see `synops::fuzzing::Target::Onnx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = synops::fuzzing::run(synops::fuzzing::Target::Onnx, data);
});
