#![no_main]
//! Fuzz target `api`: see `ordo_fuzz::api_messages`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ordo_fuzz::api_messages(data);
});
