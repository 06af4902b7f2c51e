// SPDX-License-Identifier: MPL-2.0
//! Keyboard geometry: which keys an instrument has and where each key sits across it.
//!
//! Positions are in white-key widths. White keys are equal; black keys follow the usual
//! piano layout where the key backs of C..E are five equal parts of three white keys and
//! those of F..B seven equal parts of four, so black keys are off-centre between their
//! neighbours (C# and F# lean left, D# and A# lean right) and about 0.6 white keys wide.
//! The canonical strip is the 88-key keyboard: note `n` spans [`canonical_span`] of [0, 1].

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyboardError {
    #[error("unsupported keyboard of {0} keys: use 88, 76 or 61 (or give the lowest note)")]
    Keys(usize),
    #[error("a keyboard must start and end on a white key, and fit in MIDI notes 0..=127")]
    Range,
}

const BLACK_SPANS: [(usize, f32, f32); 5] = [
    (1, 3.0 / 5.0, 6.0 / 5.0),
    (3, 9.0 / 5.0, 12.0 / 5.0),
    (6, 3.0 + 4.0 / 7.0, 3.0 + 8.0 / 7.0),
    (8, 3.0 + 12.0 / 7.0, 3.0 + 16.0 / 7.0),
    (10, 3.0 + 20.0 / 7.0, 3.0 + 24.0 / 7.0),
];
const WHITE_INDEX: [usize; 12] = [0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5, 6];

pub fn is_black(note: u8) -> bool {
    matches!(note % 12, 1 | 3 | 6 | 8 | 10)
}

/// Span of `note` in white-key units from C-1 (MIDI 0).
pub fn absolute_span(note: u8) -> (f32, f32) {
    let octave = (note / 12) as f32 * 7.0;
    let pc = (note % 12) as usize;
    match BLACK_SPANS.iter().find(|(p, _, _)| *p == pc) {
        Some(&(_, a, b)) => (octave + a, octave + b),
        None => {
            let x = octave + WHITE_INDEX[pc] as f32;
            (x, x + 1.0)
        }
    }
}

/// A keyboard: `keys` consecutive notes from `lowest_note`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyboard {
    pub keys: usize,
    pub lowest_note: u8,
}

pub const PIANO_88: Keyboard = Keyboard {
    keys: 88,
    lowest_note: 21,
};

impl Keyboard {
    /// A standard instrument: 88 keys from A0, 76 from E1, 61 from C2.
    pub fn standard(keys: usize) -> Result<Self, KeyboardError> {
        let lowest_note = match keys {
            88 => 21,
            76 => 28,
            61 => 36,
            49 => 36,
            _ => return Err(KeyboardError::Keys(keys)),
        };
        Keyboard::new(keys, lowest_note)
    }

    pub fn new(keys: usize, lowest_note: u8) -> Result<Self, KeyboardError> {
        let highest = lowest_note as usize + keys.saturating_sub(1);
        if keys == 0 || highest > 127 || is_black(lowest_note) || is_black(highest as u8) {
            return Err(KeyboardError::Range);
        }
        Ok(Keyboard { keys, lowest_note })
    }

    pub fn highest_note(&self) -> u8 {
        self.lowest_note + (self.keys - 1) as u8
    }

    pub fn notes(&self) -> impl Iterator<Item = u8> + '_ {
        self.lowest_note..=self.highest_note()
    }

    pub fn contains(&self, note: u8) -> bool {
        (self.lowest_note..=self.highest_note()).contains(&note)
    }

    pub fn white_keys(&self) -> usize {
        self.notes().filter(|&n| !is_black(n)).count()
    }

    fn origin(&self) -> f32 {
        absolute_span(self.lowest_note).0
    }

    /// Span of `note` as a fraction of this keyboard's width.
    pub fn span(&self, note: u8) -> Option<(f32, f32)> {
        if !self.contains(note) {
            return None;
        }
        let (a, b) = absolute_span(note);
        let w = self.white_keys() as f32;
        Some(((a - self.origin()) / w, (b - self.origin()) / w))
    }

    /// Where this keyboard's left and right edges fall in the canonical 88-key strip.
    pub fn canonical_extent(&self) -> (f32, f32) {
        let o = PIANO_88.origin();
        let w = PIANO_88.white_keys() as f32;
        let left = self.origin();
        let right = absolute_span(self.highest_note()).1;
        ((left - o) / w, (right - o) / w)
    }
}

/// Span of `note` in the canonical 88-key strip, as a fraction of its width (notes outside
/// A0..C8 fall outside [0, 1]).
pub fn canonical_span(note: u8) -> (f32, f32) {
    let o = PIANO_88.origin();
    let w = PIANO_88.white_keys() as f32;
    let (a, b) = absolute_span(note);
    ((a - o) / w, (b - o) / w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piano_88_has_52_white_and_36_black() {
        let k = Keyboard::standard(88).unwrap();
        assert_eq!(k, PIANO_88);
        assert_eq!(k.white_keys(), 52);
        assert_eq!(k.notes().filter(|&n| is_black(n)).count(), 36);
        assert_eq!(k.span(21), Some((0.0, 1.0 / 52.0)));
        let (a, b) = k.span(108).unwrap();
        assert!((a - 51.0 / 52.0).abs() < 1e-6 && (b - 1.0).abs() < 1e-6);
        assert_eq!(k.highest_note(), 108);
    }

    #[test]
    fn black_keys_sit_between_their_neighbours_off_centre() {
        for n in 21..=108u8 {
            if is_black(n) {
                let (a, b) = absolute_span(n);
                let (_, left_end) = absolute_span(n - 1);
                assert!(a < left_end && b > left_end, "note {n}");
                assert!((b - a - 0.6).abs() < 0.05);
            }
        }
        // C# leans left of the C/D boundary, D# right of D/E.
        let cs = absolute_span(61);
        assert!((cs.0 + cs.1) / 2.0 < 36.0);
        let ds = absolute_span(63);
        assert!((ds.0 + ds.1) / 2.0 > 37.0);
    }

    #[test]
    fn smaller_keyboards_sit_at_their_place_in_the_88_strip() {
        let k61 = Keyboard::standard(61).unwrap();
        assert_eq!(
            (k61.lowest_note, k61.highest_note(), k61.white_keys()),
            (36, 96, 36)
        );
        let (l, r) = k61.canonical_extent();
        // C2 is the 16th white key of the piano (A0 B0 C1..B1 = 9 white keys before C2).
        assert!((l - 9.0 / 52.0).abs() < 1e-6, "{l}");
        assert!((r - 45.0 / 52.0).abs() < 1e-6, "{r}");
        let k76 = Keyboard::standard(76).unwrap();
        assert_eq!(
            (k76.lowest_note, k76.highest_note(), k76.white_keys()),
            (28, 103, 45)
        );
        assert_eq!(canonical_span(60), PIANO_88.span(60).unwrap());
        assert_eq!(Keyboard::standard(50), Err(KeyboardError::Keys(50)));
        assert_eq!(Keyboard::new(10, 22), Err(KeyboardError::Range));
    }
}
