#![no_main]
// The yaml fuzz target: tests/fuzzing.rs says what it exercises.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agent_tests::fuzzing::yaml(data));
