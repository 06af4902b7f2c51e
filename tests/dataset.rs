// SPDX-License-Identifier: MPL-2.0
//! Labelled clips for training: video, true MIDI and labels agree.

mod common;

use common::*;
use gstpianola::core::dataset::{Split, clip_seed, seed_split};
use gstpianola::core::midi::smf_to_notes;
use gstpianola::core::music::procedural;
use gstpianola::dataset::{ClipRequest, render_clip};

#[test]
fn a_rendered_clip_has_video_truth_and_labels() {
    init();
    let dir = tmpdir("dataset");
    let notes = procedural(5, 2.0);
    let seed = clip_seed(1, 0, Split::HeldOut);
    let req = ClipRequest {
        name: "c0".into(),
        piece: "procedural-5".into(),
        seed,
        width: 320,
        height: 180,
        fps: (25, 1),
        canonical: false,
    };
    let labels = render_clip(&notes, &req, &dir).unwrap();
    assert_eq!((labels.width, labels.height), (320, 180));
    assert!([88, 76, 61].contains(&labels.keys));
    // Corners inside the frame, in order.
    let c = labels.corners;
    assert!(
        c.iter()
            .all(|p| p[0] >= 0.0 && p[0] <= 320.0 && p[1] >= 0.0 && p[1] <= 180.0)
    );
    assert!(c[0][0] < c[1][0] && c[3][0] < c[2][0] && c[0][1] < c[3][1]);
    // The true MIDI has the notes (folded into the instrument's range), frame-quantised.
    let truth = smf_to_notes(&std::fs::read(&labels.truth_midi).unwrap()).unwrap();
    assert!(
        truth.len() + 2 >= notes.len() && !truth.is_empty(),
        "{} vs {}",
        truth.len(),
        notes.len()
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&labels.labels).unwrap()).unwrap();
    assert_eq!(json["split"], "held-out");
    assert_eq!(seed_split(json["seed"].as_u64().unwrap()), Split::HeldOut);
    // The video decodes to the right number of frames: 2 s of notes + 1 s tail at 25 fps.
    let (bufs, _) = collect(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! appsink name=out",
        labels.video.display()
    ))
    .unwrap();
    let last_end = notes.iter().map(|n| n.end).max().unwrap();
    let expect = (last_end + 1_000_000_000) * 25 / 1_000_000_000 + 1;
    assert_eq!(bufs.len() as u64, expect);
    // ...and starts at 0, on the labels' clock (no codec reorder delay).
    assert_eq!(bufs[0].pts(), Some(gst::ClockTime::ZERO));
    // The strips pianocrop makes of it carry the same times.
    let c = labels.corners;
    let corners = c
        .iter()
        .map(|p| format!("{},{}", p[0], p[1]))
        .collect::<Vec<_>>()
        .join(",");
    let strips =
        gstpianola::dataset::decode_strips(&labels.video, Some(&corners), 0, u64::MAX).unwrap();
    assert_eq!(strips.len(), bufs.len());
    assert_eq!(strips[1].pts, 40_000_000);
    assert!(strips.iter().all(|s| !s.gap && s.luma.len() == 900 * 100));
}
