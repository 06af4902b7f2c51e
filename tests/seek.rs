// SPDX-License-Identifier: MPL-2.0
//! Seeks and loops through the whole chain (pianocrop ! video2roll ! roll2midi): the notes
//! after a seek depend only on where it lands (the same every time) and are as right as
//! those of a run that plays through (not identical: the keyboard-at-rest estimate is formed
//! again from the frames after the seek); looping a part gives the same notes on every pass.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use gst::prelude::*;

/// A 640x360 render of four bars of Bach's Prelude in C (eighths of 120 ms, about 8 s).
fn performance(dir: &std::path::Path) -> std::path::PathBuf {
    use gstpianola::core::midi::notes_to_smf;
    use gstpianola::core::music::bach_prelude_c;
    use gstpianola::core::notes::MSECOND;
    let midi = dir.join("in.mid");
    std::fs::write(
        &midi,
        notes_to_smf(&bach_prelude_c(4, 120 * MSECOND), Some(0)).expect("smf"),
    )
    .expect("write midi");
    let video = dir.join("in.mp4");
    run(
        &parse(&format!(
            "pianosim location={} seed=11 width=640 height=360 framerate=25/1 tail=300 ! videoconvert ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            midi.display(),
            video.display()
        )),
        Duration::from_secs(240),
    )
    .expect("render");
    video
}

/// Note-ons (time in ms, note) that roll2midi sent, one list per segment it sent.
type Passes = Arc<Mutex<Vec<Vec<(u64, u8)>>>>;

fn chain(video: &std::path::Path) -> (gst::Pipeline, Passes) {
    let p = parse(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! pianocrop ! video2roll ! roll2midi name=r ! audio/x-midi-event ! fakesink sync=false",
        video.display()
    ));
    let passes: Passes = Arc::new(Mutex::new(Vec::new()));
    let pad = p.by_name("r").unwrap().static_pad("src").unwrap();
    let out = passes.clone();
    pad.add_probe(
        gst::PadProbeType::BUFFER
            | gst::PadProbeType::BUFFER_LIST
            | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let mut all = out.lock().unwrap();
            let mut note = |b: &gst::BufferRef| {
                let m = b.map_readable().unwrap();
                if m.len() >= 3 && m[0] & 0xF0 == 0x90 && m[2] > 0 {
                    let t = b.pts().map(|t| t.mseconds()).unwrap_or(u64::MAX);
                    if let Some(last) = all.last_mut() {
                        last.push((t, m[1]));
                    }
                }
            };
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => note(b),
                Some(gst::PadProbeData::BufferList(l)) => l.iter().for_each(note),
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Segment => {
                    all.push(Vec::new())
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    (p, passes)
}

/// Play for a second, then seek (flushing, accurate) to `start`, and play to the end,
/// looping the part `start..stop` `loops` times with segment seeks when `stop` is given.
/// The note-ons of each segment after the first seek.
fn play(
    video: &std::path::Path,
    start: f64,
    stop: Option<f64>,
    loops: usize,
) -> Vec<Vec<(u64, u8)>> {
    let (p, passes) = chain(video);
    let bus = p.bus().unwrap();
    let wait = |types: &[gst::MessageType]| -> gst::Message {
        let mut all = vec![gst::MessageType::Error];
        all.extend_from_slice(types);
        let m = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(120), &all)
            .expect("timed out");
        if let gst::MessageView::Error(e) = m.view() {
            panic!("{} ({:?})", e.error(), e.debug());
        }
        m
    };
    let seek = |flags: gst::SeekFlags| {
        let end = stop.map(gst::ClockTime::from_seconds_f64);
        p.seek(
            1.0,
            flags | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            gst::ClockTime::from_seconds_f64(start),
            if end.is_some() {
                gst::SeekType::Set
            } else {
                gst::SeekType::None
            },
            end,
        )
        .expect("seek");
    };
    p.set_state(gst::State::Playing).unwrap();
    wait(&[gst::MessageType::AsyncDone]);
    // A second of playing first: the seek comes while the keyboard is locked.
    let t0 = std::time::Instant::now();
    while passes
        .lock()
        .unwrap()
        .last()
        .and_then(|v| v.last())
        .is_none_or(|&(t, _)| t < 1_000)
    {
        assert!(t0.elapsed() < Duration::from_secs(120), "no notes came");
        std::thread::sleep(Duration::from_millis(2));
    }
    let looping = stop.is_some() && loops > 1;
    seek(if looping {
        gst::SeekFlags::FLUSH | gst::SeekFlags::SEGMENT
    } else {
        gst::SeekFlags::FLUSH
    });
    let skip = passes.lock().unwrap().len();
    for pass in 1..loops.max(1) {
        if !looping {
            break;
        }
        wait(&[gst::MessageType::SegmentDone]);
        let last = pass + 1 == loops;
        seek(if last {
            gst::SeekFlags::empty()
        } else {
            gst::SeekFlags::SEGMENT
        });
    }
    wait(&[gst::MessageType::Eos]);
    p.set_state(gst::State::Null).unwrap();
    let out = passes.lock().unwrap().split_off(skip);
    out.into_iter().filter(|v| !v.is_empty()).collect()
}

/// Onset F1 of `a` against `b` at 50 ms, by the project's own scoring.
fn onset_f1(a: &[(u64, u8)], b: &[(u64, u8)]) -> f64 {
    use gstpianola::core::metrics::onset_metrics;
    use gstpianola::core::notes::{MSECOND, Note};
    let notes = |v: &[(u64, u8)]| -> Vec<Note> {
        v.iter()
            .map(|&(t, n)| Note::new(n, t * MSECOND, (t + 100) * MSECOND, 100))
            .collect()
    };
    onset_metrics(&notes(a), &notes(b), 0.05).f1
}

fn within(notes: &[(u64, u8)], from_ms: u64, to_ms: u64) -> Vec<(u64, u8)> {
    notes
        .iter()
        .copied()
        .filter(|&(t, _)| t >= from_ms && t < to_ms)
        .collect()
}

#[test]
fn seeks_are_reproducible_and_as_right_as_playing_through_and_loops_repeat() {
    init();
    let dir = tmpdir("seek");
    let video = performance(&dir);
    let whole = {
        let (p, passes) = chain(&video);
        run(&p, Duration::from_secs(120)).unwrap();
        passes.lock().unwrap().concat()
    };
    assert!(
        whole.len() > 40,
        "only {} notes in the whole run",
        whole.len()
    );
    let truth: Vec<(u64, u8)> = {
        use gstpianola::core::music::bach_prelude_c;
        use gstpianola::core::notes::MSECOND;
        bach_prelude_c(4, 120 * MSECOND)
            .iter()
            .map(|n| (n.start / MSECOND, n.pitch))
            .collect()
    };
    // About as right as the whole run on the same part (`slack` below its onset F1),
    // scored against the true notes.
    let as_right = |notes: &[(u64, u8)], from: u64, to: u64, slack: f64| {
        let (a, b, t) = (
            within(notes, from, to),
            within(&whole, from, to),
            within(&truth, from, to),
        );
        let (f, g) = (onset_f1(&a, &t), onset_f1(&b, &t));
        assert!(
            f >= 0.85 && f >= g - slack,
            "onset F1 {f:.3} against the truth, the whole run's {g:.3}: {a:?} / {b:?}"
        );
    };
    // Seeked to 3 s: the same notes each time (the rest estimate starts again at the seek,
    // so nothing before it counts), nearly as right as the whole run's (a note held across
    // the seek point starts there; measured: the model shipped since 2026-12-05 0.943
    // against the whole run's 1.000, one wrong and one missed note while its rest picture
    // forms, and one extra; the one before, 1.000).
    let seeked = play(&video, 3.0, None, 1).concat();
    let again = play(&video, 3.0, None, 1).concat();
    assert_eq!(seeked, again);
    as_right(&seeked, 3_500, u64::MAX, 0.07);
    // The part 2..6 s three times: every pass the same notes, away from the part's ends
    // (whose windows see the part's edge frames) nearly as right as the whole run's: each
    // pass starts its rest picture again, and in its first seconds that picture is still
    // forming (measured: onset F1 0.91 against the whole run's 1.00 on 2.5..5.8 s).
    let passes = play(&video, 2.0, Some(6.0), 3);
    assert_eq!(passes.len(), 3, "{passes:?}");
    assert!(passes[0].len() > 15, "{passes:?}");
    assert_eq!(passes[0], passes[1]);
    assert_eq!(passes[1], passes[2]);
    as_right(&passes[0], 2_500, 5_800, 0.12);
}
