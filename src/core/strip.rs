// SPDX-License-Identifier: MPL-2.0
//! The canonical keyboard strip: the one contract between pianocrop, video2roll, KeyNet and
//! training. A strip is GRAY8, `WIDTH` x `HEIGHT`, 88 keys from A0 at the left; video2roll
//! sees `FRAMES` consecutive strips t-HALF..t+HALF around the frame it predicts.

/// Strip width in pixels (Audeo's 900).
pub const WIDTH: usize = 900;
/// Strip height in pixels (Audeo's 100).
pub const HEIGHT: usize = 100;
/// Strips per window (t-2..t+2).
pub const FRAMES: usize = 5;
/// Strips on each side of the one predicted.
pub const HALF: usize = FRAMES / 2;
/// Keys of the canonical keyboard.
pub const KEYS: usize = 88;
/// MIDI note of the leftmost key (A0).
pub const LOWEST_NOTE: u8 = 21;

/// The strips of the window around strip `i` of `n` (t-HALF..t+HALF), the first and last
/// strips repeated past the ends. `n` must be at least 1.
pub fn window_indices(i: usize, n: usize) -> impl Iterator<Item = usize> {
    window_indices_every(i, n, 1)
}

/// The window around strip `i` of `n` with `step` strips between its images (t-2s..t+2s):
/// a video of a higher frame rate than the nets were trained on, sampled at about their
/// rate. The first and last strips are repeated past the ends; `step` 0 counts as 1.
pub fn window_indices_every(i: usize, n: usize, step: usize) -> impl Iterator<Item = usize> {
    let step = step.max(1);
    (0..FRAMES).map(move |k| (i + k * step).saturating_sub(HALF * step).min(n.max(1) - 1))
}

/// The frame rate the shipped nets were trained at, about: the real clips are 20, 25 and 30
/// frames/s, the renders 25. A window spans 4 steps of it (160 ms at 25).
pub const TRAINED_RATE: f64 = 25.0;

/// Strips between a window's images for a video of `fps` frames/s, so that the window spans
/// about the time it does at `rate` frames/s: 1 up to 1.5 x `rate`, 2 at 50 and 60 frames/s
/// against 25, 5 at 120. 1 when either is unknown, zero or negative.
pub fn window_step(fps: f64, rate: f64) -> usize {
    if !(fps > 0.0 && rate > 0.0) {
        return 1;
    }
    ((fps / rate).round() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_repeat_the_edge_strips() {
        let w = |i, n| window_indices(i, n).collect::<Vec<_>>();
        assert_eq!(w(0, 10), vec![0, 0, 0, 1, 2]);
        assert_eq!(w(5, 10), vec![3, 4, 5, 6, 7]);
        assert_eq!(w(9, 10), vec![7, 8, 9, 9, 9]);
        assert_eq!(w(0, 1), vec![0; 5]);
    }

    #[test]
    fn strided_windows_span_the_same_time() {
        let w = |i, n, s| window_indices_every(i, n, s).collect::<Vec<_>>();
        assert_eq!(w(5, 10, 1), vec![3, 4, 5, 6, 7]);
        assert_eq!(w(10, 20, 2), vec![6, 8, 10, 12, 14]);
        assert_eq!(w(1, 20, 2), vec![0, 0, 1, 3, 5]);
        assert_eq!(w(18, 20, 2), vec![14, 16, 18, 19, 19]);
        assert_eq!(w(5, 10, 0), w(5, 10, 1));
        assert_eq!(window_step(25.0, TRAINED_RATE), 1);
        assert_eq!(window_step(20.0, TRAINED_RATE), 1);
        assert_eq!(window_step(30.0, TRAINED_RATE), 1);
        assert_eq!(window_step(50.0, TRAINED_RATE), 2);
        assert_eq!(window_step(60.0, TRAINED_RATE), 2);
        assert_eq!(window_step(59.94, TRAINED_RATE), 2);
        assert_eq!(window_step(120.0, TRAINED_RATE), 5);
        assert_eq!(window_step(60.0, 0.0), 1);
        assert_eq!(window_step(0.0, TRAINED_RATE), 1);
        assert_eq!(window_step(f64::NAN, TRAINED_RATE), 1);
    }
}
