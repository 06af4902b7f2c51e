// SPDX-License-Identifier: MPL-2.0
//! `pianola train`: train a video2roll net on real clips (a manifest of recorded
//! performances, `--real` parts of videos, rendered `pianola dataset` clips) mixed with
//! pianosim renders made on the fly, validated on whole groups (pianists) held apart.

use anyhow::{Result, anyhow};
use gstpianola::core::dataset::Split;
use gstpianola::core::sim::rng::Rng;
use gstpianola::model::train::{Batch, TrainConfig, train as run_training};
use gstpianola::model::{Arch, DeviceChoice, Model, ModelMeta};

use crate::augment::Augment;
use crate::train_args::{TrainArgs, augmentation, wants_rest};
use crate::train_check::{Logger, Scores, choose_thresholds};
use crate::train_data::{data_record, pieces, recorded};
use crate::trainset::{ClipWindows, Example, WindowSource};

/// Draws batches: a share from recorded clips (in proportion to length and weight), the
/// rest rendered on the fly.
struct Batcher {
    clips: Vec<(String, ClipWindows, f64)>,
    mass: f64,
    sources: Vec<WindowSource>,
    rng: Rng,
    share: f64,
    augment: Option<Augment>,
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

/// The net to train: `--out` when resuming, else the `--init` model given (loaded by the
/// caller), else a new one.
fn load_or_new(a: &TrainArgs, init: Option<Model>) -> Result<Model> {
    let arch = Arch::from_name(&a.arch).ok_or_else(|| {
        anyhow!(
            "--arch {}: use keycolumn, keycolumn-rest, keycolumn-rest-half, keycolumn-relative, keynet or audeo",
            a.arch
        )
    })?;
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if a.resume && (init.is_none() || a.out.exists()) {
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
    if let (Some(mut m), Some(from)) = (init, &a.init) {
        let base = std::mem::take(&mut m.meta_mut().training);
        m.meta_mut().training = serde_json::json!({
            "steps": 0,
            "init": { "from": from.display().to_string(), "training": base },
        });
        return Ok(m);
    }
    let device = gstpianola::model::resolve(DeviceChoice::Auto)?;
    Ok(Model::new(ModelMeta::new(arch), device))
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
    let mut training = serde_json::json!({
        "steps": total_steps,
        "last": run,
        "history": history,
    });
    if let (Some(init), Some(o)) = (prev.get("init"), training.as_object_mut()) {
        o.insert("init".into(), init.clone());
    }
    model.meta_mut().training = training;
}

pub fn run(a: &TrainArgs) -> Result<()> {
    if let Some(t) = a
        .threshold
        .filter(|t| !(t.is_finite() && *t > 0.0 && *t < 1.0))
    {
        return Err(anyhow!(
            "--threshold {t}: give a probability between 0 and 1, e.g. 0.8"
        ));
    }
    if !(a.clip_share.is_finite() && (0.0..=1.0).contains(&a.clip_share)) {
        return Err(anyhow!(
            "--clip-share {}: give a share between 0 and 1 (0.8: real clips in 8 of 10 examples, the rest renders)",
            a.clip_share
        ));
    }
    if a.threads > 0 {
        tch::set_num_threads(a.threads);
    }
    tch::manual_seed(a.seed as i64);
    // Fine-tuning trains the net of the --init file, with the data that net takes.
    let init = a
        .init
        .as_ref()
        .map(|p| {
            Model::load(p, DeviceChoice::Auto).map_err(|e| anyhow!("--init {}: {e}", p.display()))
        })
        .transpose()?;
    let with_init;
    let a = match &init {
        Some(m) => {
            with_init = TrainArgs {
                arch: m.meta().arch.name().to_string(),
                ..a.clone()
            };
            &with_init
        }
        None => a,
    };
    let mut model = load_or_new(a, init)?;
    let done_before = model
        .meta()
        .training
        .get("steps")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let rec = recorded(a)?;
    let pieces = pieces(a)?;
    // The record goes into every checkpoint, so a stopped run's file says what it is.
    let mut run = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "data": data_record(a, &rec),
        "seed": a.seed,
        "batch": a.batch,
        "lr": a.lr,
        "lr_schedule": if a.total_steps > 0 { format!("cosine to 5% at step {}", a.total_steps) } else { "constant".into() },
        "steps_before": done_before,
    });
    record_run(&mut model, run.clone(), done_before);
    let (batcher, sim_val) = batcher(
        a,
        &pieces,
        rec.train,
        model.meta().arch.has_onset(),
        done_before,
    );
    let mut logger = Logger::open(a, done_before, sim_val, rec.val)?;
    let steps = train_on(
        &mut model,
        batcher,
        &train_config(a, done_before),
        &mut logger,
    )?;
    // Operating thresholds chosen on the held-apart real clips (renders when there are none).
    let pick_on = if logger.real_val.is_empty() {
        &logger.sim_val
    } else {
        &logger.real_val
    };
    // A fine-tune with no real clip to check on keeps the thresholds of the net it started
    // from: renders alone are a poor guide to real video.
    let keep = a.init.is_some() && logger.real_val.is_empty();
    let (chosen, onset_thr, who, source) = if keep {
        let m = model.meta();
        (
            m.threshold,
            m.onset_threshold,
            "the --init model",
            "kept from the --init model (no real clip to validate on)",
        )
    } else {
        let (c, o) = choose_thresholds(&model, pick_on)?;
        (
            c,
            o,
            "the validation windows",
            "best frame F1 on the validation clips",
        )
    };
    let thr = a.threshold.unwrap_or(chosen);
    model.meta_mut().threshold = thr;
    model.meta_mut().onset_threshold = onset_thr;
    if keep {
        println!("thresholds {source}: key down {chosen:.2}, onset {onset_thr:.2}");
    } else {
        println!(
            "thresholds chosen on the validation clips: key down {chosen:.2}, onset {onset_thr:.2}"
        );
    }
    let how = match a.threshold {
        Some(t) => format!(
            "key down {t:.2} as given ({who} chose {chosen:.2}), onset {onset_thr:.2}: {source}"
        ),
        None => format!("key down {thr:.2}, onset {onset_thr:.2}: {source}"),
    };
    if a.threshold.is_some() {
        println!("key down threshold {thr:.2} as given");
    }
    let (sim, real) = logger.check(&model)?;
    let total = done_before + steps as u64;
    if let Some(o) = run.as_object_mut() {
        o.insert("steps".into(), serde_json::json!(steps));
        o.insert("thresholds".into(), serde_json::json!(how));
        o.extend(scores_record(&sim, real.as_ref()));
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

/// The batches' maker (recorded clips at their share, renders from four sources), and the
/// held-out renders to check on.
fn batcher(
    a: &TrainArgs,
    pieces: &[(String, Vec<gstpianola::core::notes::Note>)],
    clips: Vec<(String, ClipWindows, f64)>,
    onset: bool,
    done_before: u64,
) -> (Batcher, Vec<Example>) {
    let source = |split, seed| {
        WindowSource::new(split, seed, pieces.to_vec(), a.held_out, 20.0)
            .with_augmentation(augmentation(a).filter(|_| split == Split::Train))
            .with_scenes(a.scenes)
            .with_rest(wants_rest(a))
    };
    let mut held = source(Split::HeldOut, a.seed);
    let sim_val: Vec<Example> = (0..a.val_examples * 5)
        .map(|_| held.next_example())
        .step_by(5)
        .collect();
    let mass = clips.iter().map(|(_, c, w)| c.len() as f64 * w).sum();
    let batcher = Batcher {
        clips,
        mass,
        sources: (0..4)
            .map(|k| source(Split::Train, a.seed * 1000 + k + done_before))
            .collect(),
        rng: Rng::new(a.seed ^ 0xc11b ^ done_before),
        share: a.clip_share,
        augment: augmentation(a),
        onset,
        turn: 0,
    };
    (batcher, sim_val)
}

fn train_config(a: &TrainArgs, done_before: u64) -> TrainConfig {
    let max_steps = if a.total_steps > 0 {
        (a.total_steps.saturating_sub(done_before) as usize).min(a.max_steps)
    } else {
        a.max_steps
    };
    TrainConfig {
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
        snapshot_every: a.snapshot_every,
        snapshot_from: a.snapshot_from,
    }
}

/// Train, with batches made on their own thread (decoding windows, rendering, augmenting)
/// while the net trains on the previous one. The steps taken.
fn train_on(
    model: &mut Model,
    mut batcher: Batcher,
    cfg: &TrainConfig,
    logger: &mut Logger,
) -> Result<usize> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    let batch = cfg.batch;
    let maker = std::thread::spawn(move || while tx.send(batcher.next(batch)).is_ok() {});
    let steps = run_training(
        model,
        &mut |_| rx.recv().unwrap_or_default(),
        cfg,
        &mut |s, m| logger.step(s, m),
    );
    drop(rx);
    let _ = maker.join();
    let steps = steps?;
    if let Some(e) = logger.failed.take() {
        return Err(e);
    }
    Ok(steps)
}

/// The held-out scores of a finished run, for its record.
fn scores_record(
    sim: &Scores,
    real: Option<&Scores>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut o = serde_json::Map::new();
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
        serde_json::json!(real.map(|r| r.0.f1)),
    );
    o.insert(
        "held_out_real_onset_f1".into(),
        serde_json::json!(real.and_then(|r| r.1.map(|o| o.f1))),
    );
    o
}
