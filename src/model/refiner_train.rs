// SPDX-License-Identifier: MPL-2.0
//! Training of a roll refiner as Audeo trains its Roll2Midi Net: a least-squares GAN with the
//! PatchGAN discriminator, generator loss `0.001 * adversarial + 0.999 * MSE to the truth`,
//! Adam lr 5e-4, betas (0.9, 0.999). Plus the cache of (video2roll probabilities, true roll)
//! pairs, one safetensors file per clip.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Kind, Tensor};

use super::ModelError;
use super::refiner::{Discriminator, Refiner, windows_to_tensor};

/// Audeo's weights of the generator loss.
pub const ADVERSARIAL_WEIGHT: f64 = 0.001;
pub const RECONSTRUCTION_WEIGHT: f64 = 0.999;

/// One clip: per frame, video2roll's probabilities (`inputs * keys`: key down, then onsets)
/// and the true roll (`outputs * keys`, 0 or 1), frame for frame.
#[derive(Clone, Debug, PartialEq)]
pub struct RollPair {
    pub input: Vec<Vec<f32>>,
    pub target: Vec<Vec<f32>>,
}

impl RollPair {
    pub fn len(&self) -> usize {
        self.input.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

fn to_tensor(rows: &[Vec<f32>]) -> Tensor {
    let w = rows.first().map(Vec::len).unwrap_or(0) as i64;
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, w])
}

fn from_tensor(t: &Tensor) -> Vec<Vec<f32>> {
    let s = t.size();
    let v: Vec<f32> = Vec::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap_or_default();
    if s.len() != 2 || s[1] == 0 {
        return Vec::new();
    }
    v.chunks(s[1] as usize).map(<[f32]>::to_vec).collect()
}

/// Write a pair as `input` and `target` tensors.
pub fn save_pair(path: &Path, pair: &RollPair) -> Result<(), ModelError> {
    Tensor::write_safetensors(
        &[
            ("input", to_tensor(&pair.input)),
            ("target", to_tensor(&pair.target)),
        ],
        path,
    )?;
    Ok(())
}

pub fn load_pair(path: &Path) -> Result<RollPair, ModelError> {
    let ts = Tensor::read_safetensors(path)?;
    let get = |n: &str| {
        ts.iter()
            .find(|(k, _)| k == n)
            .map(|(_, t)| from_tensor(t))
            .ok_or_else(|| ModelError::Invalid {
                path: path.display().to_string(),
                why: format!("no {n} tensor"),
            })
    };
    let pair = RollPair {
        input: get("input")?,
        target: get("target")?,
    };
    if pair.input.len() != pair.target.len() {
        return Err(ModelError::Invalid {
            path: path.display().to_string(),
            why: "input and target differ in length".into(),
        });
    }
    Ok(pair)
}

#[derive(Clone, Debug)]
pub struct GanConfig {
    /// Stop after this many steps or this much time, whichever comes first.
    pub max_steps: usize,
    pub minutes: f64,
    pub batch: usize,
    pub lr: f64,
    /// Window lengths drawn per batch, in frames (inclusive range).
    pub window: (usize, usize),
    /// Where the generator goes; the discriminator goes next to it (`.disc.safetensors`).
    pub checkpoint: PathBuf,
    pub checkpoint_every: usize,
    pub seed: u64,
    /// Share of windows whose input is made harder ([`crate::core::refine::augment_window`]).
    pub augment: f32,
}

/// One line of the training log.
#[derive(Clone, Debug)]
pub struct GanStep {
    pub step: usize,
    pub g_loss: f64,
    pub d_loss: f64,
    pub mse: f64,
    pub seconds: f64,
}

/// The discriminator's file next to the generator's.
pub fn discriminator_path(generator: &Path) -> PathBuf {
    generator.with_extension("disc.safetensors")
}

/// Batch `n` windows of `len` frames: random clip (by length) and start.
fn batch(
    pairs: &[RollPair],
    n: usize,
    len: usize,
    rng: &mut crate::core::sim::rng::Rng,
    (inputs, outputs, keys): (i64, i64, i64),
    augment: f32,
) -> Result<(Tensor, Tensor), tch::TchError> {
    let total: usize = pairs.iter().map(|p| p.len()).sum();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for _ in 0..n {
        let mut at = (rng.next_u64() % total.max(1) as u64) as usize;
        let mut pick = &pairs[0];
        for p in pairs {
            if at < p.len() {
                pick = p;
                break;
            }
            at -= p.len();
        }
        let l = len.min(pick.len());
        let start = (rng.next_u64() % (pick.len() - l + 1) as u64) as usize;
        // A clip shorter than the window repeats its last frame.
        let idx = (0..len).map(|i| (start + i).min(pick.len() - 1));
        let mut window: Vec<Vec<f32>> = idx.clone().map(|j| pick.input[j].clone()).collect();
        if augment > 0.0 && rng.chance(augment) {
            crate::core::refine::augment_window(&mut window, keys as usize, rng);
        }
        xs.extend(window.into_iter().flatten());
        for j in idx {
            ys.extend_from_slice(&pick.target[j]);
        }
    }
    Ok((
        windows_to_tensor(&xs, n as i64, inputs, keys)?,
        windows_to_tensor(&ys, n as i64, outputs, keys)?,
    ))
}

/// Train `generator` on `pairs`; resumes the discriminator from its file when `resume`.
pub fn train_gan(
    generator: &mut Refiner,
    pairs: &[RollPair],
    cfg: &GanConfig,
    resume: bool,
    on_step: &mut dyn FnMut(&GanStep, &Refiner),
) -> Result<usize, ModelError> {
    if pairs.iter().all(|p| p.is_empty()) {
        return Err(ModelError::Invalid {
            path: "training pairs".into(),
            why: "no frames".into(),
        });
    }
    let meta = generator.meta().clone();
    let (inputs, outputs, keys) = (meta.inputs as i64, meta.outputs as i64, meta.keys as i64);
    let device = generator.device();
    let mut dvs = nn::VarStore::new(device);
    let disc = Discriminator::new(&dvs.root(), outputs);
    let dpath = discriminator_path(&cfg.checkpoint);
    if resume && dpath.is_file() {
        dvs.load(&dpath).map_err(|e| ModelError::Invalid {
            path: dpath.display().to_string(),
            why: e.to_string(),
        })?;
    }
    let adam = nn::Adam {
        beta1: 0.9,
        beta2: 0.999,
        wd: 0.0,
        eps: 1e-8,
        amsgrad: false,
    };
    let mut opt_g = adam.build(generator.var_store(), cfg.lr)?;
    let mut opt_d = adam.build(&dvs, cfg.lr)?;
    let mut rng = crate::core::sim::rng::Rng::new(cfg.seed);
    let t0 = Instant::now();
    let mut step = 0;
    let (lo, hi) = (cfg.window.0.max(2), cfg.window.1.max(cfg.window.0.max(2)));
    while step < cfg.max_steps && t0.elapsed().as_secs_f64() < cfg.minutes * 60.0 {
        let len = lo + (rng.next_u64() % (hi - lo + 1) as u64) as usize;
        let (x, y) = batch(
            pairs,
            cfg.batch,
            len,
            &mut rng,
            (inputs, outputs, keys),
            cfg.augment,
        )?;
        let (x, y) = (x.to_device(device), y.to_device(device));
        // Generator: fool the discriminator, stay close to the truth.
        let fake = generator.forward_t(&x, true).sigmoid();
        let d_fake = disc.forward_t(&fake, true);
        let adv = d_fake.mse_loss(&d_fake.ones_like(), tch::Reduction::Mean);
        let mse = fake.mse_loss(&y, tch::Reduction::Mean);
        let g_loss = &adv * ADVERSARIAL_WEIGHT + &mse * RECONSTRUCTION_WEIGHT;
        opt_g.backward_step(&g_loss);
        // Discriminator: truth is real, the generator's output (detached) is fake.
        let d_real = disc.forward_t(&y, true);
        let d_fake = disc.forward_t(&fake.detach(), true);
        let d_loss = (d_real.mse_loss(&d_real.ones_like(), tch::Reduction::Mean)
            + d_fake.mse_loss(&d_fake.zeros_like(), tch::Reduction::Mean))
            * 0.5;
        opt_d.backward_step(&d_loss);
        step += 1;
        let log = GanStep {
            step,
            g_loss: g_loss.double_value(&[]),
            d_loss: d_loss.double_value(&[]),
            mse: mse.double_value(&[]),
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_step(&log, generator);
        if cfg.checkpoint_every > 0 && step.is_multiple_of(cfg.checkpoint_every) {
            generator.save(&cfg.checkpoint)?;
            dvs.save(&dpath)?;
        }
    }
    generator.save(&cfg.checkpoint)?;
    dvs.save(&dpath)?;
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::refiner::{RefinerArch, RefinerMeta};

    #[test]
    fn pairs_round_trip_through_their_file() {
        let dir = std::env::temp_dir().join(format!("pianola-pair-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.safetensors");
        let pair = RollPair {
            input: vec![vec![0.25, 0.5, 0.75, 1.0]; 3],
            target: vec![vec![0.0, 1.0]; 3],
        };
        save_pair(&p, &pair).unwrap();
        assert_eq!(load_pair(&p).unwrap(), pair);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_few_gan_steps_lower_the_error_on_a_learnable_fix() {
        // The input is the truth with every key's value halved: the generator must learn to
        // scale it back up, which the identity it starts from does not do.
        let keys = 88;
        let mut rng = crate::core::sim::rng::Rng::new(3);
        let pairs: Vec<RollPair> = (0..4)
            .map(|_| {
                let target: Vec<Vec<f32>> = (0..60)
                    .map(|t| {
                        (0..2 * keys)
                            .map(|k| ((k + t / 6) % 9 == 0) as u8 as f32)
                            .collect()
                    })
                    .collect();
                let input = target
                    .iter()
                    .map(|r| {
                        r.iter()
                            .map(|&v| 0.2 + 0.3 * v + 0.05 * (rng.next_u64() % 2) as f32)
                            .collect()
                    })
                    .collect();
                RollPair { input, target }
            })
            .collect();
        let dir = std::env::temp_dir().join(format!("pianola-gan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut generator = Refiner::new(RefinerMeta::new(RefinerArch::Compact), tch::Device::Cpu);
        let cfg = GanConfig {
            max_steps: 60,
            // The step count ends it: on a busy machine a time limit cut it short (and failed).
            minutes: 1000.0,
            batch: 4,
            lr: 5e-3,
            window: (16, 24),
            checkpoint: dir.join("r.safetensors"),
            checkpoint_every: 0,
            seed: 1,
            augment: 0.0,
        };
        let mut first = None;
        let mut last = 0.0;
        train_gan(&mut generator, &pairs, &cfg, false, &mut |s, _| {
            first.get_or_insert(s.mse);
            last = s.mse;
        })
        .unwrap();
        let first = first.unwrap();
        assert!(last < first * 0.5, "mse {first} -> {last}");
        assert!(discriminator_path(&cfg.checkpoint).is_file());
        let loaded = Refiner::load(&cfg.checkpoint, crate::model::DeviceChoice::Cpu).unwrap();
        assert_eq!(loaded.meta(), generator.meta());
        std::fs::remove_dir_all(&dir).ok();
    }
}
