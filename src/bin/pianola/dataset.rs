// SPDX-License-Identifier: MPL-2.0
//! `pianola dataset`: labelled pianosim clips (MP4, true MIDI, JSON labels).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use gstpianola::core::dataset::{Split, clip_seed, piece_split};
use gstpianola::core::music::{excerpt, procedural};
use gstpianola::core::notes::{Nanos, Note, SECOND};
use gstpianola::core::sim::rng::Rng;

use crate::render::{ClipRequest, render_clip};

#[derive(clap::Args)]
pub struct DatasetArgs {
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

pub fn midi_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
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

/// The named pieces of the MIDI folders (empty files left out).
pub fn load_pieces(dirs: &[PathBuf]) -> Result<Vec<(String, Vec<Note>)>> {
    let mut files = Vec::new();
    for d in dirs {
        midi_files(d, &mut files)?;
    }
    files.sort();
    let mut pieces = Vec::new();
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
    Ok(pieces)
}

/// The piece of clip `i`: alternately procedural and from the files when both are asked
/// for; only held-out pieces with `only_held_out`.
fn choose_piece(
    a: &DatasetArgs,
    i: usize,
    pieces: &[(String, Vec<Note>)],
    rng: &mut Rng,
) -> Result<(String, Vec<Note>)> {
    let use_proc = a.procedural && (pieces.is_empty() || i % 2 == 1);
    if use_proc {
        let mut k = a.seed.wrapping_mul(7919).wrapping_add(i as u64);
        while a.only_held_out
            && piece_split(&format!("procedural-{k}"), a.held_out) != Split::HeldOut
        {
            k = k.wrapping_add(1_000_003);
        }
        return Ok((format!("procedural-{k}"), procedural(k, a.seconds)));
    }
    let choices: Vec<&(String, Vec<Note>)> = pieces
        .iter()
        .filter(|(n, _)| !a.only_held_out || piece_split(n, a.held_out) == Split::HeldOut)
        .collect();
    if choices.is_empty() {
        return Err(anyhow!("no held-out piece among the MIDI files"));
    }
    let (n, v) = choices[rng.int(0, choices.len())];
    Ok((n.clone(), v.clone()))
}

pub fn run(a: &DatasetArgs) -> Result<()> {
    let pieces = load_pieces(&a.midi_dir)?;
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
        let (name, notes) = choose_piece(a, i, &pieces, &mut rng)?;
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
        let labels = render_clip(&clip_notes, &req, &a.out.join(split.name()))?;
        counts[usize::from(split == Split::HeldOut)] += 1;
        let rel = labels
            .labels
            .strip_prefix(&a.out)
            .unwrap_or(&labels.labels)
            .display()
            .to_string();
        let entry =
            serde_json::json!({"labels": rel, "piece": name, "split": split.name(), "seed": seed});
        writeln!(index, "{entry}")?;
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
