#![no_main]
//! Fuzz target `batch`: see `ordo_fuzz::batch`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ordo_fuzz::batch(data);
});
