// SPDX-License-Identifier: MPL-2.0

//! Streaming inference of a roll-to-roll model over overlapping windows in time.
//!
//! A learned refinement (Audeo's Roll2Midi) sees a window of frames at once. To run it on a
//! stream of any length, windows of `window` frames start every `hop` frames; each output frame
//! is the weighted mean of every window that covered it, with triangular weights that fall
//! towards a window's edges, so the windows cross-fade and a seam is never a hard cut. At the
//! end one last window is aligned to the last frame, so nothing is dropped (Audeo's own
//! inference drops an odd trailing segment), and a stream shorter than a window is refined in
//! one shorter window.
//!
//! The model is a callback: plain frames in (each `values` long), as many frames out.

use std::collections::VecDeque;

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum RefineError {
    #[error(
        "window must be at least 2 frames and hop in 1..=window, got window {window}, hop {hop}"
    )]
    Plan { window: usize, hop: usize },
    #[error("frame has {got} values, expected {expected}")]
    Values { got: usize, expected: usize },
    #[error(
        "the model returned {got} frames of {got_values} values for {expected} frames of {expected_values}"
    )]
    ModelShape {
        got: usize,
        got_values: usize,
        expected: usize,
        expected_values: usize,
    },
    #[error("model: {0}")]
    Model(String),
}

/// Window length and hop, in frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowPlan {
    pub window: usize,
    pub hop: usize,
}

impl WindowPlan {
    /// Windows of `window` frames overlapping by half.
    pub fn half_overlap(window: usize) -> WindowPlan {
        WindowPlan {
            window,
            hop: (window / 2).max(1),
        }
    }

    /// Windows of `window` frames, one starting at every frame: a refinement per frame, so
    /// one frame comes out for each frame in, never a burst of `hop` frames at once (live
    /// pipelines: a burst blocks a synchronised sink for the burst's length). Each frame is
    /// the cross-faded mean of the `window` windows it lies in.
    pub fn sliding(window: usize) -> WindowPlan {
        WindowPlan { window, hop: 1 }
    }

    pub fn validate(&self) -> Result<(), RefineError> {
        if self.window < 2 || self.hop == 0 || self.hop > self.window {
            return Err(RefineError::Plan {
                window: self.window,
                hop: self.hop,
            });
        }
        Ok(())
    }

    /// Frames a frame waits for its last window: a frame that starts a window needs the
    /// window's other `window - 1` frames.
    pub fn latency_frames(&self) -> usize {
        self.window - 1
    }
}

/// Cross-fade weight of position `i` in a window of `len` frames: 1 at the edges, highest in
/// the middle.
pub fn crossfade_weight(i: usize, len: usize) -> f32 {
    (i + 1).min(len - i) as f32
}

/// Streaming windowed refinement. Each frame carries a tag of the caller's (its time, say)
/// that comes back with its refined frame.
#[derive(Debug)]
pub struct Windowed<T = ()> {
    plan: WindowPlan,
    /// Values per input and per output frame.
    values: (usize, usize),
    /// Input frames from index `base` on.
    input: VecDeque<Vec<f32>>,
    base: u64,
    /// Weighted sums, weights and tags of frames from index `n_out` on.
    acc: VecDeque<(Vec<f32>, f32, T)>,
    n_out: u64,
    n_pushed: u64,
    /// Start of the next full window.
    next_start: u64,
    /// End of the last full window run.
    covered: u64,
}

/// The model: frames of a window in, as many refined frames out.
pub type ModelFn<'a> = dyn FnMut(&[&[f32]]) -> Result<Vec<Vec<f32>>, String> + 'a;

impl<T> Windowed<T> {
    /// Frames of `values_in` values in, of `values_out` out.
    pub fn new(
        plan: WindowPlan,
        values_in: usize,
        values_out: usize,
    ) -> Result<Windowed<T>, RefineError> {
        plan.validate()?;
        Ok(Windowed {
            plan,
            values: (values_in, values_out),
            input: VecDeque::new(),
            base: 0,
            acc: VecDeque::new(),
            n_out: 0,
            n_pushed: 0,
            next_start: 0,
            covered: 0,
        })
    }

    pub fn plan(&self) -> WindowPlan {
        self.plan
    }

    /// Forget everything (flush, seek).
    pub fn reset(&mut self) {
        *self = Windowed::new(self.plan, self.values.0, self.values.1).expect("plan was validated");
    }

    /// Add a frame; returns the refined frames that became final, in order, with their tags.
    pub fn push(
        &mut self,
        frame: Vec<f32>,
        tag: T,
        model: &mut ModelFn<'_>,
    ) -> Result<Vec<(T, Vec<f32>)>, RefineError> {
        if frame.len() != self.values.0 {
            return Err(RefineError::Values {
                got: frame.len(),
                expected: self.values.0,
            });
        }
        self.input.push_back(frame);
        self.acc.push_back((vec![0.0; self.values.1], 0.0, tag));
        self.n_pushed += 1;
        while self.next_start + self.plan.window as u64 <= self.n_pushed {
            self.run(self.next_start, self.plan.window, false, model)?;
            self.covered = self.next_start + self.plan.window as u64;
            self.next_start += self.plan.hop as u64;
        }
        // The next full window and a last window aligned to the end both lie in the last
        // `window` frames.
        while self.input.len() > self.plan.window {
            self.input.pop_front();
            self.base += 1;
        }
        // Frames before the next window's start are covered by every window they will get.
        Ok(self.emit(self.next_start))
    }

    /// End of stream: when frames at the end were in no full window, one last window aligned
    /// to the last frame, faded in from the first frame not yet output; then every pending
    /// frame.
    pub fn finish(&mut self, model: &mut ModelFn<'_>) -> Result<Vec<(T, Vec<f32>)>, RefineError> {
        if self.covered < self.n_pushed {
            let len = (self.plan.window as u64).min(self.n_pushed);
            let start = self.n_pushed - len;
            self.run(start, len as usize, true, model)?;
        }
        let out = self.emit(self.n_pushed);
        self.reset();
        Ok(out)
    }

    fn run(
        &mut self,
        start: u64,
        len: usize,
        last: bool,
        model: &mut ModelFn<'_>,
    ) -> Result<(), RefineError> {
        let from = (start - self.base) as usize;
        let frames: Vec<&[f32]> = self
            .input
            .range(from..from + len)
            .map(|f| f.as_slice())
            .collect();
        let out = model(&frames).map_err(RefineError::Model)?;
        if out.len() != len || out.iter().any(|f| f.len() != self.values.1) {
            return Err(RefineError::ModelShape {
                got: out.len(),
                got_values: out.first().map(|f| f.len()).unwrap_or(0),
                expected: len,
                expected_values: self.values.1,
            });
        }
        for (i, f) in out.into_iter().enumerate() {
            let idx = start + i as u64;
            if idx < self.n_out {
                // Already final (a last window reaching back): keep what was sent.
                continue;
            }
            let w = if last {
                // Rises from the first pending frame to the end, where no other window is.
                (idx - self.n_out + 1) as f32
            } else {
                crossfade_weight(i, len)
            };
            let (sum, weight, _) = &mut self.acc[(idx - self.n_out) as usize];
            for (s, v) in sum.iter_mut().zip(f) {
                *s += w * v;
            }
            *weight += w;
        }
        Ok(())
    }

    fn emit(&mut self, until: u64) -> Vec<(T, Vec<f32>)> {
        let mut out = Vec::new();
        while self.n_out < until {
            let Some((sum, w, tag)) = self.acc.pop_front() else {
                break;
            };
            out.push((
                tag,
                if w > 0.0 {
                    sum.into_iter().map(|s| s / w).collect()
                } else {
                    sum
                },
            ));
            self.n_out += 1;
        }
        out
    }
}

/// Refine a whole roll at once (training evaluation, tests): the same windows and cross-fade
/// as the stream.
pub fn refine_all(
    frames: &[Vec<f32>],
    plan: WindowPlan,
    values_out: usize,
    model: &mut ModelFn<'_>,
) -> Result<Vec<Vec<f32>>, RefineError> {
    let values = frames.first().map(|f| f.len()).unwrap_or(0);
    let mut w = Windowed::new(plan, values, values_out)?;
    let mut out = Vec::with_capacity(frames.len());
    for f in frames {
        out.extend(w.push(f.clone(), (), model)?.into_iter().map(|(_, f)| f));
    }
    out.extend(w.finish(model)?.into_iter().map(|(_, f)| f));
    Ok(out)
}

/// Make a window of probabilities look like a harder video than the one it came from, for
/// training a refiner: the errors video2roll makes on real footage (miscalibration, keys that
/// fade for a few frames under a hand, neighbours lit by a hand's shadow, jitter) on top of
/// the near-perfect output it gives on renders. `frames` hold `channels * keys` values (key
/// down, then onsets); the target is untouched.
pub fn augment_window(frames: &mut [Vec<f32>], keys: usize, rng: &mut super::sim::rng::Rng) {
    let n = frames.len();
    if n == 0 || keys == 0 {
        return;
    }
    let channels = frames[0].len() / keys;
    // Calibration: sigmoid(a * logit(p) + b), per window.
    if rng.chance(0.7) {
        let (a, b) = (rng.range(0.4, 1.6), rng.range(-1.5, 1.0));
        for f in frames.iter_mut() {
            for v in f.iter_mut() {
                let p = v.clamp(1e-4, 1.0 - 1e-4);
                let l = (p / (1.0 - p)).ln();
                *v = 1.0 / (1.0 + (-(a * l + b)).exp());
            }
        }
    }
    let events = rng.int(0, 2 + n / 8);
    for _ in 0..events {
        let t0 = rng.int(0, n);
        let len = rng.int(1, 6).min(n - t0);
        let k = rng.int(0, keys);
        match rng.int(0, 3) {
            // A held key fades for a few frames.
            0 => {
                let gain = rng.range(0.05, 0.6);
                for f in &mut frames[t0..t0 + len] {
                    f[k] *= gain;
                }
            }
            // A neighbour of a pressed key lights up.
            1 => {
                let down = (0..keys)
                    .filter(|&j| frames[t0][j] > 0.5)
                    .collect::<Vec<_>>();
                let j = if down.is_empty() {
                    k
                } else {
                    let d = *rng.pick(&down);
                    let step = rng.int(1, 3);
                    if rng.chance(0.5) {
                        d.saturating_sub(step)
                    } else {
                        (d + step).min(keys - 1)
                    }
                };
                let level = rng.range(0.3, 0.95);
                for f in &mut frames[t0..t0 + len] {
                    f[j] = f[j].max(level);
                    if channels > 1 && rng.chance(0.3) {
                        f[keys + j] = f[keys + j].max(level * 0.7);
                    }
                }
            }
            // An onset is missed or smeared.
            _ if channels > 1 => {
                let gain = rng.range(0.0, 0.7);
                for f in &mut frames[t0..t0 + len] {
                    f[keys + k] *= gain;
                }
            }
            _ => {}
        }
    }
    // Jitter.
    if rng.chance(0.5) {
        let s = rng.range(0.0, 0.08);
        for f in frames.iter_mut() {
            for v in f.iter_mut() {
                *v = (*v + s * rng.normal()).clamp(0.0, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, values: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| (0..values).map(|k| (i * 10 + k) as f32).collect())
            .collect()
    }

    #[test]
    fn identity_model_gives_the_input_back_for_every_length() {
        let mut id = |w: &[&[f32]]| Ok(w.iter().map(|f| f.to_vec()).collect());
        for window in [2, 3, 8, 16] {
            for hop in [1, window / 2, window] {
                let plan = WindowPlan {
                    window,
                    hop: hop.max(1),
                };
                for n in [0, 1, 2, window - 1, window, window + 1, 3 * window + 5] {
                    let input = ramp(n, 3);
                    let out = refine_all(&input, plan, 3, &mut id).unwrap();
                    assert_eq!(out.len(), n, "window {window} hop {hop} n {n}");
                    for (a, b) in out.iter().zip(&input) {
                        for (x, y) in a.iter().zip(b) {
                            assert!((x - y).abs() < 1e-3, "{x} vs {y}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn frames_come_out_once_their_last_window_ran() {
        let plan = WindowPlan::half_overlap(8);
        let mut w = Windowed::new(plan, 1, 1).unwrap();
        let mut calls = 0;
        let mut out = 0;
        let mut model = |f: &[&[f32]]| {
            calls += 1;
            Ok(f.iter().map(|x| x.to_vec()).collect())
        };
        for i in 0..22 {
            let got = w.push(vec![i as f32], i, &mut model).unwrap();
            // Each frame comes back with its own tag, in order.
            for (tag, f) in &got {
                assert_eq!((*tag, f[0]), (out, out as f32));
                out += 1;
            }
            // Never waits longer than the reported look-ahead.
            assert!(i + 1 - out <= plan.latency_frames(), "frame {i}: {out} out");
        }
        out += w.finish(&mut model).unwrap().len();
        assert_eq!(out, 22);
        // Windows at 0, 4, 8, 12 and the last one aligned to the end.
        assert_eq!(calls, 5);
    }

    #[test]
    fn sliding_windows_give_one_frame_out_for_each_frame_in() {
        let plan = WindowPlan::sliding(16);
        let mut w = Windowed::new(plan, 1, 1).unwrap();
        let mut calls = 0;
        let mut model = |f: &[&[f32]]| {
            calls += 1;
            Ok(f.iter().map(|x| x.to_vec()).collect())
        };
        for i in 0..60u32 {
            let got = w.push(vec![i as f32], i, &mut model).unwrap();
            // Until the first window is full nothing; then exactly one frame a push, the
            // frame `window - 1` back.
            if i + 1 < 16 {
                assert!(got.is_empty(), "frame {i}");
            } else {
                assert_eq!(got.len(), 1, "frame {i}");
                assert_eq!(got[0].0, i + 1 - 16);
                assert_eq!(got[0].1, vec![(i + 1 - 16) as f32]);
            }
        }
        assert_eq!(w.finish(&mut model).unwrap().len(), 15);
        // A window at every frame from the 16th on; the end was covered, no last one.
        assert_eq!(calls, 60 - 15);
    }

    #[test]
    fn seams_cross_fade_instead_of_jumping() {
        // A model whose output depends on where the window starts: constant per window.
        let plan = WindowPlan::half_overlap(10);
        let mut k = 0.0f32;
        let mut model = |f: &[&[f32]]| {
            k += 1.0;
            Ok(vec![vec![k]; f.len()])
        };
        let out = refine_all(&vec![vec![0.0]; 43], plan, 1, &mut model).unwrap();
        assert_eq!(out.len(), 43);
        // Seven full windows and one aligned to the end.
        assert_eq!(k, 8.0);
        let max_step = out
            .windows(2)
            .map(|p| (p[1][0] - p[0][0]).abs())
            .fold(0.0f32, f32::max);
        // Hard cuts would jump by 1; cross-fading spreads each change over the overlap.
        assert!(max_step < 0.35, "largest step {max_step}");
    }

    #[test]
    fn output_frames_may_be_narrower_than_input_frames() {
        // Two channels in (key down, onset), the first one out.
        let mut first = |w: &[&[f32]]| Ok(w.iter().map(|f| f[..1].to_vec()).collect());
        let input: Vec<Vec<f32>> = (0..11).map(|i| vec![i as f32, -1.0]).collect();
        let out = refine_all(&input, WindowPlan::half_overlap(4), 1, &mut first).unwrap();
        let expect: Vec<Vec<f32>> = (0..11).map(|i| vec![i as f32]).collect();
        assert_eq!(out, expect);
    }

    #[test]
    fn augmentation_changes_the_input_within_bounds() {
        let mut rng = crate::core::sim::rng::Rng::new(4);
        let clean: Vec<Vec<f32>> = (0..50)
            .map(|t| {
                (0..2 * 88)
                    .map(|k| ((k + t / 5) % 7 == 0) as u8 as f32)
                    .collect()
            })
            .collect();
        let mut changed = 0;
        for _ in 0..20 {
            let mut w = clean.clone();
            augment_window(&mut w, 88, &mut rng);
            assert!(w.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
            changed += (w != clean) as usize;
        }
        assert!(changed >= 15, "{changed} of 20 windows changed");
    }

    #[test]
    fn bad_plans_and_shapes_are_errors() {
        assert!(Windowed::<()>::new(WindowPlan { window: 1, hop: 1 }, 1, 1).is_err());
        assert!(Windowed::<()>::new(WindowPlan { window: 4, hop: 5 }, 1, 1).is_err());
        let mut w = Windowed::new(WindowPlan::half_overlap(2), 2, 2).unwrap();
        let mut short = |f: &[&[f32]]| Ok(vec![vec![0.0]; f.len()]);
        assert!(matches!(
            w.push(vec![0.0], (), &mut short),
            Err(RefineError::Values { .. })
        ));
        w.push(vec![0.0, 0.0], (), &mut short).unwrap();
        assert!(matches!(
            w.push(vec![0.0, 0.0], (), &mut short),
            Err(RefineError::ModelShape { .. })
        ));
        let mut failing = |_: &[&[f32]]| Err("out of memory".to_string());
        let mut w = Windowed::new(WindowPlan::half_overlap(2), 1, 1).unwrap();
        w.push(vec![0.0], (), &mut failing).unwrap();
        assert_eq!(
            w.push(vec![0.0], (), &mut failing),
            Err(RefineError::Model("out of memory".into()))
        );
    }
}
