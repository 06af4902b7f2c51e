// SPDX-License-Identifier: MPL-2.0
//! Notes and note events, and conversions between notes and rolls.

use super::roll::{RollLayout, VelocityFrame};

/// Time in nanoseconds from the start of the stream.
pub type Nanos = u64;

pub const MSECOND: Nanos = 1_000_000;
pub const SECOND: Nanos = 1_000_000_000;

/// A note: key `pitch` (MIDI number) held from `start` (inclusive) to `end` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Note {
    pub start: Nanos,
    pub pitch: u8,
    pub end: Nanos,
    pub velocity: u8,
}

impl Note {
    pub fn new(pitch: u8, start: Nanos, end: Nanos, velocity: u8) -> Self {
        Note {
            start,
            pitch,
            end,
            velocity,
        }
    }
}

/// A key going down or up at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoteEvent {
    On {
        time: Nanos,
        pitch: u8,
        velocity: u8,
    },
    Off {
        time: Nanos,
        pitch: u8,
    },
}

impl NoteEvent {
    pub fn time(&self) -> Nanos {
        match *self {
            NoteEvent::On { time, .. } | NoteEvent::Off { time, .. } => time,
        }
    }

    pub fn pitch(&self) -> u8 {
        match *self {
            NoteEvent::On { pitch, .. } | NoteEvent::Off { pitch, .. } => pitch,
        }
    }

    /// The MIDI channel message (status, data1, data2) on `channel`.
    pub fn to_midi(&self, channel: u8) -> [u8; 3] {
        match *self {
            NoteEvent::On {
                pitch, velocity, ..
            } => [
                0x90 | (channel & 0x0f),
                pitch & 0x7f,
                velocity.clamp(1, 127),
            ],
            NoteEvent::Off { pitch, .. } => [0x80 | (channel & 0x0f), pitch & 0x7f, 0],
        }
    }
}

/// Events of `notes` in time order; at equal times note-offs come before note-ons, so a
/// re-struck key is released before it sounds again.
pub fn notes_to_events(notes: &[Note]) -> Vec<NoteEvent> {
    let mut ev: Vec<NoteEvent> = notes
        .iter()
        .flat_map(|n| {
            [
                NoteEvent::On {
                    time: n.start,
                    pitch: n.pitch,
                    velocity: n.velocity,
                },
                NoteEvent::Off {
                    time: n.end,
                    pitch: n.pitch,
                },
            ]
        })
        .collect();
    ev.sort_by_key(|e| (e.time(), matches!(e, NoteEvent::On { .. }), e.pitch()));
    ev
}

/// Pairs note-ons with note-offs. A note-on while the key is already down ends the sounding
/// note there (re-strike). Keys still down after the last event end at `end_time`.
pub fn events_to_notes(events: &[NoteEvent], end_time: Nanos) -> Vec<Note> {
    let mut open: [Option<(Nanos, u8)>; 128] = [None; 128];
    let mut notes = Vec::new();
    for e in events {
        let p = (e.pitch() & 0x7f) as usize;
        if let Some((start, vel)) = open[p].take() {
            notes.push(Note::new(p as u8, start, e.time().max(start), vel));
        }
        if let NoteEvent::On { time, velocity, .. } = *e {
            open[p] = Some((time, velocity));
        }
    }
    for (p, o) in open.iter().enumerate() {
        if let Some((start, vel)) = *o {
            notes.push(Note::new(p as u8, start, end_time.max(start), vel));
        }
    }
    notes.sort();
    notes
}

/// Key changes between two consecutive velocity frames, as events at `time`. With an onset
/// channel, a key that stays down but is struck again in `cur` is released and struck again.
pub fn frame_transitions(
    layout: &RollLayout,
    prev: Option<&VelocityFrame>,
    cur: &VelocityFrame,
    time: Nanos,
) -> Vec<NoteEvent> {
    let mut offs = Vec::new();
    let mut ons = Vec::new();
    for k in 0..layout.keys.min(cur.keys()) {
        let pitch = layout.note(k);
        let was = prev.is_some_and(|p| p.frame.get(k).is_some_and(|&v| v > 0));
        let now = cur.frame[k] > 0;
        let restrike = was && now && cur.is_struck(k);
        if was && (!now || restrike) {
            offs.push(NoteEvent::Off { time, pitch });
        }
        if now && (!was || restrike) {
            let velocity = match &cur.onset {
                Some(o) if o[k] > 0 => o[k],
                _ => cur.frame[k],
            };
            ons.push(NoteEvent::On {
                time,
                pitch,
                velocity,
            });
        }
    }
    offs.extend(ons);
    offs
}

/// The roll of `notes` sampled at `frame_times`: a key is down in a frame when a note holds it at
/// that frame's time (start <= t < end). With `onset`, the onset channel marks the first frame of
/// each note. Notes outside the layout's range are left out.
pub fn notes_to_roll(
    notes: &[Note],
    layout: &RollLayout,
    frame_times: &[Nanos],
) -> Vec<VelocityFrame> {
    let mut roll: Vec<VelocityFrame> = frame_times
        .iter()
        .map(|_| VelocityFrame::silent(layout.keys, layout.onset))
        .collect();
    for n in notes {
        let Some(k) = layout.key(n.pitch) else {
            continue;
        };
        let first = frame_times.partition_point(|&t| t < n.start);
        let last = frame_times.partition_point(|&t| t < n.end);
        for (i, f) in roll.iter_mut().enumerate().take(last).skip(first) {
            f.frame[k] = n.velocity.max(1);
            if let Some(o) = f.onset.as_mut()
                && i == first
            {
                o[k] = n.velocity.max(1);
            }
        }
    }
    roll
}

/// Notes moved to another clock, `t' = scale * t + offset` (offset in seconds), as when a
/// MIDI recording is lined up with a video; notes that would start before 0 are left out.
pub fn retime(notes: &[Note], scale: f64, offset: f64) -> Vec<Note> {
    let at = |t: Nanos| {
        let v = scale * t as f64 + offset * SECOND as f64;
        (v >= 0.0).then_some(v as Nanos)
    };
    notes
        .iter()
        .filter_map(|n| Some(Note::new(n.pitch, at(n.start)?, at(n.end)?, n.velocity)))
        .collect()
}

/// Frame start times of a constant-rate stream: frame i at i * den / num seconds.
pub fn frame_times(n_frames: usize, fps_num: u32, fps_den: u32) -> Vec<Nanos> {
    (0..n_frames as u64)
        .map(|i| ((i as u128 * fps_den as u128 * SECOND as u128) / fps_num.max(1) as u128) as Nanos)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retime_scales_shifts_and_drops_what_falls_before_zero() {
        let notes = [
            Note::new(60, SECOND, 2 * SECOND, 90),
            Note::new(62, 10 * SECOND, 11 * SECOND, 80),
        ];
        let r = retime(&notes, 1.5, -6.0);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pitch, 62);
        assert_eq!(r[0].start, 9 * SECOND);
        assert_eq!(r[0].end, 10 * SECOND + SECOND / 2);
        assert_eq!(retime(&notes, 1.0, 0.0), notes.to_vec());
    }
    use crate::core::roll::{RollLayout, ValueFormat};

    #[test]
    fn events_round_trip() {
        let notes = vec![
            Note::new(60, 0, 500 * MSECOND, 90),
            Note::new(60, 500 * MSECOND, 900 * MSECOND, 80),
            Note::new(64, 100 * MSECOND, 1200 * MSECOND, 100),
        ];
        let ev = notes_to_events(&notes);
        // The first note's off comes before the re-strike at 500 ms.
        assert_eq!(
            ev[2],
            NoteEvent::Off {
                time: 500 * MSECOND,
                pitch: 60
            }
        );
        assert_eq!(
            ev[3],
            NoteEvent::On {
                time: 500 * MSECOND,
                pitch: 60,
                velocity: 80
            }
        );
        let mut sorted = notes.clone();
        sorted.sort();
        assert_eq!(events_to_notes(&ev, 0), sorted);
    }

    #[test]
    fn open_notes_end_at_end_time_and_restrike_splits() {
        let ev = [
            NoteEvent::On {
                time: 0,
                pitch: 30,
                velocity: 50,
            },
            NoteEvent::On {
                time: 10,
                pitch: 30,
                velocity: 60,
            },
        ];
        assert_eq!(
            events_to_notes(&ev, 25),
            vec![Note::new(30, 0, 10, 50), Note::new(30, 10, 25, 60)]
        );
    }

    #[test]
    fn roll_of_notes_and_back() {
        let layout = RollLayout::piano88(ValueFormat::U8, true);
        let times = frame_times(10, 25, 1);
        assert_eq!(times[1], 40 * MSECOND);
        let notes = vec![
            Note::new(21, 0, 120 * MSECOND, 100),            // frames 0..3
            Note::new(21, 120 * MSECOND, 200 * MSECOND, 70), // re-struck: frames 3..5
            Note::new(108, 50 * MSECOND, 81 * MSECOND, 100), // frame 2 only (80 ms)
            Note::new(20, 0, 400 * MSECOND, 100),            // below A0: left out
        ];
        let roll = notes_to_roll(&notes, &layout, &times);
        let down: Vec<bool> = roll.iter().map(|f| f.is_down(0)).collect();
        assert_eq!(
            down,
            [
                true, true, true, true, true, false, false, false, false, false
            ]
        );
        assert!(roll[0].is_struck(0) && roll[3].is_struck(0) && !roll[1].is_struck(0));
        assert_eq!(roll[3].frame[0], 70);
        assert!(roll[2].is_down(87) && !roll[1].is_down(87) && !roll[3].is_down(87));

        let mut events = Vec::new();
        let mut prev = None;
        for (f, &t) in roll.iter().zip(&times) {
            events.extend(frame_transitions(&layout, prev, f, t));
            prev = Some(f);
        }
        let back = events_to_notes(&events, 400 * MSECOND);
        assert_eq!(
            back,
            vec![
                Note::new(21, 0, 120 * MSECOND, 100),
                Note::new(108, 80 * MSECOND, 120 * MSECOND, 100),
                Note::new(21, 120 * MSECOND, 200 * MSECOND, 70),
            ]
        );
    }

    #[test]
    fn midi_bytes() {
        let on = NoteEvent::On {
            time: 0,
            pitch: 60,
            velocity: 0,
        };
        assert_eq!(on.to_midi(0), [0x90, 60, 1]);
        assert_eq!(
            NoteEvent::Off { time: 0, pitch: 60 }.to_midi(3),
            [0x83, 60, 0]
        );
    }
}
