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
const BRANCH_QUEUE_NS: u64 = 2_000_000_000;

/// A built re-dub pipeline.
pub struct Redub {
    opts: RedubOptions,
    /// The output files, written to temporaries until the run succeeds.
    outputs: crate::outputs::Outputs,
    pipeline: gst::Pipeline,
    rolls: Arc<Rolls>,
}

/// The elements being assembled, in the pipeline.
struct Builder {
    pipeline: gst::Pipeline,
    /// Every queue after a tee must hold what roll2midi and video2roll look ahead.
    rolls: Arc<Rolls>,
}

impl Builder {
    fn add(&mut self, chain: &[gst::Element]) -> Result<()> {
        for e in chain {
            self.pipeline.add(e)?;
        }
        gst::Element::link_many(chain)?;
        Ok(())
    }

    /// A tee branch: a queue, then `chain`.
    fn branch(&mut self, tee: &gst::Element, chain: Vec<gst::Element>) -> Result<()> {
        let q = element_with(
            "queue",
            &[("max-size-buffers", &0u32), ("max-size-bytes", &0u32)],
        )?;
        self.rolls.hold(&q, BRANCH_QUEUE_NS);
        let mut all = vec![tee.clone(), q];
        all.extend(chain);
        for e in all[1..].iter().filter(|e| e.parent().is_none()) {
            self.pipeline.add(e)?;
        }
        gst::Element::link_many(&all)?;
        Ok(())
    }

    fn file_sink(&self, path: &Path) -> Result<gst::Element> {
        element_with(
            "filesink",
            &[("location", &path.to_string_lossy().to_string())],
        )
    }
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

/// The options' problems before anything is built; the container of the video output.
fn check(opts: &RedubOptions) -> Result<Option<Container>> {
    if !opts.input.is_file() {
        return Err(anyhow!(
            "input {} is not a readable file: give the path of a video",
            opts.input.display()
        ));
    }
    let nothing = [
        &opts.video_out,
        &opts.wav_out,
        &opts.midi_out,
        &opts.roll_png,
    ]
    .iter()
    .all(|o| o.is_none());
    if nothing && !opts.keep_probabilities {
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
    if ![0, 90, 180, 270].contains(&opts.rotate) {
        return Err(anyhow!("rotation {}: use 0, 90, 180 or 270", opts.rotate));
    }
    match &opts.video_out {
        Some(p) => Ok(Some(Container::from_path(p).ok_or_else(|| {
            anyhow!(
                "{}: unknown container; name the output .mp4, .mov, .mkv or .wav",
                p.display()
            )
        })?)),
        None => Ok(None),
    }
}

/// filesrc ! decodebin ! videoconvert [! videoflip] ! pianocrop ! video2roll ! tee; and the
/// roll2midi (not yet linked) with its properties.
fn build_transcription(
    b: &mut Builder,
    opts: &RedubOptions,
) -> Result<(gst::Element, gst::Element)> {
    let src = element_with(
        "filesrc",
        &[("location", &opts.input.to_string_lossy().to_string())],
    )?;
    let dec = element("decodebin")?;
    b.add(&[src, dec.clone()])?;
    let convert = element("videoconvert")?;
    let mut chain = vec![convert.clone()];
    if opts.rotate != 0 {
        let flip = element("videoflip")?;
        let dir = match opts.rotate {
            90 => "90r",
            180 => "180",
            _ => "90l",
        };
        flip.set_property_from_str("video-direction", dir);
        chain.push(flip);
    }
    let crop = element("pianocrop")?;
    if let Some(k) = &opts.keyboard {
        crop.set_property("corners", k);
    }
    let v2r = element_with("video2roll", &[("device", &opts.device)])?;
    if let Some(m) = &opts.model {
        v2r.set_property("model", m.to_string_lossy().to_string());
    }
    let tee = element("tee")?;
    chain.extend([crop, v2r, tee.clone()]);
    b.add(&chain)?;
    let convert = convert.downgrade();
    dec.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if let (true, Some(sink)) = (
            is_video,
            convert.upgrade().and_then(|c| c.static_pad("sink")),
        ) && !sink.is_linked()
        {
            let _ = pad.link(&sink);
        }
    });
    let r2m = element("roll2midi")?;
    for kv in opts.roll2midi.split_whitespace() {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("roll2midi property {kv}: write name=value"))?;
        if r2m.find_property(k).is_none() {
            return Err(anyhow!("roll2midi has no property {k}"));
        }
        r2m.set_property_from_str(k, v);
    }
    Ok((tee, r2m))
}

/// notes tee ! queue ! midisynth ! audioconvert ! audioresample ! tee [! queue ! ... ! wavenc
/// ! filesink]; the audio tee, when audio is wanted.
fn build_audio(
    b: &mut Builder,
    opts: &RedubOptions,
    notes: &gst::Element,
    outputs: &crate::outputs::Outputs,
) -> Result<Option<gst::Element>> {
    if opts.video_out.is_none() && opts.wav_out.is_none() {
        return Ok(None);
    }
    let synth = element_with("midisynth", &[("program", &(opts.program as i32))])?;
    if let Some(sf) = &opts.soundfont {
        synth.set_property("soundfont", sf.to_string_lossy().to_string());
    }
    let tee = element("tee")?;
    b.branch(
        notes,
        vec![
            synth,
            element("audioconvert")?,
            element("audioresample")?,
            tee.clone(),
        ],
    )?;
    if let Some(w) = &opts.wav_out {
        let caps = gst::Caps::builder("audio/x-raw")
            .field("format", "S16LE")
            .build();
        let sink = b.file_sink(outputs.temp(w).unwrap_or(w))?;
        let chain = vec![
            element("audioconvert")?,
            element_with("capsfilter", &[("caps", &caps)])?,
            element("wavenc")?,
            sink,
        ];
        b.branch(&tee, chain)?;
    }
    Ok(Some(tee))
}

/// When roll2midi has its caps, ask it (and video2roll behind it) how much it holds back,
/// and let every branch queue hold that much more than its base, so preroll never stalls.
fn size_queues_from_latency(r2m: &gst::Element, rolls: Arc<Rolls>) {
    let Some(pad) = r2m.static_pad("src") else {
        return;
    };
    let weak = r2m.downgrade();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let is_caps = matches!(info.data, Some(gst::PadProbeData::Event(ref e)) if e.type_() == gst::EventType::Caps);
        if !is_caps {
            return gst::PadProbeReturn::Ok;
        }
        let mut q = gst::query::Latency::new();
        if let Some(r2m) = weak.upgrade()
            && r2m.static_pad("src").is_some_and(|p| p.query(&mut q))
        {
            rolls.set_lookahead(q.result().1.nseconds());
        }
        gst::PadProbeReturn::Remove
    });
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
