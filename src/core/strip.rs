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
    (0..FRAMES).map(move |k| (i + k).saturating_sub(HALF).min(n.max(1) - 1))
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
}
