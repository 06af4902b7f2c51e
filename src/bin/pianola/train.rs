// SPDX-License-Identifier: MPL-2.0
//! `pianola train`: train a video2roll net on real clips (a manifest of recorded
//! performances, `--real` parts of videos, rendered `pianola dataset` clips) mixed with
//! pianosim renders made on the fly, validated on whole groups (pianists) held apart.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use gstpianola::core::clip::ClipSpec;
use gstpianola::core::dataset::Split;
use gstpianola::core::metrics::{FrameMetrics, frame_metrics};
use gstpianola::core::sim::rng::Rng;
use gstpianola::model::train::{Batch, StepLog, TrainConfig, train as run_training};
use gstpianola::model::{Arch, DeviceChoice, Model, ModelMeta};

use crate::clips;
use crate::trainset::{ClipWindows, Example, WindowSource};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Weights to write (.safetensors; a .json sidecar and a .log.tsv go beside it).
    #[arg(long, default_value = "models/video2roll.safetensors")]
    out: PathBuf,
    /// Net: keycolumn (looks along the key; default), keynet (compact) or audeo (Audeo's
    /// Video2Roll Net).
    #[arg(long, default_value = "keycolumn")]
    arch: String,
    /// Time budget in minutes.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    #[arg(long, default_value_t = 1_000_000)]
    max_steps: usize,
    /// With --resume: stop when the model has this many steps in all (so a stopped run
    /// started again finishes the same schedule). 0: no such limit.
    #[arg(long, default_value_t = 0)]
    total_steps: u64,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// MIDI folders for rendered pieces (besides procedural music).
    #[arg(long)]
    midi_dir: Vec<PathBuf>,
    #[arg(long, default_value_t = 0.2)]
    held_out: f64,
    /// Continue from the weights at --out.
    #[arg(long)]
    resume: bool,
    /// Validate every this many steps.
    #[arg(long, default_value_t = 250)]
    val_every: usize,
    /// Rendered held-out examples per validation.
    #[arg(long, default_value_t = 400)]
    val_examples: usize,
    /// libtorch CPU threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: i32,
    /// Train on the data as it is (no geometric, light, blur or noise changes).
    #[arg(long)]
    no_augment: bool,
    /// Render whole scenes and rectify them as pianocrop does (slower, closer to real use)
    /// instead of rendering the canonical strip.
    #[arg(long)]
    scenes: bool,
    /// Real clips listed in a manifest (the MTA layout: MANIFEST.tsv with the clips'
    /// pianists, corners, masked keys and ignored ranges). Repeatable.
    #[arg(long)]
    manifest: Vec<PathBuf>,
    /// Groups (pianists, e.g. "pianist 9") of the manifests held apart for validation:
    /// never trained on. Comma separated; numbers alone mean "pianist N".
    #[arg(long, value_delimiter = ',')]
    val_groups: Vec<String>,
    /// Folders of `pianola dataset` clips (their train/ part), decoded and cropped by the
    /// real pianocrop. Repeatable.
    #[arg(long)]
    clips: Vec<PathBuf>,
    /// A real video with its MIDI, only between two video times:
    /// "video=V,midi=M,scale=A,offset=B,from=S,to=S[,weight=W][,rotate=R][,corners=..]"
    /// (video_t = A * midi_t + B; W: how much more often its frames are drawn). Repeatable.
    #[arg(long)]
    real: Vec<String>,
    /// Score this real clip part (same form as --real) at every validation; it must not
    /// overlap what --real trains on.
    #[arg(long)]
    val_real: Option<String>,
    /// Share of each batch drawn from recorded clips (the rest is rendered on the fly).
    #[arg(long, default_value_t = 0.5)]
    clip_share: f64,
    /// Validate on every this many usable strips of the held-apart real clips.
    #[arg(long, default_value_t = 6)]
    val_stride: usize,
    /// Where decoded strips are cached, so that a second run does not decode again.
    #[arg(long, default_value = "target/strip-cache")]
    cache: PathBuf,
}

/// Recorded clips to train on and real examples to validate on.
struct Recorded {
    train: Vec<(String, ClipWindows, f64)>,
    val: Vec<Example>,
    /// What was used, for the sidecar.
    trained_on: Vec<String>,
    validated_on: Vec<String>,
}

fn group_matches(group: &str, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        let w = w.trim();
        group == w || group.strip_prefix("pianist ") == Some(w)
    })
}

/// Every recorded clip the arguments name, split into training and validation.
fn recorded(a: &TrainArgs) -> Result<Recorded> {
    let mut train_specs: Vec<ClipSpec> = Vec::new();
    let mut val_specs: Vec<ClipSpec> = Vec::new();
    for m in &a.manifest {
        for c in clips::manifest(m)? {
            if group_matches(&c.group, &a.val_groups) {
                val_specs.push(c);
            } else {
                train_specs.push(c);
            }
        }
    }
    if !a.val_groups.is_empty() && val_specs.is_empty() {
        return Err(anyhow!(
            "--val-groups {:?} match no clip of the manifests",
            a.val_groups
        ));
    }
    for d in &a.clips {
        train_specs.extend(clips::dataset_clips(d)?);
    }
    for r in &a.real {
        train_specs.push(ClipSpec::parse(r)?);
    }
    if let Some(v) = &a.val_real {
        let spec = ClipSpec::parse(v)?;
        if let Some(r) = train_specs
            .iter()
            .find(|r| r.video == spec.video && r.from < spec.to && spec.from < r.to)
        {
            return Err(anyhow!(
                "--val-real {}..{} s overlaps a trained part {}..{} s of {}",
                spec.from,
                spec.to,
                r.from,
                r.to,
                spec.video.display()
            ));
        }
        val_specs.push(spec);
    }
    let cache = Some(a.cache.as_path());
    let mut train = Vec::new();
    for s in &train_specs {
        let c = clips::windows(s, cache)?;
        if c.is_empty() {
            return Err(anyhow!("{}: no usable strip", s.video.display()));
        }
        println!("train clip {}: {} strips", s.video.display(), c.len());
        train.push((s.name(), c, s.weight));
    }
    let mut val = Vec::new();
    for s in &val_specs {
        let c = clips::windows(s, cache)?;
        println!("validation clip {}: {} strips", s.video.display(), c.len());
        val.extend(
            c.usable()
                .iter()
                .step_by(a.val_stride.max(1))
                .map(|&i| c.example(i)),
        );
    }
    let describe = |v: &[ClipSpec]| v.iter().map(describe_clip).collect::<Vec<_>>();
    Ok(Recorded {
        train,
        val,
        trained_on: describe(&train_specs),
        validated_on: describe(&val_specs),
    })
}

fn describe_clip(c: &ClipSpec) -> String {
    let mut s = c.video.display().to_string();
    if !c.group.is_empty() {
        s += &format!(" ({})", c.group);
    }
    if c.from > 0.0 || c.to.is_finite() {
        s += &format!(" {}..{} s", c.from, c.to);
    }
    s
}

/// Frame-level P/R/F1 of the key-down output (threshold from the model's metadata) and of
/// the onset output, on examples; masked labels are left out.
fn validate(model: &Model, examples: &[Example]) -> Result<(FrameMetrics, Option<FrameMetrics>)> {
    let keys = model.meta().keys;
    let (thr, othr) = (model.meta().threshold, model.meta().onset_threshold);
    let (mut est, mut refs, mut est_on, mut ref_on) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for chunk in examples.chunks(16) {
        let windows: Vec<Vec<u8>> = chunk.iter().map(|e| e.window.clone()).collect();
        for (p, e) in model.predict(&windows)?.iter().zip(chunk) {
            // A masked label counts as agreement: est = ref = false.
            let row = |v: &[f32], t: f32, m: &[f32]| -> Vec<bool> {
                v.iter().zip(m).map(|(&x, &w)| w > 0.0 && x >= t).collect()
            };
            est.push(row(&p.frame, thr, &e.mask[..keys]));
            refs.push(row(&e.target[..keys], 0.5, &e.mask[..keys]));
            if let Some(o) = &p.onset {
                est_on.push(row(o, othr, &e.mask[keys..]));
                ref_on.push(row(&e.target[keys..], 0.5, &e.mask[keys..]));
            }
        }
    }
    let onset = (!est_on.is_empty()).then(|| frame_metrics(&est_on, &ref_on));
    Ok((frame_metrics(&est, &refs), onset))
}

/// The key-down and onset thresholds with the best frame F1 on `examples` (masked labels
/// left out), from 0.2 to 0.95 in steps of 0.05.
fn choose_thresholds(model: &Model, examples: &[Example]) -> Result<(f32, f32)> {
    let keys = model.meta().keys;
    let grid: Vec<f32> = (4..=19).map(|i| i as f32 * 0.05).collect();
    let mut counts = vec![[[0u64; 3]; 2]; grid.len()];
    for chunk in examples.chunks(16) {
        let windows: Vec<Vec<u8>> = chunk.iter().map(|e| e.window.clone()).collect();
        for (p, e) in model.predict(&windows)?.iter().zip(chunk) {
            let heads = [Some(&p.frame), p.onset.as_ref()];
            for (h, probs) in heads.iter().enumerate() {
                let Some(probs) = probs else { continue };
                for k in 0..keys {
                    if e.mask[h * keys + k] <= 0.0 {
                        continue;
                    }
                    let truth = e.target[h * keys + k] > 0.5;
                    for (g, &t) in grid.iter().enumerate() {
                        match (probs[k] >= t, truth) {
                            (true, true) => counts[g][h][0] += 1,
                            (true, false) => counts[g][h][1] += 1,
                            (false, true) => counts[g][h][2] += 1,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    let best = |h: usize, default: f32| {
        grid.iter()
            .zip(&counts)
            .map(|(&t, c)| (t, FrameMetrics::from_counts(c[h][0], c[h][1], c[h][2]).f1))
            .filter(|(_, f)| f.is_finite() && *f > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
            .unwrap_or(default)
    };
    Ok((best(0, 0.4), best(1, 0.5)))
}

/// Draws batches: a share from recorded clips (in proportion to length and weight), the
/// rest rendered on the fly.
struct Batcher {
    clips: Vec<(String, ClipWindows, f64)>,
    mass: f64,
    sources: Vec<WindowSource>,
    rng: Rng,
    share: f64,
    augment: bool,
    onset: bool,
    turn: usize,
}

impl Batcher {
    fn example(&mut self) -> Example {
        if self.mass > 0.0 && (self.rng.f32() as f64) < self.share {
            let mut r = self.rng.f32() as f64 * self.mass;
            let mut i = 0;
            while i + 1 < self.clips.len() && r >= self.clips[i].1.len() as f64 * self.clips[i].2 {
                r -= self.clips[i].1.len() as f64 * self.clips[i].2;
                i += 1;
            }
            return self.clips[i].1.random(&mut self.rng, self.augment);
        }
        let k = self.turn % self.sources.len();
        self.turn += 1;
        self.sources[k].next_example()
    }

    fn next(&mut self, n: usize) -> Batch {
        let mut b = Batch::default();
        for _ in 0..n {
            let e = self.example();
            let half = e.target.len() / 2;
            let take = if self.onset { e.target.len() } else { half };
            b.windows.extend_from_slice(&e.window);
            b.targets.extend_from_slice(&e.target[..take]);
            b.masks.extend_from_slice(&e.mask[..take]);
        }
        b
    }
}

fn pieces(a: &TrainArgs) -> Result<Vec<(String, Vec<gstpianola::core::notes::Note>)>> {
    let mut files = Vec::new();
    for d in &a.midi_dir {
        crate::dataset::midi_files(d, &mut files)?;
    }
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        let notes = gstpianola::core::midi::smf_to_notes(&std::fs::read(f)?)
            .map_err(|e| anyhow!("{}: {e}", f.display()))?;
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        out.push((name, notes));
    }
    Ok(out)
}

fn load_or_new(a: &TrainArgs) -> Result<Model> {
    let arch = Arch::from_name(&a.arch)
        .ok_or_else(|| anyhow!("--arch {}: use keycolumn, keynet or audeo", a.arch))?;
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if a.resume {
        let m = Model::load(&a.out, DeviceChoice::Auto)?;
        if m.meta().arch != arch {
            return Err(anyhow!(
                "--resume: {} is a {} net, not {}",
                a.out.display(),
                m.meta().arch.name(),
                arch.name()
            ));
        }
        return Ok(m);
    }
    let device = gstpianola::model::resolve(DeviceChoice::Auto)?;
    Ok(Model::new(ModelMeta::new(arch), device))
}

/// What the model was trained on, in words, for the sidecar and model card.
fn data_record(a: &TrainArgs, rec: &Recorded) -> serde_json::Value {
    serde_json::json!({
        "renders": format!(
            "pianosim {} renders made on the fly ({:.0}% of each batch): procedural music and the given MIDI pieces, train split only",
            if a.scenes { "scene (rectified)" } else { "canonical" },
            if rec.train.is_empty() { 100.0 } else { (1.0 - a.clip_share) * 100.0 }
        ),
        "recorded_clips_trained_on": rec.trained_on,
        "real_clips_validated_on_never_trained_on": rec.validated_on,
        "augmentation": !a.no_augment,
    })
}

/// The sidecar's training record: this run appended to the earlier ones.
fn record_run(model: &mut Model, run: serde_json::Value, total_steps: u64) {
    let prev = model.meta().training.clone();
    let mut history = prev
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default();
    history.push(run.clone());
    model.meta_mut().training = serde_json::json!({
        "steps": total_steps,
        "last": run,
        "history": history,
    });
}

pub fn run(a: &TrainArgs) -> Result<()> {
    if a.threads > 0 {
        tch::set_num_threads(a.threads);
    }
    tch::manual_seed(a.seed as i64);
    let mut model = load_or_new(a)?;
    let done_before = model
        .meta()
        .training
        .get("steps")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let pieces = pieces(a)?;
    let rec = recorded(a)?;
    let source = |split, seed| {
        WindowSource::new(split, seed, pieces.clone(), a.held_out, 20.0)
            .with_augmentation(!a.no_augment && split == Split::Train)
            .with_scenes(a.scenes)
    };
    let mut held = source(Split::HeldOut, a.seed);
    let sim_val: Vec<Example> = (0..a.val_examples * 5)
        .map(|_| held.next_example())
        .step_by(5)
        .collect();
    let mass = rec.train.iter().map(|(_, c, w)| c.len() as f64 * w).sum();
    let mut batcher = Batcher {
        clips: Vec::new(),
        mass,
        sources: (0..4)
            .map(|k| source(Split::Train, a.seed * 1000 + k + done_before))
            .collect(),
        rng: Rng::new(a.seed ^ 0xc11b ^ done_before),
        share: a.clip_share,
        augment: !a.no_augment,
        onset: model.meta().arch.has_onset(),
        turn: 0,
    };
    let data = data_record(a, &rec);
    // The record goes into every checkpoint, so a stopped run's file says what it is.
    let mut run = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "data": data,
        "seed": a.seed,
        "batch": a.batch,
        "lr": a.lr,
        "lr_schedule": if a.total_steps > 0 { format!("cosine to 5% at step {}", a.total_steps) } else { "constant".into() },
        "steps_before": done_before,
    });
    record_run(&mut model, run.clone(), done_before);
    let Recorded { train, val, .. } = rec;
    batcher.clips = train;
    let max_steps = if a.total_steps > 0 {
        (a.total_steps.saturating_sub(done_before) as usize).min(a.max_steps)
    } else {
        a.max_steps
    };
    let cfg = TrainConfig {
        max_steps,
        minutes: a.minutes,
        batch: a.batch,
        lr: a.lr,
        pos_weight_frame: 4.0,
        pos_weight_onset: 20.0,
        checkpoint: a.out.clone(),
        checkpoint_every: a.val_every,
        steps_before: done_before,
        decay_until: (a.total_steps > 0).then_some(a.total_steps),
    };
    let mut logger = Logger::open(a, done_before, sim_val, val)?;
    // Batches are made on their own thread (decoding windows, rendering, augmenting) while
    // the net trains on the previous one.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    let batch = a.batch;
    let maker = std::thread::spawn(move || while tx.send(batcher.next(batch)).is_ok() {});
    let steps = run_training(
        &mut model,
        &mut |_| rx.recv().unwrap_or_default(),
        &cfg,
        &mut |s, m| logger.step(s, m),
    );
    drop(rx);
    let _ = maker.join();
    let steps = steps?;
    if let Some(e) = logger.failed.take() {
        return Err(e);
    }
    // Operating thresholds chosen on the held-apart real clips (renders when there are none).
    let pick_on = if logger.real_val.is_empty() {
        &logger.sim_val
    } else {
        &logger.real_val
    };
    let (thr, onset_thr) = choose_thresholds(&model, pick_on)?;
    model.meta_mut().threshold = thr;
    model.meta_mut().onset_threshold = onset_thr;
    println!("thresholds chosen on the validation clips: key down {thr:.2}, onset {onset_thr:.2}");
    let (sim, real) = logger.check(&model)?;
    let total = done_before + steps as u64;
    if let Some(o) = run.as_object_mut() {
        o.insert("steps".into(), serde_json::json!(steps));
        o.insert(
            "thresholds".into(),
            serde_json::json!(format!(
                "key down {thr:.2}, onset {onset_thr:.2}: best frame F1 on the validation clips"
            )),
        );
        o.insert(
            "held_out_render_frame_f1".into(),
            serde_json::json!(sim.0.f1),
        );
        o.insert(
            "held_out_render_onset_f1".into(),
            serde_json::json!(sim.1.map(|o| o.f1)),
        );
        o.insert(
            "held_out_real_frame_f1".into(),
            serde_json::json!(real.as_ref().map(|r| r.0.f1)),
        );
        o.insert(
            "held_out_real_onset_f1".into(),
            serde_json::json!(real.as_ref().and_then(|r| r.1.map(|o| o.f1))),
        );
    }
    // Replace the in-progress entry of this run with the finished one.
    if let Some(h) = model
        .meta_mut()
        .training
        .get_mut("history")
        .and_then(|h| h.as_array_mut())
    {
        h.pop();
    }
    record_run(&mut model, run, total);
    model.save(&a.out)?;
    println!(
        "{total} steps; held-out renders frame {}; weights in {}",
        sim.0,
        a.out.display()
    );
    if let Some(r) = real {
        println!("held-out real clips: frame {}", r.0);
    }
    Ok(())
}

type Scores = (FrameMetrics, Option<FrameMetrics>);

/// The loss log and the held-out checks during training.
struct Logger {
    log: std::fs::File,
    done_before: u64,
    val_every: usize,
    avg: f64,
    sim_val: Vec<Example>,
    real_val: Vec<Example>,
    failed: Option<anyhow::Error>,
}

impl Logger {
    fn open(
        a: &TrainArgs,
        done_before: u64,
        sim_val: Vec<Example>,
        real_val: Vec<Example>,
    ) -> Result<Logger> {
        let log_path = a.out.with_extension("log.tsv");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        if !a.resume {
            writeln!(
                log,
                "step\tseconds\tloss\tval_render_frame_f1\tval_render_onset_f1\tval_real_frame_f1\tval_real_onset_f1"
            )?;
        }
        Ok(Logger {
            log,
            done_before,
            val_every: a.val_every.max(1),
            avg: 0.0,
            sim_val,
            real_val,
            failed: None,
        })
    }

    fn check(&self, m: &Model) -> Result<(Scores, Option<Scores>)> {
        let sim = validate(m, &self.sim_val)?;
        let real = if self.real_val.is_empty() {
            None
        } else {
            Some(validate(m, &self.real_val)?)
        };
        Ok((sim, real))
    }

    fn step(&mut self, s: &StepLog, m: &Model) {
        self.avg = if s.step == 1 {
            s.loss
        } else {
            0.98 * self.avg + 0.02 * s.loss
        };
        let step = s.step as u64 + self.done_before;
        let mut line = format!("{step}\t{:.1}\t{:.4}", s.seconds, self.avg);
        if s.step.is_multiple_of(self.val_every) {
            match self.check(m) {
                Ok((sim, real)) => {
                    let f = |x: &Option<FrameMetrics>| x.map(|o| o.f1).unwrap_or(f64::NAN);
                    line += &format!("\t{:.4}\t{:.4}", sim.0.f1, f(&sim.1));
                    let real_txt = match &real {
                        Some(r) => {
                            line += &format!("\t{:.4}\t{:.4}", r.0.f1, f(&r.1));
                            format!(", held-out real frame {} onset F1 {:.3}", r.0, f(&r.1))
                        }
                        None => String::new(),
                    };
                    println!(
                        "step {step} ({:.0} s): loss {:.4}, held-out renders frame F1 {:.3}{real_txt}",
                        s.seconds, self.avg, sim.0.f1
                    );
                }
                Err(e) => self.failed = Some(e),
            }
        } else if s.step.is_multiple_of(25) {
            println!("step {step} ({:.0} s): loss {:.4}", s.seconds, self.avg);
        }
        let _ = writeln!(self.log, "{line}");
    }
}
