// SPDX-License-Identifier: MPL-2.0
//! Rendering labelled synthetic clips with pianosim through GStreamer (x264 in MP4, so the
//! video carries real codec artefacts), for the `dataset` command and for training.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;

use crate::core::dataset::seed_split;
use crate::core::midi::notes_to_smf;
use crate::core::notes::Note;
use crate::core::sim::rng::Rng;

/// A file of the shared data (the real Bach clip, the MIDI corpus), which is never part of
/// the project: under `$PIANOLA_SHARED` when set (the Makefile sets it), else under
/// `../shared` beside the project.
pub fn shared_data(rel: &str) -> PathBuf {
    std::env::var_os("PIANOLA_SHARED")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join(rel)
}

/// What to render.
#[derive(Clone, Debug)]
pub struct ClipRequest {
    pub name: String,
    pub piece: String,
    pub seed: u64,
    /// 0: from the seed.
    pub width: u32,
    pub height: u32,
    pub fps: (u32, u32),
    pub canonical: bool,
}

/// What was rendered, as written to `<name>.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipLabels {
    pub video: PathBuf,
    pub truth_midi: PathBuf,
    pub labels: PathBuf,
    pub corners: [[f64; 2]; 4],
    pub keys: i32,
    pub lowest_note: i32,
    pub width: i32,
    pub height: i32,
}

/// Render `notes` as `<dir>/<name>.mp4` with `<name>.truth.mid` (the true key states, frame
/// by frame, as MIDI) and `<name>.json` (corners, keyboard, size, seed, split).
pub fn render_clip(notes: &[Note], req: &ClipRequest, dir: &Path) -> Result<ClipLabels> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let src = dir.join(format!("{}.src.mid", req.name));
    let video = dir.join(format!("{}.mp4", req.name));
    let truth = dir.join(format!("{}.truth.mid", req.name));
    let labels = dir.join(format!("{}.json", req.name));
    std::fs::write(&src, notes_to_smf(notes, Some(0))?)?;
    // Codec strength varies by clip, from its seed. No B-frames: with them mp4mux starts the
    // video at the reorder delay (80 ms at 25 fps) and the labels would lead the pictures.
    let quantizer = 18 + Rng::new(req.seed).fork(99).int(0, 15);
    let mut props = format!("seed={}", req.seed);
    if req.width > 0 && req.height > 0 {
        props += &format!(" width={} height={}", req.width, req.height);
    }
    if req.fps.0 > 0 {
        props += &format!(" framerate={}/{}", req.fps.0, req.fps.1.max(1));
    }
    if req.canonical {
        props += " canonical=true";
    }
    let desc = format!(
        "pianosim name=s location=\"{}\" {props} \
         s.video ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast bframes=0 pass=quant quantizer={quantizer} ! mp4mux ! filesink location=\"{}\" \
         s.roll ! midienc ! filesink location=\"{}\"",
        src.display(),
        video.display(),
        truth.display()
    );
    let pipeline = gst::parse::launch(&desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let bus = pipeline.bus().ok_or_else(|| anyhow!("no bus"))?;
    pipeline.set_state(gst::State::Playing)?;
    let mut found = None;
    let mut result = Err(anyhow!("pipeline stopped without end of stream"));
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "pianosim-keyboard") {
                    found = Some(s.to_owned());
                }
            }
            gst::MessageView::Eos(_) => {
                result = Ok(());
                break;
            }
            gst::MessageView::Error(e) => {
                result = Err(anyhow!("{}: {:?}", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result?;
    let s = found.ok_or_else(|| anyhow!("pianosim posted no keyboard message"))?;
    let c: Vec<f64> = s
        .get::<gst::Array>("corners")?
        .iter()
        .filter_map(|v| v.get::<f64>().ok())
        .collect();
    if c.len() != 8 {
        return Err(anyhow!("bad corners {c:?}"));
    }
    let out = ClipLabels {
        video,
        truth_midi: truth,
        labels,
        corners: [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]],
        keys: s.get("keys")?,
        lowest_note: s.get("lowest-note")?,
        width: s.get("width")?,
        height: s.get("height")?,
    };
    let file_name = |p: &Path| p.file_name().map(|f| f.to_string_lossy().to_string());
    let json = serde_json::json!({
        "name": req.name,
        "piece": req.piece,
        "seed": req.seed,
        "split": seed_split(req.seed).name(),
        "video": file_name(&out.video),
        "truth_midi": file_name(&out.truth_midi),
        "source_midi": file_name(&src),
        "width": out.width,
        "height": out.height,
        "keys": out.keys,
        "lowest_note": out.lowest_note,
        "corners": out.corners,
        "canonical": req.canonical,
        "x264_quantizer": quantizer,
    });
    std::fs::write(&out.labels, serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(out)
}

/// One canonical keyboard strip as pianocrop gave it: its time, whether it was padding
/// before the keyboard was locked (GAP), and its GRAY8 900x100 pixels.
#[derive(Clone, Debug)]
pub struct Strip {
    pub pts: u64,
    pub gap: bool,
    pub luma: Vec<u8>,
}

/// Decode `video` and crop its keyboard with the real `pianocrop` element (or at `corners`,
/// "x0,y0,...,x3,y3"), keeping strips whose time lies in `from..to` nanoseconds: what
/// `video2roll` would see, codec artefacts and crop error included.
pub fn decode_strips(
    video: &Path,
    corners: Option<&str>,
    from: u64,
    to: u64,
) -> Result<Vec<Strip>> {
    use std::sync::{Arc, Mutex};
    let mut crop = String::from("pianocrop");
    if let Some(c) = corners {
        crop += &format!(" corners=\"{c}\"");
    }
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! {crop} ! appsink name=strips sync=false",
        video.display()
    );
    let (pipeline, sink) = crate::pipeline::launch_with_appsink(&desc, "strips")?;
    let strips = Arc::new(Mutex::new(Vec::new()));
    let out = strips.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(b) = sample.buffer() {
                    let pts = b.pts().map(|t| t.nseconds()).unwrap_or(0);
                    if pts >= from && pts < to {
                        let m = b.map_readable().map_err(|_| gst::FlowError::Error)?;
                        out.lock().map_err(|_| gst::FlowError::Error)?.push(Strip {
                            pts,
                            gap: b.flags().contains(gst::BufferFlags::GAP),
                            luma: m.to_vec(),
                        });
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    crate::pipeline::run_to_eos(&pipeline)
        .with_context(|| format!("decoding {}", video.display()))?;
    let v = std::mem::take(&mut *strips.lock().map_err(|_| anyhow!("lock"))?);
    Ok(v)
}

/// Training pair for a roll refiner from one video: video2roll's probabilities (key down, then
/// onsets when the net has them) from the product's own chain (`pianola redub`'s pipeline),
/// and the true roll of `notes` (on the video's clock) at the same frame times.
pub fn roll_pair(
    video: &Path,
    notes: &[Note],
    model: Option<&Path>,
    corners: Option<&str>,
) -> Result<crate::model::refiner_train::RollPair> {
    use crate::core::notes::notes_to_roll;
    use crate::core::roll::{RollLayout, ValueFormat};
    let probs = crate::redub::chain_probabilities(video, model, corners, "", None)?;
    if probs.is_empty() {
        return Err(anyhow!("{}: no frames came out", video.display()));
    }
    let times: Vec<u64> = probs.iter().map(|(t, _)| *t).collect();
    let truth = notes_to_roll(notes, &RollLayout::piano88(ValueFormat::U8, true), &times);
    let input = probs
        .into_iter()
        .map(|(_, p)| {
            let mut v = p.frame;
            v.extend(p.onset.unwrap_or_default());
            v
        })
        .collect();
    let target = truth
        .iter()
        .map(|r| {
            r.frame
                .iter()
                .chain(r.onset.iter().flatten())
                .map(|&v| (v > 0) as u8 as f32)
                .collect()
        })
        .collect();
    Ok(crate::model::refiner_train::RollPair { input, target })
}
