// SPDX-License-Identifier: MPL-2.0
//! Training windows from pianosim: the canonical strip of five consecutive frames around a
//! frame, with that frame's true key states and onsets, from an endless stream of clips
//! (procedural music and MIDI pieces, a fresh look for every clip's seed).

use super::dataset::{Split, clip_seed, piece_split};
use super::music::{excerpt, procedural};
use super::notes::{Nanos, Note, SECOND};
use super::sim::rng::Rng;
use super::sim::{SimConfig, Simulator, View};

pub const FRAMES: usize = 5;
pub const WIDTH: usize = 900;
pub const HEIGHT: usize = 100;
pub const KEYS: usize = 88;

/// One training example.
#[derive(Clone, Debug)]
pub struct Example {
    /// FRAMES x HEIGHT x WIDTH luma, frame t-2 first.
    pub window: Vec<u8>,
    /// 2 x KEYS: key down, then key struck, 0 or 1.
    pub target: Vec<f32>,
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
}

fn luma(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8) as u8)
        .collect()
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
            let config = SimConfig {
                seed,
                view: View::Canonical,
                width: WIDTH as u32,
                height: HEIGHT as u32,
                fps_num: fps,
                fps_den: 1,
                tail: SECOND / 2,
                ..Default::default()
            };
            if let Ok(sim) = Simulator::new(&notes, &config) {
                let n = sim.n_frames();
                self.truth = sim
                    .truth(0, n)
                    .into_iter()
                    .map(|f| {
                        let mut t: Vec<f32> =
                            f.frame.iter().map(|&v| (v > 0) as u8 as f32).collect();
                        t.extend(
                            f.onset
                                .unwrap_or_default()
                                .iter()
                                .map(|&v| (v > 0) as u8 as f32),
                        );
                        t
                    })
                    .collect();
                self.sim = Some(sim);
                self.frames.clear();
                self.cursor = 0;
                return;
            }
        }
    }

    fn frame(&mut self, i: usize) -> &[u8] {
        while self.frames.len() <= i {
            let j = self.frames.len();
            let sim = self.sim.as_mut().expect("a clip is loaded");
            let l = luma(sim.render(j));
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
        for d in -2isize..=2 {
            let j = (i as isize + d).clamp(0, n as isize - 1) as usize;
            let f = self.frame(j).to_vec();
            window.extend_from_slice(&f);
        }
        // Frames before i - 2 are no longer needed.
        if i >= 3 {
            self.frames[i - 3] = Vec::new();
        }
        Example {
            window,
            target: self.truth[i].clone(),
        }
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
}
