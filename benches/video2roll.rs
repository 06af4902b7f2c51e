// SPDX-License-Identifier: MPL-2.0
//! video2roll inference speed on each device this machine has (the CPU, and every CUDA GPU
//! libtorch sees; a line says when there is none): KeyColumn with the keyboard at rest
//! (shipped), KeyColumn, KeyNet and the Audeo port, frames/s for batches of 1 and 8 (5 x 100 x
//! 900 windows, and the keyboard at rest for keycolumn-rest), with libtorch's threads, as
//! training runs them; the shipped net also in the inference form the element uses, with one
//! thread and with all, and as whole frames side by side (`workers`, one thread each); and
//! the estimate of the keyboard at rest alone (`core::rest`).

use std::time::Instant;

use gstpianola::model::{Arch, Model, ModelMeta};

/// `frozen`: the inference form the element uses ([`Model::freeze`]: KeyColumn with BatchNorm
/// folded and its input made in one pass); else the net as training runs it.
fn bench(arch: Arch, device: tch::Device, batch: usize, seconds: f64, frozen: bool) {
    bench_workers(arch, device, batch, 1, seconds, frozen);
}

/// [`bench`] with `workers` forward passes side by side on the batch
/// ([`Model::predict_parallel`]).
fn bench_workers(
    arch: Arch,
    device: tch::Device,
    batch: usize,
    workers: usize,
    seconds: f64,
    frozen: bool,
) {
    let mut model = Model::new(ModelMeta::new(arch), device);
    if frozen {
        model.freeze();
    }
    let size = model.meta().images() * 100 * 900;
    let windows: Vec<Vec<u8>> = (0..batch)
        .map(|b| (0..size).map(|i| ((i * 31 + b * 7) % 251) as u8).collect())
        .collect();
    let _ = model.predict_parallel(&windows, workers);
    let t0 = Instant::now();
    let mut frames = 0;
    while t0.elapsed().as_secs_f64() < seconds {
        let out = model.predict_parallel(&windows, workers).expect("predict");
        frames += out.len();
    }
    let s = t0.elapsed().as_secs_f64();
    let on = match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        _ if workers > 1 => format!(
            "cpu, {workers} passes side by side of {} thread{}",
            tch::get_num_threads(),
            if tch::get_num_threads() == 1 { "" } else { "s" }
        ),
        _ => format!("cpu, {} threads", tch::get_num_threads()),
    };
    let form = if frozen {
        "inference form"
    } else {
        "as trained"
    };
    println!(
        "video2roll {:<19} {form:<14} batch {batch}: {:>7.1} frames/s ({on})",
        arch.name(),
        frames as f64 / s,
    );
}

/// The keyboard-at-rest estimate per frame (video2roll's: a median of up to 125 samples, one
/// every 8 frames).
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
    let gpus = gstpianola::model::cuda_device_count();
    let mut devices = vec![tch::Device::Cpu];
    devices.extend((0..gpus).map(tch::Device::Cuda));
    if gpus == 0 {
        println!(
            "video2roll on cuda: no CUDA device here (libtorch sees none; a CUDA build needs `--features cuda` and a CUDA libtorch, see README 'Building with CUDA')"
        );
    }
    let cores = tch::get_num_threads();
    for &device in &devices {
        // The shipped net as the element runs it: one thread (its default on 2 cores, the
        // other left to decoding), then all.
        if device == tch::Device::Cpu {
            for threads in [1, cores] {
                tch::set_num_threads(threads);
                for arch in [Arch::KeyColumnRest, Arch::KeyColumnRestHalf] {
                    for b in [1, 8] {
                        bench(arch, device, b, 4.0, true);
                    }
                }
            }
            // Whole frames side by side (video2roll workers=N batch-size=N), one thread each.
            if cores > 1 {
                tch::set_num_threads(1);
                for arch in [Arch::KeyColumnRest, Arch::KeyColumnRestHalf] {
                    bench_workers(arch, device, cores as usize, cores as usize, 4.0, true);
                }
            }
            tch::set_num_threads(cores);
        }
        for arch in [Arch::KeyColumnRest, Arch::KeyColumn, Arch::KeyNet] {
            for b in [1, 8] {
                bench(arch, device, b, 4.0, false);
            }
        }
        for b in [1, 8] {
            bench(Arch::Audeo, device, b, 8.0, false);
        }
    }
}
