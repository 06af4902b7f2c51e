// SPDX-License-Identifier: MPL-2.0
//! The keyboard at rest, estimated from the video itself.
//!
//! A pressed key differs from the same key at rest by a few pixels of shading and edge, and a
//! key held under a still hand shows no motion at all: a net that sees only a few frames
//! around the one it predicts cannot tell it from a key at rest. With a picture of the same
//! keyboard at rest it can. That picture is the per-pixel median of strips sampled every
//! [`EVERY`] frames, the last [`KEEP`] of them (about 50 s at 20 frames/s, 40 s at 25): hands
//! move on and keys come up again, so most samples of a pixel show it at rest. Causal and
//! streaming, sampled the same way in `video2roll` and in training.
//!
//! Training keeps fewer samples ([`TRAIN_KEEP`], about 12 s): the net then learns from rest
//! pictures that a long-held key or a resting hand has partly taken over. At run time the
//! longer memory leaves such keys out; chosen on the held-out pianists, where it kept frame
//! F1 and raised onsets (models/README.md), and it lifted a passage of the Bach clip whose
//! bass notes are held for seconds from 0.80 to 0.90.

use std::collections::VecDeque;
use std::sync::Arc;

use thiserror::Error;

/// A strip is sampled every this many frames (the first frame always is).
pub const EVERY: usize = 8;
/// Samples kept by `video2roll`; the estimate is their per-pixel median.
pub const KEEP: usize = 125;
/// Samples kept when training windows are made.
pub const TRAIN_KEEP: usize = 31;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RestError {
    #[error("strip of {got} bytes, the rest estimate is of {expected}")]
    Size { got: usize, expected: usize },
}

/// Streaming estimate of the keyboard at rest.
#[derive(Clone, Debug)]
pub struct RestEstimator {
    len: usize,
    every: usize,
    keep: usize,
    samples: VecDeque<Vec<u8>>,
    /// Per pixel, its samples' values in order (`keep` slots a pixel, the first
    /// `samples.len()` used): the median is read, not searched, and a new sample moves only
    /// the values between the one it replaces and itself.
    sorted: Vec<u8>,
    rest: Arc<Vec<u8>>,
    pushed: u64,
}

impl RestEstimator {
    /// An estimator for strips of `len` bytes, with `video2roll`'s sampling.
    pub fn new(len: usize) -> RestEstimator {
        RestEstimator::with_sampling(len, EVERY, KEEP)
    }

    /// An estimator for strips of `len` bytes, with training's shorter memory.
    pub fn for_training(len: usize) -> RestEstimator {
        RestEstimator::with_sampling(len, EVERY, TRAIN_KEEP)
    }

    /// Sample every `every` frames, keep `keep` samples (both at least 1).
    pub fn with_sampling(len: usize, every: usize, keep: usize) -> RestEstimator {
        RestEstimator {
            len,
            every: every.max(1),
            keep: keep.clamp(1, 255),
            samples: VecDeque::new(),
            sorted: Vec::new(),
            rest: Arc::new(vec![0; len]),
            pushed: 0,
        }
    }

    /// Forget everything (a new stream, or the keyboard moved in the picture).
    pub fn reset(&mut self) {
        *self = RestEstimator::with_sampling(self.len, self.every, self.keep);
    }

    /// Add the next strip and return the estimate that includes it (shared: it changes
    /// only when a strip is sampled).
    pub fn push(&mut self, strip: &[u8]) -> Result<Arc<Vec<u8>>, RestError> {
        if strip.len() != self.len {
            return Err(RestError::Size {
                got: strip.len(),
                expected: self.len,
            });
        }
        if self.pushed.is_multiple_of(self.every as u64) {
            let old = if self.samples.len() == self.keep {
                self.samples.pop_front()
            } else {
                None
            };
            self.rest = Arc::new(self.insert(strip, old.as_deref()));
            self.samples.push_back(strip.to_vec());
        }
        self.pushed += 1;
        Ok(self.rest.clone())
    }

    /// The estimate so far, without adding a strip (None before the first).
    pub fn current(&self) -> Option<Arc<Vec<u8>>> {
        (!self.samples.is_empty()).then(|| self.rest.clone())
    }

    /// Put `strip` among the sorted samples in place of `old` (the sample leaving, if the
    /// memory is full) and return the per-pixel median (the upper one of an even count).
    fn insert(&mut self, strip: &[u8], old: Option<&[u8]>) -> Vec<u8> {
        // The samples still held (the leaving one is already out of `samples`), and with
        // `strip` the count after this sample.
        let (keep, n) = (self.keep, self.samples.len());
        if self.sorted.is_empty() {
            self.sorted = vec![0; self.len * keep];
        }
        let count = n + 1;
        let mut out = vec![0u8; self.len];
        for (p, (o, &v)) in out.iter_mut().zip(strip).enumerate() {
            let vals = &mut self.sorted[p * keep..p * keep + count];
            match old.map(|old| old[p]) {
                None => {
                    let i = vals[..n].partition_point(|&x| x < v);
                    vals.copy_within(i..n, i + 1);
                    vals[i] = v;
                }
                Some(u) if u != v => {
                    // `r`: where the leaving value is; `i`: where `v` goes among the rest.
                    let r = vals.partition_point(|&x| x < u);
                    let i = vals.partition_point(|&x| x < v);
                    if v > u {
                        vals.copy_within(r + 1..i, r);
                        vals[i - 1] = v;
                    } else {
                        vals.copy_within(i..r, i + 1);
                        vals[i] = v;
                    }
                }
                Some(_) => {}
            }
            *o = vals[count / 2];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_hand_is_left_out_and_a_held_key_is_not() {
        // A 4-pixel strip: pixel 0 a key at rest (200) that a hand (60) covers in 40% of the
        // frames; pixel 1 a key pressed (150) in 30% of them; pixel 2 always 90.
        let mut e = RestEstimator::with_sampling(3, 2, 11);
        let mut last = None;
        for i in 0..40u32 {
            let hand = i % 10 < 4;
            let press = i % 10 >= 7;
            let s = [
                if hand { 60 } else { 200 },
                if press { 150 } else { 200 },
                90,
            ];
            last = Some(e.push(&s).unwrap());
        }
        assert_eq!(*last.unwrap(), vec![200, 200, 90]);
    }

    #[test]
    fn the_estimate_is_the_median_of_the_samples_kept() {
        // Against a plain sort of the last `keep` samples, on values that repeat and drift;
        // a short memory, and video2roll's long one.
        for (len, every, keep) in [(7, 3, 5), (5, 1, KEEP)] {
            median_against_a_sort(len, every, keep);
        }
    }

    fn median_against_a_sort(len: usize, every: usize, keep: usize) {
        let mut e = RestEstimator::with_sampling(len, every, keep);
        let mut kept: VecDeque<Vec<u8>> = VecDeque::new();
        let mut x = 12345u32;
        for i in 0..400usize {
            let strip: Vec<u8> = (0..len)
                .map(|p| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    ((x >> 16) % (8 + p as u32 * 40)) as u8
                })
                .collect();
            let got = e.push(&strip).unwrap();
            if i % every == 0 {
                if kept.len() == keep {
                    kept.pop_front();
                }
                kept.push_back(strip);
            }
            let want: Vec<u8> = (0..len)
                .map(|p| {
                    let mut v: Vec<u8> = kept.iter().map(|s| s[p]).collect();
                    v.sort_unstable();
                    v[v.len() / 2]
                })
                .collect();
            assert_eq!(*got, want, "frame {i}");
        }
    }

    #[test]
    fn a_key_held_for_seconds_stays_out_of_the_run_time_estimate() {
        // One pixel: a key at rest (200) for 600 frames, then held down (150) for 320
        // frames (40 samples): more than half of training's memory, under half of the
        // run-time one.
        let (mut run, mut train) = (RestEstimator::new(1), RestEstimator::for_training(1));
        let (mut a, mut b) = (None, None);
        for i in 0..920 {
            let v = if i < 600 { 200 } else { 150 };
            a = Some(run.push(&[v]).unwrap());
            b = Some(train.push(&[v]).unwrap());
        }
        assert_eq!(*a.unwrap(), vec![200]);
        assert_eq!(*b.unwrap(), vec![150]);
    }

    #[test]
    fn the_first_frame_is_the_first_estimate_and_sizes_are_checked() {
        let mut e = RestEstimator::new(2);
        assert_eq!(*e.push(&[7, 9]).unwrap(), vec![7, 9]);
        // Not sampled: the estimate stays.
        assert_eq!(*e.push(&[1, 1]).unwrap(), vec![7, 9]);
        assert_eq!(
            e.push(&[1, 2, 3]),
            Err(RestError::Size {
                got: 3,
                expected: 2
            })
        );
        e.reset();
        assert_eq!(e.current(), None);
        assert_eq!(*e.push(&[1, 1]).unwrap(), vec![1, 1]);
        assert_eq!(e.current().as_deref(), Some(&vec![1, 1]));
    }
}
