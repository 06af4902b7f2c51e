// SPDX-License-Identifier: MPL-2.0
//! `pianola label`: label a video of a piano from its own sound track, to fine-tune the model
//! on that piano (`pianola train --init`). The sound is transcribed by an audio-to-MIDI
//! program (transkun by default, in the workbench's own environment made by
//! `scripts/setup-label.sh`; the plugin never needs it), put on the picture's clock by
//! [`align_notes`], and written as a clip folder in the layout of shared/data/real: the
//! video, `performance.mid` (the notes heard, on the video's stream clock) and a README
//! saying where the labels came from.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;
use gstpianola::core::align::{Alignment, align_notes};
use gstpianola::core::clip::ClipSpec;
use gstpianola::core::metrics::{frame_metrics, onset_metrics};
use gstpianola::core::midi::{notes_to_smf, smf_to_notes};
use gstpianola::core::notes::{Note, SECOND, notes_to_roll, retime};
use gstpianola::core::roll::{RollLayout, ValueFormat};

use crate::pipeline::run_to_eos;

/// The transcriber `scripts/setup-label.sh` installs, relative to the source tree.
const DEFAULT_TRANSCRIBER: &str = ".venv-label/bin/transkun";

#[derive(clap::Args)]
pub struct LabelArgs {
    /// A video of a piano filmed from above, with the piano's recorded sound.
    video: PathBuf,
    /// Folder to write: video.EXT (the video, linked or copied), performance.mid (the notes
    /// heard, on the video's clock), audio.wav (the sound transcribed), audio.mid (the
    /// transcriber's notes on the sound's clock) and README.md.
    #[arg(long)]
    out: PathBuf,
    /// Audio-to-MIDI program, called as `PROGRAM AUDIO.wav OUT.mid [--transcriber-arg...]`
    /// (default: transkun from scripts/setup-label.sh, `.venv-label/bin/transkun` in the
    /// source tree, or $PIANOLA_TRANSCRIBER).
    #[arg(long)]
    transcriber: Option<PathBuf>,
    /// Arguments after the two files (default for transkun: --device cpu).
    #[arg(long, allow_hyphen_values = true)]
    transcriber_arg: Vec<String>,
    /// video2roll weights that look at the picture to align the sound with it (default: the
    /// installed model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The largest gap between sound and picture searched, in seconds either way.
    #[arg(long, default_value_t = 1.0)]
    max_offset: f64,
    /// Seconds the sound is late on the picture, when known (no search).
    #[arg(long, allow_hyphen_values = true)]
    offset: Option<f64>,
    /// Clockwise rotation of the video to a player's view (0, 90, 180, 270).
    #[arg(long, default_value_t = 0)]
    rotate: u32,
    /// pianocrop corners "x0,y0,...,x3,y3" when the keyboard is not found by itself.
    #[arg(long, allow_hyphen_values = true)]
    keyboard: Option<String>,
    /// Score the labels against the piano's own MIDI, when there is one:
    /// "midi=M[,scale=A][,offset=B][,from=S][,to=S]" (video_t = A * midi_t + B).
    #[arg(long)]
    reference: Option<String>,
}

pub fn run(a: &LabelArgs) -> Result<()> {
    if !a.video.is_file() {
        return Err(anyhow!(
            "{} is not a readable file: give a video with its sound",
            a.video.display()
        ));
    }
    if !(a.max_offset >= 0.0 && a.max_offset <= 30.0) {
        return Err(anyhow!(
            "--max-offset {}: give seconds between 0 and 30",
            a.max_offset
        ));
    }
    let reference = a
        .reference
        .as_ref()
        .map(|r| {
            ClipSpec::parse(&format!("video={},{r}", a.video.display()))
                .map_err(|e| anyhow!("--reference {r}: {e}"))
        })
        .transpose()?;
    let transcriber = transcriber(a)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let ext = a
        .video
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("mp4")
        .to_ascii_lowercase();
    let video_out = a.out.join(format!("video.{ext}"));
    let (wav, heard_mid, labels) = (
        a.out.join("audio.wav"),
        a.out.join("audio.mid"),
        a.out.join("performance.mid"),
    );
    let outputs = crate::outputs::Outputs::plan(
        &[a.video.as_path()],
        &[
            ("--out", wav.as_path()),
            ("--out", heard_mid.as_path()),
            ("--out", labels.as_path()),
        ],
    )?;
    let tmp = |p: &Path| outputs.temp(p).unwrap_or(p).to_path_buf();

    eprintln!("extracting the sound of {}", a.video.display());
    extract_audio(&a.video, &tmp(&wav))?;
    eprintln!("transcribing it with {}", transcriber.display());
    let started = std::time::Instant::now();
    transcribe(
        &transcriber,
        &transcriber_args(a),
        &tmp(&wav),
        &tmp(&heard_mid),
    )?;
    let transcribe_secs = started.elapsed().as_secs_f64();
    let heard = smf_to_notes(&std::fs::read(tmp(&heard_mid))?)
        .with_context(|| format!("reading the transcriber's MIDI for {}", a.video.display()))?;
    if heard.is_empty() {
        return Err(anyhow!(
            "no notes heard in the sound of {}: is the piano audible in it?",
            a.video.display()
        ));
    }

    eprintln!("looking at the picture to align the sound with it");
    let probs = crate::chain::chain_probabilities(&crate::chain::ChainInput {
        video: &a.video,
        model: a.model.as_deref(),
        corners: a.keyboard.as_deref(),
        rotate: a.rotate,
        roll2midi: "",
        video2roll: "",
        midi_out: None,
    })?;
    let times: Vec<f64> = probs
        .iter()
        .map(|(t, _)| *t as f64 / SECOND as f64)
        .collect();
    let fps = frame_rate(&times)?;
    let frames: Vec<Vec<f32>> = probs.iter().map(|(_, p)| p.frame.clone()).collect();
    let found = align_notes(&frames, &times, fps, 21, &heard, a.max_offset, 0.005)?;
    // Seconds the sound is late on the picture.
    let late = a.offset.unwrap_or(-found.shift);
    let clear = found.score > 1.5 * found.runner_up.max(0.0);
    println!(
        "sound and picture: the sound is {:+.3} s late (score {:.3}, next best {:.3}{})",
        -found.shift,
        found.score,
        found.runner_up,
        if clear { "" } else { ": no clear peak" }
    );
    if a.offset.is_none() && !clear {
        return Err(anyhow!(
            "the sound of {} does not line up clearly with its picture (best {:+.3} s late, score {:.3} against {:.3} elsewhere): give --offset SECONDS if the gap is known, --max-offset if it is larger than {} s, or --keyboard if the keyboard was found in the wrong place",
            a.video.display(),
            -found.shift,
            found.score,
            found.runner_up,
            a.max_offset
        ));
    }
    let on_picture = retime(&heard, 1.0, -late);
    std::fs::write(tmp(&labels), notes_to_smf(&on_picture, Some(0))?)?;

    let score = reference
        .as_ref()
        .map(|r| score_labels(r, &on_picture, &times))
        .transpose()?;
    outputs.commit()?;
    link_or_copy(&a.video, &video_out)?;
    let readme = readme(a, &transcriber, &found, late, &on_picture, score.as_ref());
    std::fs::write(a.out.join("README.md"), readme)?;
    println!(
        "{} notes heard in {:.1} s of sound ({transcribe_secs:.0} s to transcribe); clip written to {}",
        on_picture.len(),
        times.last().copied().unwrap_or(0.0),
        a.out.display()
    );
    if let Some(s) = &score {
        println!("{}", s.line());
    }
    Ok(())
}

/// The transcriber to run: the flag, $PIANOLA_TRANSCRIBER, or the workbench's own.
fn transcriber(a: &LabelArgs) -> Result<PathBuf> {
    if let Some(t) = &a.transcriber {
        return Ok(t.clone());
    }
    if let Some(t) = std::env::var_os("PIANOLA_TRANSCRIBER").filter(|t| !t.is_empty()) {
        return Ok(PathBuf::from(t));
    }
    // The source tree: the current folder, or the one the binary was built in.
    let mut roots = vec![PathBuf::from(".")];
    roots.extend(
        std::env::current_exe()
            .ok()
            .and_then(|exe| gstpianola::model::source_tree(&exe)),
    );
    roots
        .iter()
        .map(|r| r.join(DEFAULT_TRANSCRIBER))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!(
                "no audio transcriber: run scripts/setup-label.sh (make label-setup) in the source tree to install transkun, or give --transcriber PROGRAM"
            )
        })
}

fn transcriber_args(a: &LabelArgs) -> Vec<String> {
    if a.transcriber_arg.is_empty() && a.transcriber.is_none() {
        vec!["--device".into(), "cpu".into()]
    } else {
        a.transcriber_arg.clone()
    }
}

/// The sound of `video` as 16-bit 44.1 kHz mono WAV; an error naming the file when it has none.
fn extract_audio(video: &Path, wav: &Path) -> Result<()> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", video.to_string_lossy().as_ref())
        .build()?;
    // Only the sound is decoded: the usual video codecs stop at their parser and go to a
    // fakesink as they are (others are decoded, to a fakesink too).
    let stop_at: gst::Caps = "audio/x-raw; video/x-raw; video/x-h264; video/x-h265; video/x-vp8; video/x-vp9; video/x-av1; video/mpeg; image/jpeg"
        .parse()
        .map_err(|_| anyhow!("caps"))?;
    let dec = gst::ElementFactory::make("decodebin")
        .property("caps", stop_at)
        .build()?;
    let convert = gst::ElementFactory::make("audioconvert").build()?;
    let resample = gst::ElementFactory::make("audioresample").build()?;
    let caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            // 16-bit PCM: transkun reads WAV samples as 16-bit integers.
            gst::Caps::builder("audio/x-raw")
                .field("format", "S16LE")
                .field("rate", 44_100i32)
                .field("channels", 1i32)
                .build(),
        )
        .build()?;
    let enc = gst::ElementFactory::make("wavenc").build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", wav.to_string_lossy().as_ref())
        .build()?;
    let chain = [&convert, &resample, &caps, &enc, &sink];
    pipeline.add_many([&src, &dec])?;
    pipeline.add_many(chain)?;
    src.link(&dec)?;
    gst::Element::link_many(chain)?;
    let weak_pipeline = pipeline.downgrade();
    let audio_in = convert.downgrade();
    dec.connect_pad_added(move |_, pad| {
        let is_audio = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/x-raw")))
            .unwrap_or(false);
        if let Some(sink) = audio_in.upgrade().and_then(|c| c.static_pad("sink"))
            && is_audio
            && !sink.is_linked()
        {
            let _ = pad.link(&sink);
            return;
        }
        // Another stream (or a second sound track): consumed, not decoded.
        if let Some(p) = weak_pipeline.upgrade()
            && let Ok(fake) = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
        {
            let _ = p.add(&fake);
            let _ = fake.sync_state_with_parent();
            if let Some(s) = fake.static_pad("sink") {
                let _ = pad.link(&s);
            }
        }
    });
    crate::pipeline::error_if_unlinked(
        &dec,
        &convert,
        format!(
            "{} has no sound track: give a video recorded with the piano's sound",
            video.display()
        ),
    );
    run_to_eos(&pipeline)
}

/// Run the transcriber; its last error line when it fails.
fn transcribe(program: &Path, args: &[String], wav: &Path, mid: &Path) -> Result<()> {
    let out = Command::new(program)
        .arg(wav)
        .arg(mid)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(anyhow!(
            "{} failed ({}): {last}",
            program.display(),
            out.status
        ));
    }
    if !mid.is_file() {
        return Err(anyhow!(
            "{} wrote no MIDI file at {}",
            program.display(),
            mid.display()
        ));
    }
    Ok(())
}

/// Frames per second of a stream from its frame times (the median gap).
fn frame_rate(times: &[f64]) -> Result<f64> {
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    match gaps.get(gaps.len() / 2) {
        Some(&g) if g > 0.0 => Ok(1.0 / g),
        _ => Err(anyhow!(
            "too few frames in the video to align its sound with"
        )),
    }
}

/// The labels scored against the piano's own MIDI.
struct LabelScore {
    frame_f1: f64,
    onset_f1: [f64; 2],
    from: f64,
    to: f64,
    notes: (usize, usize),
}

impl LabelScore {
    fn line(&self) -> String {
        format!(
            "labels against the piano's own MIDI ({:.1}-{:.1} s, {} notes heard, {} played): frame F1 {:.3}, onset F1 50 / 100 ms {:.3} / {:.3}",
            self.from,
            self.to,
            self.notes.0,
            self.notes.1,
            self.frame_f1,
            self.onset_f1[0],
            self.onset_f1[1]
        )
    }
}

fn score_labels(r: &ClipSpec, labels: &[Note], times: &[f64]) -> Result<LabelScore> {
    let truth = crate::clips::reference(r)?;
    let last = times.last().copied().unwrap_or(0.0);
    let (from, to) = (r.from.max(0.0), r.to.min(last));
    let secs = |t: u64| t as f64 / SECOND as f64;
    let inside = |n: &&Note| secs(n.start) >= from && secs(n.start) < to;
    let est: Vec<Note> = labels.iter().filter(inside).copied().collect();
    let refn: Vec<Note> = truth.iter().filter(inside).copied().collect();
    let frame_times: Vec<u64> = times
        .iter()
        .filter(|&&t| t >= from && t < to)
        .map(|&t| (t * SECOND as f64) as u64)
        .collect();
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let rows = |n: &[Note]| -> Vec<Vec<bool>> {
        notes_to_roll(n, &layout, &frame_times)
            .into_iter()
            .map(|f| f.frame.iter().map(|&v| v > 0).collect())
            .collect()
    };
    Ok(LabelScore {
        frame_f1: frame_metrics(&rows(labels), &rows(&truth)).f1,
        onset_f1: [0.05, 0.1].map(|tol| onset_metrics(&est, &refn, tol).f1),
        from,
        to,
        notes: (est.len(), refn.len()),
    })
}

/// The video beside its labels: a hard link when the folder is on the same disk, else a copy.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if crate::outputs::same_file(from, to) {
        return Ok(());
    }
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

fn readme(
    a: &LabelArgs,
    transcriber: &Path,
    found: &Alignment,
    late: f64,
    notes: &[Note],
    score: Option<&LabelScore>,
) -> String {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let ext = name(&a.video)
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_else(|| "mp4".into());
    let mut s = format!(
        "# Clip labelled from its own sound: {}\n\n\
         - video.{ext}: the video `{}` as given.\n\
         - performance.mid: {} notes transcribed from the video's sound track by `{}` \
         ({}), put on the video's clock: video_t = midi_t (frame i at i / fps, stream time). \
         These are the notes heard, not the instrument's own record: expect the \
         transcriber's errors (missed and extra notes, pedal-held notes longer than the key).\n\
         - audio.wav, audio.mid: the sound as transcribed and the transcriber's notes on the \
         sound's clock.\n\n\
         ## Time alignment\n\
         The sound was {:+.3} s late on the picture ({}). The search (`pianola label`, \
         shifts within +-{} s in 5 ms steps) scored how much of the notes' time falls on \
         frames where video2roll (model {}) sees the key down: best {:+.3} s late at {:.3}, \
         the best elsewhere {:.3}.\n",
        name(&a.video),
        a.video.display(),
        notes.len(),
        name(transcriber),
        transcriber.display(),
        late,
        if a.offset.is_some() {
            "given with --offset"
        } else {
            "found by the search"
        },
        a.max_offset,
        a.model
            .as_ref()
            .map(|m| m.display().to_string())
            .unwrap_or_else(|| "installed".into()),
        -found.shift,
        found.score,
        found.runner_up,
    );
    if let Some(sc) = score {
        s.push_str(&format!(
            "\n## Checked against the instrument's MIDI\n{} (`--reference {}`).\n",
            sc.line(),
            a.reference.as_deref().unwrap_or("")
        ));
    }
    s.push_str(&format!(
        "\nTo fine-tune the shipped model on this piano: `pianola train --init \
         models/video2roll.safetensors --real video=video.{ext},midi=performance.mid ...` \
         (see models/README.md).\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rate_is_the_median_gap() {
        let t: Vec<f64> = (0..50).map(|i| i as f64 * 0.04).collect();
        assert!((frame_rate(&t).unwrap() - 25.0).abs() < 1e-6);
        assert!(frame_rate(&[0.0]).is_err());
    }
}
