// SPDX-License-Identifier: MPL-2.0
//! roll2midi speed on this machine's CPU, per mode:
//! - the refinement alone (windows overlapping by half, cross-faded): the compact generator at
//!   the default and the live window, and the reference Audeo U-Net at a 100-frame window;
//! - the element chain `video2roll ! roll2midi mode=... ! fakesink` on 20 s of canonical
//!   pianosim strips held in memory (so neither rendering nor decoding is counted), with the
//!   shipped models. The bar: the default mode keeps this chain at 100 frames/s or more.

mod common;

use std::time::Instant;

use gst::prelude::*;
use gstpianola::core::refine::{WindowPlan, Windowed};
use gstpianola::model::refiner::{Refiner, RefinerArch, RefinerMeta};

fn refiner(arch: RefinerArch) -> Refiner {
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/roll2midi.safetensors");
    match Refiner::load(&shipped, gstpianola::model::DeviceChoice::Cpu) {
        Ok(r) if r.meta().arch == arch => r,
        _ => Refiner::new(RefinerMeta::new(arch), tch::Device::Cpu),
    }
}

fn bench_refiner(arch: RefinerArch, window: usize, frames: usize) {
    let r = refiner(arch);
    let values = r.input_values();
    let mut w =
        Windowed::new(WindowPlan::half_overlap(window), values, r.output_values()).expect("plan");
    let t0 = Instant::now();
    let mut out = 0;
    for i in 0..frames {
        let f: Vec<f32> = (0..values)
            .map(|k| ((i * 7 + k * 13) % 100) as f32 / 100.0)
            .collect();
        out += w
            .push(f, (), &mut |x| r.refine(x).map_err(|e| e.to_string()))
            .expect("refine")
            .len();
    }
    out += w
        .finish(&mut |x| r.refine(x).map_err(|e| e.to_string()))
        .expect("refine")
        .len();
    assert_eq!(out, frames);
    let s = t0.elapsed().as_secs_f64();
    println!(
        "refiner {:<10} window {window:>3}: {:>9.1} frames/s ({} threads)",
        arch.name(),
        frames as f64 / s,
        tch::get_num_threads()
    );
}

fn strips(seconds: u32) -> (Vec<gst::Buffer>, gst::Caps) {
    use gstpianola::core::midi::notes_to_smf;
    use gstpianola::core::music::procedural;
    let midi = std::env::temp_dir().join(format!("pianola-bench-{}.mid", std::process::id()));
    std::fs::write(
        &midi,
        notes_to_smf(&procedural(3, seconds as f64), Some(0)).expect("smf"),
    )
    .expect("write midi");
    let (p, sink) = common::launch_with_appsink(
        &format!(
            "pianosim location={} seed=9 canonical=true framerate=25/1 ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=out sync=false",
            midi.display()
        ),
        "out",
    );
    p.set_state(gst::State::Playing).expect("play");
    let mut bufs = Vec::new();
    let mut caps = None;
    while let Ok(s) = sink.pull_sample() {
        caps = caps.or_else(|| s.caps_owned());
        if let Some(b) = s.buffer_owned() {
            bufs.push(b);
        }
    }
    let _ = p.set_state(gst::State::Null);
    let _ = std::fs::remove_file(&midi);
    (bufs, caps.expect("caps"))
}

fn bench_chain(mode: &str, bufs: &[gst::Buffer], caps: &gst::Caps) {
    let (p, src) = common::launch_with_appsrc(
        &format!(
            "appsrc name=src format=time ! video2roll ! roll2midi mode={mode} ! fakesink sync=false"
        ),
        "src",
    );
    src.set_caps(Some(caps));
    for b in bufs {
        src.push_buffer(b.clone()).expect("push");
    }
    src.end_of_stream().expect("eos");
    let t0 = Instant::now();
    common::run_to_eos(&p);
    let s = t0.elapsed().as_secs_f64();
    println!(
        "video2roll ! roll2midi mode={mode:<10}: {:>6.1} frames/s ({} frames)",
        bufs.len() as f64 / s,
        bufs.len()
    );
}

fn main() {
    gst::init().expect("gst");
    gstpianola::plugin_register_static().expect("register");
    bench_refiner(RefinerArch::Compact, 100, 2000);
    bench_refiner(RefinerArch::Compact, 16, 1000);
    bench_refiner(RefinerArch::AudeoUnet, 100, 150);
    let (bufs, caps) = strips(20);
    for mode in ["rule-based", "learned"] {
        bench_chain(mode, &bufs, &caps);
    }
}
