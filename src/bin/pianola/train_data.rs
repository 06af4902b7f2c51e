// SPDX-License-Identifier: MPL-2.0
//! What `pianola train` learns from: the recorded clips of its arguments split into
//! training and held-apart validation, the MIDI pieces for renders, and the record of both
//! kept in the model's sidecar.

use anyhow::{Result, anyhow};
use gstpianola::core::clip::ClipSpec;

use crate::clips;
use crate::train_args::TrainArgs;
use crate::trainset::{ClipWindows, Example};

/// Recorded clips to train on and real examples to validate on.
pub struct Recorded {
    pub train: Vec<(String, ClipWindows, f64)>,
    pub val: Vec<Example>,
    /// What was used, for the sidecar.
    pub trained_on: Vec<String>,
    pub validated_on: Vec<String>,
}

pub fn group_matches(group: &str, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        let w = w.trim();
        group == w || group.strip_prefix("pianist ") == Some(w)
    })
}

/// Every recorded clip the arguments name, split into training and validation.
pub fn recorded(a: &TrainArgs) -> Result<Recorded> {
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
    let rest = crate::train_args::wants_rest(a);
    let mut train = Vec::new();
    for s in &train_specs {
        let c = clips::windows(s, cache)?.with_rest(rest);
        if c.is_empty() {
            return Err(anyhow!("{}: no usable strip", s.video.display()));
        }
        println!("train clip {}: {} strips", s.video.display(), c.len());
        train.push((s.name(), c, s.weight));
    }
    let mut val = Vec::new();
    for s in &val_specs {
        let c = clips::windows(s, cache)?.with_rest(rest);
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

/// The MIDI pieces renders are made from (empty files left out).
pub fn pieces(a: &TrainArgs) -> Result<Vec<(String, Vec<gstpianola::core::notes::Note>)>> {
    crate::dataset::load_pieces(&a.midi_dir)
}

/// What the model was trained on, in words, for the sidecar and model card.
pub fn data_record(a: &TrainArgs, rec: &Recorded) -> serde_json::Value {
    let g = crate::train_args::augmentation(a);
    serde_json::json!({
        "renders": format!(
            "pianosim {} renders made on the fly ({:.0}% of each batch): procedural music and the given MIDI pieces, train split only",
            if a.scenes { "scene (rectified)" } else { "canonical" },
            if rec.train.is_empty() { 100.0 } else { (1.0 - a.clip_share) * 100.0 }
        ),
        "recorded_clips_trained_on": rec.trained_on,
        "real_clips_validated_on_never_trained_on": rec.validated_on,
        "augmentation": !a.no_augment,
        "key_augmentation": g.is_some_and(|g| g.keys),
        "max_shift": g.map(|g| g.max_shift),
        "max_scale": g.map(|g| g.max_scale),
        "glare_shadow": g.is_some_and(|g| g.glare_shadow),
        "sharpen": g.is_some_and(|g| g.sharpen),
        "camera": g.is_some_and(|g| g.camera),
        "mirror": g.is_some_and(|g| g.mirror),
    })
}
