// SPDX-License-Identifier: MPL-2.0
//! `pianola eval`: score the element chain (`pianola redub`'s pipeline) on videos against
//! their MIDI. Everything is on the video's stream clock: frame i at i / fps.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use gstpianola::core::clip::ClipSpec;
use gstpianola::core::metrics::{
    FrameMetrics, NoteMetrics, frame_metrics, onset_errors, onset_metrics, quantile,
};
use gstpianola::core::midi::smf_to_notes;
use gstpianola::core::notes::{Nanos, Note, SECOND, notes_to_roll};
use gstpianola::core::roll::{ProbFrame, RollLayout, ValueFormat};

use crate::clips;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A video to score (with --midi), or...
    #[arg(long)]
    video: Option<PathBuf>,
    /// Its reference MIDI.
    #[arg(long)]
    midi: Option<PathBuf>,
    /// ...a folder of `pianola dataset` clips (their .json labels), scored together, or...
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// ...the clips of a manifest (MTA layout), scored together (see --groups).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// With --manifest: only these groups (pianists; numbers alone mean "pianist N").
    #[arg(long, value_delimiter = ',')]
    groups: Vec<String>,
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
    /// Clockwise rotation of the video to a player's view (0, 90, 180, 270).
    #[arg(long, default_value_t = 0)]
    rotate: u32,
    /// video2roll weights (default: the installed model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// pianocrop corners override "x0,y0,...,x3,y3" (in the rotated picture).
    #[arg(long, allow_hyphen_values = true)]
    corners: Option<String>,
    /// With --manifest: leave the manifest's keyboard corners and rotation out, so that
    /// pianocrop finds the keyboard and its orientation itself, as in a user's pipeline.
    #[arg(long, requires = "manifest")]
    auto_corners: bool,
    /// roll2midi properties to try, e.g. "onset-threshold=0.7 max-dropout=80".
    #[arg(long, default_value = "")]
    roll2midi: String,
    /// video2roll properties to try, e.g. "window-rate=0".
    #[arg(long, default_value = "")]
    video2roll: String,
    /// Ablation: score every video once per roll2midi mode (rule-based, learned) with the
    /// same video2roll output and print one table.
    #[arg(long)]
    ablation: bool,
    #[arg(long, default_value = "eval-out")]
    out_dir: PathBuf,
    /// Also write each clip's scored frames as NumPy arrays under --out-dir, for analysis
    /// elsewhere: NAME.probs.npy (frames x 88 key-down probabilities), NAME.onsets.npy
    /// (onset probabilities, when the model has them), NAME.truth.npy (reference keys down,
    /// 0/1) and NAME.weights.npy (0 where a key is masked).
    #[arg(long)]
    save_probs: bool,
}

/// A 2-D little-endian NumPy array file (format 1.0) of `rows`, all of one length.
fn npy<T: Copy>(rows: &[Vec<T>], dtype: &str, bytes: fn(T) -> Vec<u8>) -> Vec<u8> {
    let cols = rows.first().map_or(0, Vec::len);
    let mut header = format!(
        "{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({}, {cols}), }}",
        rows.len()
    );
    // Magic (6) + version (2) + header length (2) + header, padded to 64 with a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for r in rows {
        for &v in r {
            out.extend(bytes(v));
        }
    }
    out
}

/// Totals of one or more scored videos.
#[derive(Default)]
struct Tally {
    /// video2roll's probabilities at 0.4.
    probs: FrameMetrics,
    /// The output notes (what roll2midi decided).
    notes: FrameMetrics,
    /// Note onsets at 50 and 100 ms.
    onset: [NoteMetrics; 2],
    /// Signed onset errors (s) of the notes matched at 100 ms.
    errors: Vec<f64>,
    /// The probabilities' frame metrics at each of SWEEP's thresholds.
    sweep: Vec<FrameMetrics>,
    seconds: f64,
}

/// Key-down thresholds at which the probabilities are also scored.
const SWEEP: [f32; 9] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];

/// The clips the arguments name.
fn specs(a: &EvalArgs) -> Result<Vec<ClipSpec>> {
    if let Some(dir) = &a.dataset {
        return Ok(clips::dataset_labels(dir)?
            .into_iter()
            .map(|c| ClipSpec::whole(c.video, c.truth_midi))
            .collect());
    }
    if let Some(m) = &a.manifest {
        let all = clips::manifest(m)?;
        let mut v: Vec<ClipSpec> = all
            .into_iter()
            .filter(|c| {
                a.groups.is_empty()
                    || a.groups.iter().any(|g| {
                        c.group == g.trim() || c.group.strip_prefix("pianist ") == Some(g.trim())
                    })
            })
            .collect();
        if v.is_empty() {
            return Err(anyhow!(
                "--groups {:?}: no clip of {}",
                a.groups,
                m.display()
            ));
        }
        if a.auto_corners {
            for c in &mut v {
                (c.corners, c.rotate) = (None, 0);
            }
        }
        return Ok(v);
    }
    let (Some(video), Some(midi)) = (&a.video, &a.midi) else {
        return Err(anyhow!("give --video and --midi, --dataset or --manifest"));
    };
    let mut c = ClipSpec::whole(video.clone(), midi.clone());
    (c.scale, c.offset, c.rotate) = (a.scale, a.offset, a.rotate);
    c.from = a.from.unwrap_or(0.0);
    c.to = a.to.unwrap_or(f64::INFINITY);
    if let Some(k) = &a.corners {
        c.corners =
            Some(gstpianola::core::clip::parse_corners(k).map_err(|e| anyhow!("--corners: {e}"))?);
    }
    Ok(vec![c])
}

fn key_rows(frames: &[Vec<f32>], thr: f32, weights: &[Vec<f32>]) -> Vec<Vec<bool>> {
    frames
        .iter()
        .zip(weights)
        .map(|(f, w)| {
            f.iter()
                .zip(w)
                .map(|(&v, &w)| w > 0.0 && v >= thr)
                .collect()
        })
        .collect()
}

/// Score one clip; writes its estimated MIDI and roll picture under `out_dir`.
fn score(c: &ClipSpec, a: &EvalArgs, roll2midi: &str, name: &str, tally: &mut Tally) -> Result<()> {
    std::fs::create_dir_all(&a.out_dir)?;
    let est_mid = a.out_dir.join(format!("{name}.est.mid"));
    let corners = c.corners.map(|q| {
        q.iter()
            .flatten()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    let probs = crate::chain::chain_probabilities(&crate::chain::ChainInput {
        video: &c.video,
        model: a.model.as_deref(),
        corners: corners.as_deref(),
        rotate: c.rotate,
        roll2midi,
        video2roll: &a.video2roll,
        midi_out: Some(&est_mid),
    })?;
    let secs = |t: Nanos| t as f64 / SECOND as f64;
    let keep: Vec<&(u64, ProbFrame)> = probs.iter().filter(|(t, _)| c.uses(secs(*t))).collect();
    if keep.is_empty() {
        return Err(anyhow!(
            "{}: no frames came out in the scored range",
            c.video.display()
        ));
    }
    let reference = clips::reference(c)?;
    let times: Vec<u64> = keep.iter().map(|(t, _)| *t).collect();
    let weights: Vec<Vec<f32>> = times.iter().map(|&t| c.key_weights(secs(t))).collect();
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let as_f32 = |r: Vec<gstpianola::core::roll::VelocityFrame>| -> Vec<Vec<f32>> {
        r.into_iter()
            .map(|f| f.frame.iter().map(|&v| v as f32).collect())
            .collect()
    };
    let ref_rows = key_rows(
        &as_f32(notes_to_roll(&reference, &layout, &times)),
        0.5,
        &weights,
    );
    let prob_frames: Vec<Vec<f32>> = keep.iter().map(|(_, p)| p.frame.clone()).collect();
    let est_rows = key_rows(&prob_frames, 0.4, &weights);
    tally.probs = tally.probs.merge(&frame_metrics(&est_rows, &ref_rows));
    tally.sweep.resize(SWEEP.len(), FrameMetrics::default());
    for (m, &t) in tally.sweep.iter_mut().zip(&SWEEP) {
        *m = m.merge(&frame_metrics(
            &key_rows(&prob_frames, t, &weights),
            &ref_rows,
        ));
    }
    if a.save_probs {
        let f32s = |v: f32| v.to_le_bytes().to_vec();
        let save = |what: &str, data: Vec<u8>| {
            std::fs::write(a.out_dir.join(format!("{name}.{what}.npy")), data)
        };
        save("probs", npy(&prob_frames, "<f4", f32s))?;
        let onsets: Vec<Vec<f32>> = keep.iter().filter_map(|(_, p)| p.onset.clone()).collect();
        if onsets.len() == keep.len() {
            save("onsets", npy(&onsets, "<f4", f32s))?;
        }
        save("truth", npy(&ref_rows, "|u1", |b| vec![b as u8]))?;
        save("weights", npy(&weights, "<f4", f32s))?;
    }
    tally.seconds += secs(times[times.len() - 1] - times[0]);
    let est_all = smf_to_notes(&std::fs::read(&est_mid)?)?;
    let note_rows = key_rows(
        &as_f32(notes_to_roll(&est_all, &layout, &times)),
        0.5,
        &weights,
    );
    let clip_frames = frame_metrics(&note_rows, &ref_rows);
    tally.notes = tally.notes.merge(&clip_frames);
    // Onsets: inside the scored range, keys that count.
    let counted = |n: &&Note| {
        c.uses(secs(n.start))
            && c.key_weights(secs(n.start))[(n.pitch.max(21) - 21).min(87) as usize] > 0.0
    };
    let est: Vec<Note> = est_all.iter().filter(counted).copied().collect();
    let refn: Vec<Note> = reference.iter().filter(counted).copied().collect();
    let mut clip_onsets = Vec::new();
    for (i, tol) in [0.05, 0.1].iter().enumerate() {
        let m = onset_metrics(&est, &refn, *tol);
        clip_onsets.push(m.f1);
        tally.onset[i] = tally.onset[i].merge(&m);
    }
    eprintln!(
        "{name}: frame F1 {:.3}, onset F1 50 / 100 ms {:.3} / {:.3}",
        clip_frames.f1, clip_onsets[0], clip_onsets[1]
    );
    tally.errors.extend(onset_errors(&est, &refn, 0.1));
    // Piano roll picture: reference only red, estimate only blue, both white; high keys up.
    if let Ok(pic) = gstpianola::core::picture::comparison(&est_rows, &ref_rows, 88, 1) {
        std::fs::write(
            a.out_dir.join(format!("{name}.roll.png")),
            pic.encode_png()?,
        )?;
    }
    Ok(())
}

/// Score every clip with `roll2midi` properties; outputs named with `suffix`.
fn score_all(a: &EvalArgs, roll2midi: &str, suffix: &str) -> Result<(usize, Tally)> {
    let mut tally = Tally::default();
    let specs = specs(a)?;
    for c in &specs {
        score(
            c,
            a,
            roll2midi,
            &format!("{}{suffix}", c.name()),
            &mut tally,
        )?;
        eprintln!("{}{suffix} done", c.name());
    }
    Ok((specs.len(), tally))
}

fn print_ablation(a: &EvalArgs) -> Result<()> {
    let mut rows = Vec::new();
    for mode in ["rule-based", "learned"] {
        let props = format!("{} mode={mode}", a.roll2midi);
        let (n, t) = score_all(a, props.trim(), &format!(".{mode}"))?;
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
    Ok(())
}

pub fn run(a: &EvalArgs) -> Result<()> {
    if a.ablation {
        return print_ablation(a);
    }
    let (n, tally) = score_all(a, &a.roll2midi, "")?;
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
        "counts: output-note frames TP {} FP {} FN {} (F1 {:.4}); onsets matched at 50 / 100 ms {} / {} of {} estimated, {} reference",
        notes.true_positives,
        notes.false_positives,
        notes.false_negatives,
        notes.f1,
        tally.onset[0].matched,
        tally.onset[1].matched,
        tally.onset[1].n_estimate,
        tally.onset[1].n_reference
    );
    let sweep: Vec<String> = SWEEP
        .iter()
        .zip(&tally.sweep)
        .map(|(t, m)| format!("{t}: {:.3}", m.f1))
        .collect();
    println!(
        "frame F1 of the probabilities by threshold: {}",
        sweep.join(", ")
    );
    let q = |p: f64| {
        quantile(&tally.errors, p)
            .map(|v| v * 1000.0)
            .unwrap_or(f64::NAN)
    };
    println!(
        "onset error (estimate - reference, {} notes matched at 100 ms): median {:+.0} ms, 10th-90th percentile {:+.0} to {:+.0} ms",
        tally.errors.len(),
        q(0.5),
        q(0.1),
        q(0.9)
    );
    println!(
        "estimated MIDI and roll pictures in {}",
        a.out_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn eval_args(args: &[&str]) -> EvalArgs {
        match crate::Cli::try_parse_from(args)
            .expect("arguments parse")
            .command
        {
            crate::Command::Eval(a) => a,
            _ => panic!("not an eval command"),
        }
    }

    #[test]
    fn auto_corners_leaves_the_manifest_corners_and_rotation_to_pianocrop() {
        let dir = std::env::temp_dir().join(format!("pianola-eval-auto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["p1_0_1.mp4", "p1_0_1.mid"] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let m = dir.join("MANIFEST.tsv");
        std::fs::write(
            &m,
            "clip\tpianist\tignore_ranges_s\tbroken_keys\tcorners_rot180\n\
             p1_0_1\t1\t\t21\t7.1,154.3,636.3,156.3,636.7,231.4,5.9,232.8\n",
        )
        .unwrap();
        let m = m.to_str().unwrap();
        let given = specs(&eval_args(&["pianola", "eval", "--manifest", m])).unwrap();
        assert_eq!(given.len(), 1);
        assert!(given[0].corners.is_some());
        assert_eq!(given[0].rotate, 180);
        let auto = specs(&eval_args(&[
            "pianola",
            "eval",
            "--manifest",
            m,
            "--auto-corners",
        ]));
        let auto = auto.unwrap();
        assert_eq!(auto.len(), 1);
        assert!(auto[0].corners.is_none());
        assert_eq!(auto[0].rotate, 0);
        assert_eq!(auto[0].masked_keys, given[0].masked_keys);
        // Without a manifest there are no corners to leave out: refused, not ignored.
        assert!(
            crate::Cli::try_parse_from(["pianola", "eval", "--video", "v.mp4", "--auto-corners"])
                .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
