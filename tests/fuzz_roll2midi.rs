// SPDX-License-Identifier: MPL-2.0
//! Property tests of roll2midi's inputs through a gst_check harness: probabilities that are
//! NaN, infinite or out of [0, 1], buffers of the wrong size, missing or extreme timestamps and
//! durations, gaps. It may refuse input with an error message, but never panics.
//!
//! Longer: `PROPTEST_CASES=20000 cargo test --test fuzz_roll2midi` (a few minutes; not --release).

mod common;

use common::init;
use gst::prelude::*;
use gstpianola::caps;
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

#[derive(Clone, Debug)]
enum Input {
    /// Values (as many as the layout holds, or not), PTS, duration.
    Frame(Vec<f32>, Option<u64>, Option<u64>),
    /// A gap event: timestamp, duration.
    Gap(u64, Option<u64>),
}

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => 0.0f32..=1.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::MIN_POSITIVE / 2.0),
        1 => any::<f32>(),
    ]
}

/// Times up to 2^62 ns (146 years), so that a time plus a duration stays a time.
fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..5_000_000_000,
        1 => 0u64..1 << 62,
    ]
}

/// Any time at all, up to the largest ClockTime.
fn extreme_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => u64::MAX - 1_000_000_000..=u64::MAX - 1,
        1 => any::<u64>().prop_map(|t| t.min(u64::MAX - 1)),
    ]
}

fn input(len: usize) -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (
            prop_oneof![
                8 => prop::collection::vec(value(), len..=len),
                1 => prop::collection::vec(value(), 0..len + 2),
            ],
            prop::option::weighted(0.8, time()),
            prop::option::weighted(0.7, prop_oneof![4 => 0u64..100_000_000, 1 => time()]),
        )
            .prop_map(|(v, t, d)| Input::Frame(v, t, d)),
        1 => (time(), prop::option::of(time())).prop_map(|(t, d)| Input::Gap(t, d)),
    ]
}

/// Errors posted while `inputs` then EOS went through a rule-based roll2midi.
fn run_roll2midi(onset: bool, u8_values: bool, inputs: &[Input]) -> Vec<String> {
    init();
    let format = if u8_values {
        ValueFormat::U8
    } else {
        ValueFormat::F32
    };
    let layout = RollLayout::piano88(format, onset);
    let mut h = gst_check::Harness::new("roll2midi");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(caps::roll_caps(&layout, gst::Fraction::new(25, 1)));
    for i in inputs {
        match i {
            Input::Frame(v, t, d) => {
                let bytes: Vec<u8> = if u8_values {
                    v.iter().map(|x| (x * 127.0) as u8).collect()
                } else {
                    v.iter().flat_map(|x| x.to_le_bytes()).collect()
                };
                let mut b = gst::Buffer::from_mut_slice(bytes);
                let m = b.get_mut().unwrap();
                m.set_pts(t.map(gst::ClockTime::from_nseconds));
                m.set_duration(d.map(gst::ClockTime::from_nseconds));
                let _ = h.push(b);
            }
            Input::Gap(t, d) => {
                let mut g = gst::event::Gap::builder(gst::ClockTime::from_nseconds(*t));
                if let Some(d) = d {
                    g = g.duration(gst::ClockTime::from_nseconds(*d));
                }
                h.push_event(g.build());
            }
        }
        while h.try_pull().is_some() {}
    }
    h.push_event(gst::event::Eos::new());
    while h.try_pull().is_some() {}
    let mut errors = Vec::new();
    while let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = m.view() {
            errors.push(format!("{} ({:?})", e.error(), e.debug()));
        }
    }
    // Each bus holds a poll fd: let it go with the harness, or long runs run out of fds.
    h.element().unwrap().set_bus(None::<&gst::Bus>);
    errors
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn strange_probabilities_and_times_never_panic(
        onset in any::<bool>(),
        u8_values in any::<bool>(),
        inputs in prop::collection::vec(input(176), 0..40),
    ) {
        let inputs: Vec<Input> = inputs
            .into_iter()
            .map(|i| match i {
                // The layout's own frame size: 88 values, or 176 with the onset channel.
                Input::Frame(mut v, t, d) if v.len() == 176 && !onset => {
                    v.truncate(88);
                    Input::Frame(v, t, d)
                }
                other => other,
            })
            .collect();
        let errors = run_roll2midi(onset, u8_values, &inputs);
        prop_assert!(
            !errors.iter().any(|e| e.contains("Panicked")),
            "roll2midi panicked: {:?}",
            errors
        );
    }
}

/// Found by the test above with unbounded times: roll2midi's sink_chain computes
/// `pts + duration` as ClockTime, which panics on overflow (src/roll2midi/imp.rs, `next_pts`),
/// e.g. a gap at 0.437 s lasting 18446744073.273 s, or a frame at u64::MAX - 2 ns lasting 40 ms.
/// roll2midi now stops predicting the next time past the clock's end instead.
#[test]
fn extreme_times_never_panic() {
    let gap = [Input::Gap(436_592_946, Some(18_446_744_073_272_958_670))];
    let frame = [Input::Frame(
        vec![0.0; 88],
        Some(u64::MAX - 2),
        Some(40_000_000),
    )];
    for inputs in [&gap[..], &frame[..]] {
        let errors = run_roll2midi(false, false, inputs);
        assert!(
            !errors.iter().any(|e| e.contains("Panicked")),
            "roll2midi panicked on {inputs:?}: {errors:?}"
        );
    }
    proptest!(config(64), |(
        inputs in prop::collection::vec(
            prop_oneof![
                (extreme_time(), prop::option::of(extreme_time()))
                    .prop_map(|(t, d)| Input::Gap(t, d)),
                (prop::option::of(extreme_time()), prop::option::of(extreme_time()))
                    .prop_map(|(t, d)| Input::Frame(vec![0.7; 88], t, d)),
            ],
            0..10,
        )
    )| {
        let errors = run_roll2midi(false, false, &inputs);
        prop_assert!(!errors.iter().any(|e| e.contains("Panicked")), "{:?}", errors);
    });
}
