// SPDX-License-Identifier: MPL-2.0
//! Property tests of midienc: whatever the buffers hold and whatever their times, it never
//! panics and always writes a readable file with every event a file can hold.
//!
//! Longer: `PROPTEST_CASES=20000 cargo test --test fuzz_midienc` (under a minute; not --release).

mod common;

use common::init;
use gst::prelude::*;
use gstpianola::caps;
use gstpianola::core::midi::{check_message, smf_to_messages, smf_to_notes};
use gstpianola::core::roll::{RollLayout, ValueFormat};
use proptest::prelude::*;

fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn time() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(prop_oneof![
        0u64..10_000_000_000,
        any::<u64>().prop_map(|t| t.min(u64::MAX - 1)),
    ])
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0x80u8..=0xEF, 0u8..0x80, 0u8..0x80).prop_map(|(s, a, b)| vec![s, a, b]),
        prop::collection::vec(any::<u8>(), 0..8),
    ]
}

/// Push `buffers` into a fresh midienc, then EOS; the file it writes and what went wrong.
fn encode(caps: gst::Caps, buffers: Vec<gst::Buffer>) -> (Option<gst::Buffer>, Vec<String>) {
    init();
    let mut h = gst_check::Harness::new("midienc");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(caps);
    let mut errors = Vec::new();
    for b in buffers {
        if let Err(e) = h.push(b) {
            errors.push(format!("push: {e:?}"));
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = m.view() {
            errors.push(format!("{} ({:?})", e.error(), e.debug()));
        }
    }
    let file = h.try_pull();
    // Each bus holds a poll fd: let it go with the harness, or long runs run out of fds.
    h.element().unwrap().set_bus(None::<&gst::Bus>);
    (file, errors)
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn arbitrary_events_never_lose_the_file(
        events in prop::collection::vec((time(), message()), 0..30),
    ) {
        init();
        let bufs: Vec<gst::Buffer> = events
            .iter()
            .map(|(t, m)| {
                let mut b = gst::Buffer::from_mut_slice(m.clone());
                b.get_mut().unwrap().set_pts(t.map(gst::ClockTime::from_nseconds));
                b
            })
            .collect();
        let (file, errors) = encode(caps::midi_event_caps(), bufs);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let file = file.expect("midienc wrote a file");
        let read = smf_to_messages(file.map_readable().unwrap().as_slice());
        prop_assert!(read.is_ok(), "{:?}", read);
        // Every event with a time (or after the last good one) that a file can hold is in it.
        let mut end = 0u64;
        let mut expect = 0;
        for (t, m) in &events {
            let t = t.unwrap_or(end);
            if check_message(t, m).is_ok() {
                end = end.max(t);
                expect += usize::from(matches!(m[0], 0x80..=0xF0));
            }
        }
        prop_assert_eq!(read.unwrap().len(), expect);
    }

    #[test]
    fn arbitrary_roll_buffers_never_lose_the_file(
        onset in any::<bool>(),
        frames in prop::collection::vec(
            (time(), prop::option::of(any::<u64>()), prop_oneof![
                4 => prop::collection::vec(prop_oneof![Just(0u8), Just(100u8), any::<u8>()], 88..=88),
                4 => prop::collection::vec(prop_oneof![Just(0u8), Just(100u8), any::<u8>()], 176..=176),
                1 => prop::collection::vec(any::<u8>(), 0..200),
            ]),
            0..30,
        ),
    ) {
        init();
        let layout = RollLayout::piano88(ValueFormat::U8, onset);
        let bufs: Vec<gst::Buffer> = frames
            .iter()
            .map(|(t, d, bytes)| {
                let mut b = gst::Buffer::from_mut_slice(bytes.clone());
                let m = b.get_mut().unwrap();
                m.set_pts(t.map(gst::ClockTime::from_nseconds));
                m.set_duration(d.map(|d| gst::ClockTime::from_nseconds(d.min(u64::MAX - 1))));
                b
            })
            .collect();
        let (file, errors) = encode(caps::roll_caps(&layout, gst::Fraction::new(25, 1)), bufs);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let file = file.expect("midienc wrote a file");
        let read = smf_to_notes(file.map_readable().unwrap().as_slice());
        prop_assert!(read.is_ok(), "{:?}", read);
    }
}
