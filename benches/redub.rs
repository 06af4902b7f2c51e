// SPDX-License-Identifier: MPL-2.0
//! Where a re-dub's time goes, on the real Bach clip (720p25 HEVC, 131.7 s; from the shared
//! data, skipped with a line when it is not there): decoding alone, then each stage added in
//! turn, each to a fakesink, then the whole `pianola redub` to MP4 + WAV + MIDI, all in one
//! run. Each row prints its wall time, its speed against real time, and its speed against
//! decoding alone (issue 24's bars: the re-dub at 6x real time or more, the file pipeline at
//! 0.5x the decoder's speed or more). `PIANOLA_BENCH_REPEAT=N` runs each row N times and keeps
//! the fastest (default 1).

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The clip's length (its README), for the real-time factor.
const CLIP_SECONDS: f64 = 131.7;

fn time_pipeline(desc: &str) -> f64 {
    let p = common::launch(desc);
    let t0 = Instant::now();
    common::run_to_eos(&p);
    t0.elapsed().as_secs_f64()
}

/// The whole `pianola redub` to MP4 + WAV + MIDI, with `model` (video2roll weights) when given.
fn time_redub(video: &Path, dir: &Path, model: Option<&Path>, video2roll: &str) -> f64 {
    let t0 = Instant::now();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pianola"));
    cmd.arg("redub")
        .arg(video)
        .args(["-q", "-o"])
        .arg(dir.join("bach.mp4"))
        .arg("-o")
        .arg(dir.join("bach.wav"))
        .arg("--midi")
        .arg(dir.join("bach.mid"));
    if let Some(m) = model {
        cmd.arg("--model").arg(m);
    }
    if !video2roll.is_empty() {
        cmd.args(["--video2roll", video2roll]);
    }
    let status = cmd.status().expect("run pianola redub");
    assert!(status.success(), "pianola redub failed: {status}");
    t0.elapsed().as_secs_f64()
}

fn best_of(repeat: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..repeat.max(1))
        .map(|_| f())
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    gst::init().expect("gst");
    gstpianola::plugin_register_static().expect("register");
    let video = common::shared_data("data/real/bach/video.mp4");
    if !video.is_file() {
        println!(
            "redub bench skipped: {} is not there (set PIANOLA_SHARED)",
            video.display()
        );
        return;
    }
    let repeat = std::env::var("PIANOLA_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let dir = std::env::temp_dir().join(format!("pianola-redub-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = format!("filesrc location=\"{}\" ! decodebin", video.display());
    let wav = dir.join("stages.wav");
    let stages = [
        ("decode alone", format!("{src} ! fakesink sync=false")),
        (
            "+ pianocrop",
            format!("{src} ! videoconvert ! pianocrop ! fakesink sync=false"),
        ),
        (
            "+ video2roll",
            format!("{src} ! videoconvert ! pianocrop ! queue ! video2roll ! fakesink sync=false"),
        ),
        (
            "+ roll2midi",
            format!(
                "{src} ! videoconvert ! pianocrop ! queue ! video2roll ! roll2midi ! fakesink sync=false"
            ),
        ),
        (
            "+ midisynth ! wavenc",
            format!(
                "{src} ! videoconvert ! pianocrop ! queue ! video2roll ! roll2midi ! midisynth ! audioconvert ! wavenc ! filesink location=\"{}\"",
                wav.display()
            ),
        ),
        // The synthesiser in a thread of its own, as `pianola redub` runs it: the net's
        // thread is the pipeline's slowest, and the synthesiser then leaves it.
        (
            "+ queue ! midisynth ! wavenc",
            format!(
                "{src} ! videoconvert ! pianocrop ! queue ! video2roll ! roll2midi ! queue ! midisynth ! audioconvert ! wavenc ! filesink location=\"{}\"",
                wav.display()
            ),
        ),
    ];
    println!(
        "redub bench: {} ({CLIP_SECONDS} s), {} cores, best of {repeat}",
        video.display(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<44} {:>8} {:>12} {:>14}",
        "stage", "wall s", "x real time", "x decode speed"
    );
    let mut decode = None;
    let mut row = |name: &str, s: f64| {
        let d = *decode.get_or_insert(s);
        println!(
            "{name:<44} {s:>8.2} {:>12.2} {:>14.2}",
            CLIP_SECONDS / s,
            d / s
        );
    };
    for (name, desc) in &stages {
        row(name, best_of(repeat, || time_pipeline(desc)));
    }
    row(
        "pianola redub to MP4 + WAV + MIDI (whole)",
        best_of(repeat, || time_redub(&video, &dir, None, "")),
    );
    // Whole frames side by side in video2roll, one per core (batch-size = workers = cores).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let par = format!("batch-size={cores} workers={cores}");
    for (name, tail) in [
        ("+ video2roll (workers)", "fakesink sync=false".to_string()),
        (
            "+ roll2midi ! midisynth ! wavenc (workers)",
            format!(
                "roll2midi ! midisynth ! audioconvert ! wavenc ! filesink location=\"{}\"",
                wav.display()
            ),
        ),
    ] {
        let desc = format!("{src} ! videoconvert ! pianocrop ! queue ! video2roll {par} ! {tail}");
        row(name, best_of(repeat, || time_pipeline(&desc)));
    }
    row(
        "pianola redub --video2roll workers (whole)",
        best_of(repeat, || time_redub(&video, &dir, None, &par)),
    );
    // The faster net shipped beside the default one (models/video2roll-half.safetensors).
    let half = std::env::var_os("PIANOLA_MODEL_DIR")
        .map_or_else(|| PathBuf::from("models"), PathBuf::from)
        .join("video2roll-half.safetensors");
    if !half.is_file() {
        println!("half-resolution net: {} is not there", half.display());
    } else {
        let m = format!("model=\"{}\"", half.display());
        for (name, tail) in [
            ("+ video2roll (half net)", "fakesink sync=false".to_string()),
            (
                "+ roll2midi ! midisynth ! wavenc (half net)",
                format!(
                    "roll2midi ! midisynth ! audioconvert ! wavenc ! filesink location=\"{}\"",
                    wav.display()
                ),
            ),
            (
                "+ roll2midi ! queue ! midisynth ! wavenc (half net)",
                format!(
                    "roll2midi ! queue ! midisynth ! audioconvert ! wavenc ! filesink location=\"{}\"",
                    wav.display()
                ),
            ),
        ] {
            let desc =
                format!("{src} ! videoconvert ! pianocrop ! queue ! video2roll {m} ! {tail}");
            row(name, best_of(repeat, || time_pipeline(&desc)));
            let desc =
                format!("{src} ! videoconvert ! pianocrop ! queue ! video2roll {m} {par} ! {tail}");
            row(
                &format!("{name} (workers)"),
                best_of(repeat, || time_pipeline(&desc)),
            );
        }
        row(
            "pianola redub --model (half net) (whole)",
            best_of(repeat, || time_redub(&video, &dir, Some(&half), "")),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
