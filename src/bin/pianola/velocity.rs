// SPDX-License-Identifier: MPL-2.0
//! `pianola velocity-probe`: how much of a note's loudness the picture carries, as the
//! pressed-key net sees it. A ridge regression from the net's features of the struck key, at
//! its first frame, to the MIDI velocity is fitted on some pianists' clips and scored on whole
//! pianists held apart, against the plain mean of the training velocities. It says whether a
//! velocity head is worth training; it trains none.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use gstpianola::core::clip::ClipSpec;
use gstpianola::model::DeviceChoice;
use gstpianola::model::probe::{FeatureNet, ridge};

use crate::clips;
use crate::train_data::group_matches;

#[derive(clap::Args, Debug)]
pub struct VelocityArgs {
    /// video2roll weights of a keycolumn or keycolumn-rest net.
    #[arg(long)]
    pub model: PathBuf,
    /// Real clips with their MIDI, as for `pianola train` (MANIFEST.tsv). Repeatable.
    #[arg(long)]
    pub manifest: Vec<PathBuf>,
    /// Groups (pianists) of the manifests held apart: the probe is scored on them. Comma
    /// separated; numbers alone mean "pianist N".
    #[arg(long, value_delimiter = ',')]
    pub val_groups: Vec<String>,
    /// A real clip (or a part of one) to fit on, as `pianola train --real` takes it.
    /// Repeatable.
    #[arg(long)]
    pub fit_real: Vec<String>,
    /// A real clip (or a part of one) to score on, as `--fit-real`. Repeatable.
    #[arg(long)]
    pub held_real: Vec<String>,
    /// Notes taken from each clip at most, evenly through it.
    #[arg(long, default_value_t = 300)]
    pub per_clip: usize,
    /// Ridge penalties (on standardised features) to fit with, comma separated; each is
    /// scored.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.1,1")]
    pub lambda: Vec<f64>,
    /// Where decoded strips are cached.
    #[arg(long, default_value = "target/strip-cache")]
    pub cache: PathBuf,
}

/// Features and velocities of one side (fitted on, or scored on).
#[derive(Default)]
struct Side {
    x: Vec<Vec<f32>>,
    y: Vec<f32>,
}

pub fn run(a: &VelocityArgs) -> Result<()> {
    let net = FeatureNet::load(&a.model, DeviceChoice::Auto).map_err(|e| anyhow!("{e}"))?;
    let rest = net.meta().arch.uses_rest();
    let (mut fit, mut held) = (Side::default(), Side::default());
    let mut specs: Vec<(ClipSpec, bool)> = Vec::new();
    for m in &a.manifest {
        for spec in clips::manifest(m)? {
            let held = group_matches(&spec.group, &a.val_groups);
            specs.push((spec, held));
        }
    }
    for (list, held) in [(&a.fit_real, false), (&a.held_real, true)] {
        for r in list {
            specs.push((ClipSpec::parse(r)?, held));
        }
    }
    for (spec, is_held) in specs {
        let c = clips::windows(&spec, Some(a.cache.as_path()))?.with_rest(rest);
        let struck = c.struck();
        let step = struck.len().div_ceil(a.per_clip.max(1)).max(1);
        let side = if is_held { &mut held } else { &mut fit };
        for chunk in struck.iter().step_by(step).collect::<Vec<_>>().chunks(16) {
            let windows: Vec<(Vec<u8>, usize)> = chunk
                .iter()
                .map(|&&(i, k, _)| (c.example(i).window, k))
                .collect();
            side.x
                .extend(net.features(&windows).map_err(|e| anyhow!("{e}"))?);
            side.y.extend(chunk.iter().map(|&&(_, _, v)| v as f32));
        }
        println!(
            "{}: {} notes ({})",
            spec.video.display(),
            struck.len().div_ceil(step),
            spec.group
        );
    }
    if fit.y.is_empty() || held.y.is_empty() {
        return Err(anyhow!(
            "no struck notes to fit on ({}) or to score on ({}): give clips to both (--val-groups \
             {:?}, --fit-real, --held-real)",
            fit.y.len(),
            held.y.len(),
            a.val_groups
        ));
    }
    if sd(&fit.y) == 0.0 {
        return Err(anyhow!(
            "every note fitted on has velocity {}: these MIDI files carry no loudness to learn \
             (an instrument that records none, or a fixed velocity)",
            fit.y[0]
        ));
    }
    let fit_mean = mean(&fit.y);
    for &lambda in &a.lambda {
        let model = ridge(&fit.x, &fit.y, lambda).map_err(|e| anyhow!("{e}"))?;
        for (name, side) in [("fitted on", &fit), ("held apart", &held)] {
            let pred: Vec<f32> = side.x.iter().map(|x| model.predict(x)).collect();
            let mae = |p: &dyn Fn(usize) -> f32| {
                side.y
                    .iter()
                    .enumerate()
                    .map(|(i, y)| (p(i) - y).abs())
                    .sum::<f32>()
                    / side.y.len() as f32
            };
            println!(
                "penalty {lambda}, {name}: {} notes, velocity mean {:.1} sd {:.1}; probe MAE {:.1}, r {:.3}; the training mean alone MAE {:.1}",
                side.y.len(),
                mean(&side.y),
                sd(&side.y),
                mae(&|i| pred[i].clamp(1.0, 127.0)),
                pearson(&pred, &side.y),
                mae(&|_| fit_mean),
            );
        }
    }
    Ok(())
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

fn sd(v: &[f32]) -> f32 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len() as f32).sqrt()
}

/// Pearson correlation (0 when either side is constant).
fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len()) as f32;
    let (ma, mb) = (mean(&a[..n as usize]), mean(&b[..n as usize]));
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let (sa, sb) = (sd(a) * n.sqrt(), sd(b) * n.sqrt());
    if sa * sb > 0.0 { cov / (sa * sb) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_of_related_and_unrelated_values() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&a, &[2.0, 4.0, 6.0, 8.0]) - 1.0).abs() < 1e-6);
        assert!((pearson(&a, &[8.0, 6.0, 4.0, 2.0]) + 1.0).abs() < 1e-6);
        assert_eq!(pearson(&a, &[5.0; 4]), 0.0);
        assert!((sd(&[1.0, 3.0]) - 1.0).abs() < 1e-6);
    }
}
