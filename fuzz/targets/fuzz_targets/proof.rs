#![no_main]
//! Fuzz target `proof`: see `ordo_fuzz::proof`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ordo_fuzz::proof(data);
});
