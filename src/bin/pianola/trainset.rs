// SPDX-License-Identifier: MPL-2.0
//! Training windows from pianosim: the canonical strip of five consecutive frames around a
//! frame, with that frame's true key states and onsets, from an endless stream of clips
//! (procedural music and MIDI pieces, a fresh look for every clip's seed).

use std::sync::Arc;

use crate::augment::{Augment, augment_example};
use gstpianola::core::dataset::{Split, clip_seed, piece_split};
use gstpianola::core::keyfind::{GrayImage, Rectifier, luma_rgba};
use gstpianola::core::music::{excerpt, procedural};
use gstpianola::core::notes::{Nanos, Note, SECOND, notes_to_roll};
use gstpianola::core::rest::RestEstimator;
use gstpianola::core::roll::{RollLayout, ValueFormat, VelocityFrame};
use gstpianola::core::sim::rng::Rng;
use gstpianola::core::sim::{SimConfig, Simulator, View};
use gstpianola::core::strip::{FRAMES, HEIGHT, KEYS, WIDTH, window_indices};

/// A frame's training target: 1 or 0 per key for down, then per key for struck.
fn target_row(f: VelocityFrame) -> Vec<f32> {
    let bit = |v: &u8| (*v > 0) as u8 as f32;
    let mut t: Vec<f32> = f.frame.iter().map(bit).collect();
    t.extend(f.onset.unwrap_or_default().iter().map(bit));
    t
}

/// One training example.
#[derive(Clone, Debug)]
pub struct Example {
    /// FRAMES x HEIGHT x WIDTH luma, frame t-2 first (then the keyboard at rest as of
    /// frame t, for nets that use it).
    pub window: Vec<u8>,
    /// 2 x KEYS: key down, then key struck, 0 or 1.
    pub target: Vec<f32>,
    /// 2 x KEYS: how much each label counts in the loss (0: masked, unknown).
    pub mask: Vec<f32>,
}

/// Endless examples from one split (train or held-out): clips of `clip_seconds` from the
/// split's pieces, each rendered with its own seed; `per_clip` examples are drawn from each
/// clip's consecutive frames before moving on.
pub struct WindowSource {
    split: Split,
    base_seed: u64,
    pieces: Vec<(String, Vec<Note>)>,
    held_out: f64,
    clip_seconds: f64,
    clip_index: u64,
    rng: Rng,
    sim: Option<Simulator>,
    /// Luma frames of the current clip, rendered so far.
    frames: Vec<Vec<u8>>,
    truth: Vec<Vec<f32>>,
    cursor: usize,
    augment: Option<Augment>,
    scene: bool,
    rectifier: Option<Rectifier>,
    /// The keyboard at rest as of each rendered frame, when asked for.
    rest: Option<(RestEstimator, Vec<Arc<Vec<u8>>>)>,
}

impl WindowSource {
    /// `pieces`: named MIDI pieces (may be empty: procedural music only). A piece belongs to
    /// the split `piece_split(name, held_out)`; procedural pieces are named by their seed.
    pub fn new(
        split: Split,
        base_seed: u64,
        pieces: Vec<(String, Vec<Note>)>,
        held_out: f64,
        clip_seconds: f64,
    ) -> WindowSource {
        let pieces = pieces
            .into_iter()
            .filter(|(n, _)| piece_split(n, held_out) == split)
            .collect();
        WindowSource {
            split,
            base_seed,
            pieces,
            held_out,
            clip_seconds,
            clip_index: 0,
            rng: Rng::new(base_seed ^ (split == Split::HeldOut) as u64),
            sim: None,
            frames: Vec::new(),
            truth: Vec::new(),
            cursor: 0,
            augment: None,
            scene: false,
            rectifier: None,
            rest: None,
        }
    }

    fn next_clip(&mut self) {
        loop {
            let i = self.clip_index;
            self.clip_index += 1;
            let len = (self.clip_seconds * SECOND as f64) as Nanos;
            let use_piece = !self.pieces.is_empty() && self.rng.chance(0.5);
            let notes = if use_piece {
                let (_, notes) = &self.pieces[self.rng.int(0, self.pieces.len())];
                let last = notes.iter().map(|n| n.end).max().unwrap_or(0);
                let from = if last > len {
                    (self.rng.f32() as f64 * (last - len) as f64) as Nanos
                } else {
                    0
                };
                excerpt(notes, from, len, SECOND / 4)
            } else {
                // Procedural pieces of this split only.
                let mut k;
                loop {
                    k = self.rng.next_u64() >> 1;
                    if piece_split(&format!("procedural-{k}"), self.held_out) == self.split {
                        break;
                    }
                }
                procedural(k, self.clip_seconds)
            };
            let seed = clip_seed(self.base_seed, i, self.split);
            let fps = *self.rng.pick(&[24u32, 25, 25, 30, 30, 60]);
            let (view, (width, height)) = if self.scene {
                (
                    View::Scene,
                    *self.rng.pick(&[(640, 360), (854, 480), (960, 540)]),
                )
            } else {
                (View::Canonical, (WIDTH as u32, HEIGHT as u32))
            };
            let config = SimConfig {
                seed,
                view,
                width,
                height,
                fps_num: fps,
                fps_den: 1,
                tail: SECOND / 2,
                ..Default::default()
            };
            if let Ok(sim) = Simulator::new(&notes, &config) {
                let n = sim.n_frames();
                self.truth = sim.truth(0, n).into_iter().map(target_row).collect();
                // Scene renders are seen the way pianocrop sees them: rectified from corners
                // a little off the true ones (its error is about 0.1% of the width).
                self.rectifier = if self.scene {
                    let kw = (sim.corners()[1][0] - sim.corners()[0][0]) as f64;
                    let c = sim.corners().map(|p| {
                        [
                            p[0] as f64 + self.rng.range(-0.002, 0.002) as f64 * kw,
                            p[1] as f64 + self.rng.range(-0.002, 0.002) as f64 * kw,
                        ]
                    });
                    let (w, h) = (sim.width() as usize, sim.height() as usize);
                    Rectifier::new(&c, sim.keyboard(), (w, h, w), WIDTH, HEIGHT)
                } else {
                    None
                };
                self.sim = Some(sim);
                self.frames.clear();
                if let Some((e, rests)) = self.rest.as_mut() {
                    e.reset();
                    rests.clear();
                }
                self.cursor = 0;
                return;
            }
        }
    }

    fn frame(&mut self, i: usize) -> &[u8] {
        while self.frames.len() <= i {
            let j = self.frames.len();
            let sim = self.sim.as_mut().expect("a clip is loaded");
            let (w, h) = (sim.width() as usize, sim.height() as usize);
            let l = luma_rgba(sim.render(j));
            let l = match &self.rectifier {
                Some(r) => {
                    let img = GrayImage {
                        data: &l,
                        width: w,
                        height: h,
                        stride: w,
                    };
                    let mut out = vec![0u8; WIDTH * HEIGHT];
                    r.rectify(&img, &mut out);
                    out
                }
                None => l,
            };
            if let Some((e, rests)) = self.rest.as_mut() {
                rests.push(e.push(&l).expect("strips are WIDTH x HEIGHT"));
            }
            self.frames.push(l);
        }
        &self.frames[i]
    }

    /// The next example: the next frame of the current clip (a new clip when it ends).
    pub fn next_example(&mut self) -> Example {
        if self
            .sim
            .as_ref()
            .is_none_or(|s| self.cursor >= s.n_frames())
        {
            self.next_clip();
        }
        let n = self.sim.as_ref().map(|s| s.n_frames()).unwrap_or(1);
        let i = self.cursor;
        self.cursor += 1;
        let mut window = Vec::with_capacity(FRAMES * WIDTH * HEIGHT);
        for j in window_indices(i, n) {
            let f = self.frame(j).to_vec();
            window.extend_from_slice(&f);
        }
        if let Some((_, rests)) = &self.rest {
            window.extend_from_slice(&rests[i]);
        }
        // Frames before i - 2 are no longer needed.
        if i >= 3 {
            self.frames[i - 3] = Vec::new();
        }
        let mut e = Example {
            window,
            target: self.truth[i].clone(),
            mask: vec![1.0; 2 * KEYS],
        };
        if let Some(what) = self.augment {
            augment_example(
                &mut e.window,
                &mut e.target,
                &mut e.mask,
                &mut self.rng,
                what,
            );
        }
        e
    }

    /// Render whole scenes and rectify the keyboard (as pianocrop does) instead of rendering
    /// the canonical strip directly: slower, closer to what the element sees.
    pub fn with_scenes(mut self, on: bool) -> Self {
        self.scene = on;
        self
    }

    /// Photometric and small geometric changes per example (see [`augment`]).
    pub fn with_augmentation(mut self, what: Option<Augment>) -> Self {
        self.augment = what;
        self
    }

    /// Windows end with the keyboard at rest, estimated from the clip's frames so far as
    /// video2roll does.
    pub fn with_rest(mut self, on: bool) -> Self {
        self.rest = on.then(|| (RestEstimator::for_training(WIDTH * HEIGHT), Vec::new()));
        self
    }
}

/// Windows from a recorded clip (a real video, or a rendered one as pianocrop cropped it):
/// its strips in order, each with the true key states at that strip's time.
pub struct ClipWindows {
    frames: Vec<Vec<u8>>,
    truth: Vec<Vec<f32>>,
    /// Per strip, per key: label weight (0: masked).
    weights: Vec<Vec<f32>>,
    /// Strips that may be drawn (not in an ignored range).
    usable: Vec<usize>,
    /// The keyboard at rest as of each strip, when asked for.
    rests: Option<Vec<Arc<Vec<u8>>>>,
    /// Every note's first strip, key and MIDI velocity.
    struck: Vec<(usize, usize, u8)>,
}

impl ClipWindows {
    /// `strips`: (time, GRAY8 900x100 luma) in time order, padding already left out;
    /// `notes`: the true notes on the same clock. Strips of the wrong size are an error.
    pub fn new(strips: Vec<(Nanos, Vec<u8>)>, notes: &[Note]) -> Result<ClipWindows, String> {
        if let Some((t, s)) = strips.iter().find(|(_, s)| s.len() != WIDTH * HEIGHT) {
            return Err(format!(
                "strip at {t} ns has {} bytes, expected {WIDTH}x{HEIGHT} GRAY8",
                s.len()
            ));
        }
        let times: Vec<Nanos> = strips.iter().map(|(t, _)| *t).collect();
        let layout = RollLayout::piano88(ValueFormat::U8, true);
        let roll = notes_to_roll(notes, &layout, &times);
        let struck = roll
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                let onset = f.onset.as_deref().unwrap_or_default();
                onset
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0)
                    .map(move |(k, &v)| (i, k, v))
                    .collect::<Vec<_>>()
            })
            .collect();
        let truth = roll.into_iter().map(target_row).collect();
        let n = strips.len();
        Ok(ClipWindows {
            frames: strips.into_iter().map(|(_, s)| s).collect(),
            truth,
            weights: vec![vec![1.0; KEYS]; n],
            usable: (0..n).collect(),
            rests: None,
            struck,
        })
    }

    /// Windows end with the keyboard at rest, estimated from the strips in order as
    /// video2roll does.
    pub fn with_rest(mut self, on: bool) -> Self {
        self.rests = on.then(|| {
            let mut e = RestEstimator::for_training(WIDTH * HEIGHT);
            self.frames
                .iter()
                .map(|f| e.push(f).expect("strips are WIDTH x HEIGHT"))
                .collect()
        });
        self
    }

    /// Label weights per strip and key (0: the key's label is unknown there), and which
    /// strips may be drawn at all. Lengths must match the strips.
    pub fn with_masks(
        mut self,
        weights: Vec<Vec<f32>>,
        usable: Vec<bool>,
    ) -> Result<ClipWindows, String> {
        let n = self.frames.len();
        if weights.len() != n || usable.len() != n || weights.iter().any(|w| w.len() != KEYS) {
            return Err(format!("masks for {} strips, expected {n}", weights.len()));
        }
        self.weights = weights;
        self.usable = (0..n).filter(|&i| usable[i]).collect();
        Ok(self)
    }

    /// The notes struck on usable strips and on keys whose labels are known: strip, key
    /// and MIDI velocity.
    pub fn struck(&self) -> Vec<(usize, usize, u8)> {
        self.struck
            .iter()
            .filter(|(i, k, _)| self.usable.binary_search(i).is_ok() && self.weights[*i][*k] > 0.0)
            .copied()
            .collect()
    }

    /// Strips that may be drawn.
    pub fn usable(&self) -> &[usize] {
        &self.usable
    }

    pub fn len(&self) -> usize {
        self.usable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.usable.is_empty()
    }

    /// The window around strip `i` (edge strips repeated, as the element does).
    pub fn example(&self, i: usize) -> Example {
        let mut window = Vec::with_capacity(FRAMES * WIDTH * HEIGHT);
        for j in window_indices(i, self.frames.len()) {
            window.extend_from_slice(&self.frames[j]);
        }
        if let Some(r) = &self.rests {
            window.extend_from_slice(&r[i]);
        }
        let mut mask = self.weights[i].clone();
        mask.extend_from_within(..);
        Example {
            window,
            target: self.truth[i].clone(),
            mask,
        }
    }

    /// A usable window at random, augmented when asked.
    pub fn random(&self, rng: &mut Rng, augment_it: Option<Augment>) -> Example {
        let i = self.usable[rng
            .int(0, self.usable.len().max(1))
            .min(self.usable.len().saturating_sub(1))];
        let mut e = self.example(i);
        if let Some(what) = augment_it {
            augment_example(&mut e.window, &mut e.target, &mut e.mask, rng, what);
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_have_windows_and_targets_and_splits_differ() {
        let mut src = WindowSource::new(Split::Train, 3, Vec::new(), 0.2, 2.0);
        let mut pressed = 0.0;
        for _ in 0..60 {
            let e = src.next_example();
            assert_eq!(e.window.len(), FRAMES * WIDTH * HEIGHT);
            assert_eq!(e.target.len(), 2 * KEYS);
            pressed += e.target[..KEYS].iter().sum::<f32>();
        }
        assert!(pressed > 10.0, "{pressed}");
        let mut held = WindowSource::new(Split::HeldOut, 3, Vec::new(), 0.2, 2.0);
        assert_ne!(
            held.next_example().window,
            WindowSource::new(Split::Train, 3, Vec::new(), 0.2, 2.0)
                .next_example()
                .window
        );
    }

    #[test]
    fn clip_windows_label_strips_by_time() {
        let strips: Vec<(Nanos, Vec<u8>)> = (0..10u64)
            .map(|i| (i * SECOND / 10, vec![i as u8; WIDTH * HEIGHT]))
            .collect();
        // A4 (key 48) held from 0.25 s to 0.55 s: strips 3, 4, 5; struck in strip 3.
        let notes = [Note::new(69, SECOND / 4, SECOND * 55 / 100, 90)];
        let c = ClipWindows::new(strips, &notes).expect("valid strips");
        assert_eq!(c.len(), 10);
        let down: Vec<usize> = (0..10).filter(|&i| c.example(i).target[48] > 0.5).collect();
        assert_eq!(down, vec![3, 4, 5]);
        let struck: Vec<usize> = (0..10)
            .filter(|&i| c.example(i).target[KEYS + 48] > 0.5)
            .collect();
        assert_eq!(struck, vec![3]);
        // Window t-2..t+2 with the first strip repeated at the start.
        let w = c.example(0).window;
        let firsts: Vec<u8> = (0..FRAMES).map(|f| w[f * WIDTH * HEIGHT]).collect();
        assert_eq!(firsts, vec![0, 0, 0, 1, 2]);
        assert!(ClipWindows::new(vec![(0, vec![0; 5])], &notes).is_err());
    }
}
