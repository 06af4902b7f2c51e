// SPDX-License-Identifier: MPL-2.0
//! Training loop: Adam on weighted binary cross-entropy (pressed keys and onsets are rare),
//! batches of plain bytes and targets from any source, checkpoints, a loss log.

use std::path::PathBuf;
use std::time::Instant;

use tch::nn::OptimizerConfig;
use tch::{Kind, Tensor};

use super::{Model, ModelError};

#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Stop after this many steps or this much time, whichever comes first.
    pub max_steps: usize,
    pub minutes: f64,
    pub batch: usize,
    pub lr: f64,
    /// Weight of a positive (pressed / struck) key in the loss.
    pub pos_weight_frame: f64,
    pub pos_weight_onset: f64,
    pub checkpoint: PathBuf,
    pub checkpoint_every: usize,
    /// Steps the model had before this run (its sidecar's `training.steps` is kept up to
    /// date at every checkpoint, so a stopped run resumes where it was).
    pub steps_before: u64,
    /// Cosine decay of the learning rate to 5% of `lr` at this total step (None: constant).
    pub decay_until: Option<u64>,
    /// Keep a copy of the weights every this many total steps from `snapshot_from` on
    /// (0: none), beside the checkpoint as `NAME.stepT.safetensors`, for weight averaging
    /// ([`super::Model::average`]).
    pub snapshot_every: usize,
    pub snapshot_from: u64,
}

/// Where the snapshot of total step `t` of a run checkpointed at `checkpoint` goes.
pub fn snapshot_path(checkpoint: &std::path::Path, t: u64) -> PathBuf {
    let stem = checkpoint
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    checkpoint.with_file_name(format!("{stem}.step{t}.safetensors"))
}

/// The learning rate at total step `t` (cosine from `lr` to 5% of it at `until`).
pub fn scheduled_lr(lr: f64, t: u64, until: Option<u64>) -> f64 {
    match until {
        Some(u) if u > 0 => {
            let x = (t as f64 / u as f64).min(1.0);
            lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * x).cos()))
        }
        _ => lr,
    }
}

/// Record the total step count in the sidecar's training record (an object).
fn note_steps(model: &mut Model, total: u64) {
    let t = &mut model.meta_mut().training;
    if !t.is_object() {
        *t = serde_json::json!({});
    }
    if let Some(o) = t.as_object_mut() {
        o.insert("steps".into(), serde_json::json!(total));
    }
}

/// One line of the training log.
#[derive(Clone, Debug)]
pub struct StepLog {
    pub step: usize,
    pub loss: f64,
    pub seconds: f64,
}

/// A batch: `batch` windows of frames x height x width bytes, and per window the targets
/// (keys of frame state, then keys of onsets for nets with an onset head) and how much each
/// target counts (0: unknown, masked out of the loss).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub windows: Vec<u8>,
    pub targets: Vec<f32>,
    pub masks: Vec<f32>,
}

pub fn train(
    model: &mut Model,
    next_batch: &mut dyn FnMut(usize) -> Batch,
    cfg: &TrainConfig,
    on_step: &mut dyn FnMut(&StepLog, &Model),
) -> Result<usize, ModelError> {
    let meta = model.meta().clone();
    let keys = meta.keys as i64;
    let heads: i64 = if meta.arch.has_onset() { 2 } else { 1 };
    let mut opt = tch::nn::Adam::default().build(model.var_store(), cfg.lr)?;
    let pw = {
        let mut w = vec![cfg.pos_weight_frame as f32; keys as usize];
        if heads == 2 {
            w.extend(vec![cfg.pos_weight_onset as f32; keys as usize]);
        }
        Tensor::from_slice(&w)
            .reshape([heads, keys])
            .to_device(model.device())
    };
    let t0 = Instant::now();
    let mut step = 0;
    while step < cfg.max_steps && t0.elapsed().as_secs_f64() < cfg.minutes * 60.0 {
        opt.set_lr(scheduled_lr(
            cfg.lr,
            cfg.steps_before + step as u64,
            cfg.decay_until,
        ));
        let b = next_batch(cfg.batch);
        let n = cfg.batch as i64;
        let per = (heads * keys) as usize * cfg.batch;
        if b.targets.len() != per || b.masks.len() != per {
            return Err(ModelError::Input(format!(
                "a batch of {} targets and {} masks, expected {per}",
                b.targets.len(),
                b.masks.len()
            )));
        }
        let x = Tensor::f_from_slice(&b.windows)?
            .f_reshape([
                n,
                meta.images() as i64,
                meta.height as i64,
                meta.width as i64,
            ])?
            .to_device(model.device())
            .to_kind(Kind::Float)
            / 255.0;
        let y = Tensor::from_slice(&b.targets)
            .reshape([n, heads, keys])
            .to_device(model.device());
        let w = Tensor::from_slice(&b.masks)
            .reshape([n, heads, keys])
            .to_device(model.device());
        let logits = model.forward_t(&x, true).reshape([n, heads, keys]);
        // Masked labels weigh nothing; the mean is over the labels that count.
        let loss = logits.binary_cross_entropy_with_logits::<&Tensor>(
            &y,
            Some(&w),
            Some(&pw),
            tch::Reduction::Sum,
        ) / w.sum(Kind::Float).clamp_min(1.0);
        opt.backward_step(&loss);
        step += 1;
        let log = StepLog {
            step,
            loss: loss.double_value(&[]),
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_step(&log, model);
        let total = cfg.steps_before + step as u64;
        if cfg.checkpoint_every > 0 && step.is_multiple_of(cfg.checkpoint_every) {
            note_steps(model, total);
            model.save(&cfg.checkpoint)?;
        }
        if cfg.snapshot_every > 0
            && total >= cfg.snapshot_from
            && total.is_multiple_of(cfg.snapshot_every as u64)
        {
            note_steps(model, total);
            model.save(&snapshot_path(&cfg.checkpoint, total))?;
        }
    }
    note_steps(model, cfg.steps_before + step as u64);
    model.save(&cfg.checkpoint)?;
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_go_beside_the_checkpoint_named_by_step() {
        assert_eq!(
            snapshot_path(
                std::path::Path::new("target/x/video2roll.safetensors"),
                3250
            ),
            PathBuf::from("target/x/video2roll.step3250.safetensors")
        );
    }

    #[test]
    fn the_schedule_decays_to_five_percent() {
        assert_eq!(scheduled_lr(1e-3, 0, Some(100)), 1e-3);
        assert!((scheduled_lr(1e-3, 100, Some(100)) - 5e-5).abs() < 1e-12);
        assert!((scheduled_lr(1e-3, 200, Some(100)) - 5e-5).abs() < 1e-12);
        assert_eq!(scheduled_lr(1e-3, 50, None), 1e-3);
    }
}
