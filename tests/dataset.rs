// SPDX-License-Identifier: MPL-2.0
//! `pianola dataset`: labelled clips for training; video, true MIDI and labels agree.

mod common;

use common::*;
use gstpianola::core::dataset::{Split, seed_split};
use gstpianola::core::midi::smf_to_notes;

#[test]
fn a_rendered_clip_has_video_truth_and_labels() {
    init();
    let dir = tmpdir("dataset");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pianola"))
        .args([
            "dataset",
            "--clips",
            "1",
            "--procedural",
            "--seconds",
            "2",
            "--seed",
            "1",
        ])
        .args([
            "--width",
            "320",
            "--height",
            "180",
            "--fps",
            "25",
            "--only-held-out",
        ])
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("run pianola");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = dir.join("held-out");
    let labels = held.join("clip-00000.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&labels).unwrap()).unwrap();
    assert_eq!(json["split"], "held-out");
    assert_eq!(seed_split(json["seed"].as_u64().unwrap()), Split::HeldOut);
    assert_eq!(
        (json["width"].as_i64(), json["height"].as_i64()),
        (Some(320), Some(180))
    );
    assert!([88, 76, 61].contains(&json["keys"].as_i64().unwrap()));
    // Corners inside the frame, in order.
    let c: Vec<[f64; 2]> = serde_json::from_value(json["corners"].clone()).unwrap();
    assert!(
        c.iter()
            .all(|p| p[0] >= 0.0 && p[0] <= 320.0 && p[1] >= 0.0 && p[1] <= 180.0)
    );
    assert!(c[0][0] < c[1][0] && c[3][0] < c[2][0] && c[0][1] < c[3][1]);
    // The true MIDI has the notes (folded into the instrument's range), frame-quantised.
    let src = smf_to_notes(&std::fs::read(held.join("clip-00000.src.mid")).unwrap()).unwrap();
    let truth = smf_to_notes(&std::fs::read(held.join("clip-00000.truth.mid")).unwrap()).unwrap();
    assert!(
        truth.len() + 2 >= src.len() && !truth.is_empty(),
        "{} vs {}",
        truth.len(),
        src.len()
    );
    // The video decodes to the right number of frames: the notes + 0.5 s tail at 25 fps...
    let (bufs, _) = collect(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! appsink name=out",
        held.join("clip-00000.mp4").display()
    ))
    .unwrap();
    let last_end = src.iter().map(|n| n.end).max().unwrap();
    let expect = (last_end + 1_000_000_000) * 25 / 1_000_000_000 + 1;
    assert_eq!(bufs.len() as u64, expect);
    // ...and starts at 0, on the labels' clock (no codec reorder delay).
    assert_eq!(bufs[0].pts(), Some(gst::ClockTime::ZERO));
}

#[test]
fn train_refuses_a_clip_share_outside_0_to_1() {
    let dir = tmpdir("clip-share");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pianola"))
        .args(["train", "--clip-share", "1.5", "--max-steps", "1"])
        .arg("--out")
        .arg(dir.join("m.safetensors"))
        .output()
        .expect("run pianola");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--clip-share 1.5"), "{err}");
    assert!(!dir.join("m.safetensors").exists());
}
