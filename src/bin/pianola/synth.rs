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
    /// Play the notes at `scale * t + offset` seconds instead of `t` (e.g. on a video's
    /// clock, as its clip README gives them); notes falling before 0 are left out. Only the
    /// notes are played then: the file's pedal and controller events are not.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    offset: f64,
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
    if !(a.scale > 0.0 && a.scale.is_finite() && a.offset.is_finite()) {
        return Err(anyhow!(
            "--scale {} --offset {}: give a positive scale and a finite offset",
            a.scale,
            a.offset
        ));
    }
    let outputs = crate::outputs::Outputs::plan(&[input.as_path()], &[("-o", output.as_path())])?;
    let written = outputs.temp(output).unwrap_or(output).to_path_buf();
    // Retimed notes go through a MIDI file of their own, removed when done.
    let retimed = (a.scale != 1.0 || a.offset != 0.0)
        .then(|| -> Result<tempfile_path::TempPath> {
            use gstpianola::core::midi::{notes_to_smf, smf_to_notes};
            let notes = smf_to_notes(&std::fs::read(input)?)
                .with_context(|| format!("reading {}", input.display()))?;
            let notes = gstpianola::core::notes::retime(&notes, a.scale, a.offset);
            let path = tempfile_path::TempPath::beside(&written, "retimed.mid");
            std::fs::write(&path.0, notes_to_smf(&notes, None)?)?;
            Ok(path)
        })
        .transpose()?;
    let input = retimed.as_ref().map_or(input.as_path(), |p| p.0.as_path());
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
    drop(retimed);
    outputs.commit()?;
    let secs = std::fs::metadata(output)
        .map(|m| m.len().saturating_sub(44) as f64 / (44_100.0 * 8.0))
        .unwrap_or(0.0);
    println!("audio: {} ({secs:.1} s)", output.display());
    Ok(())
}

mod tempfile_path {
    use std::path::{Path, PathBuf};

    /// A file beside another, removed when dropped.
    pub struct TempPath(pub PathBuf);

    impl TempPath {
        pub fn beside(file: &Path, suffix: &str) -> TempPath {
            let mut name = file.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".{suffix}"));
            TempPath(file.with_file_name(name))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
