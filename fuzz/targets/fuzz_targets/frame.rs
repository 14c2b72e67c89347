#![no_main]
//! Fuzz target `frame`: see `ordo_fuzz::frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ordo_fuzz::frame(data);
});
