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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use gst::prelude::*;
use gstpianola::core::roll::ProbFrame;

use crate::chain_build::{
    Builder, build_audio, build_transcription, check, plan_outputs, size_queues_from_latency,
};
use crate::chain_copy::{Copier, encoders, link_parsed_streams};
use crate::chain_rolls::{Rolls, watch};

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
    /// pianocrop keys: the instrument's number of keys (88, 76, 61, 49), when finding it
    /// fails or picks the wrong size; None: detected.
    pub keys: Option<u32>,
    /// Clockwise rotation of the picture before pianocrop (0, 90, 180, 270): the keyboard
    /// seen from the far side or in a portrait video.
    pub rotate: u32,
    /// Keep the input's own audio as a second track (default: replaced).
    pub keep_audio: bool,
    /// Extra roll2midi properties, e.g. "onset-threshold=0.7" (for trying settings).
    pub roll2midi: String,
    /// Return video2roll's key-down probabilities in the summary (for scoring).
    pub keep_probabilities: bool,
    /// video2roll's CPU threads; 0: the element's default (all cores but one). libtorch's count is
    /// process-wide: pipelines running side by side must all ask for the same.
    pub threads: u32,
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

    pub fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4mux",
            Container::Mov => "qtmux",
            Container::Matroska => "matroskamux",
        }
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

/// How long the queue in front of the muxer holds the copied video: enough for the time
/// the generated audio lags behind it (set again from roll2midi's latency answer).
pub const COPY_QUEUE_NS: u64 = 4_000_000_000;

/// A GStreamer element by factory name; a missing one says how to install it.
pub fn element(name: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(name).build().map_err(|_| {
        anyhow!("GStreamer element {name} is missing: install the GStreamer plugins (make setup)")
    })
}

/// An element with typed properties.
pub fn element_with(name: &str, props: &[(&str, &dyn ToValue)]) -> Result<gst::Element> {
    let e = element(name)?;
    for (k, v) in props {
        e.set_property(k, v.to_value());
    }
    Ok(e)
}

/// Base time a queue after a tee holds, before roll2midi's look-ahead is added.
pub const BRANCH_QUEUE_NS: u64 = 2_000_000_000;

/// A built re-dub pipeline.
pub struct Redub {
    opts: RedubOptions,
    /// The output files, written to temporaries until the run succeeds.
    outputs: crate::outputs::Outputs,
    pipeline: gst::Pipeline,
    rolls: Arc<Rolls>,
}

impl Redub {
    /// Check the options, plan the outputs and build the pipeline (nothing runs yet).
    pub fn new(opts: RedubOptions) -> Result<Redub> {
        let container = check(&opts)?;
        let outputs = plan_outputs(&opts)?;
        let rolls = Arc::new(Rolls::new());
        let mut b = Builder {
            pipeline: gst::Pipeline::new(),
            rolls: rolls.clone(),
        };
        let (v2r_tee, r2m) = build_transcription(&mut b, &opts)?;
        let keep_picture = opts.roll_png.is_some();
        let probsink = gst_app::AppSink::builder().sync(false).build();
        b.branch(&v2r_tee, vec![probsink.clone().upcast()])?;
        watch(
            &probsink,
            rolls.clone(),
            true,
            keep_picture || opts.keep_probabilities,
        );
        let notes = element("tee")?;
        b.branch(&v2r_tee, vec![r2m.clone(), notes.clone()])?;
        let notesink = gst_app::AppSink::builder().sync(false).build();
        b.branch(&notes, vec![notesink.clone().upcast()])?;
        watch(&notesink, rolls.clone(), false, keep_picture);
        if let Some(m) = &opts.midi_out {
            let sink = b.file_sink(outputs.temp(m).unwrap_or(m))?;
            b.branch(&notes, vec![element("midienc")?, sink])?;
        }
        let audio = build_audio(&mut b, &opts, &notes, &outputs)?;
        if let (Some(c), Some(out), Some(audio)) = (container, &opts.video_out, &audio) {
            let mux = element(c.muxer())?;
            let sink = b.file_sink(outputs.temp(out).unwrap_or(out))?;
            b.add(&[mux.clone(), sink])?;
            let mut enc = encoders(c, false)?;
            enc.push(mux.clone());
            b.branch(audio, enc)?;
            let src = element_with(
                "filesrc",
                &[("location", &opts.input.to_string_lossy().to_string())],
            )?;
            let parse = element("parsebin")?;
            b.add(&[src, parse.clone()])?;
            let copier = Copier {
                pipeline: b.pipeline.downgrade(),
                mux,
                container: c,
                keep_audio: opts.keep_audio,
                rolls: rolls.clone(),
                have_video: Mutex::new(false),
            };
            link_parsed_streams(&parse, copier);
        }
        size_queues_from_latency(&r2m, rolls.clone());
        Ok(Redub {
            opts,
            outputs,
            pipeline: b.pipeline,
            rolls,
        })
    }

    /// Run to the end, calling `progress` about ten times a second. Errors carry the element
    /// and its message (which says what to change).
    pub fn run(self, mut progress: impl FnMut(Progress)) -> Result<Summary> {
        let rolls = self.rolls.clone();
        let mut duration = None;
        crate::pipeline::run_with(
            &self.pipeline,
            |p| {
                if duration.is_none() {
                    duration = p.query_duration::<gst::ClockTime>().map(|d| d.nseconds());
                }
                let pos = rolls.position.load(Ordering::Relaxed);
                progress(Progress {
                    frames: rolls.frames.load(Ordering::Relaxed),
                    position: (pos != u64::MAX).then_some(pos),
                    duration,
                });
            },
            || rolls.link_error.lock().ok().and_then(|e| e.clone()),
        )?;
        if let Some(png) = &self.opts.roll_png {
            rolls.write_picture(self.outputs.temp(png).unwrap_or(png))?;
        }
        let probabilities = if self.opts.keep_probabilities {
            std::mem::take(&mut *rolls.probs.lock().map_err(|_| anyhow!("lock"))?)
        } else {
            Vec::new()
        };
        let outputs = self.outputs.commit()?;
        let video_copied = rolls
            .video_copied
            .lock()
            .ok()
            .and_then(|v| *v)
            .unwrap_or(false);
        Ok(Summary {
            frames: rolls.frames.load(Ordering::Relaxed),
            notes: rolls.notes.load(Ordering::Relaxed),
            video_copied,
            outputs,
            probabilities,
        })
    }
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
