#![no_main]
// The inventory fuzz target: tests/fuzzing.rs says what it exercises.
libfuzzer_sys::fuzz_target!(|data: &[u8]| agent_tests::fuzzing::inventory(data));
