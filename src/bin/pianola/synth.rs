// SPDX-License-Identifier: MPL-2.0
//! `pianola synth`: a MIDI file to WAV with a SoundFont.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;

use crate::pipeline::run_to_eos;

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Standard MIDI File to play.
    input: PathBuf,
    /// WAV file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// General MIDI program (0 = piano) for every melodic channel; default: the file's own.
    #[arg(long)]
    instrument: Option<u8>,
    /// SF2 SoundFont (default: FluidR3_GM.sf2 from fluid-soundfont-gm).
    #[arg(long)]
    soundfont: Option<PathBuf>,
}

pub fn run(a: &SynthArgs) -> Result<()> {
    let (input, output, program, soundfont) =
        (&a.input, &a.output, a.instrument, a.soundfont.as_deref());
    if !input.is_file() {
        return Err(anyhow!(
            "{} is not a readable file: give a MIDI file",
            input.display()
        ));
    }
    let outputs = crate::outputs::Outputs::plan(&[input.as_path()], &[("-o", output.as_path())])?;
    let written = outputs.temp(output).unwrap_or(output).to_path_buf();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", input.to_string_lossy().as_ref())
        .build()?;
    let parse = gst::ElementFactory::make("midiparse")
        .build()
        .context("midiparse is missing: apt install gstreamer1.0-plugins-bad (make setup)")?;
    let mut synth = gst::ElementFactory::make("midisynth");
    if let Some(p) = program {
        synth = synth.property("program", p as i32);
    }
    if let Some(sf) = soundfont {
        synth = synth.property("soundfont", sf.to_string_lossy().into_owned());
    }
    let synth = synth.build()?;
    let enc = gst::ElementFactory::make("wavenc").build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", written.to_string_lossy().as_ref())
        .build()?;
    let elements = [&src, &parse, &synth, &enc, &sink];
    pipeline.add_many(elements)?;
    gst::Element::link_many(elements)?;
    run_to_eos(&pipeline)?;
    outputs.commit()?;
    let secs = std::fs::metadata(output)
        .map(|m| m.len().saturating_sub(44) as f64 / (44_100.0 * 8.0))
        .unwrap_or(0.0);
    println!("audio: {} ({secs:.1} s)", output.display());
    Ok(())
}
