// SPDX-License-Identifier: MPL-2.0

use super::*;
use midly::Fps;

use crate::core::notes::MSECOND;

#[test]
fn ticks_fall_on_the_10_ms_grid_between_events() {
    let ms = 1_000_000;
    let mut t = TickSchedule::default();
    // First output at 20 ms with no event there: a tick on the grid, none before.
    assert_eq!(t.until(20 * ms, false), vec![20 * ms]);
    // Up to an event at 55 ms: 30, 40, 50.
    assert_eq!(t.until(55 * ms, true), vec![30 * ms, 40 * ms, 50 * ms]);
    // An event exactly on the grid takes the tick's place.
    assert_eq!(t.until(70 * ms, true), vec![60 * ms]);
    assert_eq!(t.until(80 * ms, false), vec![80 * ms]);
    // Time never runs back.
    assert!(t.until(10 * ms, false).is_empty());
    t.reset();
    assert!(t.until(15 * ms, false).is_empty());
}

fn msg(time_ms: u64, bytes: &[u8]) -> TimedMessage {
    TimedMessage::new(time_ms * MSECOND, bytes)
}

fn ev(delta: u32, kind: TrackEventKind<'_>) -> TrackEvent<'_> {
    TrackEvent {
        delta: u28::new(delta),
        kind,
    }
}

fn midi(channel: u8, bytes: &[u8]) -> TrackEventKind<'static> {
    let message = match (bytes[0], bytes[1], bytes[2]) {
        (0x90, key, vel) => MidiMessage::NoteOn {
            key: key.into(),
            vel: vel.into(),
        },
        (0x80, key, vel) => MidiMessage::NoteOff {
            key: key.into(),
            vel: vel.into(),
        },
        _ => unreachable!("test helper takes note messages only"),
    };
    TrackEventKind::Midi {
        channel: channel.into(),
        message,
    }
}

fn tempo(us: u32) -> TrackEventKind<'static> {
    TrackEventKind::Meta(MetaMessage::Tempo(us.into()))
}

const EOT: TrackEventKind<'static> = TrackEventKind::Meta(MetaMessage::EndOfTrack);

fn write(smf: &Smf) -> Vec<u8> {
    let mut out = Vec::new();
    smf.write_std(&mut out).unwrap();
    out
}

#[test]
fn message_lengths() {
    assert_eq!(channel_message_len(0x80), Some(3));
    assert_eq!(channel_message_len(0x9F), Some(3));
    assert_eq!(channel_message_len(0xB3), Some(3));
    assert_eq!(channel_message_len(0xC0), Some(2));
    assert_eq!(channel_message_len(0xDF), Some(2));
    assert_eq!(channel_message_len(0xEF), Some(3));
    assert_eq!(channel_message_len(0xF0), None);
    assert_eq!(channel_message_len(0xF9), None);
    assert_eq!(channel_message_len(0x40), None);
}

#[test]
fn notes_round_trip_exact_to_1ms() {
    let notes = vec![
        Note::new(60, MSECOND, 500 * MSECOND, 90),
        Note::new(60, 500 * MSECOND, 501 * MSECOND, 1), // re-struck, 1 ms long
        Note::new(64, 1234 * MSECOND, 2000 * MSECOND, 127),
        Note::new(21, 61_001 * MSECOND, 61_002 * MSECOND, 64),
        Note::new(108, 61_001 * MSECOND, 3_600_000 * MSECOND, 100),
    ];
    let smf = notes_to_smf(&notes, None).unwrap();
    assert_eq!(smf_to_notes(&smf).unwrap(), notes);
    // Tempo, then 5 ons and 5 offs, then End-of-Track, all on channel 0.
    let msgs = smf_to_messages(&smf).unwrap();
    assert_eq!(msgs.len(), 10);
    assert!(msgs.iter().all(|m| m.bytes[0] & 0x0f == 0));
    assert_eq!(msgs[0], msg(1, &[0x90, 60, 90]));
    assert_eq!(msgs[9], msg(3_600_000, &[0x80, 108, 0]));
}

#[test]
fn times_round_to_half_milliseconds() {
    let msgs = [
        TimedMessage::new(1_249_999, [0x90, 60, 100]),
        TimedMessage::new(1_250_000, [0x80, 60, 0]),
    ];
    let back = smf_to_messages(&messages_to_smf(&msgs).unwrap()).unwrap();
    assert_eq!(back[0].time, MSECOND);
    assert_eq!(back[1].time, 1_500_000);
    // A note shorter than a tick keeps one tick.
    let short = [Note::new(60, 0, 100_000, 80)];
    let back = smf_to_notes(&notes_to_smf(&short, None).unwrap()).unwrap();
    assert_eq!(back, [Note::new(60, 0, 500_000, 80)]);
}

#[test]
fn velocity_zero_note_on_is_note_off() {
    let msgs = [msg(0, &[0x90, 60, 100]), msg(100, &[0x90, 60, 0])];
    let expected = [Note::new(60, 0, 100 * MSECOND, 100)];
    assert_eq!(messages_to_notes(&msgs), expected);
    let smf = messages_to_smf(&msgs).unwrap();
    assert_eq!(smf_to_notes(&smf).unwrap(), expected);
}

#[test]
fn restrike_and_open_notes() {
    let msgs = [
        msg(0, &[0x90, 60, 80]),
        msg(10, &[0x91, 62, 70]), // never released
        msg(50, &[0x90, 60, 90]), // re-strike
        msg(80, &[0x80, 60, 64]),
        msg(90, &[0x80, 60, 64]),   // nothing down: ignored
        msg(200, &[0xB0, 64, 127]), // sustain pedal: ignored, but the last event
    ];
    let expected = vec![
        Note::new(60, 0, 50 * MSECOND, 80),
        Note::new(62, 10 * MSECOND, 200 * MSECOND, 70),
        Note::new(60, 50 * MSECOND, 80 * MSECOND, 90),
    ];
    assert_eq!(messages_to_notes(&msgs), expected);
    assert_eq!(
        smf_to_notes(&messages_to_smf(&msgs).unwrap()).unwrap(),
        expected
    );
}

#[test]
fn same_key_on_two_channels_is_two_notes() {
    let msgs = [
        msg(0, &[0x90, 60, 80]),
        msg(10, &[0x92, 60, 70]),
        msg(20, &[0x80, 60, 0]),
        msg(30, &[0x82, 60, 0]),
    ];
    assert_eq!(
        messages_to_notes(&msgs),
        [
            Note::new(60, 0, 20 * MSECOND, 80),
            Note::new(60, 10 * MSECOND, 30 * MSECOND, 70),
        ]
    );
}

#[test]
fn drum_channel_left_out() {
    let msgs = [
        msg(0, &[0x99, 36, 100]),
        msg(0, &[0x90, 48, 100]),
        msg(100, &[0x89, 36, 0]),
        msg(100, &[0x80, 48, 0]),
    ];
    let expected = [Note::new(48, 0, 100 * MSECOND, 100)];
    assert_eq!(messages_to_notes(&msgs), expected);
    let smf = messages_to_smf(&msgs).unwrap();
    assert_eq!(smf_to_notes(&smf).unwrap(), expected);
    // The drum messages are still in the file.
    assert_eq!(smf_to_messages(&smf).unwrap().len(), 4);
}

#[test]
fn format1_tempo_change_applies_to_all_tracks() {
    // 480 ticks per quarter: 120 bpm (0.5 s per quarter) until tick 960 = 1 s, then 60 bpm
    // (1 s per quarter). The change is in track 1 and must also apply to track 2.
    let mut smf = Smf::new(Header::new(
        Format::Parallel,
        Timing::Metrical(u15::new(480)),
    ));
    smf.tracks.push(vec![ev(0, tempo(500_000)), ev(0, EOT)]);
    smf.tracks.push(vec![
        ev(480, midi(0, &[0x90, 60, 100])), // 0.5 s
        ev(480, tempo(1_000_000)),          // tick 960 = 1 s
        ev(0, midi(0, &[0x80, 60, 0])),     // 1 s
        ev(480, EOT),                       // tick 1440 = 2 s
    ]);
    smf.tracks.push(vec![
        ev(960, midi(1, &[0x90, 64, 90])), // 1 s, after track 1's off at 1 s
        ev(720, midi(1, &[0x80, 64, 0])),  // tick 1680 = 2.5 s
        ev(240, midi(1, &[0x90, 67, 80])), // tick 1920 = 3 s, never released
        ev(0, EOT),
    ]);
    let bytes = write(&smf);
    assert_eq!(
        smf_to_messages(&bytes).unwrap(),
        [
            msg(500, &[0x90, 60, 100]),
            msg(1000, &[0x80, 60, 0]),
            msg(1000, &[0x91, 64, 90]),
            msg(2500, &[0x81, 64, 0]),
            msg(3000, &[0x91, 67, 80]),
        ]
    );
    assert_eq!(
        smf_to_notes(&bytes).unwrap(),
        [
            Note::new(60, 500 * MSECOND, 1000 * MSECOND, 100),
            Note::new(64, 1000 * MSECOND, 2500 * MSECOND, 90),
            Note::new(67, 3000 * MSECOND, 3000 * MSECOND, 80),
        ]
    );
}

#[test]
fn smpte_division() {
    // 25 fps x 40 subframes = 1000 ticks per second; tempo events do not matter.
    let mut smf = Smf::new(Header::new(
        Format::SingleTrack,
        Timing::Timecode(Fps::Fps25, 40),
    ));
    smf.tracks.push(vec![
        ev(0, tempo(1_000_000)),
        ev(1500, midi(0, &[0x90, 60, 100])),
        ev(1, midi(0, &[0x80, 60, 0])),
        ev(0, EOT),
    ]);
    let times: Vec<Nanos> = smf_to_messages(&write(&smf))
        .unwrap()
        .iter()
        .map(|m| m.time)
        .collect();
    assert_eq!(times, [1500 * MSECOND, 1501 * MSECOND]);

    // 29.97 fps x 100 subframes: 2997 ticks = 2997 * 1001 / 3_000_000 s = 0.999999 s.
    smf.header.timing = Timing::Timecode(Fps::Fps29, 100);
    smf.tracks[0][1].delta = u28::new(2997);
    let first = smf_to_messages(&write(&smf)).unwrap()[0].time;
    assert_eq!(first, 999_999_000);
}

#[test]
fn format2_unsupported() {
    let mut smf = Smf::new(Header::new(
        Format::Sequential,
        Timing::Metrical(u15::new(96)),
    ));
    smf.tracks.push(vec![ev(0, EOT)]);
    assert!(matches!(
        smf_to_messages(&write(&smf)),
        Err(MidiError::Unsupported(_))
    ));
    assert!(matches!(
        smf_to_notes(b"not a midi file"),
        Err(MidiError::Parse(_))
    ));
}

#[test]
fn program_change_when_requested() {
    let notes = [Note::new(60, 0, 100 * MSECOND, 100)];
    let with = smf_to_messages(&notes_to_smf(&notes, Some(5)).unwrap()).unwrap();
    assert_eq!(with[0], msg(0, &[0xC0, 5]));
    assert_eq!(with[1], msg(0, &[0x90, 60, 100]));
    let without = smf_to_messages(&notes_to_smf(&notes, None).unwrap()).unwrap();
    assert_eq!(without.len(), 2);
    assert!(without.iter().all(|m| m.bytes[0] & 0xf0 != 0xC0));
}

#[test]
fn stray_bytes_realtime_and_sysex() {
    let sysex = [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7];
    let msgs = [
        msg(20, &[0x80, 60, 0, 0x00]), // stray trailing byte, given out of order
        msg(0, &[0x90, 60, 100, 0x3C]),
        msg(5, &[0xF9]),
        msg(5, &[0xC1, 3, 0x45]),
        msg(7, &sysex),
        msg(8, &[0xF0, 0x43, 0x10]), // unterminated: F7 added
        msg(9, &[0xE0, 0x00, 0x40]),
        msg(30, &[0xF8]), // skipped, but sets the end of the file
    ];
    let smf = messages_to_smf(&msgs).unwrap();
    assert_eq!(
        smf_to_messages(&smf).unwrap(),
        [
            msg(0, &[0x90, 60, 100]),
            msg(5, &[0xC1, 3]),
            msg(7, &sysex),
            msg(8, &[0xF0, 0x43, 0x10, 0xF7]),
            msg(9, &[0xE0, 0x00, 0x40]),
            msg(20, &[0x80, 60, 0]),
        ]
    );
    // The open-note end is the End-of-Track at 30 ms.
    let open = messages_to_smf(&[msg(0, &[0x90, 40, 50]), msg(30, &[0xF8])]).unwrap();
    assert_eq!(
        smf_to_notes(&open).unwrap(),
        [Note::new(40, 0, 30 * MSECOND, 50)]
    );
}

#[test]
fn invalid_messages_rejected() {
    for bad in [
        &[][..],
        &[0x3C, 0x40],
        &[0x90, 60],
        &[0x90, 0x80, 10],
        &[0xF0, 0x01, 0x90, 0xF7],
    ] {
        assert_eq!(
            messages_to_smf(&[msg(0, bad)]),
            Err(MidiError::InvalidMessage(bad.to_vec()))
        );
    }
}

#[test]
fn truncated_file_says_truncated() {
    let notes: Vec<Note> = (0..20)
        .map(|i| Note::new(60 + i, u64::from(i) * 100 * MSECOND, 2000 * MSECOND, 90))
        .collect();
    let smf = notes_to_smf(&notes, Some(0)).unwrap();
    assert_eq!(smf_to_notes(&smf).unwrap().len(), 20);
    // Cut inside the track, inside the track's chunk header, inside the file header.
    for cut in [smf.len() - 1, smf.len() / 2, 14 + 8 + 3, 14 + 2, 10] {
        let err = smf_to_notes(&smf[..cut]).unwrap_err();
        assert!(
            matches!(err, MidiError::Truncated(_)),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    let err = smf_to_messages(&smf[..smf.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(err.contains("track 1 of 1 declares"), "{err}");
    // Ends right after the header: no track at all.
    let err = smf_to_notes(&smf[..14]).unwrap_err().to_string();
    assert!(err.contains("0 of the 1 tracks"), "{err}");
    // Padding after the last track is not truncation.
    let padded = [smf.as_slice(), &[0, 0, 0]].concat();
    assert_eq!(smf_to_notes(&padded).unwrap().len(), 20);
}

#[test]
fn check_message_matches_the_writer() {
    assert_eq!(check_message(0, &[0x90, 60, 100]), Ok(()));
    assert_eq!(check_message(MAX_WRITE_TIME, &[0xF9]), Ok(()));
    assert!(matches!(
        check_message(0, &[0x90, 60]),
        Err(MidiError::InvalidMessage(_))
    ));
    assert!(matches!(
        check_message(MAX_WRITE_TIME + 1, &[0x90, 60, 100]),
        Err(MidiError::Write(_))
    ));
    // The latest time a file holds is written, one later is not.
    let at = |t| messages_to_smf(&[TimedMessage::new(t, [0x90, 60, 100])]);
    assert!(at(MAX_WRITE_TIME).is_ok());
    assert!(at(MAX_WRITE_TIME + 1).is_err());
}

#[test]
fn split_sysex_joined() {
    let mut smf = Smf::new(Header::new(
        Format::SingleTrack,
        Timing::Metrical(u15::new(1000)),
    ));
    smf.tracks.push(vec![
        ev(0, TrackEventKind::SysEx(&[0x43, 0x12])),
        ev(2, midi(0, &[0x90, 60, 100])),
        ev(2, TrackEventKind::Escape(&[0x00, 0xF7])),
        ev(0, EOT),
    ]);
    assert_eq!(
        smf_to_messages(&write(&smf)).unwrap(),
        [
            msg(0, &[0xF0, 0x43, 0x12, 0x00, 0xF7]),
            msg(1, &[0x90, 60, 100]),
        ]
    );
}

#[test]
fn real_file_has_notes() {
    // The shared data (not part of the project): $PIANOLA_SHARED, else ../shared.
    let path = std::env::var_os("PIANOLA_SHARED")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("data/midi/pianobooster/BoosterMusic_04-FrereJacques.mid");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set PIANOLA_SHARED)", path.display()));
    let notes = smf_to_notes(&bytes).unwrap();
    assert!(!notes.is_empty());
    assert!(notes.is_sorted());
    assert!(notes.iter().all(|n| n.start <= n.end && n.velocity > 0));
    // Writing the notes and reading them back changes nothing but sub-tick times.
    let back = smf_to_notes(&notes_to_smf(&notes, Some(0)).unwrap()).unwrap();
    assert_eq!(back.len(), notes.len());
}
