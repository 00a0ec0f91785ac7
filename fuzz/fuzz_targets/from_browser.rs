#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tabscope_shared::fuzzing::from_browser(data));
