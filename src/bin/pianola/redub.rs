// SPDX-License-Identifier: MPL-2.0
//! `pianola redub`: the video back with generated audio, and/or WAV, MIDI, roll picture.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::chain::{Container, Redub, RedubOptions, Summary};

#[derive(clap::Args)]
pub struct RedubArgs {
    /// The piano video (any format GStreamer decodes), filmed from above. With --out-dir:
    /// any number of videos and folders of videos.
    #[arg(required = true, value_name = "VIDEO")]
    pub(crate) inputs: Vec<PathBuf>,
    /// Output: a video (.mp4, .mov, .mkv: the input's video with the new audio) and/or a
    /// .wav (the audio alone). Repeatable.
    #[arg(short, long)]
    pub(crate) output: Vec<PathBuf>,
    /// Also write the transcription as a Standard MIDI File.
    #[arg(long)]
    pub(crate) midi: Option<PathBuf>,
    /// Also draw the transcription as a piano-roll PNG (probabilities grey, notes amber).
    #[arg(long)]
    pub(crate) roll_png: Option<PathBuf>,
    /// Re-dub many videos: the inputs (files, and folders scanned for .mp4 .mov .mkv .webm
    /// .avi .m4v) each to D/<name>.<format>. Videos whose outputs are all there (and newer
    /// than the video) are skipped, so a stopped run resumes; a failed video is reported
    /// and the others go on.
    #[arg(long, value_name = "D")]
    pub(crate) out_dir: Option<PathBuf>,
    /// With --out-dir: what to write for each video, comma-separated: one of mp4, mov, mkv
    /// (the video with the new audio), and wav, mid (MIDI), png (piano roll).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = ["mp4", "mov", "mkv", "wav", "mid", "png"],
        default_value = "mp4"
    )]
    pub(crate) formats: Vec<String>,
    /// With --out-dir: videos re-dubbed at once (libtorch gets cores/N threads each; one job: all cores but one).
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) jobs: u32,
    /// With --out-dir: scan folders' sub-folders too (outputs keep the sub-folders).
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// With --out-dir: re-dub videos whose outputs are already there.
    #[arg(long)]
    pub(crate) force: bool,
    /// General MIDI program for the audio (0 = acoustic grand piano, 4 = electric piano,
    /// 19 = church organ, 40 = violin, ...).
    #[arg(long, default_value_t = 0)]
    pub(crate) instrument: u8,
    /// SF2 SoundFont (default: FluidR3_GM.sf2 from fluid-soundfont-gm).
    #[arg(long)]
    pub(crate) soundfont: Option<PathBuf>,
    /// Where the model runs: auto (CUDA when present), cpu, cuda, cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
    /// video2roll weights (default: the installed model).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// The keyboard's corners in the input's pixels, when finding it fails:
    /// "x0,y0,x1,y1,x2,y2,x3,y3" = top-left, top-right, bottom-right, bottom-left.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) keyboard: Option<String>,
    /// The instrument's number of keys (88, 76, 61, 49), when it is not found or found
    /// wrong (default: detected).
    #[arg(long, value_parser = ["88", "76", "61", "49"])]
    pub(crate) keys: Option<String>,
    /// Clockwise rotation to a player's view before finding the keyboard: 0, 90, 180
    /// (filmed from the far side), 270; --keyboard corners are in the rotated picture.
    #[arg(long, default_value = "0", value_parser = ["0", "90", "180", "270"])]
    pub(crate) rotate: String,
    /// Keep the input's own audio as a second track (default: replace it).
    #[arg(long)]
    pub(crate) keep_audio: bool,
    /// How roll2midi decides the notes: rule-based or learned (see the README's ablation);
    /// default: the element's default.
    #[arg(long, value_parser = ["rule-based", "learned"])]
    pub(crate) mode: Option<String>,
    /// video2roll properties, "name=value ..." (e.g. "batch-size=2 workers=2": two frames
    /// predicted side by side, each on its own core; faster for the full net on 2 cores,
    /// see the README's Measured).
    #[arg(long, default_value = "", value_name = "PROPS")]
    pub(crate) video2roll: String,
    /// No progress bar and no summary (errors still go to stderr).
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// The options every video shares (no outputs yet).
pub(crate) fn common_options(a: &RedubArgs, input: &Path) -> Result<RedubOptions> {
    Ok(RedubOptions {
        input: input.to_path_buf(),
        program: a.instrument,
        soundfont: a.soundfont.clone(),
        device: a.device.clone(),
        model: a.model.clone(),
        keyboard: match &a.keyboard {
            Some(k) => {
                let q = gstpianola::core::clip::parse_corners(k)
                    .map_err(|e| anyhow!("--keyboard: {e}"))?;
                gstpianola::core::geometry::check_quad(&q, None)
                    .map_err(|e| anyhow!("--keyboard: {e}"))?;
                Some(k.clone())
            }
            None => None,
        },
        keys: a.keys.as_deref().and_then(|k| k.parse().ok()),
        rotate: a.rotate.parse().unwrap_or(0),
        keep_audio: a.keep_audio,
        roll2midi: a
            .mode
            .as_ref()
            .map(|m| format!("mode={m}"))
            .unwrap_or_default(),
        video2roll: a.video2roll.clone(),
        ..Default::default()
    })
}

fn options(a: &RedubArgs, input: &Path) -> Result<RedubOptions> {
    let mut o = RedubOptions {
        midi_out: a.midi.clone(),
        roll_png: a.roll_png.clone(),
        ..common_options(a, input)?
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
    Ok(o)
}

/// Run a re-dub with a progress bar (unless quiet).
pub fn run_with_progress(o: RedubOptions, quiet: bool) -> Result<Summary> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let job = Redub::new(o)?;
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
        println!(
            "{} frames, {} notes, {secs:.1} s, {:.0} frames/s",
            summary.frames,
            summary.notes,
            summary.frames as f64 / secs
        );
    }
    Ok(summary)
}

pub fn run(a: &RedubArgs) -> Result<()> {
    if a.out_dir.is_some() {
        return crate::redub_batch::run(a);
    }
    let input = single_input(a)?;
    let o = options(a, input)?;
    let has_video = o.video_out.is_some();
    let summary = run_with_progress(o, a.quiet).map_err(cli_advice)?;
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

/// The one video of the single-file form; the batch-only flags refused, naming --out-dir.
fn single_input(a: &RedubArgs) -> Result<&Path> {
    let batch_flags = [
        (a.jobs != 1, "--jobs"),
        (a.recursive, "--recursive"),
        (a.force, "--force"),
        (a.formats != ["mp4"], "--formats"),
    ];
    if let Some((_, flag)) = batch_flags.iter().find(|(given, _)| *given) {
        return Err(anyhow!(
            "{flag} goes with --out-dir D (many videos, each to D/<name>.<format>)"
        ));
    }
    match a.inputs.as_slice() {
        [one] if !one.is_dir() => Ok(one),
        [one] => Err(anyhow!(
            "{} is a folder: give --out-dir D to re-dub the videos in it",
            one.display()
        )),
        _ => Err(anyhow!(
            "{} videos given: give --out-dir D to re-dub them all (or one video with -o)",
            a.inputs.len()
        )),
    }
}

/// An element's advice names its properties; say which flags of `pianola redub` set them.
pub(crate) fn cli_advice(e: anyhow::Error) -> anyhow::Error {
    let text = e.to_string();
    let mut hints = Vec::new();
    if text.contains("corners=") {
        hints.push("--keyboard x0,y0,x1,y1,x2,y2,x3,y3 gives the corners (and --rotate 180 turns a keyboard filmed from the far side)");
    }
    if text.contains("keys (88") {
        hints.push("--keys 88 (or 76, 61, 49) gives the number of keys");
    }
    if text.contains("soundfont") {
        hints.push("--soundfont F.sf2 names the SoundFont");
    }
    if text.contains("model property") || text.contains("the model") && text.contains("video2roll")
    {
        hints.push("--model W.safetensors names the video2roll weights");
    }
    if text.contains("device") && text.contains("CUDA") {
        hints.push("--device cpu runs without a GPU");
    }
    if hints.is_empty() {
        e
    } else {
        anyhow::anyhow!("{text}\nWith pianola redub: {}.", hints.join("; "))
    }
}
