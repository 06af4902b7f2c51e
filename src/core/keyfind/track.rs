// SPDX-License-Identifier: MPL-2.0
//! Following a keyboard through a video: detect, confirm over several frames, lock, and
//! check the lock now and then.

use super::{DetectParams, Detection, GrayImage, detect_any, detect_turned, sample};
use crate::core::geometry::Homography;
use crate::core::keyboard::is_black;

/// How the tracker confirms and re-checks a keyboard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerConfig {
    /// Consistent detections needed to lock (or to move a lock).
    pub confirm: usize,
    /// Once locked, detect again every this many frames.
    pub recheck_interval: usize,
    /// Detections agree when no corner moves more than this share of the keyboard width.
    pub tolerance: f64,
    /// The keyboard's quarter turn in the frame (0, 90, 180, 270; see [`angle_of`]) if known,
    /// else every one is tried.
    pub quarter: Option<u16>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            confirm: 3,
            recheck_interval: 15,
            tolerance: 0.01,
            quarter: None,
        }
    }
}

/// What a frame changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrackEvent {
    /// No keyboard locked yet.
    Searching,
    /// First lock.
    Locked(Detection),
    /// The keyboard moved (camera moved, scene cut): locked again elsewhere.
    Relocked(Detection),
    /// Locked, nothing new.
    Tracking,
}

/// Detects the keyboard in the first frames, confirms it over several, locks, and checks the
/// lock now and then, moving it when the keyboard is consistently found elsewhere.
#[derive(Clone, Debug)]
pub struct KeyboardTracker {
    config: TrackerConfig,
    params: DetectParams,
    locked: Option<Detection>,
    pending: Vec<Detection>,
    since_check: usize,
    /// Re-checks since the last full search.
    quick_checks: usize,
    /// Frames searched in full so far (first lock and re-checks).
    searches: usize,
    /// The view turn (degrees) the lock was found in: re-checks look there first.
    view_angle: f64,
    scratch: Vec<u8>,
}

/// How much better (share of black keys in place, [`fit_score`]) a new fit must explain a
/// frame than the lock does before the lock moves.
const MOVE_MARGIN: f32 = 0.2;

/// A re-check skips the full search when the lock explains at least this share of the black
/// keys (hands hide some)...
const HOLD_MIN: f32 = 0.5;
/// ...and beats the same corners moved by half or one white key across, or a third or a
/// quarter of the keys' length along, by this much: a lock a key off, a moved camera or a cut fails it.
const HOLD_MARGIN: f32 = 0.15;
/// Every this many re-checks is a full search whatever the lock's score, so that a move the
/// quick check cannot see (smaller than half a black key) is still found.
const FULL_EVERY: usize = 8;

/// The same keyboard with its corners moved by `du` (share of its width, across the keys) and
/// `dv` (share of the keys' length).
fn moved(d: &Detection, du: f64, dv: f64) -> Option<Detection> {
    let h = Homography::from_unit_square(&d.corners)?;
    let at = |u: f64, v: f64| h.apply([u + du, v + dv]);
    Some(Detection {
        corners: [at(0.0, 0.0), at(1.0, 0.0), at(1.0, 1.0), at(0.0, 1.0)],
        ..*d
    })
}

/// Whether the lock still fits this frame well enough that a re-check need not search: its
/// black keys are where it puts them, and clearly more so than a little to either side.
/// About 1,000 pixel reads against a full search's whole frame.
fn lock_holds(img: &GrayImage, l: &Detection) -> bool {
    let Some(kept) = fit_score(img, l) else {
        return false;
    };
    if kept < HOLD_MIN {
        return false;
    }
    let white = 1.0 / l.keyboard.white_keys().max(1) as f64;
    let shifts = [
        (-white, 0.0),
        (-white / 2.0, 0.0),
        (white / 2.0, 0.0),
        (white, 0.0),
        (0.0, -0.35),
        (0.0, 0.25),
    ];
    shifts.iter().all(|&(du, dv)| {
        moved(l, du, dv)
            .and_then(|m| fit_score(img, &m))
            .is_some_and(|s| s + HOLD_MARGIN <= kept)
    })
}

fn width_of(d: &Detection) -> f64 {
    let [a, b, _, _] = d.corners;
    ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
}

fn agree(a: &Detection, b: &Detection, tolerance: f64) -> bool {
    let lim = tolerance * width_of(a).max(1.0);
    a.keyboard == b.keyboard
        && a.corners
            .iter()
            .zip(&b.corners)
            .all(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt() <= lim)
}

/// How well `d`'s corners explain this frame: the share of its black keys that are darker,
/// where the corners put them, than the white keys in front of them. Hands over the keys
/// lower every fit alike, so two fits of one frame compare fairly; a fit one key off puts
/// many of its black keys on white ones.
pub fn fit_score(img: &GrayImage, d: &Detection) -> Option<f32> {
    if !img.is_valid() {
        return None;
    }
    let h = Homography::from_unit_square(&d.corners)?;
    let kb = d.keyboard;
    let at = |u: f64, v: f64| {
        let [x, y] = h.apply([u, v]);
        sample(img, x, y)
    };
    let (mut found, mut total) = (0usize, 0usize);
    for n in kb.notes().filter(|&n| is_black(n)) {
        total += 1;
        let Some((a, b)) = kb.span(n) else { continue };
        let u = (a + b) as f64 / 2.0;
        // Two depths along the black key, one on the white key's front part.
        let (Some(k0), Some(k1), Some(w)) = (at(u, 0.2), at(u, 0.4), at(u, 0.85)) else {
            continue;
        };
        if k0.max(k1) < w * 0.8 && w - k0.max(k1) > 12.0 {
            found += 1;
        }
    }
    (total > 0).then(|| found as f32 / total as f32)
}

fn average(ds: &[Detection]) -> Detection {
    let n = ds.len().max(1) as f64;
    let mut corners = [[0.0; 2]; 4];
    for d in ds {
        for (c, p) in corners.iter_mut().zip(&d.corners) {
            c[0] += p[0] / n;
            c[1] += p[1] / n;
        }
    }
    Detection {
        corners,
        keyboard: ds[0].keyboard,
        confidence: ds.iter().map(|d| d.confidence).sum::<f32>() / n as f32,
    }
}

impl KeyboardTracker {
    pub fn new(config: TrackerConfig, params: DetectParams) -> Self {
        KeyboardTracker {
            config,
            params,
            locked: None,
            pending: Vec::new(),
            since_check: 0,
            quick_checks: 0,
            searches: 0,
            view_angle: 0.0,
            scratch: Vec::new(),
        }
    }

    pub fn locked(&self) -> Option<&Detection> {
        self.locked.as_ref()
    }

    /// Frames searched in full so far: every frame until a lock, then the re-checks that the
    /// quick look at the lock did not settle.
    pub fn searches(&self) -> usize {
        self.searches
    }

    /// Forget everything (new stream).
    pub fn reset(&mut self) {
        self.locked = None;
        self.pending.clear();
        self.since_check = 0;
        self.quick_checks = 0;
    }

    /// Drop a move being confirmed, keeping the lock (a seek within the same stream: the
    /// frames before and after it are not consecutive).
    pub fn interrupt(&mut self) {
        self.pending.clear();
        self.since_check = 0;
        self.quick_checks = 0;
    }

    /// Detect anywhere in the frame, whatever the keyboard's turn.
    fn search(&mut self, img: &GrayImage) -> Option<Detection> {
        let (d, a) = detect_any(img, &self.params, self.config.quarter, &mut self.scratch)?;
        self.view_angle = a;
        Some(d)
    }

    pub fn push(&mut self, img: &GrayImage) -> TrackEvent {
        self.push_at(img, None)
    }

    /// [`push`](Self::push) for the frame at position `frame` of the stream (its stream
    /// time times the frame rate), when known: a locked keyboard is then re-checked at the
    /// frames whose position is a multiple of the interval, so a run that seeks or loops
    /// checks the same frames as one that plays through.
    pub fn push_at(&mut self, img: &GrayImage, frame: Option<u64>) -> TrackEvent {
        match self.locked {
            None => match {
                self.searches += 1;
                self.search(img)
            }
            .and_then(|d| self.confirm(d, 1))
            {
                Some(l) => TrackEvent::Locked(l),
                None => TrackEvent::Searching,
            },
            Some(l) => {
                self.since_check += 1;
                let interval = self.config.recheck_interval.max(1);
                let (due, full) = match frame {
                    Some(i) => (
                        i % interval as u64 == 0,
                        (i / interval as u64).is_multiple_of(FULL_EVERY as u64),
                    ),
                    None => (
                        self.since_check >= interval,
                        self.quick_checks + 1 >= FULL_EVERY,
                    ),
                };
                // While a move is being confirmed, look at every frame.
                if self.pending.is_empty() && !due {
                    return TrackEvent::Tracking;
                }
                self.since_check = 0;
                // Most re-checks: the lock still fits, nothing to search for.
                if self.pending.is_empty() && !full && lock_holds(img, &l) {
                    self.quick_checks += 1;
                    return TrackEvent::Tracking;
                }
                self.quick_checks = 0;
                self.searches += 1;
                // Same instrument: a re-check looks for the locked keyboard (hands hiding one
                // end can make a smaller one fit better).
                let same = DetectParams {
                    keys: Some(l.keyboard.keys),
                    lowest_note: Some(l.keyboard.lowest_note),
                };
                let again = detect_turned(img, &same, self.view_angle, &mut self.scratch);
                let Some(d) = again.or_else(|| self.search(img)) else {
                    // Hands or a cut may hide the keys for a while: keep the lock.
                    self.pending.clear();
                    return TrackEvent::Tracking;
                };
                if agree(&l, &d, self.config.tolerance) {
                    self.pending.clear();
                    return TrackEvent::Tracking;
                }
                // A move needs detections about as confident as the lock, and the lock must
                // have stopped explaining the frame: hands over the keys can fool several
                // frames in a row into a fit a key or two off, which the locked corners still
                // beat on the same frame. A camera move or a cut leaves the lock on nothing.
                if d.confidence < l.confidence - 0.1 {
                    self.pending.clear();
                    return TrackEvent::Tracking;
                }
                let kept = fit_score(img, &l).unwrap_or(0.0);
                let moved = fit_score(img, &d).unwrap_or(0.0);
                if moved < kept + MOVE_MARGIN {
                    self.pending.clear();
                    return TrackEvent::Tracking;
                }
                match self.confirm(d, 2) {
                    Some(n) => TrackEvent::Relocked(n),
                    None => TrackEvent::Tracking,
                }
            }
        }
    }

    /// Add a detection to the run of agreeing ones; once the run is `times` times the
    /// configured length, lock onto its average and return it. A move takes twice as many as
    /// a first lock: in oblique views hands can bias a few frames in a row by a key's width.
    fn confirm(&mut self, d: Detection, times: usize) -> Option<Detection> {
        if !self
            .pending
            .last()
            .is_some_and(|p| agree(p, &d, self.config.tolerance))
        {
            self.pending.clear();
        }
        self.pending.push(d);
        if self.pending.len() < self.config.confirm.max(1) * times {
            return None;
        }
        let l = average(&self.pending);
        self.pending.clear();
        self.locked = Some(l);
        Some(l)
    }
}
