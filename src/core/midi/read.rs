// SPDX-License-Identifier: MPL-2.0
//! Reading Standard MIDI Files: formats 0 and 1, metrical and SMPTE timecode division.

use midly::{Format, Fps, MetaMessage, Smf, Timing, TrackEventKind};

use super::super::notes::{Nanos, Note, NoteEvent, SECOND, events_to_notes};
use super::{
    DEFAULT_TEMPO_US, MidiError, PERCUSSION_CHANNEL, SYSEX_END, SYSEX_START, TimedMessage,
    channel_message_bytes,
};

/// Decode SMF format 0 or 1 into channel messages and sysex with absolute times, merged across
/// tracks in time order (stable: track order at equal times, then file order).
///
/// Tempo events of any track apply to all tracks (as a format-1 conductor track does), starting
/// from 500000 µs per quarter note. With SMPTE timecode division a tick is 1 / (fps * subframes)
/// seconds, 29.97 fps drop-frame counting as 30000/1001 fps. Times are computed exactly with
/// integers and rounded to the nanosecond once. Split sysex (F0 packet continued by F7 escape
/// packets) is joined into one message at the time of its first packet; other escape events and
/// meta events are left out. Format 2 (sequential tracks) is [`MidiError::Unsupported`].
pub fn smf_to_messages(bytes: &[u8]) -> Result<Vec<TimedMessage>, MidiError> {
    decode(bytes).map(|d| d.messages)
}

/// Notes of an SMF: note-on with velocity 0 is a note-off; note-on while the same pitch is
/// already down on that channel ends the previous note (re-strike); notes still open at the end
/// end at the file's last event time (meta events such as End-of-Track included). Channel 10
/// (index 9, percussion) is left out. Sustain pedal is ignored (key state only). Sorted.
pub fn smf_to_notes(bytes: &[u8]) -> Result<Vec<Note>, MidiError> {
    let decoded = decode(bytes)?;
    Ok(notes_of(&decoded.messages, decoded.end_time))
}

/// Notes of messages, as [`smf_to_notes`] reads them; messages are taken stable-sorted by time
/// and notes still open end at the last message's time.
pub fn messages_to_notes(msgs: &[TimedMessage]) -> Vec<Note> {
    let mut sorted = msgs.to_vec();
    sorted.sort_by_key(|m| m.time);
    let end_time = sorted.last().map_or(0, |m| m.time);
    notes_of(&sorted, end_time)
}

/// Pairs note-ons and note-offs of time-ordered `msgs` per channel; open notes end at `end_time`.
fn notes_of(msgs: &[TimedMessage], end_time: Nanos) -> Vec<Note> {
    let mut channels: [Vec<NoteEvent>; 16] = Default::default();
    for m in msgs {
        let &[status, pitch, velocity, ..] = m.bytes.as_slice() else {
            continue;
        };
        let channel = status & 0x0f;
        if channel == PERCUSSION_CHANNEL {
            continue;
        }
        let (time, pitch) = (m.time, pitch & 0x7f);
        let event = match status & 0xf0 {
            0x90 if velocity > 0 => NoteEvent::On {
                time,
                pitch,
                velocity,
            },
            0x80 | 0x90 => NoteEvent::Off { time, pitch },
            _ => continue,
        };
        channels[usize::from(channel)].push(event);
    }
    let mut notes: Vec<Note> = channels
        .iter()
        .flat_map(|events| events_to_notes(events, end_time))
        .collect();
    notes.sort();
    notes
}

/// Ticks of 0.5 ms nearest to `time` (halves round up).
/// Messages of a file and the time of its last event.
struct Decoded {
    messages: Vec<TimedMessage>,
    end_time: Nanos,
}

/// A tempo segment: from tick `start` on, `tempo` µs per quarter note. `acc` is the time at
/// `start` in units of 1 / ticks-per-quarter µs.
#[derive(Clone, Copy)]
struct TempoSegment {
    start: u64,
    acc: u128,
    tempo: u32,
}

/// Converts absolute ticks of a file to nanoseconds.
enum Clock {
    /// Ticks per quarter note with a tempo map (segments sorted by start, the first at tick 0).
    Metrical {
        ticks_per_quarter: u128,
        segments: Vec<TempoSegment>,
    },
    /// `ticks_num / ticks_den` ticks per second.
    Timecode { ticks_num: u128, ticks_den: u128 },
}

impl Clock {
    /// The clock of `timing`, with tempo changes `(tick, µs per quarter note)` sorted by tick.
    fn new(timing: Timing, tempos: &[(u64, u32)]) -> Result<Self, MidiError> {
        match timing {
            Timing::Metrical(tpq) => {
                let ticks_per_quarter = u128::from(tpq.as_int());
                if ticks_per_quarter == 0 {
                    return Err(MidiError::Parse("division of 0 ticks per quarter".into()));
                }
                let mut segments = vec![TempoSegment {
                    start: 0,
                    acc: 0,
                    tempo: DEFAULT_TEMPO_US,
                }];
                for &(tick, tempo) in tempos {
                    let last = segments[segments.len() - 1];
                    segments.push(TempoSegment {
                        start: tick,
                        acc: last.acc + u128::from(tick - last.start) * u128::from(last.tempo),
                        tempo,
                    });
                }
                Ok(Clock::Metrical {
                    ticks_per_quarter,
                    segments,
                })
            }
            Timing::Timecode(fps, subframes) => {
                if subframes == 0 {
                    return Err(MidiError::Parse("SMPTE division of 0 subframes".into()));
                }
                let (fps_num, fps_den) = match fps {
                    Fps::Fps29 => (30_000, 1001),
                    other => (u128::from(other.as_int()), 1),
                };
                Ok(Clock::Timecode {
                    ticks_num: fps_num * u128::from(subframes),
                    ticks_den: fps_den,
                })
            }
        }
    }

    /// Time of `tick`, rounded to the nearest nanosecond.
    fn time(&self, tick: u64) -> Nanos {
        let (num, den) = match self {
            Clock::Metrical {
                ticks_per_quarter,
                segments,
            } => {
                // Segments start at tick 0, so at least one starts at or before `tick`.
                let i = segments.partition_point(|s| s.start <= tick).max(1) - 1;
                let s = segments[i];
                let acc = s.acc + u128::from(tick - s.start) * u128::from(s.tempo);
                (acc * 1000, *ticks_per_quarter)
            }
            Clock::Timecode {
                ticks_num,
                ticks_den,
            } => (
                u128::from(tick) * u128::from(SECOND) * ticks_den,
                *ticks_num,
            ),
        };
        Nanos::try_from((num + den / 2) / den).unwrap_or(Nanos::MAX)
    }
}

/// Big-endian u32 at `at`, if the bytes hold it.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// [`MidiError::Truncated`] when an SMF (starting with `MThd`) ends inside a chunk or before
/// all the tracks its header declares. midly reads such a file silently as far as it goes.
/// Also rejects the one header division midly panics on.
/// Bytes after the last declared track are ignored (some writers pad files).
fn check_complete(bytes: &[u8]) -> Result<(), MidiError> {
    if bytes.get(..4) != Some(b"MThd") {
        return Ok(());
    }
    let len = bytes.len();
    let truncated = |what: String| Err(MidiError::Truncated(what));
    let Some(header_len) = be_u32(bytes, 4) else {
        return truncated(format!("it ends after {len} bytes, inside its header"));
    };
    let mut pos = 8usize.saturating_add(header_len as usize);
    if header_len < 6 || pos > len {
        return truncated(format!("it ends after {len} bytes, inside its header"));
    }
    let declared = u16::from_be_bytes([bytes[10], bytes[11]]);
    if bytes[12] == 0x80 {
        // -128 frames per second: midly would overflow negating it.
        return Err(MidiError::Parse(
            "the header's SMPTE division gives -128 frames per second".into(),
        ));
    }
    let mut tracks = 0u32;
    while tracks < u32::from(declared) {
        if pos == len {
            return truncated(format!(
                "it holds {tracks} of the {declared} tracks its header declares"
            ));
        }
        let Some(chunk_len) = be_u32(bytes, pos + 4) else {
            return truncated(format!(
                "it ends after {len} bytes, inside the header of track {} of {declared}",
                tracks + 1
            ));
        };
        let is_track = &bytes[pos..pos + 4] == b"MTrk";
        let data = pos + 8;
        if data.saturating_add(chunk_len as usize) > len {
            let what = if is_track {
                format!("track {} of {declared}", tracks + 1)
            } else {
                "a chunk".to_string()
            };
            return truncated(format!(
                "{what} declares {chunk_len} bytes but only {} remain",
                len - data
            ));
        }
        tracks += u32::from(is_track);
        pos = data + chunk_len as usize;
    }
    Ok(())
}

/// Reads a file: its messages merged across tracks, with times, and its end time.
fn decode(bytes: &[u8]) -> Result<Decoded, MidiError> {
    check_complete(bytes)?;
    // midly trusts some header fields; a damaged file must not panic the caller.
    let smf = std::panic::catch_unwind(|| Smf::parse(bytes)).map_err(|_| {
        MidiError::Parse("the file's structure is damaged (the MIDI parser failed on it)".into())
    })??;
    if smf.header.format == Format::Sequential {
        return Err(MidiError::Unsupported(
            "format 2 (sequential tracks)".into(),
        ));
    }

    // (tick, track, index in track, bytes): sorting by this key merges the tracks stably.
    let mut raw: Vec<(u64, usize, usize, Vec<u8>)> = Vec::new();
    let mut tempos: Vec<(u64, u32)> = Vec::new();
    let mut end_tick = 0;
    for (t, track) in smf.tracks.iter().enumerate() {
        let mut tick = 0u64;
        // A sysex split into packets: its first packet's tick and index, and the bytes so far.
        let mut pending: Option<(u64, usize, Vec<u8>)> = None;
        for (i, event) in track.iter().enumerate() {
            tick += u64::from(event.delta.as_int());
            end_tick = end_tick.max(tick);
            match event.kind {
                TrackEventKind::Midi { channel, message } => {
                    raw.push((tick, t, i, channel_message_bytes(channel, message)));
                }
                TrackEventKind::SysEx(data) => {
                    if let Some((st, si, mut sysex)) = pending.take() {
                        sysex.push(SYSEX_END);
                        raw.push((st, t, si, sysex));
                    }
                    let sysex = [&[SYSEX_START], data].concat();
                    if data.last() == Some(&SYSEX_END) {
                        raw.push((tick, t, i, sysex));
                    } else {
                        pending = Some((tick, i, sysex));
                    }
                }
                TrackEventKind::Escape(data) => {
                    if let Some((st, si, mut sysex)) = pending.take() {
                        sysex.extend_from_slice(data);
                        if data.last() == Some(&SYSEX_END) {
                            raw.push((st, t, si, sysex));
                        } else {
                            pending = Some((st, si, sysex));
                        }
                    }
                }
                TrackEventKind::Meta(MetaMessage::Tempo(tempo)) => {
                    tempos.push((tick, tempo.as_int()));
                }
                TrackEventKind::Meta(_) => {}
            }
        }
        if let Some((st, si, mut sysex)) = pending {
            sysex.push(SYSEX_END);
            raw.push((st, t, si, sysex));
        }
    }
    raw.sort_by_key(|&(tick, t, i, _)| (tick, t, i));
    tempos.sort_by_key(|&(tick, _)| tick);

    let clock = Clock::new(smf.header.timing, &tempos)?;
    let messages = raw
        .into_iter()
        .map(|(tick, _, _, bytes)| TimedMessage::new(clock.time(tick), bytes))
        .collect();
    Ok(Decoded {
        messages,
        end_time: clock.time(end_tick),
    })
}
