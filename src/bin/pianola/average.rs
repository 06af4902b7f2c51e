// SPDX-License-Identifier: MPL-2.0
//! `pianola average`: the uniform average of a training run's weight snapshots
//! (`train --snapshot-every`), stochastic weight averaging.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use gstpianola::model::{DeviceChoice, Model};

#[derive(clap::Args)]
pub struct AverageArgs {
    /// The averaged weights to write (.safetensors, with its .json sidecar).
    #[arg(long)]
    pub out: PathBuf,
    /// Take the metadata (thresholds, training record) from this model; default: the
    /// last of the weights averaged.
    #[arg(long)]
    pub like: Option<PathBuf>,
    /// Weights of one net (e.g. a run's target/x/video2roll.step*.safetensors).
    #[arg(required = true, num_args = 2..)]
    pub weights: Vec<PathBuf>,
}

pub fn run(a: &AverageArgs) -> Result<()> {
    let load = |p: &PathBuf| {
        Model::load(p, DeviceChoice::Cpu).map_err(|e| anyhow!("{}: {e}", p.display()))
    };
    let models = a.weights.iter().map(load).collect::<Result<Vec<_>>>()?;
    let base_path = a
        .like
        .as_ref()
        .or(a.weights.last())
        .ok_or_else(|| anyhow!("no weights"))?;
    let mut avg = load(base_path)?;
    let arch = avg.meta().arch;
    if let Some((p, m)) = a
        .weights
        .iter()
        .zip(&models)
        .find(|(_, m)| m.meta().arch != arch)
    {
        return Err(anyhow!(
            "{} is a {} net, {} a {} net: average snapshots of one run",
            p.display(),
            m.meta().arch.name(),
            base_path.display(),
            arch.name()
        ));
    }
    avg.average_of(&models)?;
    let names: Vec<String> = a.weights.iter().map(|p| p.display().to_string()).collect();
    let t = &mut avg.meta_mut().training;
    if !t.is_object() {
        *t = serde_json::json!({});
    }
    if let Some(o) = t.as_object_mut() {
        o.insert(
            "averaged".into(),
            serde_json::json!({"weights": names, "how": "uniform mean of every variable, BatchNorm running statistics included"}),
        );
    }
    avg.save(&a.out)?;
    println!(
        "{} weights averaged into {}",
        a.weights.len(),
        a.out.display()
    );
    Ok(())
}
