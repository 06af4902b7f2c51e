// SPDX-License-Identifier: MPL-2.0
//! Every description in pipelines/ parses; the ones that read and write files run on a short
//! input.

mod common;

use common::*;

/// The pipeline text of a file: comment lines dropped, variables substituted.
fn description(path: &std::path::Path, vars: &[(&str, String)]) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut desc: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    for (k, v) in vars {
        desc = desc.replace(&format!("${{{k}}}"), v);
    }
    assert!(
        !desc.contains("${"),
        "{}: unknown variable in {desc}",
        path.display()
    );
    desc
}

#[test]
fn every_pipeline_parses_and_file_ones_run() {
    init();
    let dir = tmpdir("pipelines");
    // A short rendered performance for the video pipelines.
    // Notes of 150 ms: in the shortest clip (60 ms a note, a frame and a half) video2roll
    // finds one or two of the 16 notes, with no clear onset, and roll2midi's onset gate then
    // keeps none.
    let (midi, video) = performance(&dir, false, 2, 150);
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gst"))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    let mut ran = 0;
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let out = dir.join(format!("{name}.out"));
        let desc = description(
            f,
            &[
                ("MIDI", midi.display().to_string()),
                ("VIDEO", video.display().to_string()),
                ("OUTPUT", out.display().to_string()),
            ],
        );
        let pipeline = parse(&desc);
        let live = ["autoaudiosink", "autovideosink", "v4l2src"]
            .iter()
            .any(|e| desc.contains(e));
        if live {
            continue;
        }
        run(&pipeline, std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{name} wrote {len} bytes");
        ran += 1;
    }
    assert!(ran >= 7, "{ran} file pipelines ran");
}
