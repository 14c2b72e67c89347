#![no_main]
//! Fuzz target `consensus`: see `ordo_fuzz::consensus`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ordo_fuzz::consensus(data);
});
