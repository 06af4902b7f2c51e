// SPDX-License-Identifier: MPL-2.0
//! Re-dubbing a file: the pipeline behind `pianola redub`, built from the plugin's elements.
//!
//! ```text
//! filesrc ! decodebin ! videoconvert ! pianocrop ! video2roll ! tee ! roll2midi ! tee
//!     roll2midi tee ! midisynth ! audioconvert ! audioresample ! tee ! <encoder> ! mux.
//!                                                                  tee ! wavenc ! filesink
//!     roll2midi tee ! midienc ! filesink                 (MIDI)
//! filesrc ! parsebin ! (video, copied) mux.  (original audio: kept or dropped)
//! ```
//!
//! The output video is the input's own stream, not re-encoded, when the container takes its
//! codec; otherwise it is encoded again (H.264 for MP4/MOV, as Matroska takes anything).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;

use gstpianola::caps;
use gstpianola::core::notes::{NoteEvent, frame_transitions};
use gstpianola::core::picture;
use gstpianola::core::roll::{AnyFrame, ProbFrame, VelocityFrame};

use crate::render::stream_time;

/// What to make of one input video.
#[derive(Clone, Debug, Default)]
pub struct RedubOptions {
    pub input: PathBuf,
    /// The video with the generated audio: .mp4, .m4v, .mov or .mkv.
    pub video_out: Option<PathBuf>,
    /// The generated audio alone, as WAV.
    pub wav_out: Option<PathBuf>,
    /// The transcription as a Standard MIDI File.
    pub midi_out: Option<PathBuf>,
    /// A piano-roll picture of the transcription.
    pub roll_png: Option<PathBuf>,
    /// General MIDI program (0: acoustic grand piano).
    pub program: u8,
    /// SoundFont (.sf2); default: midisynth's search.
    pub soundfont: Option<PathBuf>,
    /// video2roll device: auto, cpu, cuda, cuda:N.
    pub device: String,
    /// video2roll weights; default: the installed model.
    pub model: Option<PathBuf>,
    /// pianocrop corners "x0,y0,x1,y1,x2,y2,x3,y3" (top-left, top-right, bottom-right,
    /// bottom-left, in pixels of the input).
    pub keyboard: Option<String>,
    /// Clockwise rotation of the picture before pianocrop (0, 90, 180, 270): the keyboard
    /// seen from the far side or in a portrait video.
    pub rotate: u32,
    /// Keep the input's own audio as a second track (default: replaced).
    pub keep_audio: bool,
    /// Extra roll2midi properties, e.g. "onset-threshold=0.7" (for trying settings).
    pub roll2midi: String,
    /// Return video2roll's key-down probabilities in the summary (for scoring).
    pub keep_probabilities: bool,
}

/// The container for an output path, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
    Matroska,
}

impl Container {
    pub fn from_path(p: &Path) -> Option<Container> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "mp4" | "m4v" => Some(Container::Mp4),
            "mov" => Some(Container::Mov),
            "mkv" | "webm" => Some(Container::Matroska),
            _ => None,
        }
    }

    fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4mux",
            Container::Mov => "qtmux",
            Container::Matroska => "matroskamux",
        }
    }

    /// Audio encoder for the generated track, with what it needs in front.
    fn audio_encoder(self) -> &'static str {
        match self {
            Container::Mp4 | Container::Mov => "avenc_aac bitrate=192000 ! aacparse",
            Container::Matroska => {
                "audioresample ! audio/x-raw,rate=48000 ! opusenc bitrate=160000"
            }
        }
    }

    /// Video encoder when the input's codec does not fit the container.
    fn video_encoder(self) -> &'static str {
        "videoconvert ! x264enc speed-preset=medium tune=film ! h264parse"
    }
}

/// How far the work is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Video frames transcribed so far.
    pub frames: u64,
    /// Stream time reached (ns).
    pub position: Option<u64>,
    /// Input duration (ns), when the file tells.
    pub duration: Option<u64>,
}

/// What came out.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub frames: u64,
    /// Notes decided (note-ons).
    pub notes: u64,
    /// Whether the video stream was copied (false: encoded again, or no video output).
    pub video_copied: bool,
    pub outputs: Vec<PathBuf>,
    /// (pts, key-down probability per key) of every frame, with `keep_probabilities`.
    pub probabilities: Vec<(u64, ProbFrame)>,
}

struct Shared {
    /// roll2midi's look-ahead beyond its rules, ns (queues are made that much longer).
    lookahead: u64,
    frames: AtomicU64,
    position: AtomicU64,
    notes: AtomicU64,
    video_copied: Mutex<Option<bool>>,
    /// (pts, key-down probabilities) from video2roll, for the picture.
    probs: Mutex<Vec<(u64, ProbFrame)>>,
    /// (pts, decided frame) from roll2midi, for the picture.
    decided: Mutex<Vec<(u64, VelocityFrame)>>,
    /// First problem found while linking dynamic pads.
    link_error: Mutex<Option<String>>,
}

/// A built re-dub pipeline.
pub struct Redub {
    opts: RedubOptions,
    /// The output files, written to temporaries until the run succeeds.
    outputs: crate::outputs::Outputs,
    pipeline: gst::Pipeline,
    shared: Arc<Shared>,
}

/// Nanoseconds roll2midi may hold back beyond its rules: learned mode's window, counted at
/// 20 frames/s to be safe for any common rate.
fn roll2midi_lookahead(e: &gst::Element) -> u64 {
    let mode = e.property_value("mode");
    let learned = gst::glib::EnumValue::from_value(&mode).is_some_and(|(_, v)| v.nick() == "learned");
    if !learned {
        return 0;
    }
    let window: u32 = e.property("window");
    window as u64 * 50_000_000
}

/// Quote a path or value for a pipeline description.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn make(name: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(name).build().map_err(|_| {
        anyhow!("GStreamer element {name} is missing: install the GStreamer plugins (make setup)")
    })
}

impl Redub {
    /// Check the options and build the pipeline (nothing runs yet).
    pub fn new(opts: RedubOptions) -> Result<Redub> {
        if !opts.input.is_file() {
            return Err(anyhow!(
                "input {} is not a readable file: give the path of a video",
                opts.input.display()
            ));
        }
        if opts.video_out.is_none()
            && opts.wav_out.is_none()
            && opts.midi_out.is_none()
            && opts.roll_png.is_none()
            && !opts.keep_probabilities
        {
            return Err(anyhow!(
                "nothing to write: give -o out.mp4 (or .mkv/.mov/.wav), --midi or --roll-png"
            ));
        }
        if opts.program > 127 {
            return Err(anyhow!(
                "--instrument {} is not a General MIDI program: use 0..=127",
                opts.program
            ));
        }
        let container = match &opts.video_out {
            Some(p) => Some(Container::from_path(p).ok_or_else(|| {
                anyhow!(
                    "{}: unknown container; name the output .mp4, .mov, .mkv or .wav",
                    p.display()
                )
            })?),
            None => None,
        };
        let outputs = plan_outputs(&opts)?;
        // Sinks write to the temporaries; the run renames them when it succeeds.
        let sink_path = |p: &Path| quoted(&outputs.temp(p).unwrap_or(p).to_string_lossy());
        let input = quoted(&opts.input.to_string_lossy());
        let flip = match opts.rotate {
            0 => "",
            90 => "videoflip video-direction=90r ! ",
            180 => "videoflip video-direction=180 ! ",
            270 => "videoflip video-direction=90l ! ",
            r => return Err(anyhow!("rotation {r}: use 0, 90, 180 or 270")),
        };
        let mut crop = format!("{flip}pianocrop");
        if let Some(k) = &opts.keyboard {
            crop += &format!(" corners={}", quoted(k));
        }
        let mut v2r = format!("video2roll device={}", quoted(&opts.device));
        if let Some(m) = &opts.model {
            v2r += &format!(" model={}", quoted(&m.to_string_lossy()));
        }
        let mut synth = format!("midisynth program={}", opts.program);
        if let Some(sf) = &opts.soundfont {
            synth += &format!(" soundfont={}", quoted(&sf.to_string_lossy()));
        }
        let q = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=2000000000";
        let mut desc = format!(
            "filesrc location={input} ! decodebin name=dec ! videoconvert ! {crop} ! {v2r} name=v2r ! tee name=probs \
             probs. ! {q} ! appsink name=probsink sync=false \
             probs. ! {q} ! roll2midi name=r2m {r2m} ! tee name=notes \
             notes. ! {q} ! appsink name=notesink sync=false ",
            r2m = opts.roll2midi
        );
        let wants_audio = opts.video_out.is_some() || opts.wav_out.is_some();
        if wants_audio {
            desc +=
                &format!("notes. ! {q} ! {synth} ! audioconvert ! audioresample ! tee name=audio ");
            if let Some(w) = &opts.wav_out {
                desc += &format!(
                    "audio. ! {q} ! audioconvert ! audio/x-raw,format=S16LE ! wavenc ! filesink location={} ",
                    sink_path(w)
                );
            }
        }
        if let Some(m) = &opts.midi_out {
            desc += &format!(
                // midienc writes only at EOS: its sink must not hold the pipeline's preroll.
                "notes. ! {q} ! midienc ! filesink async=false location={} ",
                sink_path(m)
            );
        }
        if let (Some(c), Some(out)) = (container, &opts.video_out) {
            desc += &format!(
                "audio. ! {q} ! audioconvert ! {} ! mux. {} name=mux ! filesink location={} \
                 filesrc location={input} ! parsebin name=pb ",
                c.audio_encoder(),
                c.muxer(),
                sink_path(out)
            );
        }
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| {
                let missing = ["avenc_aac", "opusenc", "x264enc", "matroskamux", "mp4mux"]
                    .into_iter()
                    .find(|n| gst::ElementFactory::find(n).is_none());
                match missing {
                    Some(n) => anyhow!(
                        "GStreamer element {n} is missing: install the GStreamer plugins (make setup)"
                    ),
                    None => anyhow!("building the pipeline: {e}"),
                }
            })?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("not a pipeline"))?;
        // Every branch after a tee must hold what roll2midi looks ahead, or preroll stalls:
        // learned mode holds a window back.
        let extra = pipeline
            .by_name("r2m")
            .map(|e| roll2midi_lookahead(&e))
            .unwrap_or(0);
        let mut it = pipeline.iterate_recurse();
        while let Ok(Some(e)) = it.next() {
            if e.factory().is_some_and(|f| f.name() == "queue") {
                let t: u64 = e.property("max-size-time");
                e.set_property("max-size-time", t + extra);
            }
        }
        let shared = Arc::new(Shared {
            lookahead: extra,
            frames: AtomicU64::new(0),
            position: AtomicU64::new(u64::MAX),
            notes: AtomicU64::new(0),
            video_copied: Mutex::new(None),
            probs: Mutex::new(Vec::new()),
            decided: Mutex::new(Vec::new()),
            link_error: Mutex::new(None),
        });
        let redub = Redub {
            opts,
            outputs,
            pipeline,
            shared,
        };
        redub.watch_rolls()?;
        if let Some(c) = container {
            redub.link_parsed_streams(c)?;
        }
        Ok(redub)
    }

    /// Count frames and keep the rolls for the picture.
    fn watch_rolls(&self) -> Result<()> {
        let keep_picture = self.opts.roll_png.is_some();
        let keep_probs = keep_picture || self.opts.keep_probabilities;
        for (name, probs) in [("probsink", true), ("notesink", false)] {
            let sink = self
                .pipeline
                .by_name(name)
                .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
                .ok_or_else(|| anyhow!("no {name}"))?;
            let shared = self.shared.clone();
            let prev: Mutex<Option<VelocityFrame>> = Mutex::new(None);
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let (Some(b), Some(c)) = (sample.buffer(), sample.caps()) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let pts = stream_time(&sample, b);
                        let Ok((layout, _)) = caps::parse_roll_caps(c) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let m = b.map_readable().map_err(|_| gst::FlowError::Error)?;
                        let Ok(frame) = AnyFrame::from_bytes(&layout, &m) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        if probs {
                            shared.frames.fetch_add(1, Ordering::Relaxed);
                            shared.position.store(pts, Ordering::Relaxed);
                            if keep_probs {
                                let p = frame.into_prob();
                                if let Ok(mut v) = shared.probs.lock() {
                                    v.push((pts, p));
                                }
                            }
                        } else {
                            let v = frame.into_played();
                            let vl = v.layout(layout.lowest_note);
                            let mut prev = prev.lock().map_err(|_| gst::FlowError::Error)?;
                            let ons = frame_transitions(&vl, prev.as_ref(), &v, pts)
                                .iter()
                                .filter(|e| matches!(e, NoteEvent::On { .. }))
                                .count();
                            *prev = Some(v.clone());
                            shared.notes.fetch_add(ons as u64, Ordering::Relaxed);
                            if keep_picture && let Ok(mut d) = shared.decided.lock() {
                                d.push((pts, v));
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        Ok(())
    }

    /// Route parsebin's streams: the first video stream into the muxer (copied when the
    /// container takes its codec), the original audio into the muxer (with `keep_audio`)
    /// or away, anything else away.
    fn link_parsed_streams(&self, container: Container) -> Result<()> {
        let pb = self
            .pipeline
            .by_name("pb")
            .ok_or_else(|| anyhow!("no parsebin"))?;
        let mux = self
            .pipeline
            .by_name("mux")
            .ok_or_else(|| anyhow!("no muxer"))?;
        let pipeline = self.pipeline.downgrade();
        let shared = self.shared.clone();
        let keep_audio = self.opts.keep_audio;
        let have_video = Arc::new(Mutex::new(false));
        pb.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let media = caps
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            let r = (|| -> Result<()> {
                let is_video = media.starts_with("video/") || media.starts_with("image/");
                let is_audio = media.starts_with("audio/");
                let first_video = is_video && {
                    let mut h = have_video.lock().map_err(|_| anyhow!("lock"))?;
                    !std::mem::replace(&mut *h, true)
                };
                if !(first_video || (is_audio && keep_audio)) {
                    let sink = make("fakesink")?;
                    sink.set_property("sync", false);
                    pipeline.add(&sink)?;
                    sink.sync_state_with_parent()?;
                    pad.link(&sink.static_pad("sink").ok_or_else(|| anyhow!("no pad"))?)?;
                    return Ok(());
                }
                let template = if first_video { "video_%u" } else { "audio_%u" };
                let fits = mux
                    .pad_template(template)
                    .is_some_and(|t| t.caps().iter().any(|s| s.name().as_str() == media.as_str()));
                let q = make("queue")?;
                q.set_property("max-size-buffers", 0u32);
                q.set_property("max-size-bytes", 0u32);
                q.set_property("max-size-time", 4_000_000_000u64 + shared.lookahead);
                let chain = if fits {
                    vec![q]
                } else {
                    let enc = if first_video {
                        container.video_encoder().to_string()
                    } else {
                        format!("audioconvert ! {}", container.audio_encoder())
                    };
                    let bin = gst::parse::bin_from_description(&format!("decodebin ! {enc}"), true)
                        .with_context(|| format!("encoding {media} again"))?;
                    vec![q, bin.upcast()]
                };
                for e in &chain {
                    pipeline.add(e)?;
                }
                gst::Element::link_many(&chain)?;
                let first = chain.first().and_then(|e| e.static_pad("sink"));
                let last = chain.last().ok_or_else(|| anyhow!("empty chain"))?;
                let mux_pad = mux.request_pad_simple(template).ok_or_else(|| {
                    anyhow!("{} takes no more {template} streams", container.muxer())
                })?;
                last.static_pad("src")
                    .ok_or_else(|| anyhow!("no src pad"))?
                    .link(&mux_pad)?;
                pad.link(&first.ok_or_else(|| anyhow!("no sink pad"))?)?;
                for e in &chain {
                    e.sync_state_with_parent()?;
                }
                if first_video {
                    *shared.video_copied.lock().map_err(|_| anyhow!("lock"))? = Some(fits);
                }
                Ok(())
            })();
            if let Err(e) = r
                && let Ok(mut le) = shared.link_error.lock()
            {
                le.get_or_insert(format!("{media} stream of the input: {e}"));
            }
        });
        Ok(())
    }

    /// Run to the end, calling `progress` about ten times a second. Errors carry the element
    /// and its message (which says what to change).
    pub fn run(self, mut progress: impl FnMut(Progress)) -> Result<Summary> {
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| anyhow!("pipeline has no bus"))?;
        let mut result = Ok(());
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            // The element that refused said why on the bus: that is the message.
            result = Err(first_bus_error(&bus)
                .unwrap_or_else(|| anyhow!("could not start the pipeline (no element said why)")));
        }
        let mut duration = None;
        while result.is_ok() {
            if let Some(e) = self.shared.link_error.lock().ok().and_then(|e| e.clone()) {
                result = Err(anyhow!(e));
                break;
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                if duration.is_none() {
                    duration = self
                        .pipeline
                        .query_duration::<gst::ClockTime>()
                        .map(|d| d.nseconds());
                }
                let pos = self.shared.position.load(Ordering::Relaxed);
                progress(Progress {
                    frames: self.shared.frames.load(Ordering::Relaxed),
                    position: (pos != u64::MAX).then_some(pos),
                    duration,
                });
                continue;
            };
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => {
                    let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                    result = Err(anyhow!("{from}: {}", e.error()));
                }
                _ => {}
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        result?;
        if let Some(png) = &self.opts.roll_png {
            self.write_picture(self.outputs.temp(png).unwrap_or(png))?;
        }
        let probabilities = if self.opts.keep_probabilities {
            std::mem::take(&mut *self.shared.probs.lock().map_err(|_| anyhow!("lock"))?)
        } else {
            Vec::new()
        };
        let shared = self.shared.clone();
        let outputs = self.outputs.commit()?;
        Ok(Summary {
            frames: shared.frames.load(Ordering::Relaxed),
            notes: shared.notes.load(Ordering::Relaxed),
            video_copied: shared
                .video_copied
                .lock()
                .ok()
                .and_then(|v| *v)
                .unwrap_or(false),
            outputs,
            probabilities,
        })
    }

    fn write_picture(&self, path: &Path) -> Result<()> {
        let probs = self.shared.probs.lock().map_err(|_| anyhow!("lock"))?;
        let decided = self.shared.decided.lock().map_err(|_| anyhow!("lock"))?;
        let keys = probs.first().map(|p| p.1.keys()).unwrap_or(88);
        // Decisions keep their frame's time: line them up by it.
        let mut notes: Vec<Option<VelocityFrame>> = vec![None; probs.len()];
        let mut j = 0;
        for (pts, v) in decided.iter() {
            while j < probs.len() && probs[j].0 < *pts {
                j += 1;
            }
            if j < probs.len() && probs[j].0 == *pts {
                notes[j] = Some(v.clone());
            }
        }
        let rows: Vec<Vec<f32>> = probs.iter().map(|p| p.1.frame.clone()).collect();
        let pic = picture::transcription(&rows, &notes, keys, 3)
            .map_err(|e| anyhow!("roll picture: {e}"))?;
        std::fs::write(path, pic.encode_png()?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// Every output of `opts`, checked against the input and each other and made ready.
fn plan_outputs(opts: &RedubOptions) -> Result<crate::outputs::Outputs> {
    let mut outs: Vec<(&str, &Path)> = Vec::new();
    for (opt, p) in [
        ("-o", &opts.video_out),
        ("-o", &opts.wav_out),
        ("--midi", &opts.midi_out),
        ("--roll-png", &opts.roll_png),
    ] {
        if let Some(p) = p {
            outs.push((opt, p.as_path()));
        }
    }
    crate::outputs::Outputs::plan(&[opts.input.as_path()], &outs)
}

/// The first error message on `bus` (an element that failed a state change posts one): the
/// element and what it said.
fn first_bus_error(bus: &gst::Bus) -> Option<anyhow::Error> {
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
            return Some(anyhow!("{from}: {}", e.error()));
        }
    }
    None
}

/// One video for [`chain_probabilities`].
pub struct ChainInput<'a> {
    pub video: &'a Path,
    pub model: Option<&'a Path>,
    /// pianocrop corners (in the rotated picture), or None to find them.
    pub corners: Option<&'a str>,
    pub rotate: u32,
    /// roll2midi properties.
    pub roll2midi: &'a str,
    pub midi_out: Option<&'a Path>,
}

/// One video through the re-dub pipeline, with at most a MIDI output: video2roll's
/// probabilities of every frame with their stream times.
pub fn chain_probabilities(c: &ChainInput) -> Result<Vec<(u64, ProbFrame)>> {
    let o = RedubOptions {
        input: c.video.to_path_buf(),
        midi_out: c.midi_out.map(Path::to_path_buf),
        device: "auto".into(),
        model: c.model.map(Path::to_path_buf),
        keyboard: c.corners.map(str::to_string),
        rotate: c.rotate,
        roll2midi: c.roll2midi.to_string(),
        keep_probabilities: true,
        ..Default::default()
    };
    Ok(Redub::new(o)?.run(|_| {})?.probabilities)
}
