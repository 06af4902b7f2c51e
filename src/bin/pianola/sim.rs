// SPDX-License-Identifier: MPL-2.0
//! `pianola sim-frames` and `pianola sim-compare`: look at the renderer.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;
use gstpianola::core::music::{DEMO_SIXTEENTH, bach_prelude_c};

use gstpianola::core::strip::{HEIGHT as STRIP_H, WIDTH as STRIP_W};

use crate::pipeline::launch_with_appsink;

#[derive(clap::Args)]
pub struct SimFramesArgs {
    /// MIDI file to play; default: the built-in piece.
    #[arg(long)]
    midi: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Times in seconds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    at: Vec<f64>,
    /// Render only the canonical 900x100 keyboard strip.
    #[arg(long)]
    canonical: bool,
    #[arg(long, default_value = "sim-frames")]
    out_dir: PathBuf,
}

#[derive(clap::Args)]
pub struct SimCompareArgs {
    /// A real top-view video.
    #[arg(long)]
    video: PathBuf,
    /// Its keyboard corners: x0,y0,x1,y1,x2,y2,x3,y3 (top-left, top-right, bottom-right,
    /// bottom-left) in full-resolution pixels.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    corners: Vec<f64>,
    /// Times in the real video, seconds.
    #[arg(long, value_delimiter = ',')]
    at: Vec<f64>,
    /// One pianosim seed per time.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    #[arg(long, default_value = "docs")]
    out_dir: PathBuf,
}

pub fn frames(a: &SimFramesArgs) -> Result<()> {
    let (midi, seed, at, canonical, out_dir) = (
        a.midi.as_deref(),
        a.seed,
        &a.at,
        a.canonical,
        a.out_dir.as_path(),
    );
    use gstpianola::core::sim::{SimConfig, Simulator, View};
    let notes = match midi {
        Some(p) => gstpianola::core::midi::smf_to_notes(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => bach_prelude_c(11, DEMO_SIXTEENTH),
    };
    let config = SimConfig {
        seed,
        view: if canonical {
            View::Canonical
        } else {
            View::Scene
        },
        ..Default::default()
    };
    let mut sim = Simulator::new(&notes, &config)?;
    std::fs::create_dir_all(out_dir)?;
    let (num, den) = sim.fps();
    for &t in at {
        let i = (t * num as f64 / den as f64).round() as usize;
        let (w, h) = (sim.width(), sim.height());
        let rgba = sim.render(i.min(sim.n_frames() - 1)).to_vec();
        let pm = tiny_skia::Pixmap::from_vec(
            rgba,
            tiny_skia::IntSize::from_wh(w, h).ok_or_else(|| anyhow!("size"))?,
        )
        .ok_or_else(|| anyhow!("pixmap"))?;
        let path = out_dir.join(format!(
            "seed{seed}-{t:.2}s{}.png",
            if canonical { "-canonical" } else { "" }
        ));
        pm.save_png(&path)?;
        println!("{} ({w}x{h}, corners {:?})", path.display(), sim.corners());
    }
    Ok(())
}

/// Decoded RGBA frames of `video` nearest to each of `times` (seconds).
fn grab_frames(video: &Path, times: &[f64]) -> Result<Vec<(usize, usize, Vec<u8>)>> {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! appsink name=out sync=false",
        video.display()
    );
    let (pipeline, sink) = launch_with_appsink(&desc, "out")?;
    pipeline.set_state(gst::State::Playing)?;
    let mut wanted: Vec<(usize, f64)> = times.iter().copied().enumerate().collect();
    wanted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out: Vec<Option<(usize, usize, Vec<u8>)>> = vec![None; times.len()];
    let mut k = 0;
    while k < wanted.len() {
        let Ok(sample) = sink.pull_sample() else {
            break;
        };
        let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else {
            continue;
        };
        let t = buf.pts().map(|p| p.nseconds() as f64 / 1e9).unwrap_or(0.0);
        while k < wanted.len() && t + 0.02 >= wanted[k].1 {
            let info = gst_video::VideoInfo::from_caps(caps)?;
            let map = buf.map_readable()?;
            let (w, h, stride) = (
                info.width() as usize,
                info.height() as usize,
                info.stride()[0] as usize,
            );
            let mut rgba = Vec::with_capacity(w * h * 4);
            for row in 0..h {
                rgba.extend_from_slice(&map[row * stride..row * stride + w * 4]);
            }
            out[wanted[k].0] = Some((w, h, rgba));
            k += 1;
        }
    }
    pipeline.set_state(gst::State::Null)?;
    out.into_iter()
        .map(|f| f.ok_or_else(|| anyhow!("video ended before a requested time")))
        .collect()
}

/// Halve an RGBA image until it is at most `max_w` wide (2x2 box filter).
fn shrink(mut w: usize, mut h: usize, mut px: Vec<u8>, max_w: usize) -> (usize, usize, Vec<u8>) {
    while w > max_w {
        let (nw, nh) = (w / 2, h / 2);
        let mut o = vec![0u8; nw * nh * 4];
        for y in 0..nh {
            for x in 0..nw {
                for c in 0..4 {
                    let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|(dx, dy)| px[((2 * y + dy) * w + 2 * x + dx) * 4 + c] as u32)
                        .sum();
                    o[(y * nw + x) * 4 + c] = (s / 4) as u8;
                }
            }
        }
        (w, h, px) = (nw, nh, o);
    }
    (w, h, px)
}

/// Stack RGBA images of equal width vertically, with a gap, and save as PNG.
fn save_stack(path: &Path, w: usize, parts: &[(usize, &[u8])]) -> Result<()> {
    let gap = 6;
    let total: usize = parts.iter().map(|(h, _)| h + gap).sum::<usize>() - gap;
    let mut px = vec![255u8; w * total * 4];
    let mut y = 0;
    for (h, data) in parts {
        px[y * w * 4..(y + h) * w * 4].copy_from_slice(&data[..w * h * 4]);
        y += h + gap;
    }
    let size =
        tiny_skia::IntSize::from_wh(w as u32, total as u32).ok_or_else(|| anyhow!("size"))?;
    tiny_skia::Pixmap::from_vec(px, size)
        .ok_or_else(|| anyhow!("pixmap"))?
        .save_png(path)?;
    Ok(())
}

pub fn compare(a: &SimCompareArgs) -> Result<()> {
    let (video, corners, at, seeds, out_dir) = (
        a.video.as_path(),
        &a.corners,
        &a.at,
        &a.seeds,
        a.out_dir.as_path(),
    );
    use gstpianola::core::geometry::rectify_rgba;
    use gstpianola::core::sim::{SimConfig, Simulator, View};
    if corners.len() != 8 || seeds.len() != at.len() {
        return Err(anyhow!("give 8 corner coordinates and one seed per time"));
    }
    let quad = [
        [corners[0], corners[1]],
        [corners[2], corners[3]],
        [corners[4], corners[5]],
        [corners[6], corners[7]],
    ];
    std::fs::create_dir_all(out_dir)?;
    let frames = grab_frames(video, at)?;
    let notes = bach_prelude_c(11, DEMO_SIXTEENTH);
    for (k, ((w, h, rgba), &seed)) in frames.into_iter().zip(seeds).enumerate() {
        let real_strip =
            rectify_rgba(&rgba, w, h, &quad, STRIP_W, STRIP_H).ok_or_else(|| anyhow!("rectify"))?;
        let (sw, sh, real_small) = shrink(w, h, rgba, 640);
        let t = 2.0 + 3.0 * k as f64;
        let render = |view: View, width: u32, height: u32| -> Result<Vec<u8>> {
            let mut sim = Simulator::new(
                &notes,
                &SimConfig {
                    seed,
                    view,
                    width,
                    height,
                    fps_num: 25,
                    keys: Some(88),
                    ..Default::default()
                },
            )?;
            Ok(sim.render((t * 25.0) as usize).to_vec())
        };
        let sim_strip = render(View::Canonical, STRIP_W as u32, STRIP_H as u32)?;
        let sim_scene = render(View::Scene, sw as u32, sh as u32)?;
        let strip = out_dir.join(format!("pianosim-vs-real-strip-{}.png", k + 1));
        save_stack(
            &strip,
            STRIP_W,
            &[(STRIP_H, &real_strip), (STRIP_H, &sim_strip)],
        )?;
        let scene = out_dir.join(format!("pianosim-vs-real-scene-{}.png", k + 1));
        save_stack(&scene, sw, &[(sh, &real_small), (sh, &sim_scene)])?;
        println!("{} {}", strip.display(), scene.display());
    }
    Ok(())
}
