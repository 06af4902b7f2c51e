// SPDX-License-Identifier: MPL-2.0
//! Rule-based roll-to-notes conversion, streaming, frame by frame.
//!
//! Three stages, each with a bounded look-ahead so the whole is usable live:
//! 1. optional Gaussian smoothing of the key probabilities over time (Sight to Sound; sigma in
//!    frames, kernel radius ceil(3 sigma), edge frames repeated);
//! 2. per-key thresholding with hysteresis: a key goes down when its probability reaches
//!    `threshold` and up when it falls below `threshold - hysteresis`; with an onset channel, a
//!    rising onset above `onset_threshold` on a held key re-strikes it (ends the note and starts
//!    a new one), and may also start a note whose frame probability is only above the lower
//!    hysteresis bound; a key that drops out for at most `max_dropout` frames and comes back
//!    without an onset is taken as held all along (a flicker of the model, not a release);
//! 3. notes shorter than `min_frames` frames are dropped;
//! 4. with `onset_gate` (and an onset channel), a key that goes down with no onset of at least
//!    that probability in the frames around it (three before, one after) makes no note,
//!    unless it is the same key coming back within `gate_hold` frames of its last note's end
//!    (a held note the model lost for a moment). On a piano the model has not seen, most of
//!    its false notes are keys lit up by glare or a passing hand, with no strike in them.
//! 5. with `onset_align` (and an onset channel), a note starts where its strike is: at the
//!    frame of highest onset probability from three frames before the key goes down to
//!    `onset_align` frames after, if that frame is later than the key going down. The key-down
//!    probability rises as soon as a key starts to move, which on some pianos is a frame or two
//!    before the note sounds; the onset channel marks the strike itself. When the net's window
//!    takes every `window_step`-th frame (faster video), a strike shows on that many frames in a
//!    row: the start is the first of the frames just before the peak (up to `window_step - 1`,
//!    at most three, never before the key went down) whose onset equals the peak's within
//!    0.005 (a rising onset is the strike coming, not the same strike seen twice).
//!
//! A frame leaves the tracker once its decision is final: the look-ahead is
//! `radius + max(min_frames + max_dropout, onset_align + 1) - 1` frames
//! ([`NoteTracker::latency_frames`]).

use std::collections::VecDeque;

use thiserror::Error;

use super::notes::{Nanos, Note, NoteEvent, events_to_notes};
use super::roll::{ProbFrame, RollLayout, VelocityFrame};

#[derive(Debug, Error, PartialEq)]
pub enum TrackerError {
    #[error("invalid parameter {name} = {value}: {why}")]
    Param {
        name: &'static str,
        value: f64,
        why: &'static str,
    },
    #[error("frame has {got} keys, expected {expected}")]
    Keys { got: usize, expected: usize },
}

/// Parameters of the rule-based conversion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerParams {
    /// Probability at which a key goes down.
    pub threshold: f32,
    /// A down key goes up when its probability falls below `threshold - hysteresis`.
    pub hysteresis: f32,
    /// Notes shorter than this many frames are dropped (1 keeps everything).
    pub min_frames: usize,
    /// A key below the release threshold for at most this many frames, then down again
    /// without an onset, is bridged into one note (0 = every dip releases the key).
    pub max_dropout: usize,
    /// Onset probability that re-strikes a held key (only with an onset channel).
    pub onset_threshold: f32,
    /// Gaussian smoothing over time, sigma in frames; 0 disables it.
    pub smoothing_sigma: f32,
    /// Velocity of every note.
    pub velocity: u8,
    /// A note must start with an onset probability of at least this in the frames around its
    /// first (see the module doc); 0 turns the gate off. Ignored without an onset channel.
    pub onset_gate: f32,
    /// Frames after a key's last note during which the key may go down again without an
    /// onset (the gate lets it through).
    pub gate_hold: usize,
    /// Frames after a key goes down within which its note's start moves to a later onset peak
    /// (see the module doc); 0 turns it off. Ignored without an onset channel.
    pub onset_align: usize,
    /// Frames between the images of the net's window (video2roll's `window-rate` on video
    /// faster than the net was trained on; 1 otherwise). A key going down then shows as an
    /// onset on this many frames in a row, so an aligned start is taken at the first of them
    /// (see the module doc).
    pub window_step: usize,
}

/// Frames before a key goes down in which an onset opens the gate (the onset channel often
/// fires a frame or two before the key-down probability crosses its threshold).
const GATE_BEFORE: usize = 3;

/// With a window step above 1, a frame just before an onset peak whose onset is within this of
/// the peak's shows the same strike: two windows that see the same images (a video of
/// repeated frames) or the same up-then-down pattern (a key that drops within a frame) score
/// alike. A real key's onset rises over the frames before its peak; a looser bound reached
/// back into those: on Bach at 25 frames/s shown at 50, a bound of 0.9 times the peak moved 94
/// of 183 starts a frame earlier than the 25 frames/s chain puts them, 0.005 moved 12, and
/// without the look-back (the later of a pair wins) 35 came a frame later.
const SAME_STRIKE: f32 = 0.005;

impl Default for TrackerParams {
    fn default() -> Self {
        TrackerParams {
            threshold: 0.4,
            hysteresis: 0.1,
            min_frames: 2,
            max_dropout: 0,
            onset_threshold: 0.5,
            smoothing_sigma: 0.0,
            velocity: 100,
            onset_gate: 0.0,
            gate_hold: 12,
            onset_align: 0,
            window_step: 1,
        }
    }
}

impl TrackerParams {
    pub fn validate(&self) -> Result<(), TrackerError> {
        let err = |name, value: f64, why| Err(TrackerError::Param { name, value, why });
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return err("threshold", self.threshold as f64, "must be in (0, 1]");
        }
        if !(self.hysteresis >= 0.0 && self.hysteresis < self.threshold) {
            return err(
                "hysteresis",
                self.hysteresis as f64,
                "must be in [0, threshold)",
            );
        }
        if self.min_frames == 0 {
            return err("min_frames", 0.0, "must be at least 1");
        }
        if self.max_dropout > 100 {
            return err(
                "max_dropout",
                self.max_dropout as f64,
                "must be at most 100 frames",
            );
        }
        if !(self.onset_threshold > 0.0 && self.onset_threshold <= 1.0) {
            return err(
                "onset_threshold",
                self.onset_threshold as f64,
                "must be in (0, 1]",
            );
        }
        if !(self.smoothing_sigma >= 0.0 && self.smoothing_sigma <= 50.0) {
            return err(
                "smoothing_sigma",
                self.smoothing_sigma as f64,
                "must be in [0, 50]",
            );
        }
        if self.velocity == 0 || self.velocity > 127 {
            return err("velocity", self.velocity as f64, "must be in 1..=127");
        }
        if !(self.onset_gate >= 0.0 && self.onset_gate <= 1.0) {
            return err("onset_gate", self.onset_gate as f64, "must be in [0, 1]");
        }
        if self.gate_hold > 1000 {
            return err(
                "gate_hold",
                self.gate_hold as f64,
                "must be at most 1000 frames",
            );
        }
        if self.onset_align > 10 {
            return err(
                "onset_align",
                self.onset_align as f64,
                "must be at most 10 frames",
            );
        }
        if !(1..=10).contains(&self.window_step) {
            return err(
                "window_step",
                self.window_step as f64,
                "must be in 1..=10 frames",
            );
        }
        Ok(())
    }

    /// Frames from a frame on (itself included) that decide it, beyond the smoothing radius:
    /// a note is kept once it has `min_frames` frames, and a dip it has at its end may take
    /// `max_dropout` more to tell a release from a dropout; a note's start may move up to
    /// `onset_align` frames later.
    fn decision_frames(&self) -> usize {
        (self.min_frames + self.max_dropout).max(self.onset_align + 1)
    }

    /// Smoothing kernel radius in frames.
    pub fn radius(&self) -> usize {
        if self.smoothing_sigma > 0.0 {
            (3.0 * self.smoothing_sigma).ceil() as usize
        } else {
            0
        }
    }
}

/// When a frame is shown and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FrameTime {
    pub pts: Nanos,
    pub duration: Nanos,
}

/// A frame whose decisions are final.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedFrame {
    pub time: FrameTime,
    /// Keys down (velocity) and, in the onset channel, keys struck in this frame.
    pub roll: VelocityFrame,
    /// Note-offs then note-ons at `time.pts`.
    pub events: Vec<NoteEvent>,
}

/// A candidate note of one key from stage 2, in frame indices; `end` is exclusive.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    start: u64,
    end: Option<u64>,
    /// Through the onset gate (always, when there is none).
    open: bool,
    /// Where the key went down (`start` may move later, to the strike).
    down_at: u64,
    /// Highest onset probability of this key from `GATE_BEFORE` frames before `down_at` to
    /// the last frame seen (for `onset_align`).
    best_onset: f32,
}

/// Streaming converter: push probability frames, get final frames with note events.
#[derive(Debug)]
pub struct NoteTracker {
    params: TrackerParams,
    layout: RollLayout,
    kernel: Vec<f32>,
    /// Raw frames waiting for smoothing: (index, frame).
    raw: VecDeque<(u64, ProbFrame)>,
    /// Last raw frame, repeated past the end when draining.
    first_raw: Option<ProbFrame>,
    /// Next raw index pushed.
    n_pushed: u64,
    /// Next index to smooth and threshold.
    n_stage2: u64,
    /// Next index to output.
    n_out: u64,
    times: VecDeque<FrameTime>,
    /// Stage 2 state per key.
    down: Vec<bool>,
    prev_onset: Vec<bool>,
    /// Per key: start of the current run of frames below the release threshold while down.
    low_since: Vec<Option<u64>>,
    candidates: Vec<VecDeque<Candidate>>,
    /// Whether each key sounds in the last output frame.
    sounding: Vec<bool>,
    last_end: Nanos,
    /// Frames `[from, to)` around a jump of the picture: keys down stay down.
    hold: Option<(u64, u64)>,
    /// Onset probabilities of the last `GATE_BEFORE + 1` frames through stage 2 (oldest
    /// first), for the onset gate and the onset alignment.
    recent_onsets: VecDeque<Vec<f32>>,
    /// Per key: where its last note through the gate ended.
    last_open_end: Vec<Option<u64>>,
}

impl NoteTracker {
    /// A tracker for frames of `layout` (its format is ignored: input is probabilities).
    pub fn new(params: TrackerParams, layout: RollLayout) -> Result<Self, TrackerError> {
        params.validate()?;
        let r = params.radius();
        let kernel = if r == 0 {
            vec![1.0]
        } else {
            let s = params.smoothing_sigma;
            let w: Vec<f32> = (-(r as i64)..=r as i64)
                .map(|i| (-(i * i) as f32 / (2.0 * s * s)).exp())
                .collect();
            let sum: f32 = w.iter().sum();
            w.into_iter().map(|x| x / sum).collect()
        };
        let keys = layout.keys;
        Ok(NoteTracker {
            params,
            layout,
            kernel,
            raw: VecDeque::new(),
            first_raw: None,
            n_pushed: 0,
            n_stage2: 0,
            n_out: 0,
            times: VecDeque::new(),
            down: vec![false; keys],
            prev_onset: vec![false; keys],
            low_since: vec![None; keys],
            candidates: vec![VecDeque::new(); keys],
            sounding: vec![false; keys],
            last_end: 0,
            hold: None,
            recent_onsets: VecDeque::new(),
            last_open_end: vec![None; keys],
        })
    }

    pub fn params(&self) -> &TrackerParams {
        &self.params
    }

    pub fn layout(&self) -> &RollLayout {
        &self.layout
    }

    /// Frames a frame waits in the tracker before it is output.
    pub fn latency_frames(&self) -> usize {
        self.params.radius() + self.params.decision_frames() - 1
    }

    /// Forget everything (after a flush or seek).
    pub fn reset(&mut self) {
        *self = NoteTracker::new(self.params, self.layout).expect("params were validated");
    }

    /// The picture jumps before frame `at` (counted in pushes since the last reset; the
    /// keyboard lock moved): for the `frames` frames from there, and the smoothing radius
    /// either side, a key that is down is neither released by a dip nor struck again by an
    /// onset. A key still up once the hold is over is released then; keys going down in the
    /// hold start notes as usual.
    pub fn hold_across_jump(&mut self, at: u64, frames: usize) {
        let r = self.params.radius() as u64;
        self.hold = Some((at.saturating_sub(r), at + frames as u64 + r));
    }

    /// Add the next frame; returns the frames that became final.
    pub fn push(
        &mut self,
        frame: ProbFrame,
        time: FrameTime,
    ) -> Result<Vec<TrackedFrame>, TrackerError> {
        if frame.keys() != self.layout.keys {
            return Err(TrackerError::Keys {
                got: frame.keys(),
                expected: self.layout.keys,
            });
        }
        let mut frame = frame;
        sanitize(&mut frame.frame);
        if let Some(o) = frame.onset.as_mut() {
            sanitize(o);
        }
        if self.first_raw.is_none() {
            self.first_raw = Some(frame.clone());
        }
        self.last_end = self.last_end.max(time.pts.saturating_add(time.duration));
        self.raw.push_back((self.n_pushed, frame));
        self.times.push_back(time);
        self.n_pushed += 1;
        let r = self.params.radius() as u64;
        while self.n_stage2 + r < self.n_pushed {
            self.stage2_next();
        }
        Ok(self.output_ready(false))
    }

    /// End of stream: output every pending frame, then the note-offs of keys still down at
    /// the end of the last frame (returned separately, at that time).
    pub fn finish(&mut self) -> (Vec<TrackedFrame>, Vec<NoteEvent>) {
        while self.n_stage2 < self.n_pushed {
            self.stage2_next();
        }
        for k in 0..self.layout.keys {
            let end = self.low_since[k].take().unwrap_or(self.n_pushed);
            self.close(k, end);
            self.down[k] = false;
        }
        let frames = self.output_ready(true);
        let time = self.last_end;
        let mut tail = Vec::new();
        for (k, s) in self.sounding.iter_mut().enumerate() {
            if std::mem::take(s) {
                tail.push(NoteEvent::Off {
                    time,
                    pitch: self.layout.note(k),
                });
            }
        }
        (frames, tail)
    }

    /// Smooth raw frame `n_stage2` and run hysteresis on it.
    fn stage2_next(&mut self) {
        let i = self.n_stage2;
        let r = self.params.radius() as i64;
        let keys = self.layout.keys;
        let front = self.raw.front().map(|(j, _)| *j).unwrap_or(i);
        let get = |idx: i64| -> &ProbFrame {
            // Clamp to the frames that exist: edges repeat.
            let idx = idx.clamp(0, self.n_pushed as i64 - 1) as u64;
            if idx < front {
                self.first_raw.as_ref().expect("a frame was pushed")
            } else {
                &self.raw[(idx - front) as usize].1
            }
        };
        let mut p = vec![0f32; keys];
        for (w, off) in self.kernel.iter().zip(-r..=r) {
            let f = get(i as i64 + off);
            for (acc, v) in p.iter_mut().zip(&f.frame) {
                *acc += w * v;
            }
        }
        let onset_p = get(i as i64).onset.as_ref();
        let onset: Option<Vec<bool>> = onset_p.map(|o| {
            o.iter()
                .map(|&v| v >= self.params.onset_threshold)
                .collect()
        });
        let gate = self.params.onset_gate;
        let gating = gate > 0.0 && onset_p.is_some();
        let align = self.params.onset_align as u64;
        let step = self.params.window_step;
        let aligning = align > 0 && onset_p.is_some();
        if let Some(o) = onset_p.filter(|_| gating || aligning) {
            // The oldest frame's buffer is reused once the window is full.
            let mut slot = if self.recent_onsets.len() > GATE_BEFORE {
                self.recent_onsets.pop_front().unwrap_or_default()
            } else {
                Vec::new()
            };
            slot.clear();
            slot.extend_from_slice(o);
            self.recent_onsets.push_back(slot);
        }
        // How far after a key goes down an onset may still open the gate: what the
        // decision look-ahead allows, at most one frame.
        let after = (self.params.decision_frames() as u64)
            .saturating_sub(1)
            .min(1);
        let on_thr = self.params.threshold;
        let off_thr = self.params.threshold - self.params.hysteresis;
        let max_dropout = self.params.max_dropout as u64;
        let holding = self.hold.is_some_and(|(from, to)| (from..to).contains(&i));
        for k in 0..keys {
            let rising = !holding && onset.as_ref().is_some_and(|o| o[k] && !self.prev_onset[k]);
            let struck =
                !gating || holding || rising || self.recent_onsets.iter().any(|o| o[k] >= gate);
            if gating
                && struck
                && let Some(c) = self.candidates[k].back_mut()
                && !c.open
                && i <= c.down_at + after
            {
                // The strike came just after the key went down.
                c.open = true;
            }
            if self.down[k] {
                if p[k] < off_thr {
                    let since = *self.low_since[k].get_or_insert(i);
                    if !holding && i + 1 - since > max_dropout {
                        // Released at the start of the dip.
                        self.down[k] = false;
                        self.low_since[k] = None;
                        self.close(k, since);
                    }
                } else {
                    // A dip that came back without an onset was a dropout: the key stayed down.
                    let since = self.low_since[k].take();
                    if rising {
                        self.close(k, since.unwrap_or(i));
                        let best_onset = self.recent_onset_max(k);
                        self.candidates[k].push_back(Candidate {
                            start: i,
                            end: None,
                            open: true,
                            down_at: i,
                            best_onset,
                        });
                    } else if aligning
                        && since.is_none()
                        && let Some(c) = self.candidates[k].back_mut()
                        && c.end.is_none()
                        && i <= c.down_at + align
                        && let Some(&v) = self.recent_onsets.back().and_then(|o| o.get(k))
                        && v > c.best_onset
                    {
                        // A stronger strike after the key went down: the note starts there,
                        // at the first frame whose window shows it. A window of every
                        // `step`-th frame sees one strike from `step` frames in a row.
                        let mut start = i;
                        let before = self.recent_onsets.iter().rev().enumerate().skip(1);
                        for (back, o) in before.take(step - 1) {
                            let f = i.saturating_sub(back as u64);
                            if f < c.down_at || o.get(k).is_none_or(|&p| p < v - SAME_STRIKE) {
                                break;
                            }
                            start = f;
                        }
                        c.start = start;
                        c.best_onset = v;
                    }
                }
            } else if p[k] >= on_thr || (rising && p[k] >= off_thr) {
                self.down[k] = true;
                let back_soon =
                    self.last_open_end[k].is_some_and(|e| i <= e + self.params.gate_hold as u64);
                let best_onset = self.recent_onset_max(k);
                self.candidates[k].push_back(Candidate {
                    start: i,
                    end: None,
                    open: struck || back_soon,
                    down_at: i,
                    best_onset,
                });
            }
            if let Some(o) = &onset {
                self.prev_onset[k] = o[k];
            }
        }
        self.n_stage2 += 1;
        // Raw frames older than i + 1 - r are no longer needed (keep the first for edges).
        while let Some((j, _)) = self.raw.front() {
            if (*j as i64) < i as i64 + 1 - r {
                self.raw.pop_front();
            } else {
                break;
            }
        }
    }

    /// Highest onset probability of key `k` over the recent frames kept (this one included;
    /// none, so 0, when neither gating nor aligning).
    fn recent_onset_max(&self, k: usize) -> f32 {
        self.recent_onsets
            .iter()
            .filter_map(|o| o.get(k).copied())
            .fold(0.0, f32::max)
    }

    fn close(&mut self, k: usize, at: u64) {
        if let Some(last) = self.candidates[k].back_mut()
            && last.end.is_none()
        {
            last.end = Some(at);
            if last.open {
                self.last_open_end[k] = Some(at);
            }
        }
    }

    /// Output frames whose decisions are final.
    fn output_ready(&mut self, draining: bool) -> Vec<TrackedFrame> {
        let m = self.params.min_frames as u64;
        let d = self.params.decision_frames() as u64;
        let mut out = Vec::new();
        while self.n_out < self.n_stage2 && (draining || self.n_out + d <= self.n_stage2) {
            let j = self.n_out;
            let time = self.times.pop_front().unwrap_or_default();
            let mut roll = VelocityFrame::silent(self.layout.keys, true);
            let mut offs = Vec::new();
            let mut ons = Vec::new();
            for k in 0..self.layout.keys {
                let c = &mut self.candidates[k];
                while c.front().is_some_and(|n| n.end.is_some_and(|e| e <= j)) {
                    c.pop_front();
                }
                let kept = c.front().is_some_and(|n| {
                    n.open
                        && n.start <= j
                        // Long enough from where the key went down (an aligned start
                        // may be later).
                        && match n.end {
                            Some(e) => e - n.down_at >= m,
                            // Down frames so far; a dip still undecided does not count.
                            None => self.low_since[k].unwrap_or(self.n_stage2) - n.down_at >= m,
                        }
                });
                let starts_here = kept && c.front().is_some_and(|n| n.start == j);
                let pitch = self.layout.note(k);
                if self.sounding[k] && (!kept || starts_here) {
                    offs.push(NoteEvent::Off {
                        time: time.pts,
                        pitch,
                    });
                }
                if kept {
                    roll.frame[k] = self.params.velocity;
                    if starts_here {
                        if let Some(o) = roll.onset.as_mut() {
                            o[k] = self.params.velocity;
                        }
                        ons.push(NoteEvent::On {
                            time: time.pts,
                            pitch,
                            velocity: self.params.velocity,
                        });
                    }
                }
                self.sounding[k] = kept;
            }
            offs.extend(ons);
            out.push(TrackedFrame {
                time,
                roll,
                events: offs,
            });
            self.n_out += 1;
        }
        out
    }
}

/// Probabilities outside [0, 1] are clamped; NaN counts as 0.
fn sanitize(values: &mut [f32]) {
    for v in values {
        *v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    }
}

/// Convert a whole roll at once (frames at `times`) to notes.
pub fn roll_to_notes(
    frames: &[ProbFrame],
    times: &[FrameTime],
    layout: RollLayout,
    params: TrackerParams,
) -> Result<Vec<Note>, TrackerError> {
    let mut tracker = NoteTracker::new(params, layout)?;
    let mut events = Vec::new();
    for (f, t) in frames.iter().zip(times) {
        for tf in tracker.push(f.clone(), *t)? {
            events.extend(tf.events);
        }
    }
    let (rest, tail) = tracker.finish();
    events.extend(rest.into_iter().flat_map(|tf| tf.events));
    events.extend(tail);
    let end = times.last().map(|t| t.pts + t.duration).unwrap_or(0);
    Ok(events_to_notes(&events, end))
}

/// Times of `n` frames at `fps_num/fps_den` frames per second.
pub fn constant_rate_times(n: usize, fps_num: u32, fps_den: u32) -> Vec<FrameTime> {
    let starts = super::notes::frame_times(n + 1, fps_num, fps_den);
    starts
        .windows(2)
        .map(|w| FrameTime {
            pts: w[0],
            duration: w[1] - w[0],
        })
        .collect()
}

#[cfg(test)]
mod tests;
