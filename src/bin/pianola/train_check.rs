// SPDX-License-Identifier: MPL-2.0
//! How `pianola train` checks its net: frame and onset scores on held-apart examples, the
//! operating thresholds chosen on them, and the loss log with a check every so many steps.

use std::io::Write;

use anyhow::Result;
use gstpianola::core::metrics::{FrameMetrics, frame_metrics};
use gstpianola::model::Model;
use gstpianola::model::train::StepLog;

use crate::train_args::TrainArgs;
use crate::trainset::Example;

/// Frame-level P/R/F1 of the key-down output (threshold from the model's metadata) and of
/// the onset output, on examples; masked labels are left out.
pub fn validate(
    model: &Model,
    examples: &[Example],
) -> Result<(FrameMetrics, Option<FrameMetrics>)> {
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
pub fn choose_thresholds(model: &Model, examples: &[Example]) -> Result<(f32, f32)> {
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

pub type Scores = (FrameMetrics, Option<FrameMetrics>);

/// The loss log and the held-out checks during training.
pub struct Logger {
    log: std::fs::File,
    done_before: u64,
    val_every: usize,
    avg: f64,
    pub sim_val: Vec<Example>,
    pub real_val: Vec<Example>,
    pub failed: Option<anyhow::Error>,
}

impl Logger {
    pub fn open(
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

    pub fn check(&self, m: &Model) -> Result<(Scores, Option<Scores>)> {
        let sim = validate(m, &self.sim_val)?;
        let real = if self.real_val.is_empty() {
            None
        } else {
            Some(validate(m, &self.real_val)?)
        };
        Ok((sim, real))
    }

    pub fn step(&mut self, s: &StepLog, m: &Model) {
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
