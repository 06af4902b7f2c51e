// SPDX-License-Identifier: MPL-2.0
//! Built-in music: a public-domain piece for the demo, and procedural exercises (scales,
//! chords, arpeggios) for tests and synthetic training data.

use super::notes::{MSECOND, Nanos, Note};

/// The opening of J. S. Bach's Prelude in C major, BWV 846 (1722, public domain): each bar
/// is one five-note chord broken as 1 2 3 4 5 3 4 5, twice; the lowest note is held for the
/// half bar, the second from its second sixteenth.
pub fn bach_prelude_c(bars: usize, sixteenth: Nanos) -> Vec<Note> {
    const CHORDS: [[u8; 5]; 11] = [
        [60, 64, 67, 72, 76], // C
        [60, 62, 69, 74, 77], // Dm7/C
        [59, 62, 67, 74, 77], // G7/B
        [60, 64, 67, 72, 76], // C
        [60, 64, 69, 76, 81], // Am/C
        [60, 62, 66, 69, 74], // D7/C
        [59, 62, 67, 74, 79], // G/B
        [59, 60, 64, 67, 72], // Cmaj7/B
        [57, 60, 64, 67, 72], // Am7
        [50, 57, 62, 66, 72], // D7
        [55, 59, 62, 67, 71], // G
    ];
    const PATTERN: [usize; 8] = [0, 1, 2, 3, 4, 2, 3, 4];
    let mut notes = Vec::new();
    for (b, chord) in CHORDS.iter().cycle().take(bars).enumerate() {
        for half in 0..2u64 {
            let t0 = (b as u64 * 16 + half * 8) * sixteenth;
            let end = t0 + 8 * sixteenth;
            notes.push(Note::new(chord[0], t0, end, 70));
            notes.push(Note::new(chord[1], t0 + sixteenth, end, 62));
            for (i, &k) in PATTERN.iter().enumerate().skip(2) {
                let s = t0 + i as u64 * sixteenth;
                notes.push(Note::new(chord[k], s, s + sixteenth, 75));
            }
        }
    }
    notes.sort();
    notes
}

/// Demo tempo: a sixteenth at 66 quarter notes per minute.
pub const DEMO_SIXTEENTH: Nanos = 60_000 * MSECOND / 66 / 4;

/// A major scale up and down over `octaves` from `tonic`, one note per `step`.
pub fn major_scale(tonic: u8, octaves: u8, step: Nanos, start: Nanos) -> Vec<Note> {
    const STEPS: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
    let mut up: Vec<u8> = (0..octaves)
        .flat_map(|o| STEPS.iter().map(move |s| tonic + 12 * o + s))
        .collect();
    up.push(tonic + 12 * octaves);
    let down: Vec<u8> = up.iter().rev().skip(1).copied().collect();
    up.into_iter()
        .chain(down)
        .enumerate()
        .map(|(i, p)| {
            let s = start + i as u64 * step;
            Note::new(p, s, s + step, 90)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_shape() {
        let n = bach_prelude_c(2, 100 * MSECOND);
        // 8 notes a half bar, 4 half bars.
        assert_eq!(n.len(), 32);
        assert_eq!(n[0], Note::new(60, 0, 800 * MSECOND, 70));
        assert_eq!(n.iter().map(|n| n.end).max(), Some(3200 * MSECOND));
        // Bar 2 holds D4 from its second sixteenth.
        assert!(n.contains(&Note::new(62, 1700 * MSECOND, 2400 * MSECOND, 62)));
    }

    #[test]
    fn scale_goes_up_and_down() {
        let s = major_scale(60, 1, 100 * MSECOND, 0);
        let pitches: Vec<u8> = s.iter().map(|n| n.pitch).collect();
        assert_eq!(
            pitches,
            [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60]
        );
    }
}
