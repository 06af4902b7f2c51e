// SPDX-License-Identifier: MPL-2.0
//! pianosim: playable video, true roll, true corners, determinism, errors.

mod common;

use common::*;
use gstpianola::caps;
use gstpianola::core::geometry::Homography;
use gstpianola::core::keyboard::{Keyboard, is_black};
use gstpianola::core::midi::{notes_to_smf, smf_to_notes};
use gstpianola::core::music::bach_prelude_c;
use gstpianola::core::notes::{MSECOND, Note, frame_times, notes_to_roll};
use gstpianola::core::roll::{RollLayout, ValueFormat, VelocityFrame};
use gstpianola::core::sim::{RESTRIKE_GAP, SimConfig, Simulator, View};

fn midi(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("in.mid");
    std::fs::write(
        &p,
        notes_to_smf(&bach_prelude_c(1, 100 * MSECOND), Some(0)).unwrap(),
    )
    .unwrap();
    p
}

#[test]
fn renders_a_playable_mp4() {
    init();
    let dir = tmpdir("sim-mp4");
    let mid = midi(&dir);
    let mp4 = dir.join("x.mp4");
    run(
        &parse(&format!(
            "pianosim location={} width=320 height=180 framerate=25/1 tail=200 ! videoconvert ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            mid.display(),
            mp4.display()
        )),
        std::time::Duration::from_secs(120),
    )
    .unwrap();
    // Decode it back: every frame is there (1.6 s of notes + 0.2 s tail at 25 fps).
    let (bufs, caps) = collect(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! appsink name=out",
        mp4.display()
    ))
    .unwrap();
    let s = caps.unwrap();
    let s = s.structure(0).unwrap();
    assert_eq!(
        (
            s.get::<i32>("width").unwrap(),
            s.get::<i32>("height").unwrap()
        ),
        (320, 180)
    );
    assert_eq!(bufs.len(), 46);
}

#[test]
fn roll_pad_carries_the_true_key_states() {
    init();
    let dir = tmpdir("sim-roll");
    let mid = midi(&dir);
    let p = parse(&format!(
        "pianosim name=s location={} width=160 height=90 framerate=30/1 keys=88 s.video ! fakesink s.roll ! appsink name=out",
        mid.display()
    ));
    let (bufs, caps) = collect_with(p).unwrap();
    let (layout, rate) = caps::parse_roll_caps(&caps.unwrap()).unwrap();
    assert_eq!(layout, RollLayout::piano88(ValueFormat::U8, true));
    assert_eq!(rate, gst::Fraction::new(30, 1));
    // Independently: the MIDI's key states at each frame's time, each key up for
    // RESTRIKE_GAP before it is struck again.
    let notes = playable(smf_to_notes(&std::fs::read(&mid).unwrap()).unwrap());
    let times = frame_times(bufs.len(), 30, 1);
    let expect = notes_to_roll(&notes, &layout, &times);
    for (i, (b, e)) in bufs.iter().zip(&expect).enumerate() {
        assert_eq!(b.pts().unwrap().nseconds(), times[i]);
        let got = VelocityFrame::from_bytes(&layout, b.map_readable().unwrap().as_slice()).unwrap();
        assert_eq!(&got, e, "frame {i}");
    }
    assert!(
        expect
            .iter()
            .filter(|f| f.frame.iter().any(|&v| v > 0))
            .count()
            > 30
    );
}

#[test]
fn roll_pad_through_midienc_gives_the_aligned_midi() {
    init();
    let dir = tmpdir("sim-truth");
    let mid = midi(&dir);
    let truth = dir.join("truth.mid");
    run(
        &parse(&format!(
            "pianosim name=s location={} width=160 height=90 framerate=25/1 s.video ! fakesink s.roll ! midienc ! filesink location={}",
            mid.display(),
            truth.display()
        )),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let a = playable(smf_to_notes(&std::fs::read(&mid).unwrap()).unwrap());
    let b = smf_to_notes(&std::fs::read(&truth).unwrap()).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        // Frame-quantised: within one 40 ms frame.
        assert_eq!(x.pitch, y.pitch);
        assert!(x.start.abs_diff(y.start) < 40 * MSECOND && x.end.abs_diff(y.end) < 40 * MSECOND);
    }
}

/// Notes as a hand plays them: a key repeated sooner than RESTRIKE_GAP after it was let go
/// is let go RESTRIKE_GAP before the repeat (halfway for very fast repeats).
fn playable(mut notes: Vec<Note>) -> Vec<Note> {
    notes.sort();
    let starts: Vec<(u8, u64)> = notes.iter().map(|n| (n.pitch, n.start)).collect();
    for n in notes.iter_mut() {
        let next = starts
            .iter()
            .filter(|(p, s)| *p == n.pitch && *s > n.start)
            .map(|(_, s)| *s)
            .min();
        if let Some(s) = next
            && n.end + RESTRIKE_GAP > s
        {
            n.end = if n.start + RESTRIKE_GAP < s - RESTRIKE_GAP {
                n.end.min(s - RESTRIKE_GAP)
            } else {
                n.end.min(n.start + (s - n.start) / 2)
            };
        }
    }
    notes
}

fn luma(px: &[u8], w: u32, p: [f64; 2]) -> f32 {
    let (x, y) = (p[0].round() as usize, p[1].round() as usize);
    let i = (y * w as usize + x) * 4;
    0.299 * px[i] as f32 + 0.587 * px[i + 1] as f32 + 0.114 * px[i + 2] as f32
}

/// Sample each key through the reported corners: white keys must be light near the front,
/// black keys dark near the back. Hands cover some keys, so most (not all) must agree.
fn corners_match_keys(seed: u64, keys: usize, view: View) {
    let notes = bach_prelude_c(1, 100 * MSECOND);
    let config = SimConfig {
        seed,
        keys: Some(keys),
        view,
        ..Default::default()
    };
    let mut sim = Simulator::new(&notes, &config).unwrap();
    let kb = Keyboard::standard(keys).unwrap();
    let c = sim.corners().map(|p| [p[0] as f64, p[1] as f64]);
    let unit = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let h = Homography::from_points(&unit, &c).unwrap();
    let w = sim.width();
    let last = sim.n_frames() - 1;
    let px = sim.render(last).to_vec();
    let (mut ok, mut total) = (0, 0);
    for n in kb.notes() {
        let (a, b) = kb.span(n).unwrap();
        let u = (a + b) as f64 / 2.0;
        total += 1;
        if is_black(n) {
            // Black keys are dark; the white key beside them, at the same depth, is light.
            let dark = luma(&px, w, h.apply([u, 0.3]));
            let beside = luma(&px, w, h.apply([a as f64 - 0.004, 0.3]));
            if dark < 90.0 && beside - dark > 60.0 {
                ok += 1;
            }
        } else if luma(&px, w, h.apply([u, 0.92])) > 120.0 {
            ok += 1;
        }
    }
    assert!(
        ok as f32 >= 0.85 * total as f32,
        "seed {seed}: {ok}/{total} keys where the corners say"
    );
}

#[test]
fn corners_match_the_drawn_keyboard() {
    for (seed, keys) in [(1, 88), (2, 76), (3, 61), (4, 88), (5, 88)] {
        corners_match_keys(seed, keys, View::Scene);
    }
    corners_match_keys(6, 61, View::Canonical);
}

#[test]
fn shifted_corners_do_not_match() {
    // The check above can fail: corners off by half a white key put samples on the wrong keys.
    let notes = bach_prelude_c(1, 100 * MSECOND);
    let mut sim = Simulator::new(
        &notes,
        &SimConfig {
            seed: 1,
            keys: Some(88),
            ..Default::default()
        },
    )
    .unwrap();
    let kb = Keyboard::standard(88).unwrap();
    let c = sim.corners().map(|p| [p[0] as f64, p[1] as f64]);
    let half = (c[1][0] - c[0][0]) / 52.0 * 0.5;
    let shifted = c.map(|p| [p[0] + half, p[1]]);
    let h = Homography::from_points(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], &shifted)
        .unwrap();
    let w = sim.width();
    let last = sim.n_frames() - 1;
    let px = sim.render(last).to_vec();
    let dark_blacks = kb
        .notes()
        .filter(|&n| is_black(n))
        .filter(|&n| {
            let (a, b) = kb.span(n).unwrap();
            luma(&px, w, h.apply([(a + b) as f64 / 2.0, 0.3])) < 90.0
        })
        .count();
    assert!(
        dark_blacks < 18,
        "{dark_blacks} of 36 black keys still dark"
    );
}

#[test]
fn same_seed_same_frames() {
    let notes = bach_prelude_c(1, 100 * MSECOND);
    let config = SimConfig {
        seed: 9,
        ..Default::default()
    };
    let mut a = Simulator::new(&notes, &config).unwrap();
    let mut b = Simulator::new(&notes, &config).unwrap();
    let mut c = Simulator::new(
        &notes,
        &SimConfig {
            seed: 10,
            ..config.clone()
        },
    )
    .unwrap();
    for i in [0, 7, 20] {
        let fa = a.render(i).to_vec();
        assert_eq!(fa, b.render(i).to_vec(), "frame {i}");
        assert_ne!(
            Some(&fa),
            (c.width() == a.width())
                .then(|| c.render(i).to_vec())
                .as_ref()
        );
    }
    assert_eq!(a.corners(), b.corners());
}

#[test]
fn missing_location_is_a_clear_error() {
    init();
    let err = run(
        &parse("pianosim ! fakesink"),
        std::time::Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(err.contains("location"), "{err}");
    let err = run(
        &parse("pianosim location=/nonexistent.mid ! fakesink"),
        std::time::Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(err.contains("/nonexistent.mid"), "{err}");
    // A MIDI file without notes: said so, naming the file, not the frame size.
    let dir = tmpdir("sim-empty");
    let empty = dir.join("empty.mid");
    std::fs::write(
        &empty,
        gstpianola::core::midi::notes_to_smf(&[], Some(0)).expect("smf"),
    )
    .unwrap();
    let err = run(
        &parse(&format!("pianosim location={} ! fakesink", empty.display())),
        std::time::Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(
        err.contains("empty.mid has no notes") && !err.contains("width"),
        "{err}"
    );
}
