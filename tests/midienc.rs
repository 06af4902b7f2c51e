// SPDX-License-Identifier: MPL-2.0
//! midienc: rolls and MIDI events to a Standard MIDI File.

mod common;

use common::*;
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
