// SPDX-License-Identifier: MPL-2.0
//! pianosim render speed on one core (the renderer is single-threaded): prints frames/s.

use std::time::Instant;

use gstpianola::core::music::{DEMO_SIXTEENTH, bach_prelude_c};
use gstpianola::core::sim::{SimConfig, Simulator, View};

fn bench(label: &str, config: SimConfig, frames: usize) {
    let notes = bach_prelude_c(11, DEMO_SIXTEENTH);
    let t0 = Instant::now();
    let mut sim = Simulator::new(&notes, &config).unwrap();
    let setup = t0.elapsed().as_secs_f64();
    let n = frames.min(sim.n_frames());
    let t0 = Instant::now();
    let mut check = 0u64;
    for i in 0..n {
        check += sim.render(i)[0] as u64;
        check += sim.truth(i, 1).len() as u64;
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "pianosim {label:<34} {:>8.1} frames/s  ({}x{}, {n} frames, set-up {setup:.2} s, {check})",
        n as f64 / s,
        sim.width(),
        sim.height()
    );
}

fn main() {
    println!("pianosim render benchmarks (single thread)");
    for seed in [1, 2] {
        bench(
            &format!("canonical 900x100, seed {seed}"),
            SimConfig {
                seed,
                view: View::Canonical,
                width: 900,
                height: 100,
                fps_num: 25,
                ..Default::default()
            },
            1000,
        );
    }
    for seed in [1, 2] {
        bench(
            &format!("full scene 640x360, seed {seed}"),
            SimConfig {
                seed,
                width: 640,
                height: 360,
                fps_num: 25,
                ..Default::default()
            },
            500,
        );
    }
    bench(
        "full scene 1280x720, seed 3",
        SimConfig {
            seed: 3,
            width: 1280,
            height: 720,
            fps_num: 25,
            ..Default::default()
        },
        200,
    );
}
