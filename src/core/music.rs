// SPDX-License-Identifier: MPL-2.0
//! Built-in music: a public-domain piece for the demo, and procedural exercises (scales,
//! chords, arpeggios) for tests and synthetic training data.

use super::notes::{MSECOND, Nanos, Note, SECOND};
use super::sim::rng::Rng;

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

/// Procedurally generated two-hand piano music of about `seconds`, different for every
/// seed: a random key and tempo; the right hand plays scale runs, arpeggios, block chords,
/// repeated notes and trills, the left hand bass notes, broken chords and block chords.
pub fn procedural(seed: u64, seconds: f64) -> Vec<Note> {
    const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
    const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];
    let mut r = Rng::new(seed);
    let tonic = 36 + r.int(0, 12) as i32;
    let scale = if r.chance(0.6) { MAJOR } else { MINOR };
    let beat = (60.0 / r.range(60.0, 150.0) as f64 * SECOND as f64) as Nanos;
    // Degree d (any integer) to a MIDI note in the key.
    let note = |d: i32| tonic + 12 * d.div_euclid(7) + scale[d.rem_euclid(7) as usize];
    let mut notes = Vec::new();
    let mut push = |p: i32, s: Nanos, len: Nanos, v: u8| {
        if (21..=108).contains(&p) && len > 0 {
            notes.push(Note::new(p as u8, s, s + len, v));
        }
    };
    let end = (seconds * SECOND as f64) as Nanos;
    let mut t = 0;
    let mut degree = 14 + r.int(0, 7) as i32; // right hand around octave 4-5
    let progression = [0, 3, 4, 0, 5, 3, 1, 4];
    let mut bar = 0;
    while t < end {
        let root = progression[bar % progression.len()]
            + if r.chance(0.2) { r.int(0, 7) as i32 } else { 0 };
        let bar_len = 4 * beat;
        let vel = || 60 + (bar * 7 % 40) as u8;
        // Left hand.
        match r.int(0, 3) {
            0 => {
                for b in 0..4 {
                    let d = root + [0, 4, 2, 4][b];
                    push(note(d), t + b as u64 * beat, beat, vel());
                }
            }
            1 => {
                for d in [root, root + 2, root + 4] {
                    push(note(d + 7), t, bar_len / 2, vel());
                    push(note(d + 7), t + bar_len / 2, bar_len / 2 - beat / 8, vel());
                }
            }
            _ => {
                push(note(root), t, bar_len - beat / 4, vel());
                push(note(root + 7), t, bar_len - beat / 4, vel());
            }
        }
        // Right hand.
        let sub = *r.pick(&[2u64, 2, 3, 4]);
        let step = beat / sub;
        let n = 4 * sub;
        match r.int(0, 5) {
            0 => {
                let dir = if r.chance(0.5) { 1 } else { -1 };
                for k in 0..n {
                    push(note(degree), t + k * step, step, vel() + 10);
                    degree += dir;
                }
            }
            1 => {
                for k in 0..n {
                    let d = root + 14 + [0, 2, 4, 7, 4, 2][(k % 6) as usize];
                    push(note(d), t + k * step, step, vel() + 10);
                }
                degree = root + 14;
            }
            2 => {
                for b in 0..4u64 {
                    for d in [0, 2, 4] {
                        push(note(root + 14 + d), t + b * beat, beat * 3 / 4, vel() + 5);
                    }
                }
            }
            3 => {
                for k in 0..n {
                    push(note(degree), t + k * step, step * 3 / 4, vel() + 10);
                }
            }
            _ => {
                for k in 0..n {
                    push(
                        note(degree + (k % 2) as i32),
                        t + k * step,
                        step,
                        vel() + 10,
                    );
                }
            }
        }
        degree = degree.clamp(10, 30);
        t += bar_len;
        bar += 1;
    }
    notes.retain(|n| n.start < end);
    notes.sort();
    notes
}

/// The notes of `notes` between `from` and `from + len`, cut to that window and moved to
/// start at `lead_in`.
pub fn excerpt(notes: &[Note], from: Nanos, len: Nanos, lead_in: Nanos) -> Vec<Note> {
    let to = from + len;
    let mut out: Vec<Note> = notes
        .iter()
        .filter(|n| n.end > from && n.start < to)
        .map(|n| {
            let s = n.start.max(from) - from + lead_in;
            let e = n.end.min(to) - from + lead_in;
            Note::new(n.pitch, s, e, n.velocity)
        })
        .filter(|n| n.end > n.start)
        .collect();
    out.sort();
    out
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
    fn procedural_is_deterministic_varied_and_in_range() {
        let a = procedural(1, 20.0);
        assert_eq!(a, procedural(1, 20.0));
        assert_ne!(a, procedural(2, 20.0));
        assert!(a.len() > 40, "{}", a.len());
        assert!(
            a.iter()
                .all(|n| (21..=108).contains(&n.pitch) && n.end > n.start)
        );
        assert!(a.iter().all(|n| n.start < 20 * SECOND));
        // Both hands: notes below and above middle C.
        assert!(a.iter().any(|n| n.pitch < 60) && a.iter().any(|n| n.pitch >= 60));
    }

    #[test]
    fn excerpt_cuts_and_shifts() {
        let n = vec![
            Note::new(60, 0, 2 * SECOND, 80),
            Note::new(62, 3 * SECOND, 4 * SECOND, 80),
        ];
        let e = excerpt(&n, SECOND, 2500 * MSECOND, 500 * MSECOND);
        assert_eq!(
            e,
            vec![
                Note::new(60, 500 * MSECOND, 1500 * MSECOND, 80),
                Note::new(62, 2500 * MSECOND, 3000 * MSECOND, 80)
            ]
        );
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
