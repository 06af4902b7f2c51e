// SPDX-License-Identifier: MPL-2.0
//! Assembling the re-dub pipeline of [`crate::chain`]: the options checked, the outputs
//! planned, the transcription and audio branches built, the queues sized.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use gst::prelude::*;

use crate::chain_rolls::Rolls;
use crate::chain_types::{BRANCH_QUEUE_NS, Container, RedubOptions, element, element_with};

/// The elements being assembled, in the pipeline.
pub struct Builder {
    pub pipeline: gst::Pipeline,
    /// Every queue after a tee must hold what roll2midi and video2roll look ahead.
    pub rolls: Arc<Rolls>,
}

impl Builder {
    pub fn add(&mut self, chain: &[gst::Element]) -> Result<()> {
        for e in chain {
            self.pipeline.add(e)?;
        }
        gst::Element::link_many(chain)?;
        Ok(())
    }

    /// A tee branch: a queue, then `chain`.
    pub fn branch(&mut self, tee: &gst::Element, chain: Vec<gst::Element>) -> Result<()> {
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

    pub fn file_sink(&self, path: &Path) -> Result<gst::Element> {
        element_with(
            "filesink",
            &[("location", &path.to_string_lossy().to_string())],
        )
    }
}

/// The options' problems before anything is built; the container of the video output.
pub fn check(opts: &RedubOptions) -> Result<Option<Container>> {
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
pub fn build_transcription(
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
    if let Some(n) = opts.keys {
        crop.set_property("keys", n);
    }
    let v2r = element_with("video2roll", &[("device", &opts.device)])?;
    if let Some(m) = &opts.model {
        v2r.set_property("model", m.to_string_lossy().to_string());
    }
    if opts.threads > 0 {
        v2r.set_property("threads", opts.threads);
    }
    set_properties(&v2r, "video2roll", &opts.video2roll)?;
    let tee = element("tee")?;
    // video2roll in a thread of its own: decoding, pianocrop and the model then run side by
    // side (Bach, to fakesink: 20.4 s without this queue, 14.9 s with it).
    let queue = element("queue")?;
    chain.extend([crop, queue, v2r, tee.clone()]);
    b.add(&chain)?;
    link_decoded_video(&dec, &convert, &opts.input.display().to_string());
    let r2m = element("roll2midi")?;
    set_properties(&r2m, "roll2midi", &opts.roll2midi)?;
    Ok((tee, r2m))
}

/// decodebin's video pad to `convert`; an error naming `input` when it has no video stream
/// or one too small to find a keyboard in.
fn link_decoded_video(dec: &gst::Element, convert: &gst::Element, input: &str) {
    // A file with no video stream (audio only): say so instead of a data-flow error.
    crate::pipeline::error_if_unlinked(
        dec,
        convert,
        format!("{input} has no video stream: give a video of the piano filmed from above"),
    );
    let convert = convert.downgrade();
    let input = input.to_string();
    dec.connect_pad_added(move |dec, pad| {
        let Some(caps) = pad.current_caps() else {
            return;
        };
        let Some(s) = caps.structure(0).filter(|s| s.name().starts_with("video/")) else {
            return;
        };
        // Too small to find a keyboard in: say the size needed, not "not negotiated".
        let (min_w, min_h) = gstpianola::core::keyfind::MIN_FRAME;
        if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height"))
            && ((w as usize) < min_w || (h as usize) < min_h)
        {
            gst::element_error!(
                dec,
                gst::StreamError::Format,
                ("{input} is {w}x{h}: pianocrop needs a video of at least {min_w}x{min_h} pixels, with the whole keyboard in it")
            );
            return;
        }
        if let Some(sink) = convert.upgrade().and_then(|c| c.static_pad("sink"))
            && !sink.is_linked()
        {
            let _ = pad.link(&sink);
        }
    });
}

/// notes tee ! queue ! midisynth ! audioconvert ! audioresample ! tee [! queue ! ... ! wavenc
/// ! filesink]; the audio tee, when audio is wanted.
pub fn build_audio(
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
pub fn size_queues_from_latency(r2m: &gst::Element, rolls: Arc<Rolls>) {
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
pub fn plan_outputs(opts: &RedubOptions) -> Result<crate::outputs::Outputs> {
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

/// Set "name=value ..." properties (for trying settings) on `e`, the element `what`.
fn set_properties(e: &gst::Element, what: &str, kvs: &str) -> Result<()> {
    for kv in kvs.split_whitespace() {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("{what} property {kv}: write name=value"))?;
        if e.find_property(k).is_none() {
            return Err(anyhow!("{what} has no property {k}"));
        }
        e.set_property_from_str(k, v);
    }
    Ok(())
}
