// SPDX-License-Identifier: MPL-2.0
//! `pianola`: command-line front end. Runs GStreamer pipelines in-process with the plugin
//! registered statically.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use gst::prelude::*;
use gstpianola::core::midi::notes_to_smf;
use gstpianola::core::music::{DEMO_SIXTEENTH, bach_prelude_c};

#[derive(Parser)]
#[command(
    name = "pianola",
    version,
    about = "Give a silent piano video its music back"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render the built-in piece (Bach, Prelude in C, BWV 846) to MIDI and WAV.
    Demo {
        /// Where to write the outputs.
        #[arg(long, default_value = "demo-out")]
        out_dir: PathBuf,
    },
    /// Save chosen frames of a pianosim render as PNG (to look at the renderer).
    SimFrames {
        /// MIDI file to play; default: the built-in piece.
        #[arg(long)]
        midi: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Times in seconds.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        at: Vec<f64>,
        /// Render only the canonical 900x100 keyboard strip.
        #[arg(long)]
        canonical: bool,
        #[arg(long, default_value = "sim-frames")]
        out_dir: PathBuf,
    },
    /// Render a MIDI file to a WAV file with a SoundFont.
    Synth {
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pianola: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    gst::init()?;
    gstpianola::plugin_register_static()?;
    match cli.command {
        Command::Demo { out_dir } => demo(&out_dir),
        Command::SimFrames {
            midi,
            seed,
            at,
            canonical,
            out_dir,
        } => sim_frames(midi.as_deref(), seed, &at, canonical, &out_dir),
        Command::Synth {
            input,
            output,
            instrument,
            soundfont,
        } => synth(&input, &output, instrument, soundfont.as_deref()),
    }
}

fn demo(out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mid = out_dir.join("prelude.mid");
    let wav = out_dir.join("prelude.wav");
    let notes = bach_prelude_c(11, DEMO_SIXTEENTH);
    std::fs::write(&mid, notes_to_smf(&notes, Some(0))?)
        .with_context(|| format!("writing {}", mid.display()))?;
    synth(&mid, &wav, None, None)?;
    println!("notes: {} ({} notes)", mid.display(), notes.len());
    Ok(())
}

fn sim_frames(
    midi: Option<&Path>,
    seed: u64,
    at: &[f64],
    canonical: bool,
    out_dir: &Path,
) -> Result<()> {
    use gstpianola::core::sim::{SimConfig, Simulator, View};
    let notes = match midi {
        Some(p) => gstpianola::core::midi::smf_to_notes(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => bach_prelude_c(11, DEMO_SIXTEENTH),
    };
    let config = SimConfig {
        seed,
        view: if canonical {
            View::Canonical
        } else {
            View::Scene
        },
        ..Default::default()
    };
    let mut sim = Simulator::new(&notes, &config)?;
    std::fs::create_dir_all(out_dir)?;
    let (num, den) = sim.fps();
    for &t in at {
        let i = (t * num as f64 / den as f64).round() as usize;
        let (w, h) = (sim.width(), sim.height());
        let rgba = sim.render(i.min(sim.n_frames() - 1)).to_vec();
        let pm = tiny_skia::Pixmap::from_vec(
            rgba,
            tiny_skia::IntSize::from_wh(w, h).ok_or_else(|| anyhow!("size"))?,
        )
        .ok_or_else(|| anyhow!("pixmap"))?;
        let path = out_dir.join(format!(
            "seed{seed}-{t:.2}s{}.png",
            if canonical { "-canonical" } else { "" }
        ));
        pm.save_png(&path)?;
        println!("{} ({w}x{h}, corners {:?})", path.display(), sim.corners());
    }
    Ok(())
}

fn synth(input: &Path, output: &Path, program: Option<u8>, soundfont: Option<&Path>) -> Result<()> {
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
        .property("location", output.to_string_lossy().as_ref())
        .build()?;
    let elements = [&src, &parse, &synth, &enc, &sink];
    pipeline.add_many(elements)?;
    gst::Element::link_many(elements)?;
    run_to_eos(&pipeline)?;
    let secs = std::fs::metadata(output)
        .map(|m| m.len().saturating_sub(44) as f64 / (44_100.0 * 8.0))
        .unwrap_or(0.0);
    println!("audio: {} ({secs:.1} s)", output.display());
    Ok(())
}

/// Run to end of stream; a bus error becomes one line naming the element and what to fix.
fn run_to_eos(pipeline: &gst::Pipeline) -> Result<()> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline has no bus"))?;
    let started = pipeline.set_state(gst::State::Playing);
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                let detail = e
                    .debug()
                    .map(|d| {
                        d.rsplit(":\n")
                            .next()
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    })
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                result = Err(anyhow!("{from}: {}{detail}", e.error()));
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    if result.is_ok() {
        started.map_err(|_| anyhow!("pipeline failed to start"))?;
    }
    result
}
