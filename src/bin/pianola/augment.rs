// SPDX-License-Identifier: MPL-2.0
//! Training windows changed at random, as other pianos, rooms, cameras and crops would show
//! them.

use gstpianola::core::sim::rng::Rng;
use gstpianola::core::strip::{HEIGHT, WIDTH};

/// The same random change to all frames of a window, for a strip as other pianos, rooms,
/// cameras and crops give it: a shift of up to 1% of the width and 6% of the height, scales
/// of up to 1% across and 8% along the keys (crop error), brightness, contrast, gamma, light
/// that changes across the keyboard (a ramp, and a glare or a shadow a few octaves wide), a
/// blur of up to two passes (focus, resolution) and noise.
pub fn augment(window: &mut [u8], rng: &mut Rng) {
    let light = light_across(rng);
    let dx = rng.range(-9.0, 9.0);
    let dy = rng.range(-6.0, 6.0);
    let sx = 1.0 + rng.range(-0.01, 0.01);
    let sy = 1.0 + rng.range(-0.08, 0.08);
    let gain = rng.range(0.7, 1.25);
    let contrast = rng.range(0.7, 1.3);
    let gamma = rng.range(0.75, 1.3);
    let noise = rng.range(0.0, 8.0);
    let blur = rng.int(0, 3);
    let seed = rng.next_u64() as u32;
    let mut lut = [0u8; 256];
    for (v, o) in lut.iter_mut().enumerate() {
        let x = (v as f32 / 255.0).powf(gamma);
        let x = ((x - 0.5) * contrast + 0.5) * gain;
        *o = (x * 255.0).clamp(0.0, 255.0) as u8;
    }
    let src_x: Vec<usize> = (0..WIDTH)
        .map(|x| {
            let xs = (x as f32 - WIDTH as f32 / 2.0) * sx + WIDTH as f32 / 2.0 + dx;
            (xs.round() as isize).clamp(0, WIDTH as isize - 1) as usize
        })
        .collect();
    let mut out = vec![0u8; WIDTH * HEIGHT];
    // The frames, and the keyboard at rest after them when the window has it.
    for f in 0..window.len() / (WIDTH * HEIGHT) {
        let frame = &mut window[f * WIDTH * HEIGHT..(f + 1) * WIDTH * HEIGHT];
        for y in 0..HEIGHT {
            let ys = (y as f32 - HEIGHT as f32 / 2.0) * sy + HEIGHT as f32 / 2.0 + dy;
            let sy = (ys.round() as isize).clamp(0, HEIGHT as isize - 1) as usize;
            for (x, &sxi) in src_x.iter().enumerate() {
                let n = (gstpianola::core::sim::rng::hash3(
                    x as u32,
                    y as u32,
                    seed.wrapping_add(f as u32),
                ) - 0.5)
                    * 2.0
                    * noise;
                let v = lut[frame[sy * WIDTH + sxi] as usize] as f32 * light[x] + n;
                out[y * WIDTH + x] = v.clamp(0.0, 255.0) as u8;
            }
        }
        for _ in 0..blur {
            blur_121(&mut out);
        }
        frame.copy_from_slice(&out);
    }
}

/// A gain for each column of the strip: light falling off from one end to the other (up to
/// 15% each way) and, half the time, a glare or a shadow (up to +35% or -30%) a few octaves
/// wide somewhere along the keys.
fn light_across(rng: &mut Rng) -> Vec<f32> {
    let ramp = rng.range(-0.15, 0.15);
    let spot = if rng.chance(0.5) {
        Some((
            rng.range(0.0, WIDTH as f32),
            rng.range(40.0, 250.0),
            rng.range(-0.3, 0.35),
        ))
    } else {
        None
    };
    (0..WIDTH)
        .map(|x| {
            let u = x as f32 / WIDTH as f32 - 0.5;
            let s = spot.map_or(0.0, |(c, w, a)| {
                let d = (x as f32 - c) / w;
                a * (-d * d).exp()
            });
            (1.0 + ramp * 2.0 * u) * (1.0 + s)
        })
        .collect()
}

/// One pass of a separable [1, 2, 1] / 4 blur of a strip, edges repeated.
fn blur_121(img: &mut [u8]) {
    let mut tmp = vec![0u8; img.len()];
    for y in 0..HEIGHT {
        let row = &img[y * WIDTH..(y + 1) * WIDTH];
        for x in 0..WIDTH {
            let (l, r) = (
                row[x.saturating_sub(1)] as u16,
                row[(x + 1).min(WIDTH - 1)] as u16,
            );
            tmp[y * WIDTH + x] = ((l + 2 * row[x] as u16 + r + 2) / 4) as u8;
        }
    }
    for y in 0..HEIGHT {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(HEIGHT - 1));
        for x in 0..WIDTH {
            let v = tmp[u * WIDTH + x] as u16
                + 2 * tmp[y * WIDTH + x] as u16
                + tmp[d * WIDTH + x] as u16;
            img[y * WIDTH + x] = ((v + 2) / 4) as u8;
        }
    }
}
