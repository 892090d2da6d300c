//! Arbitrary bytes, as a peer could send them, through the frame reader and decoder.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    event_core::__private::fuzz_wire(data);
});
