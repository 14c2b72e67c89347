#![no_main]
//! Fuzz target `gossip`: see `ordo_fuzz::gossip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ordo_fuzz::gossip(data);
});
