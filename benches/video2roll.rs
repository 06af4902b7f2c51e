// SPDX-License-Identifier: MPL-2.0
//! video2roll inference speed on this machine's CPU: KeyColumn (shipped), KeyNet and the Audeo port,
//! frames/s for batches of 1 and 8 (5 x 100 x 900 windows), with libtorch's threads.

use std::time::Instant;

use gstpianola::model::{Arch, Model, ModelMeta};

fn bench(arch: Arch, batch: usize, seconds: f64) {
    let model = Model::new(ModelMeta::new(arch), tch::Device::Cpu);
    let windows: Vec<Vec<u8>> = (0..batch)
        .map(|b| {
            (0..5 * 100 * 900)
                .map(|i| ((i * 31 + b * 7) % 251) as u8)
                .collect()
        })
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

fn main() {
    for arch in [Arch::KeyColumn, Arch::KeyNet] {
        for b in [1, 8] {
            bench(arch, b, 4.0);
        }
    }
    for b in [1, 8] {
        bench(Arch::Audeo, b, 8.0);
    }
}
