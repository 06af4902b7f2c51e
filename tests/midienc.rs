// SPDX-License-Identifier: MPL-2.0
//! midienc: rolls and MIDI events to a Standard MIDI File.

mod common;

use common::*;
use gst::prelude::*;
use gstpianola::caps;
use gstpianola::core::midi::{notes_to_smf, smf_to_notes};
use gstpianola::core::notes::{MSECOND, Note};
use gstpianola::core::roll::{RollLayout, ValueFormat, VelocityFrame};

#[test]
fn midiparse_output_is_written_back_exactly() {
    init();
    let dir = tmpdir("midienc-copy");
    let notes = vec![
        Note::new(21, 0, 1234 * MSECOND, 90),
        Note::new(108, MSECOND, 61_001 * MSECOND, 64),
        Note::new(60, 500 * MSECOND, 501 * MSECOND, 127),
        Note::new(60, 501 * MSECOND, 800 * MSECOND, 30),
    ];
    let src = dir.join("in.mid");
    let out = dir.join("out.mid");
    std::fs::write(&src, notes_to_smf(&notes, Some(0)).unwrap()).unwrap();
    run(
        &parse(&format!(
            "filesrc location={} ! midiparse ! midienc ! filesink location={}",
            src.display(),
            out.display()
        )),
        std::time::Duration::from_secs(20),
    )
    .unwrap();
    let back = smf_to_notes(&std::fs::read(&out).unwrap()).unwrap();
    let mut expect = notes.clone();
    expect.sort();
    assert_eq!(back, expect);
}

#[test]
fn roll_to_file_releases_keys_at_end_and_honours_program() {
    init();
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let d = gst::ClockTime::from_mseconds(40);
    // Key 0 (A0) down in frames 2..5, key 87 (C8) from frame 3 to the end (frame 9).
    let frames: Vec<gst::Buffer> = (0..10u64)
        .map(|i| {
            let mut f = VelocityFrame::silent(88, false);
            if (2..5).contains(&i) {
                f.frame[0] = 80;
            }
            if i >= 3 {
                f.frame[87] = 100;
            }
            timed(f.to_bytes(), d * i, Some(d))
        })
        .collect();
    let p = with_appsrc(
        "midienc program=40 ! appsink name=out",
        &caps::roll_caps(&layout, gst::Fraction::new(25, 1)),
        frames,
    );
    let (bufs, _) = collect_with(p).unwrap();
    assert_eq!(bufs.len(), 1);
    let bytes = bufs[0].map_readable().unwrap().to_vec();
    assert_eq!(&bytes[..4], b"MThd");
    let notes = smf_to_notes(&bytes).unwrap();
    assert_eq!(
        notes,
        vec![
            Note::new(21, 80 * MSECOND, 200 * MSECOND, 80),
            Note::new(108, 120 * MSECOND, 400 * MSECOND, 100),
        ]
    );
    // Program change 40 (violin) on channel 1 at time 0.
    let msgs = gstpianola::core::midi::smf_to_messages(&bytes).unwrap();
    assert_eq!(msgs[0].bytes, vec![0xC0, 40]);
}

#[test]
fn empty_stream_gives_a_valid_empty_file() {
    init();
    let layout = RollLayout::piano88(ValueFormat::F32, true);
    let p = with_appsrc(
        "midienc ! appsink name=out",
        &caps::roll_caps(&layout, gst::Fraction::new(30, 1)),
        vec![],
    );
    let (bufs, _) = collect_with(p).unwrap();
    assert_eq!(bufs.len(), 1);
    let notes = smf_to_notes(bufs[0].map_readable().unwrap().as_slice()).unwrap();
    assert!(notes.is_empty());
}

/// 3 s of probabilities at 25 fps: a chord every second, each held for half a second.
fn chord_probabilities() -> (gst::Caps, Vec<gst::Buffer>) {
    use gstpianola::core::roll::ProbFrame;
    let layout = RollLayout::piano88(ValueFormat::F32, false);
    let d = gst::ClockTime::SECOND / 25;
    let frames = (0..75u64)
        .map(|i| {
            let mut f = ProbFrame::silent(88, false);
            if i % 25 < 12 {
                for k in [39, 43, 46] {
                    f.frame[k] = 0.9;
                }
            }
            timed(f.to_bytes(), d * i, Some(d))
        })
        .collect();
    (caps::roll_caps(&layout, gst::Fraction::new(25, 1)), frames)
}

/// Issue 13 item 3: with a tee feeding midienc and midisynth, the audio branch's sink
/// prerolls and blocks while midienc held its sink waiting for the end: nothing ever played.
#[test]
fn tee_to_midienc_and_midisynth_prerolls_and_runs() {
    init();
    let dir = tmpdir("midienc-tee");
    let (mid, wav) = (dir.join("a.mid"), dir.join("a.wav"));
    let (caps, frames) = chord_probabilities();
    let p = with_appsrc(
        &format!(
            "roll2midi ! tee name=t t. ! queue ! midienc ! filesink location={} \
             t. ! queue ! midisynth ! wavenc ! filesink location={}",
            mid.display(),
            wav.display()
        ),
        &caps,
        frames,
    );
    // Fails with "timed out" instead of hanging when the pipeline never prerolls.
    run(&p, std::time::Duration::from_secs(30)).unwrap();
    let notes = smf_to_notes(&std::fs::read(&mid).unwrap()).unwrap();
    assert_eq!(notes.len(), 9, "{notes:?}");
    let secs = hound::WavReader::open(&wav).unwrap().duration() as f64 / 44100.0;
    assert!(secs > 2.9, "the WAV lasts {secs} s");
}

/// A midienc in a harness, with a bus of its own to read warnings from.
fn harness(caps: gst::Caps) -> (gst_check::Harness, gst::Bus) {
    let mut h = gst_check::Harness::new("midienc");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(caps);
    (h, bus)
}

fn warnings(bus: &gst::Bus) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = bus.pop_filtered(&[gst::MessageType::Warning]) {
        if let gst::MessageView::Warning(w) = m.view() {
            out.push(w.error().to_string());
        }
    }
    out
}

/// Issue 13 item 7: one malformed event used to fail the whole file ("Cannot write MIDI").
#[test]
fn one_malformed_event_is_skipped_with_a_warning() {
    init();
    let (mut h, bus) = harness(caps::midi_event_caps());
    let ms = gst::ClockTime::from_mseconds;
    let events: [(&[u8], u64); 6] = [
        (&[0x90, 60, 100], 0),
        (&[0x90, 0x80, 10], 100), // a data byte with the top bit set
        (&[0x80, 60, 0], 500),
        (&[0x90, 64], 600), // truncated
        (&[0x90, 64, 90], 700),
        (&[0x80, 64, 0], 900),
    ];
    for (bytes, t) in events {
        h.push(timed(bytes.to_vec(), ms(t), None)).unwrap();
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let file = h.try_pull().expect("midienc wrote the file");
    let notes = smf_to_notes(file.map_readable().unwrap().as_slice()).unwrap();
    assert_eq!(
        notes,
        vec![
            Note::new(60, 0, 500 * MSECOND, 100),
            Note::new(64, 700 * MSECOND, 900 * MSECOND, 90),
        ]
    );
    let w = warnings(&bus);
    assert!(
        w.first().is_some_and(
            |w| w.contains("Skipped a malformed MIDI event") && w.contains("90, 80, 0A")
        ),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("Skipped 2 ")), "{w:?}");
}

/// The file sink gets a segment and a gap with the first input, so it prerolls without
/// waiting for the end.
#[test]
fn gap_goes_downstream_before_the_end() {
    init();
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let (mut h, _bus) = harness(caps::roll_caps(&layout, gst::Fraction::new(25, 1)));
    let frame = VelocityFrame::silent(88, false);
    h.push(timed(frame.to_bytes(), gst::ClockTime::ZERO, None))
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = h.try_pull_event() {
        events.push(e.type_());
    }
    let (seg, gap) = (
        events.iter().position(|&t| t == gst::EventType::Segment),
        events.iter().position(|&t| t == gst::EventType::Gap),
    );
    assert!(seg.is_some() && gap > seg, "{events:?}");
    assert!(h.try_pull().is_none(), "the file comes at the end");
}

/// A source that holds its lock while it sends stream-start, caps and segment (as pianosim
/// does) must not deadlock against the gap: pianosim's video and roll pads to two sinks.
#[test]
fn pianosim_video_and_roll_to_two_file_sinks() {
    init();
    let dir = tmpdir("midienc-pianosim");
    let midi = dir.join("in.mid");
    let notes: Vec<Note> = (0..8u64)
        .map(|i| Note::new(60 + i as u8, i * 250 * MSECOND, (i + 1) * 250 * MSECOND, 90))
        .collect();
    std::fs::write(&midi, notes_to_smf(&notes, Some(0)).unwrap()).unwrap();
    let (mp4, truth) = (dir.join("in.mp4"), dir.join("truth.mid"));
    run(
        &parse(&format!(
            "pianosim name=s location={} seed=5 width=160 height=90 framerate=25/1 \
             s.video ! videoconvert ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={} \
             s.roll ! midienc ! filesink location={}",
            midi.display(),
            mp4.display(),
            truth.display()
        )),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(
        smf_to_notes(&std::fs::read(&truth).unwrap()).unwrap().len(),
        8
    );
}
