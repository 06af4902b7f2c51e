// SPDX-License-Identifier: MPL-2.0
//! The re-dub's shared types: what to make of a video, the output container, the queue
//! times and element makers, used by [`crate::chain`] and the modules that build its
//! pipeline ([`crate::chain_build`], [`crate::chain_copy`]), so that those need not import
//! the module that imports them.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use gst::prelude::*;

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
    /// Extra video2roll properties, e.g. "window-rate=0" (for trying settings).
    pub video2roll: String,
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

/// How long the queue in front of the muxer holds the copied video: enough for the time
/// the generated audio lags behind it (set again from roll2midi's latency answer).
pub const COPY_QUEUE_NS: u64 = 4_000_000_000;

/// Base time a queue after a tee holds, before roll2midi's look-ahead is added.
pub const BRANCH_QUEUE_NS: u64 = 2_000_000_000;

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
