// SPDX-License-Identifier: MPL-2.0
//! Aligning notes heard with keys seen: the shift that puts notes transcribed from a video's
//! own sound track (or any note list) on the video's picture.
//!
//! A recording's sound and picture can be apart by a fraction of a second (a camera's audio
//! delay, an editor's cut). The picture is scored, for every shift tried, by how much of the
//! shifted notes' time falls on frames where the picture says the key is down more than it
//! usually is: each frame counts the part of its interval the note covers, so the score
//! moves smoothly with shifts smaller than a frame.

use thiserror::Error;

use super::notes::{Note, SECOND};

#[derive(Debug, Error, PartialEq)]
pub enum AlignError {
    #[error("no frames to align with")]
    NoFrames,
    #[error("no notes to align")]
    NoNotes,
    #[error("frame {frame} has {got} keys, expected {expected}")]
    Keys {
        frame: usize,
        got: usize,
        expected: usize,
    },
    #[error("invalid search: shifts up to {max} s in steps of {step} s")]
    Search { max: f64, step: f64 },
}

/// The shift found, and how clearly.
#[derive(Clone, Debug, PartialEq)]
pub struct Alignment {
    /// Seconds to add to the notes' times to put them on the picture's (stream) clock.
    pub shift: f64,
    /// The best score: the mean, over the notes' covered frames, of how far above its own
    /// average the picture puts the key (0: no agreement).
    pub score: f64,
    /// The best score away from the best shift by more than the notes' median length (and
    /// two frames), past which a right alignment has nothing left in common: a clear
    /// alignment has a score well above it.
    pub runner_up: f64,
    /// Every (shift, score) tried, in order.
    pub curve: Vec<(f64, f64)>,
}

/// Find the shift in `-max_shift..=max_shift` (steps of `step` seconds) that best puts
/// `notes` on the frames: `probs[i][k]` is the picture's probability that key `k` (MIDI
/// `lowest + k`) is down in the frame at `times[i]` (seconds, increasing), one of `fps` a
/// second.
pub fn align_notes(
    probs: &[Vec<f32>],
    times: &[f64],
    fps: f64,
    lowest: u8,
    notes: &[Note],
    max_shift: f64,
    step: f64,
) -> Result<Alignment, AlignError> {
    if probs.is_empty() || times.len() != probs.len() || fps.is_nan() || fps <= 0.0 {
        return Err(AlignError::NoFrames);
    }
    if !(max_shift >= 0.0 && step > 0.0 && max_shift / step <= 100_000.0) {
        return Err(AlignError::Search {
            max: max_shift,
            step,
        });
    }
    let keys = probs[0].len();
    if let Some((frame, p)) = probs.iter().enumerate().find(|(_, p)| p.len() != keys) {
        return Err(AlignError::Keys {
            frame,
            got: p.len(),
            expected: keys,
        });
    }
    let seen: Vec<&Note> = notes
        .iter()
        .filter(|n| n.pitch >= lowest && ((n.pitch - lowest) as usize) < keys && n.end > n.start)
        .collect();
    if seen.is_empty() {
        return Err(AlignError::NoNotes);
    }
    // How far above its own mean the picture puts each key in each frame.
    let mut mean = vec![0f64; keys];
    for p in probs {
        for (m, &v) in mean.iter_mut().zip(p) {
            *m += v as f64;
        }
    }
    for m in &mut mean {
        *m /= probs.len() as f64;
    }
    let frame = 1.0 / fps;
    // A frame at t stands for [t - h, t + h): labels take a key as down in a frame when a
    // note holds it at the frame's time (`notes_to_roll`).
    let half = frame / 2.0;
    let score_at = |shift: f64| -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for n in &seen {
            let k = (n.pitch - lowest) as usize;
            let (a, b) = (
                n.start as f64 / SECOND as f64 + shift,
                n.end as f64 / SECOND as f64 + shift,
            );
            // Frames whose interval [t - h, t + h) meets [a, b).
            let first = times.partition_point(|&t| t + half <= a);
            for (t, p) in times[first..].iter().zip(&probs[first..]) {
                if *t - half >= b {
                    break;
                }
                let cover = (b.min(t + half) - a.max(t - half)).max(0.0) / frame;
                sum += cover * (p[k] as f64 - mean[k]);
                weight += cover;
            }
        }
        if weight > 0.0 { sum / weight } else { 0.0 }
    };
    let n = (max_shift / step).round() as i64;
    let curve: Vec<(f64, f64)> = (-n..=n)
        .map(|i| {
            let s = i as f64 * step;
            (s, score_at(s))
        })
        .collect();
    let &(shift, score) = curve
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or(AlignError::NoFrames)?;
    let mut lengths: Vec<f64> = seen
        .iter()
        .map(|n| (n.end - n.start) as f64 / SECOND as f64)
        .collect();
    lengths.sort_by(f64::total_cmp);
    let apart = lengths[lengths.len() / 2].max(2.0 * frame);
    let runner_up = curve
        .iter()
        .filter(|(s, _)| (s - shift).abs() >= apart)
        .map(|c| c.1)
        .fold(f64::NEG_INFINITY, f64::max);
    Ok(Alignment {
        shift,
        score,
        runner_up: if runner_up.is_finite() {
            runner_up
        } else {
            score
        },
        curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::notes::retime;
    use crate::core::sim::rng::Rng;

    /// A picture of `notes` at 25 fps: key down where a note holds it at the frame's time (as
    /// labels take it), seen as 0.9 (0.1 up), with noise and some frames wrong.
    fn picture(notes: &[Note], frames: usize, rng: &mut Rng) -> (Vec<Vec<f32>>, Vec<f64>) {
        let times: Vec<f64> = (0..frames).map(|i| i as f64 / 25.0).collect();
        let probs = times
            .iter()
            .map(|&t| {
                (0..88)
                    .map(|k| {
                        let down = notes.iter().any(|n| {
                            n.pitch as usize == 21 + k
                                && (n.start as f64 / 1e9) <= t
                                && (n.end as f64 / 1e9) > t
                        });
                        let wrong = rng.f32() < 0.05;
                        let base = if down != wrong { 0.9 } else { 0.1 };
                        (base + 0.2 * (rng.f32() - 0.5)).clamp(0.0, 1.0)
                    })
                    .collect()
            })
            .collect();
        (probs, times)
    }

    fn tune(rng: &mut Rng, seconds: f64) -> Vec<Note> {
        let mut v = Vec::new();
        let mut t = 0.3;
        while t < seconds {
            let len = 0.1 + 0.5 * rng.f32() as f64;
            let pitch = 40 + (rng.f32() * 40.0) as u8;
            v.push(Note::new(
                pitch,
                (t * 1e9) as u64,
                ((t + len) * 1e9) as u64,
                80,
            ));
            t += 0.08 + 0.3 * rng.f32() as f64;
        }
        v
    }

    #[test]
    fn finds_a_known_delay_to_within_a_quarter_frame() {
        let mut rng = Rng::new(7);
        let truth = tune(&mut rng, 20.0);
        let (probs, times) = picture(&truth, 500, &mut rng);
        for delay in [0.0, 0.137, -0.31, 0.52] {
            // Heard `delay` late: the sound's notes are at truth + delay.
            let heard = retime(&truth, 1.0, delay);
            let a = align_notes(&probs, &times, 25.0, 21, &heard, 1.0, 0.005).unwrap();
            assert!(
                (a.shift + delay).abs() <= 0.01,
                "delay {delay}: found shift {} (score {}, runner-up {})",
                a.shift,
                a.score,
                a.runner_up
            );
            assert!(a.score > 2.0 * a.runner_up.max(0.0), "{a:?}");
        }
    }

    #[test]
    fn unrelated_notes_give_no_clear_peak() {
        let mut rng = Rng::new(8);
        let truth = tune(&mut rng, 20.0);
        let other = tune(&mut Rng::new(99), 20.0);
        let (probs, times) = picture(&truth, 500, &mut rng);
        let a = align_notes(&probs, &times, 25.0, 21, &other, 1.0, 0.01).unwrap();
        let right = align_notes(&probs, &times, 25.0, 21, &truth, 1.0, 0.01).unwrap();
        assert!(
            a.score < 0.5 * right.score,
            "{} vs {}",
            a.score,
            right.score
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let n = [Note::new(60, 0, SECOND, 80)];
        assert_eq!(
            align_notes(&[], &[], 25.0, 21, &n, 1.0, 0.01),
            Err(AlignError::NoFrames)
        );
        let p = vec![vec![0.0; 88]; 3];
        let t = [0.0, 0.04, 0.08];
        assert_eq!(
            align_notes(&p, &t, 25.0, 21, &[], 1.0, 0.01),
            Err(AlignError::NoNotes)
        );
        assert!(matches!(
            align_notes(&p, &t, 25.0, 21, &n, 1.0, 0.0),
            Err(AlignError::Search { .. })
        ));
        let mut bad = p.clone();
        bad[1].pop();
        assert!(matches!(
            align_notes(&bad, &t, 25.0, 21, &n, 1.0, 0.01),
            Err(AlignError::Keys { frame: 1, .. })
        ));
    }
}
