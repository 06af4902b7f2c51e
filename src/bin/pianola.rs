// SPDX-License-Identifier: MPL-2.0
//! `pianola`: command-line front end. Runs GStreamer pipelines in-process with the plugin
//! registered statically.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use gst::prelude::*;
use gstpianola::core::music::{DEMO_SIXTEENTH, bach_prelude_c};
use gstpianola::pipeline::{launch_with_appsink, run_to_eos};

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
    /// and/or the audio as WAV, the notes as MIDI, a piano-roll picture.
    Redub(RedubArgs),
    /// Render the built-in piece (Bach, Prelude in C, BWV 846) as a silent pianosim video,
    /// re-dub it, and score the transcription against the notes it was rendered from.
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
    /// Side-by-side PNGs of real frames and pianosim renders, both as the 900x100 keyboard
    /// strip and as a 640x360 scene.
    SimCompare {
        /// A real top-view video.
        #[arg(long)]
        video: PathBuf,
        /// Its keyboard corners: x0,y0,x1,y1,x2,y2,x3,y3 (top-left, top-right, bottom-right,
        /// bottom-left) in full-resolution pixels.
        #[arg(long, value_delimiter = ',')]
        corners: Vec<f64>,
        /// Times in the real video, seconds.
        #[arg(long, value_delimiter = ',')]
        at: Vec<f64>,
        /// One pianosim seed per time.
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        #[arg(long, default_value = "docs")]
        out_dir: PathBuf,
    },
    /// Render N labelled pianosim clips (MP4 + true MIDI + JSON labels) from a MIDI folder
    /// and/or procedural music, split into train and held-out by piece and by seed.
    Dataset(DatasetArgs),
    /// Train a video2roll net on pianosim renders made on the fly (checkpoints as it goes).
    Train(TrainArgs),
    /// Train roll2midi's learned refinement (Audeo's Roll2Midi GAN) on video2roll's
    /// probabilities for rendered clips and their true rolls.
    TrainRefiner(refine::TrainRefinerArgs),
    /// Run pianocrop ! video2roll ! roll2midi on videos and score them against their MIDI:
    /// frame P/R/Acc/F1 and note-onset P/R/F1 at 50 and 100 ms; writes the estimated MIDI
    /// and a piano-roll picture (estimate vs reference) per video.
    Eval(EvalArgs),
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

#[path = "pianola/refine.rs"]
mod refine;

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
        Command::Redub(args) => redub_cmd(&args),
        Command::Demo { out_dir } => demo(&out_dir),
        Command::SimFrames {
            midi,
            seed,
            at,
            canonical,
            out_dir,
        } => sim_frames(midi.as_deref(), seed, &at, canonical, &out_dir),
        Command::SimCompare {
            video,
            corners,
            at,
            seeds,
            out_dir,
        } => sim_compare(&video, &corners, &at, &seeds, &out_dir),
        Command::Dataset(args) => dataset(&args),
        Command::Train(args) => train(&args),
        Command::TrainRefiner(args) => refine::train_refiner(&args),
        Command::Eval(args) => eval(&args),
        Command::Synth {
            input,
            output,
            instrument,
            soundfont,
        } => synth(&input, &output, instrument, soundfont.as_deref()),
    }
}

#[derive(clap::Args)]
struct RedubArgs {
    /// The piano video (any format GStreamer decodes), filmed from above.
    input: PathBuf,
    /// Output: a video (.mp4, .mov, .mkv: the input's video with the new audio) and/or a
    /// .wav (the audio alone). Repeatable.
    #[arg(short, long)]
    output: Vec<PathBuf>,
    /// Also write the transcription as a Standard MIDI File.
    #[arg(long)]
    midi: Option<PathBuf>,
    /// Also draw the transcription as a piano-roll PNG (probabilities grey, notes amber).
    #[arg(long)]
    roll_png: Option<PathBuf>,
    /// General MIDI program for the audio (0 = acoustic grand piano, 4 = electric piano,
    /// 19 = church organ, 40 = violin, ...).
    #[arg(long, default_value_t = 0)]
    instrument: u8,
    /// SF2 SoundFont (default: FluidR3_GM.sf2 from fluid-soundfont-gm).
    #[arg(long)]
    soundfont: Option<PathBuf>,
    /// Where the model runs: auto (CUDA when present), cpu, cuda, cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// video2roll weights (default: the installed model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The keyboard's corners in the input's pixels, when finding it fails:
    /// "x0,y0,x1,y1,x2,y2,x3,y3" = top-left, top-right, bottom-right, bottom-left.
    #[arg(long)]
    keyboard: Option<String>,
    /// Keep the input's own audio as a second track (default: replace it).
    #[arg(long)]
    keep_audio: bool,
    /// How roll2midi decides the notes: rule-based or learned (see the README's ablation);
    /// default: the element's default.
    #[arg(long, value_parser = ["rule-based", "learned"])]
    mode: Option<String>,
    /// No progress bar and no summary (errors still go to stderr).
    #[arg(short, long)]
    quiet: bool,
}

fn redub_options(a: &RedubArgs) -> Result<gstpianola::redub::RedubOptions> {
    use gstpianola::redub::{Container, RedubOptions};
    let mut o = RedubOptions {
        input: a.input.clone(),
        midi_out: a.midi.clone(),
        roll_png: a.roll_png.clone(),
        program: a.instrument,
        soundfont: a.soundfont.clone(),
        device: a.device.clone(),
        model: a.model.clone(),
        keyboard: a.keyboard.clone(),
        keep_audio: a.keep_audio,
        roll2midi: a
            .mode
            .as_ref()
            .map(|m| format!("mode={m}"))
            .unwrap_or_default(),
        ..Default::default()
    };
    for out in &a.output {
        let is_wav = out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if is_wav {
            if o.wav_out.replace(out.clone()).is_some() {
                return Err(anyhow!("give one .wav output"));
            }
        } else if Container::from_path(out).is_some() {
            if o.video_out.replace(out.clone()).is_some() {
                return Err(anyhow!("give one video output"));
            }
        } else {
            return Err(anyhow!(
                "-o {}: name it .mp4, .mov, .mkv (video with audio) or .wav (audio)",
                out.display()
            ));
        }
    }
    for p in o.video_out.iter().chain(&o.wav_out) {
        if p == &o.input {
            return Err(anyhow!(
                "-o {} is the input: write to another file",
                p.display()
            ));
        }
    }
    Ok(o)
}

/// Run a re-dub with a progress bar (unless quiet).
fn redub_run(
    o: gstpianola::redub::RedubOptions,
    quiet: bool,
) -> Result<gstpianola::redub::Summary> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let job = gstpianola::redub::Redub::new(o)?;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let summary = job.run(|p| {
        if let Some(d) = p.duration {
            bar.set_length(d / 1_000_000);
        }
        if let Some(t) = p.position {
            bar.set_position(t / 1_000_000);
        }
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{} frames, {:.0} frames/s",
            p.frames,
            p.frames as f64 / secs
        ));
    });
    bar.finish_and_clear();
    let summary = summary?;
    if !quiet {
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        eprintln!(
            "{} frames in {secs:.1} s ({:.0} frames/s), {} notes",
            summary.frames,
            summary.frames as f64 / secs,
            summary.notes
        );
    }
    Ok(summary)
}

fn redub_cmd(a: &RedubArgs) -> Result<()> {
    let o = redub_options(a)?;
    let has_video = o.video_out.is_some();
    let summary = redub_run(o, a.quiet)?;
    if !a.quiet {
        for p in &summary.outputs {
            println!("wrote {}", p.display());
        }
        if has_video {
            println!(
                "video stream {}",
                if summary.video_copied {
                    "copied from the input"
                } else {
                    "encoded again (the container does not take the input's codec)"
                }
            );
        }
    }
    Ok(())
}

/// Seconds of the built-in piece the demo renders.
const DEMO_SECONDS: f64 = 30.0;

fn demo(out_dir: &Path) -> Result<()> {
    use gstpianola::core::dataset::{Split, clip_seed};
    use gstpianola::core::metrics::{frame_metrics, onset_metrics};
    use gstpianola::core::midi::smf_to_notes;
    use gstpianola::core::music::excerpt;
    use gstpianola::core::notes::{SECOND, frame_times, notes_to_roll};
    use gstpianola::core::roll::{RollLayout, ValueFormat};
    use gstpianola::dataset::{ClipRequest, render_clip};

    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let notes = excerpt(
        &bach_prelude_c(11, DEMO_SIXTEENTH),
        0,
        (DEMO_SECONDS * SECOND as f64) as u64,
        SECOND / 2,
    );
    // 1. A silent top-view video of the piece, from a seed training never uses.
    eprintln!("rendering {DEMO_SECONDS} s of Bach's Prelude in C with pianosim...");
    let req = ClipRequest {
        name: "prelude".into(),
        piece: "bach_prelude_c".into(),
        seed: clip_seed(2026, 0, Split::HeldOut),
        width: 960,
        height: 540,
        fps: (25, 1),
        canonical: false,
    };
    let labels = render_clip(&notes, &req, out_dir)?;
    let silent = out_dir.join("prelude-silent.mp4");
    std::fs::rename(&labels.video, &silent)?;
    // 2. Its music back.
    eprintln!("re-dubbing {}...", silent.display());
    let o = gstpianola::redub::RedubOptions {
        input: silent.clone(),
        video_out: Some(out_dir.join("prelude-redubbed.mp4")),
        wav_out: Some(out_dir.join("prelude.wav")),
        midi_out: Some(out_dir.join("prelude.mid")),
        roll_png: Some(out_dir.join("prelude-roll.png")),
        device: "auto".into(),
        ..Default::default()
    };
    let est_path = o.midi_out.clone().unwrap_or_default();
    let summary = redub_run(o, false)?;
    println!("silent video:     {}", silent.display());
    for p in &summary.outputs {
        println!("output:           {}", p.display());
    }
    println!("true notes:       {}", labels.truth_midi.display());
    // 3. How close: the transcription against the notes the video was rendered from.
    let truth = smf_to_notes(&std::fs::read(&labels.truth_midi)?)?;
    let est = smf_to_notes(&std::fs::read(&est_path)?)?;
    let onset = onset_metrics(&est, &truth, 0.05);
    let end = truth.iter().map(|n| n.end).max().unwrap_or(0);
    let times = frame_times((end * 25 / SECOND) as usize + 1, 25, 1);
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let down = |n: &[gstpianola::core::notes::Note]| -> Vec<Vec<bool>> {
        notes_to_roll(n, &layout, &times)
            .into_iter()
            .map(|f| f.frame.iter().map(|&v| v > 0).collect())
            .collect()
    };
    let frame = frame_metrics(&down(&est), &down(&truth));
    println!(
        "transcription vs the true notes: note onsets (50 ms) P {:.3} R {:.3} F1 {:.3} ({} of {} notes); frames F1 {:.3}",
        onset.precision, onset.recall, onset.f1, onset.matched, onset.n_reference, frame.f1
    );
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

/// Decoded RGBA frames of `video` nearest to each of `times` (seconds).
fn grab_frames(video: &Path, times: &[f64]) -> Result<Vec<(usize, usize, Vec<u8>)>> {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! appsink name=out sync=false",
        video.display()
    );
    let (pipeline, sink) = launch_with_appsink(&desc, "out")?;
    pipeline.set_state(gst::State::Playing)?;
    let mut wanted: Vec<(usize, f64)> = times.iter().copied().enumerate().collect();
    wanted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out: Vec<Option<(usize, usize, Vec<u8>)>> = vec![None; times.len()];
    let mut k = 0;
    while k < wanted.len() {
        let Ok(sample) = sink.pull_sample() else {
            break;
        };
        let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else {
            continue;
        };
        let t = buf.pts().map(|p| p.nseconds() as f64 / 1e9).unwrap_or(0.0);
        while k < wanted.len() && t + 0.02 >= wanted[k].1 {
            let info = gst_video::VideoInfo::from_caps(caps)?;
            let map = buf.map_readable()?;
            let (w, h, stride) = (
                info.width() as usize,
                info.height() as usize,
                info.stride()[0] as usize,
            );
            let mut rgba = Vec::with_capacity(w * h * 4);
            for row in 0..h {
                rgba.extend_from_slice(&map[row * stride..row * stride + w * 4]);
            }
            out[wanted[k].0] = Some((w, h, rgba));
            k += 1;
        }
    }
    pipeline.set_state(gst::State::Null)?;
    out.into_iter()
        .map(|f| f.ok_or_else(|| anyhow!("video ended before a requested time")))
        .collect()
}

/// Halve an RGBA image until it is at most `max_w` wide (2x2 box filter).
fn shrink(mut w: usize, mut h: usize, mut px: Vec<u8>, max_w: usize) -> (usize, usize, Vec<u8>) {
    while w > max_w {
        let (nw, nh) = (w / 2, h / 2);
        let mut o = vec![0u8; nw * nh * 4];
        for y in 0..nh {
            for x in 0..nw {
                for c in 0..4 {
                    let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|(dx, dy)| px[((2 * y + dy) * w + 2 * x + dx) * 4 + c] as u32)
                        .sum();
                    o[(y * nw + x) * 4 + c] = (s / 4) as u8;
                }
            }
        }
        (w, h, px) = (nw, nh, o);
    }
    (w, h, px)
}

/// Stack RGBA images of equal width vertically, with a gap, and save as PNG.
fn save_stack(path: &Path, w: usize, parts: &[(usize, &[u8])]) -> Result<()> {
    let gap = 6;
    let total: usize = parts.iter().map(|(h, _)| h + gap).sum::<usize>() - gap;
    let mut px = vec![255u8; w * total * 4];
    let mut y = 0;
    for (h, data) in parts {
        px[y * w * 4..(y + h) * w * 4].copy_from_slice(&data[..w * h * 4]);
        y += h + gap;
    }
    let size =
        tiny_skia::IntSize::from_wh(w as u32, total as u32).ok_or_else(|| anyhow!("size"))?;
    tiny_skia::Pixmap::from_vec(px, size)
        .ok_or_else(|| anyhow!("pixmap"))?
        .save_png(path)?;
    Ok(())
}

fn sim_compare(
    video: &Path,
    corners: &[f64],
    at: &[f64],
    seeds: &[u64],
    out_dir: &Path,
) -> Result<()> {
    use gstpianola::core::geometry::rectify_rgba;
    use gstpianola::core::sim::{SimConfig, Simulator, View};
    if corners.len() != 8 || seeds.len() != at.len() {
        return Err(anyhow!("give 8 corner coordinates and one seed per time"));
    }
    let quad = [
        [corners[0], corners[1]],
        [corners[2], corners[3]],
        [corners[4], corners[5]],
        [corners[6], corners[7]],
    ];
    std::fs::create_dir_all(out_dir)?;
    let frames = grab_frames(video, at)?;
    let notes = bach_prelude_c(11, DEMO_SIXTEENTH);
    for (k, ((w, h, rgba), &seed)) in frames.into_iter().zip(seeds).enumerate() {
        let real_strip =
            rectify_rgba(&rgba, w, h, &quad, 900, 100).ok_or_else(|| anyhow!("rectify"))?;
        let (sw, sh, real_small) = shrink(w, h, rgba, 640);
        let t = 2.0 + 3.0 * k as f64;
        let render = |view: View, width: u32, height: u32| -> Result<Vec<u8>> {
            let mut sim = Simulator::new(
                &notes,
                &SimConfig {
                    seed,
                    view,
                    width,
                    height,
                    fps_num: 25,
                    keys: Some(88),
                    ..Default::default()
                },
            )?;
            Ok(sim.render((t * 25.0) as usize).to_vec())
        };
        let sim_strip = render(View::Canonical, 900, 100)?;
        let sim_scene = render(View::Scene, sw as u32, sh as u32)?;
        let strip = out_dir.join(format!("pianosim-vs-real-strip-{}.png", k + 1));
        save_stack(&strip, 900, &[(100, &real_strip), (100, &sim_strip)])?;
        let scene = out_dir.join(format!("pianosim-vs-real-scene-{}.png", k + 1));
        save_stack(&scene, sw, &[(sh, &real_small), (sh, &sim_scene)])?;
        println!("{} {}", strip.display(), scene.display());
    }
    Ok(())
}

#[derive(clap::Args)]
struct DatasetArgs {
    #[arg(long)]
    out: PathBuf,
    /// Number of clips.
    #[arg(long, default_value_t = 10)]
    clips: usize,
    /// Folders of .mid files to take pieces from (searched recursively).
    #[arg(long)]
    midi_dir: Vec<PathBuf>,
    /// Also use procedurally generated pieces (one per clip).
    #[arg(long, default_value_t = false)]
    procedural: bool,
    /// Length of each clip in seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Base seed: the same base gives the same data set.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of pieces held out.
    #[arg(long, default_value_t = 0.2)]
    held_out: f64,
    /// Frame size and rate (0: drawn per clip from its seed).
    #[arg(long, default_value_t = 0)]
    width: u32,
    #[arg(long, default_value_t = 0)]
    height: u32,
    #[arg(long, default_value_t = 0)]
    fps: u32,
    /// Render the canonical 900x100 keyboard strip instead of the scene.
    #[arg(long)]
    canonical: bool,
    /// Only clips of held-out pieces (an evaluation set).
    #[arg(long)]
    only_held_out: bool,
}

fn midi_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            midi_files(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("mid") || x.eq_ignore_ascii_case("midi"))
        {
            out.push(p);
        }
    }
    Ok(())
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Weights to write (.safetensors; a .json sidecar and a .log.tsv go beside it).
    #[arg(long, default_value = "models/video2roll.safetensors")]
    out: PathBuf,
    /// Net: keynet (compact, with onsets) or audeo (Audeo's Video2Roll Net).
    #[arg(long, default_value = "keynet")]
    arch: String,
    /// Time budget in minutes.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    #[arg(long, default_value_t = 1_000_000)]
    max_steps: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// MIDI folders for pieces (besides procedural music).
    #[arg(long)]
    midi_dir: Vec<PathBuf>,
    #[arg(long, default_value_t = 0.2)]
    held_out: f64,
    /// Continue from the weights at --out.
    #[arg(long)]
    resume: bool,
    /// Validate on held-out renders every this many steps.
    #[arg(long, default_value_t = 250)]
    val_every: usize,
    #[arg(long, default_value_t = 400)]
    val_examples: usize,
    /// libtorch CPU threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: i32,
    /// Train on the renders as they are (no shifts, light or noise changes).
    #[arg(long)]
    no_augment: bool,
    /// Render whole scenes and rectify them as pianocrop does (slower, closer to real use)
    /// instead of rendering the canonical strip.
    #[arg(long)]
    scenes: bool,
    /// Also train on recorded clips: a folder of `pianola dataset` clips (their .json labels;
    /// use its train/ part), decoded and cropped by the real pianocrop. Repeatable.
    #[arg(long)]
    clips: Vec<PathBuf>,
    /// Also train on a real video with its MIDI, only between two video times:
    /// "video=V,midi=M,scale=A,offset=B,from=S,to=S[,weight=W]" (video_t = A * midi_t + B;
    /// W: how much more often its frames are drawn than a rendered clip's). Repeatable.
    #[arg(long)]
    real: Vec<String>,
    /// Score this real clip part (same form as --real) at every validation: the part must
    /// not overlap what --real trains on.
    #[arg(long)]
    val_real: Option<String>,
    /// Share of each batch drawn from --clips/--real windows (the rest is rendered on the fly).
    #[arg(long, default_value_t = 0.5)]
    clip_share: f64,
}

/// A real or rendered clip with its reference and the part of it to use.
#[derive(Clone, Debug)]
struct ClipSpec {
    video: PathBuf,
    midi: PathBuf,
    scale: f64,
    offset: f64,
    from: f64,
    to: f64,
    /// Sampling weight per frame, against the other clips.
    weight: f64,
}

impl ClipSpec {
    /// All of a clip whose MIDI is on the video's clock.
    fn whole(video: PathBuf, midi: PathBuf) -> ClipSpec {
        ClipSpec {
            video,
            midi,
            scale: 1.0,
            offset: 0.0,
            from: 0.0,
            to: f64::INFINITY,
            weight: 1.0,
        }
    }

    fn parse(s: &str) -> Result<ClipSpec> {
        let mut c = ClipSpec::whole(PathBuf::new(), PathBuf::new());
        for part in s.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| anyhow!("\"{part}\" in \"{s}\": write key=value"))?;
            let num = || {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| anyhow!("{k}={v}: not a number"))
            };
            match k.trim() {
                "video" => c.video = PathBuf::from(v.trim()),
                "midi" => c.midi = PathBuf::from(v.trim()),
                "scale" => c.scale = num()?,
                "offset" => c.offset = num()?,
                "from" => c.from = num()?,
                "to" => c.to = num()?,
                "weight" => c.weight = num()?.max(0.0),
                _ => {
                    return Err(anyhow!(
                        "unknown key {k} in \"{s}\" (video, midi, scale, offset, from, to, weight)"
                    ));
                }
            }
        }
        if c.video.as_os_str().is_empty() || c.midi.as_os_str().is_empty() {
            return Err(anyhow!("\"{s}\" needs video=... and midi=..."));
        }
        Ok(c)
    }

    /// Its strips (padding before the lock left out) with the reference on the video clock.
    fn windows(&self) -> Result<gstpianola::core::trainset::ClipWindows> {
        use gstpianola::core::notes::retime;
        let to_ns = |s: f64| (s.max(0.0) * 1e9).min(u64::MAX as f64) as u64;
        let strips = gstpianola::dataset::decode_strips(
            &self.video,
            None,
            to_ns(self.from),
            to_ns(self.to),
        )?;
        let notes = retime(
            &gstpianola::core::midi::smf_to_notes(
                &std::fs::read(&self.midi)
                    .with_context(|| format!("reading {}", self.midi.display()))?,
            )?,
            self.scale,
            self.offset,
        );
        gstpianola::core::trainset::ClipWindows::new(
            strips
                .into_iter()
                .filter(|s| !s.gap)
                .map(|s| (s.pts, s.luma))
                .collect(),
            &notes,
        )
        .map_err(|e| anyhow!("{}: {e}", self.video.display()))
    }
}

/// One clip of a `pianola dataset` folder, from its .json labels.
struct LabelledClip {
    name: String,
    video: PathBuf,
    truth_midi: PathBuf,
    held_out: bool,
}

/// The clips of a `pianola dataset` folder, in name order.
fn dataset_labels(dir: &Path) -> Result<Vec<LabelledClip>> {
    let mut labels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    labels.sort();
    let mut out = Vec::new();
    for l in labels {
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&l)?)?;
        let get = |k: &str| j.get(k).and_then(|v| v.as_str()).map(|s| dir.join(s));
        if let (Some(video), Some(truth_midi)) = (get("video"), get("truth_midi")) {
            out.push(LabelledClip {
                name: l
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default(),
                video,
                truth_midi,
                held_out: j.get("split").and_then(|v| v.as_str()) == Some("held-out"),
            });
        }
    }
    Ok(out)
}

/// The clips of a `pianola dataset` folder, whole; held-out clips are refused.
fn dataset_clips(dir: &Path) -> Result<Vec<ClipSpec>> {
    dataset_labels(dir)?
        .into_iter()
        .map(|c| {
            if c.held_out {
                return Err(anyhow!(
                    "{} is a held-out clip: train on the dataset's train/ folder only",
                    c.video.display()
                ));
            }
            Ok(ClipSpec::whole(c.video, c.truth_midi))
        })
        .collect()
}

/// Frame-level P/R/F1 of the model's key-down output (threshold from its metadata) and of
/// its onset output, on examples.
fn validate(
    model: &gstpianola::model::Model,
    examples: &[gstpianola::core::trainset::Example],
) -> (
    gstpianola::core::metrics::FrameMetrics,
    Option<gstpianola::core::metrics::FrameMetrics>,
) {
    use gstpianola::core::metrics::frame_metrics;
    let keys = model.meta().keys;
    let (thr, othr) = (model.meta().threshold, model.meta().onset_threshold);
    let mut est = Vec::new();
    let mut refs = Vec::new();
    let mut est_on = Vec::new();
    let mut ref_on = Vec::new();
    for chunk in examples.chunks(16) {
        let windows: Vec<Vec<u8>> = chunk.iter().map(|e| e.window.clone()).collect();
        for (p, e) in model.predict(&windows).iter().zip(chunk) {
            est.push(p.frame.iter().map(|&v| v >= thr).collect::<Vec<bool>>());
            refs.push(
                e.target[..keys]
                    .iter()
                    .map(|&v| v > 0.5)
                    .collect::<Vec<bool>>(),
            );
            if let Some(o) = &p.onset {
                est_on.push(o.iter().map(|&v| v >= othr).collect::<Vec<bool>>());
                ref_on.push(
                    e.target[keys..]
                        .iter()
                        .map(|&v| v > 0.5)
                        .collect::<Vec<bool>>(),
                );
            }
        }
    }
    let onset = (!est_on.is_empty()).then(|| frame_metrics(&est_on, &ref_on));
    (frame_metrics(&est, &refs), onset)
}

fn train(a: &TrainArgs) -> Result<()> {
    use gstpianola::core::dataset::Split;
    use gstpianola::core::trainset::{Example, WindowSource};
    use gstpianola::model::train::{TrainConfig, train as run_training};
    use gstpianola::model::{Arch, DeviceChoice, Model, ModelMeta};
    use std::io::Write;

    if a.threads > 0 {
        tch::set_num_threads(a.threads);
    }
    tch::manual_seed(a.seed as i64);
    let arch = Arch::from_name(&a.arch).ok_or_else(|| anyhow!("--arch must be keynet or audeo"))?;
    let mut files = Vec::new();
    for d in &a.midi_dir {
        midi_files(d, &mut files)?;
    }
    let mut pieces = Vec::new();
    for f in &files {
        let notes = gstpianola::core::midi::smf_to_notes(&std::fs::read(f)?)?;
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        pieces.push((name, notes));
    }
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let device = gstpianola::model::resolve(DeviceChoice::Auto)?;
    let mut model = if a.resume {
        Model::load(&a.out, DeviceChoice::Auto)?
    } else {
        Model::new(ModelMeta::new(arch), device)
    };
    let done_before = model
        .meta()
        .training
        .get("steps")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    // Several clips at once, so a batch mixes pieces, looks and tempi.
    let mut sources: Vec<WindowSource> = (0..4)
        .map(|k| {
            WindowSource::new(
                Split::Train,
                a.seed * 1000 + k + done_before,
                pieces.clone(),
                a.held_out,
                20.0,
            )
            .with_augmentation(!a.no_augment)
            .with_scenes(a.scenes)
        })
        .collect();
    let mut held = WindowSource::new(Split::HeldOut, a.seed, pieces.clone(), a.held_out, 20.0)
        .with_scenes(a.scenes);
    // Every 5th held-out frame, so the check spans many clips.
    let val: Vec<Example> = (0..a.val_examples * 5)
        .map(|_| held.next_example())
        .step_by(5)
        .collect();
    // Recorded clips, decoded once and kept in memory as strips.
    let mut specs = Vec::new();
    for d in &a.clips {
        specs.extend(dataset_clips(d)?);
    }
    for r in &a.real {
        specs.push(ClipSpec::parse(r)?);
    }
    let mut clips = Vec::new();
    for s in &specs {
        let c = s.windows()?;
        println!("clip {}: {} strips", s.video.display(), c.len());
        if !c.is_empty() {
            clips.push((c, s.weight));
        }
    }
    let clip_mass: f64 = clips.iter().map(|(c, w)| c.len() as f64 * w).sum();
    let val_real = match &a.val_real {
        Some(v) => {
            let spec = ClipSpec::parse(v)?;
            for r in specs.iter().filter(|r| r.video == spec.video) {
                if r.from < spec.to && spec.from < r.to {
                    return Err(anyhow!(
                        "--val-real {}..{} s overlaps a trained part {}..{} s of {}",
                        spec.from,
                        spec.to,
                        r.from,
                        r.to,
                        spec.video.display()
                    ));
                }
            }
            let c = spec.windows()?;
            (0..c.len()).step_by(2).map(|i| c.example(i)).collect()
        }
        None => Vec::new(),
    };
    let mut pick_rng = gstpianola::core::sim::rng::Rng::new(a.seed ^ 0xc11b ^ done_before);
    let augment_clips = !a.no_augment;
    let onset = arch.has_onset();
    let mut turn = 0usize;
    let mut next_batch = |n: usize| {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let e = if clip_mass > 0.0 && (pick_rng.f32() as f64) < a.clip_share {
                // A clip in proportion to its length and weight, then a window in it.
                let mut r = pick_rng.f32() as f64 * clip_mass;
                let mut i = 0;
                while i + 1 < clips.len() && r >= clips[i].0.len() as f64 * clips[i].1 {
                    r -= clips[i].0.len() as f64 * clips[i].1;
                    i += 1;
                }
                clips[i].0.random(&mut pick_rng, augment_clips)
            } else {
                let k = turn % sources.len();
                turn += 1;
                sources[k].next_example()
            };
            x.extend_from_slice(&e.window);
            if onset {
                y.extend_from_slice(&e.target);
            } else {
                y.extend_from_slice(&e.target[..e.target.len() / 2]);
            }
        }
        (x, y)
    };
    let log_path = a.out.with_extension("log.tsv");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    if !a.resume {
        writeln!(log, "step\tseconds\tloss\tval_frame_f1\tval_onset_f1")?;
    }
    let cfg = TrainConfig {
        max_steps: a.max_steps,
        minutes: a.minutes,
        batch: a.batch,
        lr: a.lr,
        pos_weight_frame: 4.0,
        pos_weight_onset: 20.0,
        checkpoint: a.out.clone(),
        checkpoint_every: a.val_every,
    };
    let mut avg = 0.0;
    let mut last_val = (0.0, 0.0);
    let command: Vec<String> = std::env::args().collect();
    let mut on_step = |s: &gstpianola::model::train::StepLog, m: &Model| {
        avg = if s.step == 1 {
            s.loss
        } else {
            0.98 * avg + 0.02 * s.loss
        };
        let mut line = format!(
            "{}\t{:.1}\t{:.4}",
            s.step as u64 + done_before,
            s.seconds,
            avg
        );
        if s.step.is_multiple_of(a.val_every) {
            let (f, o) = validate(m, &val);
            last_val = (f.f1, o.map(|o| o.f1).unwrap_or(0.0));
            let real = (!val_real.is_empty()).then(|| validate(m, &val_real).0);
            println!(
                "step {} ({:.0} s): loss {avg:.4}, held-out frame {f}, onset {}{}",
                s.step as u64 + done_before,
                s.seconds,
                o.map(|o| o.to_string()).unwrap_or_default(),
                real.map(|r| format!(", real part frame {r}"))
                    .unwrap_or_default()
            );
            line += &format!("\t{:.4}\t{:.4}", last_val.0, last_val.1);
            if let Some(r) = real {
                line += &format!("\t{:.4}", r.f1);
            }
        } else if s.step.is_multiple_of(25) {
            println!(
                "step {} ({:.0} s): loss {avg:.4}",
                s.step as u64 + done_before,
                s.seconds
            );
        }
        let _ = writeln!(log, "{line}");
    };
    let mut data = format!(
        "pianosim {} renders made on the fly: procedural music and the given MIDI pieces, train split only",
        if a.scenes {
            "scene (rectified)"
        } else {
            "canonical"
        }
    );
    if !a.clips.is_empty() {
        data += &format!(
            "; {}% of each batch from rendered x264 clips cropped by pianocrop ({})",
            (a.clip_share * 100.0).round(),
            a.clips
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if a.real.is_empty() {
        data += "; no real video";
    } else {
        data += &format!("; REAL VIDEO PARTS TRAINED ON: {}", a.real.join(" | "));
    }
    if let Some(v) = &a.val_real {
        data += &format!("; real part scored, never trained on: {v}");
    }
    // The record goes into the sidecar with every checkpoint.
    model.meta_mut().training = serde_json::json!({
        "command": command.join(" "),
        "data": data,
        "seed": a.seed,
        "steps": done_before,
    });
    let steps = run_training(&mut model, &mut next_batch, &cfg, &mut on_step)?;
    let (f, o) = validate(&model, &val);
    let total = done_before + steps as u64;
    model.meta_mut().training = serde_json::json!({
        "command": command.join(" "),
        "data": data,
        "seed": a.seed,
        "steps": total,
        "batch": a.batch,
        "held_out_frame_f1": f.f1,
        "held_out_onset_f1": o.map(|o| o.f1),
        "held_out_examples": val.len(),
    });
    model.save(&a.out)?;
    println!(
        "{} steps; held-out frame {f}; weights in {}",
        total,
        a.out.display()
    );
    Ok(())
}

#[derive(clap::Args)]
struct EvalArgs {
    /// A video to score (with --midi), or...
    #[arg(long)]
    video: Option<PathBuf>,
    /// Its reference MIDI.
    #[arg(long)]
    midi: Option<PathBuf>,
    /// ...a folder of `pianola dataset` clips (their .json labels), scored together.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Reference timing: video_t = scale * midi_t + offset (seconds).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    offset: f64,
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Score only video time from..to (seconds).
    #[arg(long)]
    from: Option<f64>,
    #[arg(long)]
    to: Option<f64>,
    /// video2roll weights (default: the installed model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// pianocrop corners override "x0,y0,...,x3,y3".
    #[arg(long)]
    corners: Option<String>,
    /// roll2midi properties to try, e.g. "onset-threshold=0.7 max-dropout=80".
    #[arg(long, default_value = "")]
    roll2midi: String,
    /// Ablation: score every video once per roll2midi mode (rule-based, learned) with the
    /// same video2roll output and print one table.
    #[arg(long)]
    ablation: bool,
    #[arg(long, default_value = "eval-out")]
    out_dir: PathBuf,
}

/// Totals of one or more scored videos.
#[derive(Default)]
struct Tally {
    /// video2roll's probabilities at 0.4.
    probs: gstpianola::core::metrics::FrameMetrics,
    /// The output notes (what roll2midi decided).
    notes: gstpianola::core::metrics::FrameMetrics,
    /// Note onsets at 50 and 100 ms.
    onset: [gstpianola::core::metrics::NoteMetrics; 2],
    seconds: f64,
}

/// Score one video; writes its estimated MIDI and roll picture under `out`.
#[allow(clippy::too_many_arguments)]
fn score_video(
    video: &Path,
    reference: &[gstpianola::core::notes::Note],
    a: &EvalArgs,
    scale: f64,
    offset: f64,
    name: &str,
    tally: &mut Tally,
    corners: Option<&str>,
    roll2midi: &str,
) -> Result<()> {
    use gstpianola::core::metrics::{frame_metrics, onset_metrics};
    use gstpianola::core::midi::smf_to_notes;
    use gstpianola::core::notes::{Note, notes_to_roll, retime};
    use gstpianola::core::roll::{RollLayout, ValueFormat};
    std::fs::create_dir_all(&a.out_dir)?;
    let est_mid = a.out_dir.join(format!("{name}.est.mid"));
    let probs = gstpianola::redub::chain_probabilities(
        video,
        a.model.as_deref(),
        corners,
        roll2midi,
        Some(&est_mid),
    )?;
    if probs.is_empty() {
        return Err(anyhow!("{}: no frames came out", video.display()));
    }
    // Reference in video time.
    let refv = retime(reference, scale, offset);
    let (lo, hi) = (
        a.from.map(|s| (s * 1e9) as u64).unwrap_or(0),
        a.to.map(|s| (s * 1e9) as u64).unwrap_or(u64::MAX),
    );
    let keep: Vec<&(u64, gstpianola::core::roll::ProbFrame)> =
        probs.iter().filter(|(t, _)| *t >= lo && *t < hi).collect();
    let times: Vec<u64> = keep.iter().map(|(t, _)| *t).collect();
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let ref_roll = notes_to_roll(&refv, &layout, &times);
    let thr = 0.4f32;
    let est_rows: Vec<Vec<bool>> = keep
        .iter()
        .map(|(_, p)| p.frame.iter().map(|&v| v >= thr).collect())
        .collect();
    let ref_rows: Vec<Vec<bool>> = ref_roll
        .iter()
        .map(|r| r.frame.iter().map(|&v| v > 0).collect())
        .collect();
    tally.probs = tally.probs.merge(&frame_metrics(&est_rows, &ref_rows));
    if let (Some(f), Some(l)) = (times.first(), times.last()) {
        tally.seconds += (l - f) as f64 / 1e9;
    }
    let est_all = smf_to_notes(&std::fs::read(&est_mid)?)?;
    let note_rows: Vec<Vec<bool>> = notes_to_roll(&est_all, &layout, &times)
        .iter()
        .map(|r| r.frame.iter().map(|&v| v > 0).collect())
        .collect();
    tally.notes = tally.notes.merge(&frame_metrics(&note_rows, &ref_rows));
    let est: Vec<Note> = est_all
        .into_iter()
        .filter(|n| n.start >= lo && n.start < hi)
        .collect();
    let refn: Vec<Note> = refv
        .into_iter()
        .filter(|n| n.start >= lo && n.start < hi)
        .collect();
    for (i, tol) in [0.05, 0.1].iter().enumerate() {
        tally.onset[i] = tally.onset[i].merge(&onset_metrics(&est, &refn, *tol));
    }
    // Piano roll picture: reference only red, estimate only blue, both white; high keys up.
    if let Ok(pic) = gstpianola::core::picture::comparison(&est_rows, &ref_rows, 88, 1) {
        std::fs::write(
            a.out_dir.join(format!("{name}.roll.png")),
            pic.encode_png()?,
        )?;
    }
    Ok(())
}

/// Score every video of `a` with `roll2midi` properties; outputs named with `suffix`.
fn eval_run(a: &EvalArgs, roll2midi: &str, suffix: &str) -> Result<(usize, Tally)> {
    use gstpianola::core::midi::smf_to_notes;
    let mut tally = Tally::default();
    let mut n = 0;
    if let Some(dir) = &a.dataset {
        for c in dataset_labels(dir)? {
            let reference = smf_to_notes(&std::fs::read(&c.truth_midi)?)?;
            score_video(
                &c.video,
                &reference,
                a,
                a.scale,
                a.offset,
                &format!("{}{suffix}", c.name),
                &mut tally,
                a.corners.as_deref(),
                roll2midi,
            )?;
            n += 1;
            eprintln!("{}{suffix} done", c.name);
        }
    } else {
        let (Some(video), Some(midi)) = (&a.video, &a.midi) else {
            return Err(anyhow!("give --video and --midi, or --dataset"));
        };
        let reference = smf_to_notes(&std::fs::read(midi)?)?;
        let name = video
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        score_video(
            video,
            &reference,
            a,
            a.scale,
            a.offset,
            &format!("{name}{suffix}"),
            &mut tally,
            a.corners.as_deref(),
            roll2midi,
        )?;
        n = 1;
    }
    Ok((n, tally))
}

fn eval(a: &EvalArgs) -> Result<()> {
    if a.ablation {
        let mut rows = Vec::new();
        for mode in ["rule-based", "learned"] {
            let props = format!("{} mode={mode}", a.roll2midi);
            let (n, t) = eval_run(a, props.trim(), &format!(".{mode}"))?;
            rows.push((mode, n, t));
        }
        println!(
            "{} video(s), {:.1} min scored, same video2roll output for both modes",
            rows[0].1,
            rows[0].2.seconds / 60.0
        );
        println!(
            "| roll2midi mode | frame P | frame R | frame F1 | onset F1 50 ms | onset F1 100 ms |"
        );
        println!("|---|---|---|---|---|---|");
        for (mode, _, t) in &rows {
            println!(
                "| {mode} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                t.notes.precision, t.notes.recall, t.notes.f1, t.onset[0].f1, t.onset[1].f1
            );
        }
        println!(
            "(frame: the output notes' roll; probabilities >= 0.4 give frame F1 {:.3})",
            rows[0].2.probs.f1
        );
        return Ok(());
    }
    let (n, tally) = eval_run(a, &a.roll2midi, "")?;
    let (probs, notes) = (&tally.probs, &tally.notes);
    println!("{n} video(s), {:.1} min scored", tally.seconds / 60.0);
    println!("| level | P | R | Acc | F1 |");
    println!("|---|---|---|---|---|");
    println!(
        "| frame (probabilities >= 0.4) | {:.3} | {:.3} | {:.3} | {:.3} |",
        probs.precision, probs.recall, probs.accuracy, probs.f1
    );
    println!(
        "| frame (output notes) | {:.3} | {:.3} | | {:.3} |",
        notes.precision, notes.recall, notes.f1
    );
    for (m, tol) in tally.onset.iter().zip(["50 ms", "100 ms"]) {
        println!(
            "| note onset {tol} | {:.3} | {:.3} | | {:.3} |",
            m.precision, m.recall, m.f1
        );
    }
    println!(
        "estimated MIDI and roll pictures in {}",
        a.out_dir.display()
    );
    Ok(())
}

fn dataset(a: &DatasetArgs) -> Result<()> {
    use gstpianola::core::dataset::{Split, clip_seed, piece_split};
    use gstpianola::core::music::{excerpt, procedural};
    use gstpianola::core::notes::{Nanos, SECOND};
    use gstpianola::core::sim::rng::Rng;
    use gstpianola::dataset::{ClipRequest, render_clip};
    use std::io::Write;

    let mut files = Vec::new();
    for d in &a.midi_dir {
        midi_files(d, &mut files)?;
    }
    files.sort();
    let mut pieces: Vec<(String, Vec<gstpianola::core::notes::Note>)> = Vec::new();
    for f in &files {
        let notes = gstpianola::core::midi::smf_to_notes(&std::fs::read(f)?)
            .with_context(|| format!("reading {}", f.display()))?;
        if !notes.is_empty() {
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            pieces.push((name, notes));
        }
    }
    if pieces.is_empty() && !a.procedural {
        return Err(anyhow!(
            "no pieces: give --midi-dir with .mid files and/or --procedural"
        ));
    }
    std::fs::create_dir_all(&a.out)?;
    let mut index = std::fs::File::create(a.out.join("index.jsonl"))?;
    let len = (a.seconds * SECOND as f64) as Nanos;
    let mut rng = Rng::new(a.seed).fork(0xda7a);
    let mut counts = [0usize; 2];
    for i in 0..a.clips {
        // Alternate sources when both are asked for.
        let use_proc = a.procedural && (pieces.is_empty() || i % 2 == 1);
        let (name, notes) = if use_proc {
            let mut k = a.seed.wrapping_mul(7919).wrapping_add(i as u64);
            while a.only_held_out
                && piece_split(&format!("procedural-{k}"), a.held_out) != Split::HeldOut
            {
                k = k.wrapping_add(1_000_003);
            }
            (format!("procedural-{k}"), procedural(k, a.seconds))
        } else {
            let choices: Vec<&(String, Vec<gstpianola::core::notes::Note>)> = pieces
                .iter()
                .filter(|(n, _)| !a.only_held_out || piece_split(n, a.held_out) == Split::HeldOut)
                .collect();
            if choices.is_empty() {
                return Err(anyhow!("no held-out piece among the MIDI files"));
            }
            let (n, v) = choices[rng.int(0, choices.len())];
            (n.clone(), v.clone())
        };
        let split = piece_split(&name, a.held_out);
        let seed = clip_seed(a.seed, i as u64, split);
        let last = notes.iter().map(|n| n.end).max().unwrap_or(0);
        let from = if last > len {
            (rng.f32() as f64 * (last - len) as f64) as Nanos
        } else {
            0
        };
        let clip_notes = excerpt(&notes, from, len, SECOND / 2);
        if clip_notes.is_empty() {
            continue;
        }
        let req = ClipRequest {
            name: format!("clip-{i:05}"),
            piece: name.clone(),
            seed,
            width: a.width,
            height: a.height,
            fps: (a.fps, 1),
            canonical: a.canonical,
        };
        let dir = a.out.join(split.name());
        let labels = render_clip(&clip_notes, &req, &dir)?;
        counts[usize::from(split == Split::HeldOut)] += 1;
        let rel = labels
            .labels
            .strip_prefix(&a.out)
            .unwrap_or(&labels.labels)
            .display()
            .to_string();
        writeln!(
            index,
            "{}",
            serde_json::json!({"labels": rel, "piece": name, "split": split.name(), "seed": seed})
        )?;
        println!(
            "{rel}: {name} ({}), {} notes, seed {seed}",
            split.name(),
            clip_notes.len()
        );
    }
    println!(
        "{} train and {} held-out clips in {}",
        counts[0],
        counts[1],
        a.out.display()
    );
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
