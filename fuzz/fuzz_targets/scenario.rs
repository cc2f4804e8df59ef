//! Any bytes as a scenario file: refused with one line naming file and
//! line, or run without a panic and with the verdict canonical ids give
//! (`rmapcheck::contract::scenario`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = rmapcheck::contract::scenario(data) {
        panic!("contract broken: {e}");
    }
});
