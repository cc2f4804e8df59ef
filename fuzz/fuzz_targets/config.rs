//! Any bytes as a TOML configuration: refused with one printable line, or
//! accepted with bounds every strategy can use (`rmapcheck::contract::config`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = rmapcheck::contract::config(data) {
        panic!("contract broken: {e}");
    }
});
