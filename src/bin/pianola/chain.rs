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
pub use crate::chain_types::{Container, RedubOptions, element, element_with};

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
    /// video2roll properties.
    pub video2roll: &'a str,
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
        video2roll: c.video2roll.to_string(),
        keep_probabilities: true,
        ..Default::default()
    };
    Ok(Redub::new(o)?.run(|_| {})?.probabilities)
}
