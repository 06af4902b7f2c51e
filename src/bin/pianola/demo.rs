// SPDX-License-Identifier: MPL-2.0
//! `pianola demo`: render the built-in piece, re-dub it, score the transcription.

use std::path::PathBuf;

use anyhow::{Context, Result};
use gstpianola::core::music::{DEMO_SIXTEENTH, bach_prelude_c};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write the outputs.
    #[arg(long, default_value = "demo-out")]
    out_dir: PathBuf,
}

/// Seconds of the built-in piece the demo renders.
const DEMO_SECONDS: f64 = 30.0;

pub fn run(a: &DemoArgs) -> Result<()> {
    let out_dir = a.out_dir.as_path();
    use crate::render::{ClipRequest, render_clip};
    use gstpianola::core::dataset::{Split, clip_seed};
    use gstpianola::core::metrics::{frame_metrics, onset_metrics};
    use gstpianola::core::midi::smf_to_notes;
    use gstpianola::core::music::excerpt;
    use gstpianola::core::notes::{SECOND, frame_times, notes_to_roll};
    use gstpianola::core::roll::{RollLayout, ValueFormat};

    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let notes = excerpt(
        &bach_prelude_c(11, DEMO_SIXTEENTH),
        0,
        (DEMO_SECONDS * SECOND as f64) as u64,
        SECOND / 2,
    );
    // 1. A silent top-view video of the piece, from a seed training never uses.
    eprintln!("rendering {DEMO_SECONDS} s of Bach's Prelude in C with pianosim...");
    let req = ClipRequest {
        name: "prelude".into(),
        piece: "bach_prelude_c".into(),
        seed: clip_seed(2026, 0, Split::HeldOut),
        width: 960,
        height: 540,
        fps: (25, 1),
        canonical: false,
    };
    let labels = render_clip(&notes, &req, out_dir)?;
    let silent = out_dir.join("prelude-silent.mp4");
    std::fs::rename(&labels.video, &silent)?;
    // 2. Its music back.
    eprintln!("re-dubbing {}...", silent.display());
    let o = crate::chain::RedubOptions {
        input: silent.clone(),
        video_out: Some(out_dir.join("prelude-redubbed.mp4")),
        wav_out: Some(out_dir.join("prelude.wav")),
        midi_out: Some(out_dir.join("prelude.mid")),
        roll_png: Some(out_dir.join("prelude-roll.png")),
        device: "auto".into(),
        ..Default::default()
    };
    let est_path = o.midi_out.clone().unwrap_or_default();
    let summary = crate::redub::run_with_progress(o, false)?;
    println!("silent video:     {}", silent.display());
    for p in &summary.outputs {
        println!("output:           {}", p.display());
    }
    println!("true notes:       {}", labels.truth_midi.display());
    // 3. How close: the transcription against the notes the video was rendered from.
    let truth = smf_to_notes(&std::fs::read(&labels.truth_midi)?)?;
    let est = smf_to_notes(&std::fs::read(&est_path)?)?;
    let onset = onset_metrics(&est, &truth, 0.05);
    let end = truth.iter().map(|n| n.end).max().unwrap_or(0);
    let times = frame_times((end * 25 / SECOND) as usize + 1, 25, 1);
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let down = |n: &[gstpianola::core::notes::Note]| -> Vec<Vec<bool>> {
        notes_to_roll(n, &layout, &times)
            .into_iter()
            .map(|f| f.frame.iter().map(|&v| v > 0).collect())
            .collect()
    };
    let frame = frame_metrics(&down(&est), &down(&truth));
    println!(
        "transcription vs the true notes: note onsets (50 ms) P {:.3} R {:.3} F1 {:.3} ({} of {} notes); frames F1 {:.3}",
        onset.precision, onset.recall, onset.f1, onset.matched, onset.n_reference, frame.f1
    );
    Ok(())
}
