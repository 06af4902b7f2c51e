// SPDX-License-Identifier: MPL-2.0
//! Speed of the symbolic half: prints figures (`make bench`).

mod common;

use std::time::{Duration, Instant};

use gst::prelude::*;
use gstpianola::caps;
use gstpianola::core::midi::{notes_to_smf, smf_to_notes};
use gstpianola::core::music::{DEMO_SIXTEENTH, bach_prelude_c};
use gstpianola::core::notes::SECOND;
use gstpianola::core::roll::{ProbFrame, RollLayout, ValueFormat};
use gstpianola::core::transcribe::{FrameTime, NoteTracker, TrackerParams};

/// Pseudo-random probabilities for 88 keys with onsets.
fn frames(n: usize) -> Vec<ProbFrame> {
    let mut x: u64 = 1;
    (0..n)
        .map(|_| {
            let mut f = ProbFrame::silent(88, true);
            for v in f
                .frame
                .iter_mut()
                .chain(f.onset.as_mut().unwrap().iter_mut())
            {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *v = ((x >> 40) as f32 / (1u64 << 24) as f32).powi(4);
            }
            f
        })
        .collect()
}

fn tracker(label: &str, params: TrackerParams, input: &[ProbFrame]) {
    let layout = RollLayout::piano88(ValueFormat::F32, true);
    let t0 = Instant::now();
    let mut t = NoteTracker::new(params, layout).unwrap();
    let mut out = 0;
    for (i, f) in input.iter().enumerate() {
        let time = FrameTime {
            pts: i as u64 * 40_000_000,
            duration: 40_000_000,
        };
        out += t.push(f.clone(), time).unwrap().len();
    }
    out += t.finish().0.len();
    let s = t0.elapsed().as_secs_f64();
    assert_eq!(out, input.len());
    println!(
        "roll2midi core, {label:<28} {:>10.0} frames/s",
        input.len() as f64 / s
    );
}

fn run(pipeline: &gst::Pipeline) -> Duration {
    let t0 = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    let d = t0.elapsed();
    pipeline.set_state(gst::State::Null).unwrap();
    d
}

fn element_roll2midi(input: &[ProbFrame]) {
    let (p, src) = common::launch_with_appsrc(
        "appsrc name=src format=time ! roll2midi ! midienc ! fakesink",
        "src",
    );
    src.set_caps(Some(&caps::roll_caps(
        &RollLayout::piano88(ValueFormat::F32, true),
        gst::Fraction::new(25, 1),
    )));
    for (i, f) in input.iter().enumerate() {
        let mut b = gst::Buffer::from_mut_slice(f.to_bytes());
        let bm = b.get_mut().unwrap();
        bm.set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
        bm.set_duration(gst::ClockTime::from_mseconds(40));
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let s = run(&p).as_secs_f64();
    println!(
        "roll2midi ! midienc element chain       {:>10.0} frames/s",
        input.len() as f64 / s
    );
}

fn synth(rate: u32, effects: bool) {
    let dir = std::env::temp_dir().join(format!("pianola-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mid = dir.join("prelude.mid");
    let notes = bach_prelude_c(11, DEMO_SIXTEENTH);
    let secs = notes.iter().map(|n| n.end).max().unwrap() as f64 / SECOND as f64;
    std::fs::write(&mid, notes_to_smf(&notes, Some(0)).unwrap()).unwrap();
    let p = gst::parse::launch(&format!(
        "filesrc location={} ! midiparse ! midisynth reverb-chorus={effects} max-tail=0 ! audio/x-raw,rate={rate} ! fakesink",
        mid.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let s = run(&p).as_secs_f64();
    println!(
        "midisynth {rate} Hz, reverb/chorus {:<5}      {:>10.1} x real time ({secs:.1} s of music in {s:.2} s)",
        effects,
        secs / s
    );
}

fn midi_io() {
    let notes = bach_prelude_c(11 * 50, DEMO_SIXTEENTH);
    let t0 = Instant::now();
    let bytes = notes_to_smf(&notes, Some(0)).unwrap();
    let back = smf_to_notes(&bytes).unwrap();
    let s = t0.elapsed().as_secs_f64();
    assert_eq!(back.len(), notes.len());
    println!(
        "SMF write + read                         {:>10.0} notes/s",
        notes.len() as f64 / s
    );
}

fn main() {
    gst::init().unwrap();
    gstpianola::plugin_register_static().unwrap();
    println!(
        "Pianola symbolic benchmarks ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let input = frames(25 * 600);
    tracker("defaults", TrackerParams::default(), &input);
    tracker(
        "sigma 2, min 3, dropout 2",
        TrackerParams {
            smoothing_sigma: 2.0,
            min_frames: 3,
            max_dropout: 2,
            ..Default::default()
        },
        &input,
    );
    element_roll2midi(&input);
    synth(44_100, true);
    synth(44_100, false);
    synth(16_000, true);
    midi_io();
}
