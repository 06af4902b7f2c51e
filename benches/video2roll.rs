// SPDX-License-Identifier: MPL-2.0
//! video2roll inference speed on this machine's CPU: KeyColumn with the keyboard at rest
//! (shipped), KeyColumn, KeyNet and the Audeo port, frames/s for batches of 1 and 8 (5 x 100 x
//! 900 windows, and the keyboard at rest for keycolumn-rest), with libtorch's threads; and the
//! estimate of the keyboard at rest alone (`core::rest`).

use std::time::Instant;

use gstpianola::model::{Arch, Model, ModelMeta};

fn bench(arch: Arch, batch: usize, seconds: f64) {
    let model = Model::new(ModelMeta::new(arch), tch::Device::Cpu);
    let size = model.meta().images() * 100 * 900;
    let windows: Vec<Vec<u8>> = (0..batch)
        .map(|b| (0..size).map(|i| ((i * 31 + b * 7) % 251) as u8).collect())
        .collect();
    let _ = model.predict(&windows);
    let t0 = Instant::now();
    let mut frames = 0;
    while t0.elapsed().as_secs_f64() < seconds {
        let out = model.predict(&windows).expect("predict");
        frames += out.len();
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "video2roll {:<9} batch {batch}: {:>7.1} frames/s ({} threads)",
        arch.name(),
        frames as f64 / s,
        tch::get_num_threads()
    );
}

/// The keyboard-at-rest estimate per frame (a median of up to 31 samples every 8 frames).
fn bench_rest(frames: usize) {
    let mut e = gstpianola::core::rest::RestEstimator::new(100 * 900);
    let strips: Vec<Vec<u8>> = (0..16)
        .map(|k| {
            (0..100 * 900)
                .map(|i| ((i * 31 + k * 7) % 251) as u8)
                .collect()
        })
        .collect();
    let t0 = Instant::now();
    for i in 0..frames {
        e.push(&strips[i % strips.len()]).expect("strip");
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "keyboard at rest estimate: {:>7.2} ms a frame on average ({frames} frames)",
        s * 1000.0 / frames as f64
    );
}

fn main() {
    bench_rest(2000);
    for arch in [Arch::KeyColumnRest, Arch::KeyColumn, Arch::KeyNet] {
        for b in [1, 8] {
            bench(arch, b, 4.0);
        }
    }
    for b in [1, 8] {
        bench(Arch::Audeo, b, 8.0);
    }
}
