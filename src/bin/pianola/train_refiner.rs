// SPDX-License-Identifier: MPL-2.0
//! `pianola train-refiner`: Audeo's Roll2Midi GAN training on (video2roll probabilities,
//! true roll) pairs of rendered clips.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use gstpianola::core::metrics::{FrameMetrics, frame_metrics};
use gstpianola::core::refine::{WindowPlan, refine_all};
use gstpianola::model::refiner::{Refiner, RefinerArch, RefinerMeta};
use gstpianola::model::refiner_train::{GanConfig, RollPair, load_pair, save_pair, train_gan};

#[derive(clap::Args, Debug)]
pub struct TrainRefinerArgs {
    /// Folders of `pianola dataset` clips to train on (their train/ folders; repeatable).
    /// Keep them apart from the clips video2roll trained on and from the evaluation set.
    #[arg(long, required = true)]
    pub clips: Vec<PathBuf>,
    /// Folders of clips to validate on (never trained on).
    #[arg(long)]
    pub val: Vec<PathBuf>,
    /// video2roll weights that make the probabilities (default: the installed model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where the probabilities of each clip are cached (default: <clips>/pairs).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Generator: compact (CPU) or audeo-unet (the reference U-Net; needs a GPU to train).
    #[arg(long, default_value = "compact")]
    pub arch: String,
    #[arg(long, default_value = "models/roll2midi.safetensors")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2000)]
    pub max_steps: usize,
    #[arg(long, default_value_t = 60.0)]
    pub minutes: f64,
    /// Audeo: 16.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Audeo: 5e-4.
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Window lengths drawn per batch, frames (Audeo: 100).
    #[arg(long, default_value_t = 16)]
    pub window_min: usize,
    #[arg(long, default_value_t = 100)]
    pub window_max: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of training windows made harder (miscalibration, fading keys, lit neighbours,
    /// missed onsets, jitter), so the refiner meets errors renders rarely show.
    #[arg(long, default_value_t = 0.0)]
    pub augment: f32,
    /// Validate (and log) every this many steps.
    #[arg(long, default_value_t = 100)]
    pub val_every: usize,
    /// Continue from `--out` (and its discriminator).
    #[arg(long)]
    pub resume: bool,
}

/// Pairs of every clip in `dir`, computed once and cached.
fn pairs_of(
    dir: &Path,
    cache: Option<&Path>,
    model: Option<&Path>,
) -> Result<Vec<(String, RollPair)>> {
    let cache = cache
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("pairs"));
    std::fs::create_dir_all(&cache)?;
    let mut out = Vec::new();
    for c in crate::clips::dataset_labels(dir)? {
        let path = cache.join(format!("{}.pair.safetensors", c.name));
        let pair = if path.is_file() {
            load_pair(&path)?
        } else {
            let notes = gstpianola::core::midi::smf_to_notes(&std::fs::read(&c.truth_midi)?)
                .with_context(|| format!("reading {}", c.truth_midi.display()))?;
            let pair = crate::render::roll_pair(&c.video, &notes, model, None)?;
            save_pair(&path, &pair)?;
            eprintln!("{}: {} frames", c.name, pair.len());
            pair
        };
        out.push((c.name, pair));
    }
    if out.is_empty() {
        return Err(anyhow!("{}: no pianola dataset clips", dir.display()));
    }
    Ok(out)
}

/// The key-down channel of `rows` at 0.5 (values before `keys`), as rows of keys.
fn key_down(rows: &[Vec<f32>], keys: usize) -> Vec<Vec<bool>> {
    rows.iter()
        .map(|r| r[..keys].iter().map(|&v| v >= 0.5).collect())
        .collect()
}

/// Frame F1 (key down at 0.5) of the raw input and of the refined roll on `pairs`, with the
/// element's own windows.
fn validate(r: &Refiner, pairs: &[(String, RollPair)], window: usize) -> Result<(f64, f64)> {
    let keys = r.meta().keys;
    let inputs = r.input_values();
    let (mut raw, mut refined) = (FrameMetrics::default(), FrameMetrics::default());
    for (_, p) in pairs {
        let input: Vec<Vec<f32>> = p.input.iter().map(|f| f[..inputs].to_vec()).collect();
        let plan = WindowPlan::half_overlap(window);
        let out = refine_all(&input, plan, r.output_values(), &mut |w| {
            r.refine(w).map_err(|e| e.to_string())
        })?;
        let truth = key_down(&p.target, keys);
        raw = raw.merge(&frame_metrics(&key_down(&p.input, keys), &truth));
        refined = refined.merge(&frame_metrics(&key_down(&out, keys), &truth));
    }
    Ok((raw.f1, refined.f1))
}

/// The pairs cut to the channels the refiner takes and gives; a clip without them (a
/// video2roll net without an onset head gives one channel) is an error naming it.
fn fit_channels(
    r: &Refiner,
    train: &[(String, RollPair)],
    val: &[(String, RollPair)],
) -> Result<Vec<RollPair>> {
    let meta = r.meta();
    let (need_in, need_out) = (r.input_values(), r.output_values());
    if let Some((name, p)) = train.iter().chain(val).find(|(_, p)| {
        p.input.iter().any(|f| f.len() < need_in) || p.target.iter().any(|f| f.len() < need_out)
    }) {
        let got = p.input.first().map(Vec::len).unwrap_or(0) / meta.keys;
        return Err(anyhow!(
            "{name}: the probabilities have {got} channel(s); a {} refiner needs {}",
            meta.arch.name(),
            meta.inputs
        ));
    }
    Ok(train
        .iter()
        .map(|(_, p)| RollPair {
            input: p.input.iter().map(|f| f[..need_in].to_vec()).collect(),
            target: p.target.iter().map(|f| f[..need_out].to_vec()).collect(),
        })
        .collect())
}

fn open_log(path: &Path) -> Result<std::fs::File> {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(log, "# {}", std::env::args().collect::<Vec<_>>().join(" "))?;
    writeln!(
        log,
        "step\tseconds\tg_loss\td_loss\tmse\tval_raw_f1\tval_refined_f1"
    )?;
    Ok(log)
}

/// This run appended to the sidecar's record of what the file was trained on.
fn record_run(
    meta: &mut RefinerMeta,
    a: &TrainRefinerArgs,
    clips: usize,
    frames: usize,
    steps: usize,
    last_val: Option<(f64, f64)>,
) {
    let prev = meta.training.get("runs").cloned().unwrap_or_default();
    let mut runs = prev.as_array().cloned().unwrap_or_default();
    runs.push(serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "clips": a.clips,
        "clip_count": clips,
        "frames": frames,
        "validation": a.val,
        "steps": steps,
        "batch": a.batch,
        "lr": a.lr,
        "window": [a.window_min, a.window_max],
        "augment": a.augment,
        "loss": "LSGAN, generator 0.001 adversarial + 0.999 MSE (Audeo)",
        "val_frame_f1_raw_refined": last_val.map(|v| vec![v.0, v.1]),
        "real_video": false,
    }));
    meta.training = serde_json::json!({ "runs": runs });
}

pub fn run(a: &TrainRefinerArgs) -> Result<()> {
    use std::io::Write;
    let arch = RefinerArch::from_name(&a.arch)
        .ok_or_else(|| anyhow!("--arch {}: use compact or audeo-unet", a.arch))?;
    let mut train = Vec::new();
    for d in &a.clips {
        train.extend(pairs_of(d, a.cache.as_deref(), a.model.as_deref())?);
    }
    let mut val = Vec::new();
    for d in &a.val {
        let cache = a.cache.as_ref().map(|c| c.join("val"));
        val.extend(pairs_of(d, cache.as_deref(), a.model.as_deref())?);
    }
    let frames: usize = train.iter().map(|(_, p)| p.len()).sum();
    eprintln!(
        "{} training clips ({frames} frames), {} validation clips",
        train.len(),
        val.len()
    );
    let device = gstpianola::model::resolve(gstpianola::model::DeviceChoice::Auto)?;
    let mut r = if a.resume {
        Refiner::load(&a.out, gstpianola::model::DeviceChoice::Auto)?
    } else {
        Refiner::new(RefinerMeta::new(arch), device)
    };
    let mut meta = r.meta().clone();
    let pairs = fit_channels(&r, &train, &val)?;
    let log_path = a.out.with_extension("log.tsv");
    let mut log = open_log(&log_path)?;
    let cfg = GanConfig {
        max_steps: a.max_steps,
        minutes: a.minutes,
        batch: a.batch,
        lr: a.lr,
        window: (a.window_min, a.window_max),
        checkpoint: a.out.clone(),
        checkpoint_every: a.val_every,
        seed: a.seed,
        augment: a.augment,
    };
    let (mut last_val, mut failed) = (None, None);
    let every = a.val_every.max(1);
    let steps = train_gan(&mut r, &pairs, &cfg, a.resume, &mut |s, g| {
        let mut v = (f64::NAN, f64::NAN);
        if !val.is_empty() && s.step.is_multiple_of(every) {
            match validate(g, &val, meta.window) {
                Ok(x) => (v, last_val) = (x, Some(x)),
                Err(e) => failed = Some(e),
            }
        }
        let _ = writeln!(
            log,
            "{}\t{:.1}\t{:.5}\t{:.5}\t{:.5}\t{:.4}\t{:.4}",
            s.step, s.seconds, s.g_loss, s.d_loss, s.mse, v.0, v.1
        );
        if s.step.is_multiple_of(every) {
            eprintln!(
                "step {} {:.0}s g {:.4} d {:.4} mse {:.5} val frame F1 raw {:.4} refined {:.4}",
                s.step, s.seconds, s.g_loss, s.d_loss, s.mse, v.0, v.1
            );
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    record_run(&mut meta, a, train.len(), frames, steps, last_val);
    *r.meta_mut() = meta;
    r.save(&a.out)?;
    println!(
        "{steps} steps; wrote {} (log {})",
        a.out.display(),
        log_path.display()
    );
    Ok(())
}
