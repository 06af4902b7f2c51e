// SPDX-License-Identifier: MPL-2.0
//! Rendering labelled synthetic clips with pianosim through GStreamer (x264 in MP4, so the
//! video carries real codec artefacts), for the `dataset` command and for training; decoding
//! recorded clips to the canonical strips that video2roll sees.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;

use gstpianola::core::dataset::seed_split;
use gstpianola::core::midi::notes_to_smf;
use gstpianola::core::notes::Note;
use gstpianola::core::sim::rng::Rng;

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
    // Codec strength varies by clip, from its seed.
    let quantizer = 18 + Rng::new(req.seed).fork(99).int(0, 15) as u32;
    let pipeline = render_pipeline(req, &src, &video, &truth, quantizer)?;
    // pianosim's message with the true corners, caught as it is posted.
    let found: Arc<Mutex<Option<gst::Structure>>> = Arc::default();
    let bus = pipeline.bus().ok_or_else(|| anyhow!("no bus"))?;
    bus.enable_sync_message_emission();
    let f2 = found.clone();
    bus.connect_sync_message(None, move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure().filter(|s| s.name() == "pianosim-keyboard")
            && let Ok(mut f) = f2.lock()
        {
            *f = Some(s.to_owned());
        }
    });
    crate::pipeline::run_to_eos(&pipeline)?;
    bus.disable_sync_message_emission();
    let s = found
        .lock()
        .ok()
        .and_then(|mut f| f.take())
        .ok_or_else(|| anyhow!("pianosim posted no keyboard message"))?;
    let out = labels_of(&s, video, truth, labels)?;
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

/// pianosim (`src` MIDI) ! videoconvert ! I420 ! x264enc ! mp4mux ! filesink `video`, and its
/// roll ! midienc ! filesink `truth`. No B-frames: with them mp4mux starts the video at the
/// reorder delay (80 ms at 25 fps) and the labels would lead the pictures.
fn render_pipeline(
    req: &ClipRequest,
    src: &Path,
    video: &Path,
    truth: &Path,
    quantizer: u32,
) -> Result<gst::Pipeline> {
    use crate::chain::{element, element_with};
    let path = |p: &Path| p.to_string_lossy().to_string();
    let sim = element_with(
        "pianosim",
        &[
            ("location", &path(src)),
            ("seed", &req.seed),
            ("canonical", &req.canonical),
        ],
    )?;
    if req.width > 0 && req.height > 0 {
        sim.set_property("width", req.width);
        sim.set_property("height", req.height);
    }
    if req.fps.0 > 0 {
        let fps = gst::Fraction::new(req.fps.0 as i32, req.fps.1.max(1) as i32);
        sim.set_property("framerate", fps);
    }
    let i420 = gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .build();
    let enc = element_with("x264enc", &[("bframes", &0u32), ("quantizer", &quantizer)])?;
    enc.set_property_from_str("speed-preset", "veryfast");
    enc.set_property_from_str("pass", "quant");
    let video_chain = [
        element("videoconvert")?,
        element_with("capsfilter", &[("caps", &i420)])?,
        enc,
        element("mp4mux")?,
        element_with("filesink", &[("location", &path(video))])?,
    ];
    let roll_chain = [
        element("midienc")?,
        element_with("filesink", &[("location", &path(truth))])?,
    ];
    let pipeline = gst::Pipeline::new();
    pipeline.add(&sim)?;
    for chain in [&video_chain[..], &roll_chain[..]] {
        pipeline.add_many(chain)?;
        gst::Element::link_many(chain)?;
    }
    sim.link_pads(Some("video"), &video_chain[0], None)?;
    sim.link_pads(Some("roll"), &roll_chain[0], None)?;
    Ok(pipeline)
}

/// The labels pianosim's keyboard message gives.
fn labels_of(
    s: &gst::Structure,
    video: PathBuf,
    truth_midi: PathBuf,
    labels: PathBuf,
) -> Result<ClipLabels> {
    let c: Vec<f64> = s
        .get::<gst::Array>("corners")?
        .iter()
        .filter_map(|v| v.get::<f64>().ok())
        .collect();
    let &[x0, y0, x1, y1, x2, y2, x3, y3] = c.as_slice() else {
        return Err(anyhow!("bad corners {c:?}"));
    };
    Ok(ClipLabels {
        video,
        truth_midi,
        labels,
        corners: [[x0, y0], [x1, y1], [x2, y2], [x3, y3]],
        keys: s.get("keys")?,
        lowest_note: s.get("lowest-note")?,
        width: s.get("width")?,
        height: s.get("height")?,
    })
}

/// One canonical keyboard strip as pianocrop gave it: its stream time (frame i of a
/// constant-rate video at i / fps, whatever the container's first PTS), whether it was
/// padding before the keyboard was locked (GAP), and its GRAY8 pixels.
#[derive(Clone, Debug)]
pub struct Strip {
    pub time: u64,
    pub gap: bool,
    pub luma: Vec<u8>,
}

/// How to crop a video for training or scoring.
#[derive(Clone, Debug, Default)]
pub struct Crop {
    /// Clockwise rotation to a player's view (0, 90, 180, 270) before pianocrop.
    pub rotate: u32,
    /// Keyboard corners in the rotated picture; None: pianocrop finds them.
    pub corners: Option<[[f64; 2]; 4]>,
}

fn element(name: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(name).build().map_err(|_| {
        anyhow!("GStreamer element {name} is missing: install the GStreamer plugins (make setup)")
    })
}

/// Decode `video` and crop its keyboard with the real `pianocrop` element, keeping strips
/// whose stream time lies in `from..to` nanoseconds: what `video2roll` would see, codec
/// artefacts and crop error included. Times are stream times (`segment.to_stream_time`),
/// never raw PTS: an MP4 whose first PTS is 80 ms still starts at 0.
pub fn decode_strips(video: &Path, crop: &Crop, from: u64, to: u64) -> Result<Vec<Strip>> {
    use std::sync::{Arc, Mutex};
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", video.to_string_lossy().as_ref())
        .build()?;
    let dec = element("decodebin")?;
    let convert = element("videoconvert")?;
    let flip = element("videoflip")?;
    let direction = match crop.rotate {
        90 => "90r",
        180 => "180",
        270 => "90l",
        _ => "identity",
    };
    flip.set_property_from_str("video-direction", direction);
    let crop_el = element("pianocrop")?;
    if let Some(c) = crop.corners {
        let s: Vec<String> = c.iter().flatten().map(|v| format!("{v}")).collect();
        crop_el.set_property("corners", s.join(","));
    }
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([&src, &dec, &convert, &flip, &crop_el, sink.upcast_ref()])?;
    src.link(&dec)?;
    gst::Element::link_many([&convert, &flip, &crop_el, sink.upcast_ref()])?;
    let convert_weak = convert.downgrade();
    dec.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if let (true, Some(conv)) = (is_video, convert_weak.upgrade())
            && let Some(sinkpad) = conv.static_pad("sink")
            && !sinkpad.is_linked()
        {
            let _ = pad.link(&sinkpad);
        }
    });
    let strips = Arc::new(Mutex::new(Vec::new()));
    let out = strips.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(b) = sample.buffer() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let time = stream_time(&sample, b);
                if time >= from && time < to {
                    let m = b.map_readable().map_err(|_| gst::FlowError::Error)?;
                    out.lock().map_err(|_| gst::FlowError::Error)?.push(Strip {
                        time,
                        gap: b.flags().contains(gst::BufferFlags::GAP),
                        luma: m.to_vec(),
                    });
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    crate::pipeline::run_to_eos(&pipeline)
        .with_context(|| format!("decoding {}", video.display()))?;
    let v = std::mem::take(&mut *strips.lock().map_err(|_| anyhow!("lock"))?);
    if v.is_empty() {
        return Err(anyhow!("{}: no video frames decoded", video.display()));
    }
    Ok(v)
}

/// A buffer's stream time (ns) from its sample's segment; its PTS when there is none.
pub fn stream_time(sample: &gst::Sample, b: &gst::BufferRef) -> u64 {
    let pts = b.pts();
    sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .and_then(|s| pts.and_then(|p| s.to_stream_time(p)))
        .or(pts)
        .map(|t| t.nseconds())
        .unwrap_or(0)
}

/// Training pair for a roll refiner from one video: video2roll's probabilities (key down, then
/// onsets when the net has them) from the product's own chain (`pianola redub`'s pipeline),
/// and the true roll of `notes` (on the video's clock) at the same frame times.
pub fn roll_pair(
    video: &Path,
    notes: &[Note],
    model: Option<&Path>,
    corners: Option<&str>,
) -> Result<gstpianola::model::refiner_train::RollPair> {
    use gstpianola::core::notes::notes_to_roll;
    use gstpianola::core::roll::{RollLayout, ValueFormat};
    let probs = crate::chain::chain_probabilities(&crate::chain::ChainInput {
        video,
        model,
        corners,
        rotate: 0,
        roll2midi: "",
        video2roll: "",
        midi_out: None,
    })?;
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
    Ok(gstpianola::model::refiner_train::RollPair { input, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() {
        static INIT: std::sync::Once = std::sync::Once::new();
        INIT.call_once(|| {
            gst::init().expect("gst");
            gstpianola::plugin_register_static().expect("plugin");
        });
    }

    /// A clip whose first decoded PTS is not 0 (x264 with B-frames in MP4 starts the video
    /// at the reorder delay): its strips still start at stream time 0, frame i at i / fps,
    /// which is the clock the labels use.
    #[test]
    fn strips_carry_stream_time_not_raw_pts() {
        init();
        let dir = std::env::temp_dir().join(format!("pianola-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let notes = gstpianola::core::music::procedural(3, 2.0);
        let midi = dir.join("in.mid");
        std::fs::write(&midi, notes_to_smf(&notes, Some(0)).expect("smf")).expect("write");
        let video = dir.join("bframes.mp4");
        let desc = format!(
            "pianosim location=\"{}\" seed=3 width=320 height=180 framerate=25/1 ! videoconvert ! x264enc speed-preset=ultrafast bframes=2 ! mp4mux ! filesink location=\"{}\"",
            midi.display(),
            video.display()
        );
        let p = gst::parse::launch(&desc)
            .expect("parse")
            .downcast::<gst::Pipeline>()
            .expect("pipeline");
        crate::pipeline::run_to_eos(&p).expect("render");
        // The raw PTS of the first decoded frame is past 0...
        let (p, sink) = crate::pipeline::launch_with_appsink(
            &format!(
                "filesrc location=\"{}\" ! decodebin ! appsink name=s sync=false",
                video.display()
            ),
            "s",
        )
        .expect("pipeline");
        p.set_state(gst::State::Playing).expect("play");
        let first = sink.pull_sample().expect("a frame");
        let raw = first.buffer().and_then(|b| b.pts()).expect("pts");
        let _ = p.set_state(gst::State::Null);
        assert!(
            raw > gst::ClockTime::ZERO,
            "this clip should start at the reorder delay"
        );
        // ...but the strips start at 0 and step by 40 ms.
        let strips = decode_strips(&video, &Crop::default(), 0, u64::MAX).expect("strips");
        assert_eq!(strips[0].time, 0);
        assert_eq!(strips[1].time, 40_000_000);
        assert!(strips.iter().all(|s| s.luma.len() == 900 * 100));
        // A window of time keeps only those strips.
        let part = decode_strips(&video, &Crop::default(), 400_000_000, 800_000_000).expect("part");
        assert_eq!(part.len(), 10);
        assert_eq!(part[0].time, 400_000_000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
