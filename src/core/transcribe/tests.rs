// SPDX-License-Identifier: MPL-2.0

use super::*;
use crate::core::notes::MSECOND;
use crate::core::roll::ValueFormat;

fn layout(keys: usize, onset: bool) -> RollLayout {
    RollLayout {
        format: ValueFormat::F32,
        keys,
        lowest_note: 60,
        onset,
    }
}

/// Frames of one key with these probabilities.
fn key_frames(p: &[f32]) -> Vec<ProbFrame> {
    p.iter()
        .map(|&v| ProbFrame {
            frame: vec![v],
            onset: None,
        })
        .collect()
}

fn params(min_frames: usize, sigma: f32) -> TrackerParams {
    TrackerParams {
        threshold: 0.5,
        hysteresis: 0.2,
        min_frames,
        smoothing_sigma: sigma,
        ..Default::default()
    }
}

/// Notes of one key tracked through `p` (and onsets `o`), with a jump before `jump`.
fn notes_across_jump(p: &[f32], o: &[f32], jump: Option<u64>) -> Vec<Note> {
    let mut t = NoteTracker::new(params(1, 0.0), layout(1, true)).unwrap();
    let times = constant_rate_times(p.len(), 25, 1);
    let mut events = Vec::new();
    for (i, ((&p, &o), tm)) in p.iter().zip(o).zip(&times).enumerate() {
        if jump == Some(i as u64) {
            t.hold_across_jump(i as u64, 3);
        }
        let f = ProbFrame {
            frame: vec![p],
            onset: Some(vec![o]),
        };
        events.extend(t.push(f, *tm).unwrap().into_iter().flat_map(|f| f.events));
    }
    let (rest, tail) = t.finish();
    events.extend(rest.into_iter().flat_map(|f| f.events));
    events.extend(tail);
    events_to_notes(&events, 400 * MSECOND)
}

#[test]
fn a_held_key_is_not_struck_again_across_a_jump() {
    // A key held through a jump of the picture: the model dips for two frames and sees a
    // fresh onset after it.
    let p = [0.9, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9, 0.0, 0.0];
    let o = [0.9, 0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0];
    // Without the jump: a release and a new note.
    assert_eq!(notes_across_jump(&p, &o, None).len(), 2);
    // With it: one note, from the first frame to the release after the jump.
    assert_eq!(
        notes_across_jump(&p, &o, Some(3)),
        vec![Note::new(60, 0, 320 * MSECOND, 100)]
    );
    // A key that stays up is released when the hold is over.
    let p = [0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0];
    assert_eq!(
        notes_across_jump(&p, &o, Some(3)),
        vec![Note::new(60, 0, 240 * MSECOND, 100)]
    );
}

/// Notes of one key with an onset channel (`p` key-down, `o` onset), 25 frames/s.
fn one_key_notes(p: &[f32], o: &[f32], params: TrackerParams) -> Vec<Note> {
    let f: Vec<ProbFrame> = p
        .iter()
        .zip(o)
        .map(|(&p, &o)| ProbFrame {
            frame: vec![p],
            onset: Some(vec![o]),
        })
        .collect();
    let times = constant_rate_times(f.len(), 25, 1);
    roll_to_notes(&f, &times, layout(1, true), params).unwrap()
}

/// Notes of one key with an onset channel, through the onset gate at 0.5.
fn gated(p: &[f32], o: &[f32], gate: f32) -> Vec<Note> {
    let params = TrackerParams {
        onset_gate: gate,
        gate_hold: 5,
        min_frames: 2,
        ..params(2, 0.0)
    };
    one_key_notes(p, o, params)
}

/// Notes of one key with an onset channel, starts aligned to strikes up to `align` frames.
fn aligned(p: &[f32], o: &[f32], align: usize) -> Vec<Note> {
    aligned_every(p, o, align, 1)
}

/// The same from a net whose window takes every `step`-th frame.
fn aligned_every(p: &[f32], o: &[f32], align: usize, step: usize) -> Vec<Note> {
    let params = TrackerParams {
        onset_align: align,
        window_step: step,
        // Re-strikes only by a clear onset rising.
        onset_threshold: 0.95,
        ..params(2, 0.0)
    };
    one_key_notes(p, o, params)
}

#[test]
fn onset_alignment_starts_a_note_at_its_strike() {
    let ms = |f: u64| f * 40 * MSECOND;
    // The key-down probability rises at frame 2, the strike peaks at frame 4.
    let p = [0.0, 0.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0];
    let o = [0.0, 0.0, 0.3, 0.5, 0.8, 0.2, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(aligned(&p, &o, 0), vec![Note::new(60, ms(2), ms(8), 100)]);
    // One frame allowed: the start moves to the stronger strike at frame 3 only.
    assert_eq!(aligned(&p, &o, 1), vec![Note::new(60, ms(3), ms(8), 100)]);
    for align in [2, 3, 6] {
        assert_eq!(
            aligned(&p, &o, align),
            vec![Note::new(60, ms(4), ms(8), 100)],
            "align {align}"
        );
    }
    // A strike at or before the key went down leaves the start where it is.
    let early = [0.0, 0.9, 0.6, 0.5, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(
        aligned(&p, &early, 3),
        vec![Note::new(60, ms(2), ms(8), 100)]
    );
    // The start never moves past the note's end, and the note's length is counted from
    // the key going down: a two-frame note starts at its stronger second frame and is kept
    // (`min_frames` 2), the strike after it ignored.
    let p = [0.0, 0.9, 0.9, 0.0, 0.0, 0.0];
    let o = [0.0, 0.1, 0.2, 0.9, 0.0, 0.0];
    assert_eq!(aligned(&p, &o, 3), vec![Note::new(60, ms(2), ms(3), 100)]);
    // Without an onset channel it does nothing.
    let params = TrackerParams {
        onset_align: 3,
        ..params(2, 0.0)
    };
    let times = constant_rate_times(4, 25, 1);
    assert_eq!(
        roll_to_notes(
            &key_frames(&[0.9, 0.9, 0.9, 0.0]),
            &times,
            layout(1, false),
            params
        )
        .unwrap(),
        vec![Note::new(60, 0, ms(3), 100)]
    );
}

#[test]
fn onset_alignment_takes_the_first_frame_a_wider_window_shows_a_strike_on() {
    let ms = |f: u64| f * 40 * MSECOND;
    let with_step = |p: &[f32], o: &[f32], step| aligned_every(p, o, 2, step);
    // A window of every 2nd frame sees the key go down (frame 3) from frames 3 and 4 alike
    // (the same images, or the same up-then-down pattern); the later one scores a hair higher.
    let p = [0.0, 0.0, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0];
    let o = [0.0, 0.0, 0.3, 0.9, 0.903, 0.2, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(with_step(&p, &o, 1), vec![Note::new(60, ms(4), ms(8), 100)]);
    assert_eq!(with_step(&p, &o, 2), vec![Note::new(60, ms(3), ms(8), 100)]);
    // The key went down a frame before the strike's first frame: the start still moves.
    let p = [0.0, 0.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0];
    let o = [0.0, 0.0, 0.1, 0.9, 0.902, 0.2, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(with_step(&p, &o, 2), vec![Note::new(60, ms(3), ms(8), 100)]);
    // An onset still rising (0.85 against 0.9) is the strike coming, not the same strike
    // seen twice: the start is the peak, as with a step of 1.
    let o = [0.0, 0.0, 0.3, 0.85, 0.9, 0.2, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(with_step(&p, &o, 2), vec![Note::new(60, ms(4), ms(8), 100)]);
    // Never before the key went down (frame 3 here).
    let p = [0.0, 0.0, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0];
    let o = [0.0, 0.0, 0.899, 0.9, 0.901, 0.2, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(with_step(&p, &o, 3), vec![Note::new(60, ms(3), ms(8), 100)]);
    // A 25 frames/s video shown at 50 (every frame twice): the key-down channel rises a
    // frame pair early (frame 2), the strike shows on the pair 4 and 5; the note starts at
    // 4, as at 25 frames/s (frame 2 there), whichever of the pair scores higher.
    let p = [0.0, 0.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0];
    for o in [
        [0.0, 0.0, 0.3, 0.3, 0.9, 0.9, 0.1, 0.1, 0.0, 0.0],
        [0.0, 0.0, 0.3, 0.3, 0.9, 0.902, 0.1, 0.1, 0.0, 0.0],
    ] {
        assert_eq!(with_step(&p, &o, 2), vec![Note::new(60, ms(4), ms(8), 100)]);
    }
    for step in [0, 11] {
        assert!(
            TrackerParams {
                window_step: step,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}

#[test]
fn onset_alignment_is_final_before_output_and_bounded() {
    // The decision look-ahead covers the frames the start may move over.
    let tracker = |align, max_dropout| {
        NoteTracker::new(
            TrackerParams {
                onset_align: align,
                max_dropout,
                ..params(2, 0.0)
            },
            layout(1, true),
        )
        .unwrap()
        .latency_frames()
    };
    assert_eq!(tracker(0, 0), 1);
    assert_eq!(tracker(1, 0), 1);
    assert_eq!(tracker(1, 1), 2);
    assert_eq!(tracker(4, 0), 4);
    assert!(
        TrackerParams {
            onset_align: 11,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn the_onset_gate_keeps_struck_keys_and_drops_keys_only_lit_up() {
    let ms = |f: u64| f * 40 * MSECOND;
    // Lit up for four frames with no strike (glare, a passing hand): no note when gated.
    let p = [0.0, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0];
    let o = [0.0; 8];
    assert_eq!(gated(&p, &o, 0.0), vec![Note::new(60, ms(1), ms(5), 100)]);
    assert_eq!(gated(&p, &o, 0.5), vec![]);
    // A strike up to three frames before the key goes down, or one after, opens it.
    for at in [0, 1, 2] {
        let mut o = [0.0; 8];
        o[at] = 0.8;
        assert_eq!(gated(&p, &o, 0.5).len(), 1, "onset at frame {at}");
    }
    // Two frames after is too late for the frames before it: the note starts at the
    // strike (a re-strike of the key held down).
    let mut late = [0.0; 8];
    late[3] = 0.8;
    assert_eq!(
        gated(&p, &late, 0.5),
        vec![Note::new(60, ms(3), ms(5), 100)]
    );
    // A strike weaker than the gate does not open it.
    let weak = [0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(gated(&p, &weak, 0.5), vec![]);
    // A struck note that the model loses for a few frames comes back without a strike:
    // both parts kept (within gate_hold of its end), a part long after is not.
    let p = [
        0.0, 0.9, 0.9, 0.9, 0.0, 0.0, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.9,
        0.9, 0.0,
    ];
    let mut o = [0.0; 20];
    o[1] = 0.9;
    let notes = gated(&p, &o, 0.5);
    assert_eq!(
        notes,
        vec![
            Note::new(60, ms(1), ms(4), 100),
            Note::new(60, ms(6), ms(9), 100)
        ]
    );
}

#[test]
fn hysteresis_keeps_a_wobbling_key_down() {
    // 0.35 is below the on threshold 0.5 but above the off threshold 0.3.
    let f = key_frames(&[0.0, 0.6, 0.35, 0.55, 0.35, 0.1, 0.0]);
    let times = constant_rate_times(f.len(), 25, 1);
    let notes = roll_to_notes(&f, &times, layout(1, false), params(1, 0.0)).unwrap();
    assert_eq!(notes, vec![Note::new(60, 40 * MSECOND, 200 * MSECOND, 100)]);
}

#[test]
fn short_notes_are_dropped_and_latency_is_min_frames_minus_one() {
    let f = key_frames(&[0.9, 0.0, 0.9, 0.9, 0.9, 0.0, 0.9, 0.9]);
    let times = constant_rate_times(f.len(), 25, 1);
    let mut t = NoteTracker::new(params(3, 0.0), layout(1, false)).unwrap();
    assert_eq!(t.latency_frames(), 2);
    let mut out = Vec::new();
    for (i, (fr, tm)) in f.iter().zip(&times).enumerate() {
        let got = t.push(fr.clone(), *tm).unwrap();
        // After frame i, frames up to i - 2 are out.
        out.extend(got);
        assert_eq!(out.len(), (i + 1).saturating_sub(2));
    }
    let (rest, tail) = t.finish();
    out.extend(rest);
    assert_eq!(out.len(), 8);
    let down: Vec<bool> = out.iter().map(|f| f.roll.is_down(0)).collect();
    // The 1-frame blip and the trailing 2-frame note are too short.
    assert_eq!(down, [false, false, true, true, true, false, false, false]);
    assert!(out[2].roll.is_struck(0));
    assert_eq!(
        out[2].events,
        vec![NoteEvent::On {
            time: 80 * MSECOND,
            pitch: 60,
            velocity: 100
        }]
    );
    assert_eq!(
        out[5].events,
        vec![NoteEvent::Off {
            time: 200 * MSECOND,
            pitch: 60
        }]
    );
    assert!(tail.is_empty());
}

#[test]
fn note_held_at_end_is_released_at_end_of_last_frame() {
    let f = key_frames(&[0.0, 0.9, 0.9]);
    let mut t = NoteTracker::new(params(1, 0.0), layout(1, false)).unwrap();
    for (fr, tm) in f.iter().zip(constant_rate_times(3, 25, 1)) {
        t.push(fr.clone(), tm).unwrap();
    }
    let (_, tail) = t.finish();
    assert_eq!(
        tail,
        vec![NoteEvent::Off {
            time: 120 * MSECOND,
            pitch: 60
        }]
    );
}

#[test]
fn onset_channel_restrikes_held_key() {
    let p = [0.9f32; 6];
    let o = [0.9, 0.8, 0.0, 0.7, 0.0, 0.0];
    let frames: Vec<ProbFrame> = p
        .iter()
        .zip(o)
        .map(|(&p, o)| ProbFrame {
            frame: vec![p],
            onset: Some(vec![o]),
        })
        .collect();
    let times = constant_rate_times(6, 25, 1);
    let notes = roll_to_notes(&frames, &times, layout(1, true), params(1, 0.0)).unwrap();
    assert_eq!(
        notes,
        vec![
            Note::new(60, 0, 120 * MSECOND, 100),
            Note::new(60, 120 * MSECOND, 240 * MSECOND, 100)
        ]
    );
}

#[test]
fn dropouts_without_onset_are_bridged_and_add_latency() {
    let f = key_frames(&[0.0, 0.9, 0.0, 0.9, 0.0, 0.0, 0.9, 0.9, 0.0, 0.0, 0.0]);
    let times = constant_rate_times(f.len(), 25, 1);
    let mut p = params(1, 0.0);
    p.max_dropout = 1;
    assert_eq!(
        NoteTracker::new(p, layout(1, false))
            .unwrap()
            .latency_frames(),
        1
    );
    let notes = roll_to_notes(&f, &times, layout(1, false), p).unwrap();
    // The one-frame dip at frame 2 is bridged; the two-frame dip at 4..6 is a release.
    assert_eq!(
        notes,
        vec![
            Note::new(60, 40 * MSECOND, 160 * MSECOND, 100),
            Note::new(60, 240 * MSECOND, 320 * MSECOND, 100)
        ]
    );
    // With an onset at frame 3, the dip is a re-strike: the first note ends at the dip.
    let with_onset: Vec<ProbFrame> = f
        .iter()
        .enumerate()
        .map(|(i, fr)| ProbFrame {
            frame: fr.frame.clone(),
            onset: Some(vec![if i == 3 { 0.9 } else { 0.0 }]),
        })
        .collect();
    let notes = roll_to_notes(&with_onset, &times, layout(1, true), p).unwrap();
    assert_eq!(notes[0], Note::new(60, 40 * MSECOND, 80 * MSECOND, 100));
    assert_eq!(notes[1], Note::new(60, 120 * MSECOND, 160 * MSECOND, 100));
    // A key still dipping at the end is released where the dip began.
    let tail = key_frames(&[0.9, 0.9, 0.0]);
    let mut p2 = p;
    p2.max_dropout = 3;
    let notes = roll_to_notes(&tail, &constant_rate_times(3, 25, 1), layout(1, false), p2).unwrap();
    assert_eq!(notes, vec![Note::new(60, 0, 80 * MSECOND, 100)]);
}

#[test]
fn smoothing_fills_a_one_frame_dropout_and_adds_latency() {
    let f = key_frames(&[0.0, 0.9, 0.9, 0.9, 0.0, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0]);
    let times = constant_rate_times(f.len(), 25, 1);
    let plain = roll_to_notes(&f, &times, layout(1, false), params(1, 0.0)).unwrap();
    assert_eq!(plain.len(), 2);
    let p = params(1, 1.0);
    assert_eq!(
        NoteTracker::new(p, layout(1, false))
            .unwrap()
            .latency_frames(),
        3
    );
    let smooth = roll_to_notes(&f, &times, layout(1, false), p).unwrap();
    assert_eq!(smooth.len(), 1, "{smooth:?}");
    assert!(smooth[0].start <= 40 * MSECOND && smooth[0].end >= 320 * MSECOND);
}

#[test]
fn streaming_equals_batch_and_keys_are_independent() {
    // Two keys, deterministic pseudo-random probabilities.
    let mut x: u32 = 12345;
    let mut frames = Vec::new();
    for _ in 0..200 {
        let mut f = ProbFrame::silent(2, false);
        for v in f.frame.iter_mut() {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            *v = (x >> 8) as f32 / (1u32 << 24) as f32;
        }
        frames.push(f);
    }
    let times = constant_rate_times(200, 30, 1);
    let mut p = params(3, 1.5);
    p.max_dropout = 2;
    let both = roll_to_notes(&frames, &times, layout(2, false), p).unwrap();
    for key in 0..2 {
        let single: Vec<ProbFrame> = frames
            .iter()
            .map(|f| ProbFrame {
                frame: vec![f.frame[key]],
                onset: None,
            })
            .collect();
        let notes = roll_to_notes(&single, &times, layout(1, false), p).unwrap();
        let of_key: Vec<Note> = both
            .iter()
            .filter(|n| n.pitch == 60 + key as u8)
            .copied()
            .collect();
        let shifted: Vec<Note> = notes
            .iter()
            .map(|n| Note {
                pitch: 60 + key as u8,
                ..*n
            })
            .collect();
        assert_eq!(of_key, shifted);
    }
    assert!(
        both.iter()
            .all(|n| n.end - n.start >= 3 * times[0].duration - 1)
    );
}

#[test]
fn bad_params_and_frames_are_errors() {
    let p = TrackerParams {
        hysteresis: 0.5,
        ..Default::default()
    };
    assert!(matches!(
        NoteTracker::new(p, layout(1, false)),
        Err(TrackerError::Param {
            name: "hysteresis",
            ..
        })
    ));
    let mut t = NoteTracker::new(TrackerParams::default(), layout(2, false)).unwrap();
    assert_eq!(
        t.push(ProbFrame::silent(3, false), FrameTime::default())
            .unwrap_err(),
        TrackerError::Keys {
            got: 3,
            expected: 2
        }
    );
}
