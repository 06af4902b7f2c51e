// SPDX-License-Identifier: MPL-2.0
//! `pianola`: the command-line application and workbench. Runs GStreamer pipelines
//! in-process with the plugin registered statically; one module per subcommand.

mod augment;
mod average;
mod chain;
mod chain_build;
mod chain_copy;
mod chain_rolls;
mod chain_types;
mod clips;
mod dataset;
mod demo;
mod eval;
mod label;
mod outputs;
mod pipeline;
mod redub;
mod redub_batch;
mod redub_scan;
mod render;
mod sim;
mod synth;
mod train;
mod train_args;
mod train_check;
mod train_data;
mod train_refiner;
mod trainset;
mod velocity;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Give a silent piano video its music back: the video with a generated audio track,
    /// and/or the audio as WAV, the notes as MIDI, a piano-roll picture. With --out-dir,
    /// many videos and folders of videos, resumable.
    Redub(redub::RedubArgs),
    /// Render the built-in piece (Bach, Prelude in C, BWV 846) as a silent pianosim video,
    /// re-dub it, and score the transcription against the notes it was rendered from.
    Demo(demo::DemoArgs),
    /// Save chosen frames of a pianosim render as PNG (to look at the renderer).
    SimFrames(sim::SimFramesArgs),
    /// Side-by-side PNGs of real frames and pianosim renders, both as the 900x100 keyboard
    /// strip and as a 640x360 scene.
    SimCompare(sim::SimCompareArgs),
    /// Render N labelled pianosim clips (MP4 + true MIDI + JSON labels) from a MIDI folder
    /// and/or procedural music, split into train and held-out by piece and by seed.
    Dataset(dataset::DatasetArgs),
    /// Train a video2roll net on real clips and pianosim renders (checkpoints as it goes).
    Train(train_args::TrainArgs),
    /// Train roll2midi's learned refinement (Audeo's Roll2Midi GAN) on video2roll's
    /// probabilities for rendered clips and their true rolls.
    TrainRefiner(train_refiner::TrainRefinerArgs),
    /// Average the weights of a training run's snapshots (`train --snapshot-every`) into
    /// one net (stochastic weight averaging).
    Average(average::AverageArgs),
    /// Run pianocrop ! video2roll ! roll2midi on videos and score them against their MIDI:
    /// frame P/R/Acc/F1 and note-onset P/R/F1 at 50 and 100 ms; writes the estimated MIDI
    /// and a piano-roll picture (estimate vs reference) per video.
    Eval(eval::EvalArgs),
    /// Render a MIDI file to a WAV file with a SoundFont.
    Synth(synth::SynthArgs),
    /// Label a video of a piano from its own sound track (an audio transcriber, aligned with
    /// the picture): a clip folder to fine-tune the model on that piano with `train --init`.
    Label(label::LabelArgs),
    /// Measure how much of each note's MIDI velocity a video2roll net's features carry: a
    /// linear probe fitted on some pianists' real clips, scored on pianists held apart.
    VelocityProbe(velocity::VelocityArgs),
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
        Command::Redub(a) => redub::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::SimFrames(a) => sim::frames(&a),
        Command::SimCompare(a) => sim::compare(&a),
        Command::Dataset(a) => dataset::run(&a),
        Command::Train(a) => train::run(&a),
        Command::TrainRefiner(a) => train_refiner::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Average(a) => average::run(&a),
        Command::Synth(a) => synth::run(&a),
        Command::Label(a) => label::run(&a),
        Command::VelocityProbe(a) => velocity::run(&a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train_error(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(args).expect("arguments parse");
        let Command::Train(a) = cli.command else {
            panic!("not a train command")
        };
        match train::run(&a) {
            Ok(()) => panic!("train ran"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn train_refuses_a_threshold_that_is_not_a_probability() {
        for t in ["1.5", "0", "-0.2", "NaN"] {
            let out = std::env::temp_dir().join("pianola-no-train.safetensors");
            let threshold = format!("--threshold={t}");
            let e = train_error(&[
                "pianola",
                "train",
                "--out",
                out.to_str().unwrap(),
                &threshold,
            ]);
            assert!(
                e.contains("--threshold") && e.contains("between 0 and 1"),
                "{e}"
            );
            assert!(!out.exists());
        }
    }
}
