// SPDX-License-Identifier: MPL-2.0
//! Property tests of the MIDI file reader and writer (core::midi) and of the roll caps parser.
//!
//! A few hundred cases each by default, so they run in seconds with the other tests; for a
//! longer search: `PROPTEST_CASES=200000 cargo test --test fuzz_midi` (about 30 s). Not with
//! --release: it turns off the overflow checks that caught midly's -128 fps panic.

use gstpianola::caps;
use gstpianola::core::midi::{
    MAX_WRITE_TIME, MidiError, TimedMessage, check_message, messages_to_smf, notes_to_smf,
    smf_to_messages, smf_to_notes,
};
use gstpianola::core::notes::{MSECOND, Note};
use proptest::prelude::*;
use proptest::sample::Index;

/// `default` cases unless PROPTEST_CASES says otherwise.
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

/// Notes a file can hold exactly: times on a 1 ms grid, no two notes of a key overlapping
/// (touching is fine), sorted.
fn notes() -> impl Strategy<Value = Vec<Note>> {
    prop::collection::vec((0u8..=127, 0u64..600_000, 1u64..20_000, 1u8..=127), 0..60).prop_map(
        |raw| {
            let mut notes: Vec<Note> = raw
                .into_iter()
                .map(|(p, start, len, v)| Note::new(p, start * MSECOND, (start + len) * MSECOND, v))
                .collect();
            notes.sort_by_key(|n| (n.pitch, n.start));
            let mut kept: Vec<Note> = Vec::new();
            for n in notes {
                if kept
                    .last()
                    .is_none_or(|k| k.pitch != n.pitch || k.end <= n.start)
                {
                    kept.push(n);
                }
            }
            kept.sort();
            kept
        },
    )
}

/// Raw messages: mostly plausible (a status byte then data bytes), sometimes anything.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0x80u8..=0xEF, 0u8..0x80, 0u8..0x80).prop_map(|(s, a, b)| vec![s, a, b]),
        (0xC0u8..=0xDF, 0u8..0x80).prop_map(|(s, a)| vec![s, a]),
        prop::collection::vec(0u8..0x80, 0..6).prop_map(|d| [&[0xF0][..], &d].concat()),
        prop::collection::vec(any::<u8>(), 0..6),
    ]
}

fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..100_000_000_000,
        MAX_WRITE_TIME - 1000..MAX_WRITE_TIME + 1000,
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = smf_to_messages(&bytes);
        let _ = smf_to_notes(&bytes);
    }

    #[test]
    fn bytes_after_a_header_never_panic(
        tracks in 0u16..4,
        division in any::<u16>(),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = b"MThd\0\0\0\x06\0\x01".to_vec();
        bytes.extend(tracks.to_be_bytes());
        bytes.extend(division.to_be_bytes());
        bytes.extend(b"MTrk");
        bytes.extend((body.len() as u32).to_be_bytes());
        bytes.extend(body);
        let _ = smf_to_messages(&bytes);
        let _ = smf_to_notes(&bytes);
    }

    #[test]
    fn damaged_files_never_panic(
        notes in notes(),
        flips in prop::collection::vec((any::<Index>(), any::<u8>()), 0..6),
        cut in any::<Index>(),
    ) {
        let mut smf = notes_to_smf(&notes, Some(0)).unwrap();
        for (at, b) in flips {
            let i = at.index(smf.len());
            smf[i] = b;
        }
        let cut = cut.index(smf.len() + 1);
        let _ = smf_to_notes(&smf[..cut]);
    }

    #[test]
    fn cut_files_say_truncated(notes in notes(), cut in any::<Index>()) {
        let smf = notes_to_smf(&notes, None).unwrap();
        let cut = 4 + cut.index(smf.len() - 4);
        let res = smf_to_notes(&smf[..cut]);
        prop_assert!(
            matches!(res, Err(MidiError::Truncated(_))),
            "a file cut at {} of {} bytes read as {:?}", cut, smf.len(), res
        );
    }

    #[test]
    fn notes_round_trip(notes in notes(), program in prop::option::of(0u8..128)) {
        let smf = notes_to_smf(&notes, program).unwrap();
        prop_assert_eq!(smf_to_notes(&smf).unwrap(), notes);
    }

    #[test]
    fn writable_messages_are_written_and_read_back(
        msgs in prop::collection::vec((time(), message()), 0..40),
    ) {
        let msgs: Vec<TimedMessage> = msgs
            .into_iter()
            .map(|(t, b)| TimedMessage::new(t, b))
            .collect();
        let all_ok = msgs.iter().all(|m| check_message(m.time, &m.bytes).is_ok());
        let any_invalid = msgs
            .iter()
            .any(|m| matches!(check_message(0, &m.bytes), Err(MidiError::InvalidMessage(_))));
        let res = messages_to_smf(&msgs);
        // What check_message passes, the writer writes; an invalid message fails it.
        if all_ok {
            prop_assert!(res.is_ok(), "{:?}", res);
        }
        if any_invalid {
            prop_assert!(res.is_err());
        }
        if let Ok(smf) = res {
            let written = msgs
                .iter()
                .filter(|m| matches!(m.bytes[0], 0x80..=0xF0))
                .count();
            prop_assert_eq!(smf_to_messages(&smf).unwrap().len(), written);
        }
    }
}

/// A caps field value: the right type or not.
fn field() -> impl Strategy<Value = Option<glib_value::V>> {
    prop::option::of(glib_value::v())
}

mod glib_value {
    use super::*;

    #[derive(Clone, Debug)]
    pub enum V {
        Str(String),
        Int(i32),
        Frac(i32, i32),
        Double(f64),
    }

    pub fn v() -> impl Strategy<Value = V> {
        prop_oneof![
            prop_oneof![
                Just("F32LE".to_string()),
                Just("U8".to_string()),
                Just("frame".to_string()),
                Just("frame+onset".to_string()),
                "[a-zA-Z0-9+ ]{0,8}",
            ]
            .prop_map(V::Str),
            prop_oneof![-2i32..140, any::<i32>()].prop_map(V::Int),
            (any::<i32>(), prop_oneof![1i32..1001, any::<i32>()])
                .prop_filter("a fraction has a denominator", |(_, d)| *d != 0)
                .prop_map(|(n, d)| V::Frac(n, d)),
            any::<f64>().prop_map(V::Double),
        ]
    }

    impl V {
        pub fn set(&self, s: &mut gst::StructureRef, name: &str) {
            match self {
                V::Str(v) => s.set(name, v.as_str()),
                V::Int(v) => s.set(name, *v),
                V::Frac(n, d) => s.set(name, gst::Fraction::new(*n, *d)),
                V::Double(v) => s.set(name, *v),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// src/caps.rs: any caps give a layout or an error, never a panic; a layout it accepts
    /// gives caps that parse back to it.
    #[test]
    fn roll_caps_parser_never_panics(
        name in prop_oneof![Just(caps::ROLL_NAME.to_string()), Just(caps::MIDI_EVENT_NAME.to_string()), "[a-z]{1,6}/[a-z]{1,6}"],
        format in field(),
        keys in field(),
        lowest in field(),
        channels in field(),
        framerate in field(),
        empty in any::<bool>(),
    ) {
        gst::init().unwrap();
        let c = if empty {
            gst::Caps::new_empty()
        } else {
            let mut s = gst::Structure::new_empty(name.as_str());
            for (f, v) in [
                (caps::FIELD_FORMAT, &format),
                (caps::FIELD_KEYS, &keys),
                (caps::FIELD_LOWEST_NOTE, &lowest),
                (caps::FIELD_CHANNELS, &channels),
                (caps::FIELD_FRAMERATE, &framerate),
            ] {
                if let Some(v) = v {
                    v.set(&mut s, f);
                }
            }
            gst::Caps::builder_full().structure(s).build()
        };
        let _ = caps::parse_note_stream(&c);
        if let Ok((layout, rate)) = caps::parse_roll_caps(&c) {
            prop_assert!(layout.keys >= 1 && layout.lowest_note as usize + layout.keys <= 128);
            let _ = caps::frame_duration(rate);
            prop_assert_eq!(
                caps::parse_roll_caps(&caps::roll_caps(&layout, rate)),
                Ok((layout, rate))
            );
        }
    }
}
