// SPDX-License-Identifier: MPL-2.0
//! Standard MIDI Files (SMF): writing and reading timed MIDI messages and notes.
//!
//! Written files are format 0 with 1000 ticks per quarter note at 500000 µs per quarter note, so
//! one tick is 0.5 ms and any time on a 1 ms grid is stored exactly. Reading supports formats 0
//! and 1 with metrical (ticks per quarter note, with the tempo map) or SMPTE timecode division.

use midly::live::LiveEvent;
use midly::num::{u4, u15, u24, u28};
use midly::{
    Arena, Format, Fps, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind,
};
use thiserror::Error;

use super::notes::{Nanos, Note, NoteEvent, SECOND, events_to_notes, notes_to_events};

/// Ticks per quarter note of written files.
const WRITE_TICKS_PER_QUARTER: u16 = 1000;
/// Tempo of written files, and the tempo of read files until their first tempo event, in
/// microseconds per quarter note (120 bpm).
const DEFAULT_TEMPO_US: u32 = 500_000;
/// Length of one tick of written files: 0.5 ms.
const WRITE_TICK_NS: Nanos = DEFAULT_TEMPO_US as Nanos * 1000 / WRITE_TICKS_PER_QUARTER as Nanos;
/// Largest SMF delta time (a 28-bit variable-length quantity), in ticks.
const MAX_DELTA_TICKS: u64 = (1 << 28) - 1;
/// Latest time a written file can hold: one maximal delta from the start, about 37 hours
/// (any two times up to this one are then at most one delta apart).
pub const MAX_WRITE_TIME: Nanos = MAX_DELTA_TICKS * WRITE_TICK_NS + WRITE_TICK_NS / 2 - 1;
/// Channel index of General MIDI percussion (channel 10).
const PERCUSSION_CHANNEL: u8 = 9;
/// Start of a system exclusive message.
const SYSEX_START: u8 = 0xF0;
/// End of a system exclusive message.
const SYSEX_END: u8 = 0xF7;

/// Errors of reading and writing MIDI files.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MidiError {
    /// The bytes are not a valid Standard MIDI File.
    #[error("invalid MIDI file: {0}")]
    Parse(String),
    /// A valid file using a feature this module does not handle.
    #[error("unsupported MIDI file: {0}")]
    Unsupported(String),
    /// A message that is neither a complete channel message nor a system exclusive message.
    #[error("invalid MIDI message {0:02X?}")]
    InvalidMessage(Vec<u8>),
    /// The file could not be encoded.
    #[error("cannot write MIDI file: {0}")]
    Write(String),
    /// The file ends before its chunks do: it was cut short.
    #[error(
        "truncated MIDI file: {0}; the file was cut short (an interrupted download or copy?), use a complete copy"
    )]
    Truncated(String),
}

impl From<midly::Error> for MidiError {
    fn from(e: midly::Error) -> Self {
        MidiError::Parse(e.to_string())
    }
}

/// A raw MIDI message (channel message or sysex F0.. ) at an absolute time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedMessage {
    /// Time from the start of the stream.
    pub time: Nanos,
    /// The message: status byte then data bytes.
    pub bytes: Vec<u8>,
}

impl TimedMessage {
    /// A message of `bytes` at `time`.
    pub fn new(time: Nanos, bytes: impl Into<Vec<u8>>) -> Self {
        TimedMessage {
            time,
            bytes: bytes.into(),
        }
    }
}

/// Length of a channel message by status byte (None for non-channel).
///
/// Note off/on, poly aftertouch, controller and pitch bend take 3 bytes, program change and
/// channel aftertouch 2.
pub fn channel_message_len(status: u8) -> Option<usize> {
    match status {
        0x80..=0xBF | 0xE0..=0xEF => Some(3),
        0xC0..=0xDF => Some(2),
        _ => None,
    }
}

/// Encode messages (any order; stable-sorted by time) as a format-0 Standard MIDI File with
/// division 1000 ticks per quarter and tempo 500000 us/qn, so 1 tick = 0.5 ms: times are exact to 1 ms.
///
/// A message at `time` is written at tick `round(time / 0.5 ms)`. Channel messages
/// (0x80..=0xEF, with correct data length; extra trailing bytes ignored, as GStreamer's midiparse
/// appends a stray byte after running-status messages) and sysex (F0...) are written; 0xF9 ticks
/// and other realtime/system bytes are skipped. A sysex is written up to its F7 (added when
/// missing). Ends with End-of-Track at the last message time (skipped messages included, so the
/// file keeps the stream's length).
///
/// Fails with [`MidiError::InvalidMessage`] for an empty message, one starting with a data byte, a
/// truncated channel message or a data byte of 0x80 or more.
pub fn messages_to_smf(msgs: &[TimedMessage]) -> Result<Vec<u8>, MidiError> {
    let mut sorted: Vec<&TimedMessage> = msgs.iter().collect();
    sorted.sort_by_key(|m| m.time);

    let arena = Arena::new();
    let mut track = Vec::with_capacity(sorted.len() + 2);
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(DEFAULT_TEMPO_US))),
    });
    let mut last_tick = 0;
    for m in &sorted {
        if let Some(kind) = encode_message(&m.bytes, &arena)? {
            let tick = ns_to_tick(m.time);
            track.push(TrackEvent {
                delta: tick_delta(last_tick, tick)?,
                kind,
            });
            last_tick = tick;
        }
    }
    let end_tick = sorted.last().map_or(0, |m| ns_to_tick(m.time));
    track.push(TrackEvent {
        delta: tick_delta(last_tick, end_tick)?,
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });

    let mut smf = Smf::new(Header::new(
        Format::SingleTrack,
        Timing::Metrical(u15::new(WRITE_TICKS_PER_QUARTER)),
    ));
    smf.tracks.push(track);
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .map_err(|e| MidiError::Write(e.to_string()))?;
    Ok(out)
}

/// Checks that [`messages_to_smf`] can write `bytes` at `time`: a message it would reject
/// ([`MidiError::InvalidMessage`]) or a time after [`MAX_WRITE_TIME`] ([`MidiError::Write`]) is an
/// error. A writer of a stream can skip such a message instead of losing the whole file.
pub fn check_message(time: Nanos, bytes: &[u8]) -> Result<(), MidiError> {
    encode_message(bytes, &Arena::new())?;
    if time > MAX_WRITE_TIME {
        return Err(MidiError::Write(format!(
            "a message at {:.3} s is later than the {:.0} s a MIDI file can hold",
            time as f64 / SECOND as f64,
            MAX_WRITE_TIME as f64 / SECOND as f64
        )));
    }
    Ok(())
}

/// Notes to SMF on channel 0, with an optional program change at time 0.
///
/// Note times are rounded to the file's 0.5 ms ticks first; a note shorter than a tick after
/// rounding lasts one tick, so it is not lost. At equal times note-offs come before note-ons, so
/// a note ending where the next one on the same key starts reads back as two notes.
pub fn notes_to_smf(notes: &[Note], program: Option<u8>) -> Result<Vec<u8>, MidiError> {
    let quantized: Vec<Note> = notes
        .iter()
        .map(|n| {
            let start = ns_to_tick(n.start);
            let end = ns_to_tick(n.end).max(start + 1);
            Note::new(
                n.pitch,
                start * WRITE_TICK_NS,
                end * WRITE_TICK_NS,
                n.velocity,
            )
        })
        .collect();
    let program = program.map(|p| TimedMessage::new(0, [0xC0, p]));
    let msgs: Vec<TimedMessage> = program
        .into_iter()
        .chain(
            notes_to_events(&quantized)
                .iter()
                .map(|e| TimedMessage::new(e.time(), e.to_midi(0))),
        )
        .collect();
    messages_to_smf(&msgs)
}

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
fn ns_to_tick(time: Nanos) -> u64 {
    time / WRITE_TICK_NS + u64::from(time % WRITE_TICK_NS >= WRITE_TICK_NS / 2)
}

/// The delta time from `from` to `to` (`from <= to`), if it fits an SMF variable-length quantity.
fn tick_delta(from: u64, to: u64) -> Result<u28, MidiError> {
    u32::try_from(to - from)
        .ok()
        .and_then(u28::try_from)
        .ok_or_else(|| {
            MidiError::Write(format!(
                "a gap of {} ticks between messages exceeds the SMF limit",
                to - from
            ))
        })
}

/// The track event of one raw message, or None for a message that is not written (realtime and
/// system common messages).
fn encode_message<'a>(
    bytes: &[u8],
    arena: &'a Arena,
) -> Result<Option<TrackEventKind<'a>>, MidiError> {
    let invalid = || MidiError::InvalidMessage(bytes.to_vec());
    let &status = bytes.first().ok_or_else(invalid)?;
    if let Some(len) = channel_message_len(status) {
        let msg = bytes
            .get(..len)
            .filter(|m| m[1..].iter().all(|&b| b < 0x80))
            .ok_or_else(invalid)?;
        match LiveEvent::parse(msg) {
            Ok(LiveEvent::Midi { channel, message }) => {
                Ok(Some(TrackEventKind::Midi { channel, message }))
            }
            _ => Err(invalid()),
        }
    } else if status == SYSEX_START {
        // The SMF sysex event holds the bytes after F0, up to and including F7.
        let body = &bytes[1..];
        let data = match body.iter().position(|&b| b >= 0x80) {
            Some(i) if body[i] == SYSEX_END => arena.add(&body[..=i]),
            Some(_) => return Err(invalid()),
            None => arena.add_vec([body, &[SYSEX_END]].concat()),
        };
        Ok(Some(TrackEventKind::SysEx(data)))
    } else if status < 0x80 {
        Err(invalid())
    } else {
        Ok(None)
    }
}

/// Raw bytes of a channel message.
fn channel_message_bytes(channel: u4, message: MidiMessage) -> Vec<u8> {
    let ch = channel.as_int();
    match message {
        MidiMessage::NoteOff { key, vel } => vec![0x80 | ch, key.as_int(), vel.as_int()],
        MidiMessage::NoteOn { key, vel } => vec![0x90 | ch, key.as_int(), vel.as_int()],
        MidiMessage::Aftertouch { key, vel } => vec![0xA0 | ch, key.as_int(), vel.as_int()],
        MidiMessage::Controller { controller, value } => {
            vec![0xB0 | ch, controller.as_int(), value.as_int()]
        }
        MidiMessage::ProgramChange { program } => vec![0xC0 | ch, program.as_int()],
        MidiMessage::ChannelAftertouch { vel } => vec![0xD0 | ch, vel.as_int()],
        MidiMessage::PitchBend { bend } => {
            let value = bend.0.as_int();
            vec![0xE0 | ch, (value & 0x7f) as u8, (value >> 7) as u8]
        }
    }
}

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

/// The 0xF9 "tick" message GStreamer's midiparse sends every 10 ms between events.
pub const TICK: u8 = 0xF9;
/// How often midiparse sends a tick.
pub const TICK_INTERVAL: Nanos = 10_000_000;

/// When to send ticks in a live MIDI event stream, as midiparse does: on every multiple of
/// [`TICK_INTERVAL`] between events, none before the first one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickSchedule {
    pos: Option<Nanos>,
}

impl TickSchedule {
    /// Start again (a new stream: no ticks before its first output).
    pub fn reset(&mut self) {
        self.pos = None;
    }

    /// The ticks due after the last position and before `t`, and at `t` too when no event
    /// is sent there; the position moves to `t`.
    pub fn until(&mut self, t: Nanos, event_at_t: bool) -> Vec<Nanos> {
        let iv = TICK_INTERVAL;
        let Some(from) = self.pos else {
            self.pos = Some(t);
            return if !event_at_t && t.is_multiple_of(iv) {
                vec![t]
            } else {
                Vec::new()
            };
        };
        let mut out = Vec::new();
        let mut g = (from / iv + 1) * iv;
        while g < t || (g == t && !event_at_t) {
            out.push(g);
            g += iv;
        }
        self.pos = Some(t.max(from));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::notes::MSECOND;

    #[test]
    fn ticks_fall_on_the_10_ms_grid_between_events() {
        let ms = 1_000_000;
        let mut t = TickSchedule::default();
        // First output at 20 ms with no event there: a tick on the grid, none before.
        assert_eq!(t.until(20 * ms, false), vec![20 * ms]);
        // Up to an event at 55 ms: 30, 40, 50.
        assert_eq!(t.until(55 * ms, true), vec![30 * ms, 40 * ms, 50 * ms]);
        // An event exactly on the grid takes the tick's place.
        assert_eq!(t.until(70 * ms, true), vec![60 * ms]);
        assert_eq!(t.until(80 * ms, false), vec![80 * ms]);
        // Time never runs back.
        assert!(t.until(10 * ms, false).is_empty());
        t.reset();
        assert!(t.until(15 * ms, false).is_empty());
    }

    fn msg(time_ms: u64, bytes: &[u8]) -> TimedMessage {
        TimedMessage::new(time_ms * MSECOND, bytes)
    }

    fn ev(delta: u32, kind: TrackEventKind<'_>) -> TrackEvent<'_> {
        TrackEvent {
            delta: u28::new(delta),
            kind,
        }
    }

    fn midi(channel: u8, bytes: &[u8]) -> TrackEventKind<'static> {
        let message = match (bytes[0], bytes[1], bytes[2]) {
            (0x90, key, vel) => MidiMessage::NoteOn {
                key: key.into(),
                vel: vel.into(),
            },
            (0x80, key, vel) => MidiMessage::NoteOff {
                key: key.into(),
                vel: vel.into(),
            },
            _ => unreachable!("test helper takes note messages only"),
        };
        TrackEventKind::Midi {
            channel: channel.into(),
            message,
        }
    }

    fn tempo(us: u32) -> TrackEventKind<'static> {
        TrackEventKind::Meta(MetaMessage::Tempo(us.into()))
    }

    const EOT: TrackEventKind<'static> = TrackEventKind::Meta(MetaMessage::EndOfTrack);

    fn write(smf: &Smf) -> Vec<u8> {
        let mut out = Vec::new();
        smf.write_std(&mut out).unwrap();
        out
    }

    #[test]
    fn message_lengths() {
        assert_eq!(channel_message_len(0x80), Some(3));
        assert_eq!(channel_message_len(0x9F), Some(3));
        assert_eq!(channel_message_len(0xB3), Some(3));
        assert_eq!(channel_message_len(0xC0), Some(2));
        assert_eq!(channel_message_len(0xDF), Some(2));
        assert_eq!(channel_message_len(0xEF), Some(3));
        assert_eq!(channel_message_len(0xF0), None);
        assert_eq!(channel_message_len(0xF9), None);
        assert_eq!(channel_message_len(0x40), None);
    }

    #[test]
    fn notes_round_trip_exact_to_1ms() {
        let notes = vec![
            Note::new(60, MSECOND, 500 * MSECOND, 90),
            Note::new(60, 500 * MSECOND, 501 * MSECOND, 1), // re-struck, 1 ms long
            Note::new(64, 1234 * MSECOND, 2000 * MSECOND, 127),
            Note::new(21, 61_001 * MSECOND, 61_002 * MSECOND, 64),
            Note::new(108, 61_001 * MSECOND, 3_600_000 * MSECOND, 100),
        ];
        let smf = notes_to_smf(&notes, None).unwrap();
        assert_eq!(smf_to_notes(&smf).unwrap(), notes);
        // Tempo, then 5 ons and 5 offs, then End-of-Track, all on channel 0.
        let msgs = smf_to_messages(&smf).unwrap();
        assert_eq!(msgs.len(), 10);
        assert!(msgs.iter().all(|m| m.bytes[0] & 0x0f == 0));
        assert_eq!(msgs[0], msg(1, &[0x90, 60, 90]));
        assert_eq!(msgs[9], msg(3_600_000, &[0x80, 108, 0]));
    }

    #[test]
    fn times_round_to_half_milliseconds() {
        let msgs = [
            TimedMessage::new(1_249_999, [0x90, 60, 100]),
            TimedMessage::new(1_250_000, [0x80, 60, 0]),
        ];
        let back = smf_to_messages(&messages_to_smf(&msgs).unwrap()).unwrap();
        assert_eq!(back[0].time, MSECOND);
        assert_eq!(back[1].time, 1_500_000);
        // A note shorter than a tick keeps one tick.
        let short = [Note::new(60, 0, 100_000, 80)];
        let back = smf_to_notes(&notes_to_smf(&short, None).unwrap()).unwrap();
        assert_eq!(back, [Note::new(60, 0, 500_000, 80)]);
    }

    #[test]
    fn velocity_zero_note_on_is_note_off() {
        let msgs = [msg(0, &[0x90, 60, 100]), msg(100, &[0x90, 60, 0])];
        let expected = [Note::new(60, 0, 100 * MSECOND, 100)];
        assert_eq!(messages_to_notes(&msgs), expected);
        let smf = messages_to_smf(&msgs).unwrap();
        assert_eq!(smf_to_notes(&smf).unwrap(), expected);
    }

    #[test]
    fn restrike_and_open_notes() {
        let msgs = [
            msg(0, &[0x90, 60, 80]),
            msg(10, &[0x91, 62, 70]), // never released
            msg(50, &[0x90, 60, 90]), // re-strike
            msg(80, &[0x80, 60, 64]),
            msg(90, &[0x80, 60, 64]),   // nothing down: ignored
            msg(200, &[0xB0, 64, 127]), // sustain pedal: ignored, but the last event
        ];
        let expected = vec![
            Note::new(60, 0, 50 * MSECOND, 80),
            Note::new(62, 10 * MSECOND, 200 * MSECOND, 70),
            Note::new(60, 50 * MSECOND, 80 * MSECOND, 90),
        ];
        assert_eq!(messages_to_notes(&msgs), expected);
        assert_eq!(
            smf_to_notes(&messages_to_smf(&msgs).unwrap()).unwrap(),
            expected
        );
    }

    #[test]
    fn same_key_on_two_channels_is_two_notes() {
        let msgs = [
            msg(0, &[0x90, 60, 80]),
            msg(10, &[0x92, 60, 70]),
            msg(20, &[0x80, 60, 0]),
            msg(30, &[0x82, 60, 0]),
        ];
        assert_eq!(
            messages_to_notes(&msgs),
            [
                Note::new(60, 0, 20 * MSECOND, 80),
                Note::new(60, 10 * MSECOND, 30 * MSECOND, 70),
            ]
        );
    }

    #[test]
    fn drum_channel_left_out() {
        let msgs = [
            msg(0, &[0x99, 36, 100]),
            msg(0, &[0x90, 48, 100]),
            msg(100, &[0x89, 36, 0]),
            msg(100, &[0x80, 48, 0]),
        ];
        let expected = [Note::new(48, 0, 100 * MSECOND, 100)];
        assert_eq!(messages_to_notes(&msgs), expected);
        let smf = messages_to_smf(&msgs).unwrap();
        assert_eq!(smf_to_notes(&smf).unwrap(), expected);
        // The drum messages are still in the file.
        assert_eq!(smf_to_messages(&smf).unwrap().len(), 4);
    }

    #[test]
    fn format1_tempo_change_applies_to_all_tracks() {
        // 480 ticks per quarter: 120 bpm (0.5 s per quarter) until tick 960 = 1 s, then 60 bpm
        // (1 s per quarter). The change is in track 1 and must also apply to track 2.
        let mut smf = Smf::new(Header::new(
            Format::Parallel,
            Timing::Metrical(u15::new(480)),
        ));
        smf.tracks.push(vec![ev(0, tempo(500_000)), ev(0, EOT)]);
        smf.tracks.push(vec![
            ev(480, midi(0, &[0x90, 60, 100])), // 0.5 s
            ev(480, tempo(1_000_000)),          // tick 960 = 1 s
            ev(0, midi(0, &[0x80, 60, 0])),     // 1 s
            ev(480, EOT),                       // tick 1440 = 2 s
        ]);
        smf.tracks.push(vec![
            ev(960, midi(1, &[0x90, 64, 90])), // 1 s, after track 1's off at 1 s
            ev(720, midi(1, &[0x80, 64, 0])),  // tick 1680 = 2.5 s
            ev(240, midi(1, &[0x90, 67, 80])), // tick 1920 = 3 s, never released
            ev(0, EOT),
        ]);
        let bytes = write(&smf);
        assert_eq!(
            smf_to_messages(&bytes).unwrap(),
            [
                msg(500, &[0x90, 60, 100]),
                msg(1000, &[0x80, 60, 0]),
                msg(1000, &[0x91, 64, 90]),
                msg(2500, &[0x81, 64, 0]),
                msg(3000, &[0x91, 67, 80]),
            ]
        );
        assert_eq!(
            smf_to_notes(&bytes).unwrap(),
            [
                Note::new(60, 500 * MSECOND, 1000 * MSECOND, 100),
                Note::new(64, 1000 * MSECOND, 2500 * MSECOND, 90),
                Note::new(67, 3000 * MSECOND, 3000 * MSECOND, 80),
            ]
        );
    }

    #[test]
    fn smpte_division() {
        // 25 fps x 40 subframes = 1000 ticks per second; tempo events do not matter.
        let mut smf = Smf::new(Header::new(
            Format::SingleTrack,
            Timing::Timecode(Fps::Fps25, 40),
        ));
        smf.tracks.push(vec![
            ev(0, tempo(1_000_000)),
            ev(1500, midi(0, &[0x90, 60, 100])),
            ev(1, midi(0, &[0x80, 60, 0])),
            ev(0, EOT),
        ]);
        let times: Vec<Nanos> = smf_to_messages(&write(&smf))
            .unwrap()
            .iter()
            .map(|m| m.time)
            .collect();
        assert_eq!(times, [1500 * MSECOND, 1501 * MSECOND]);

        // 29.97 fps x 100 subframes: 2997 ticks = 2997 * 1001 / 3_000_000 s = 0.999999 s.
        smf.header.timing = Timing::Timecode(Fps::Fps29, 100);
        smf.tracks[0][1].delta = u28::new(2997);
        let first = smf_to_messages(&write(&smf)).unwrap()[0].time;
        assert_eq!(first, 999_999_000);
    }

    #[test]
    fn format2_unsupported() {
        let mut smf = Smf::new(Header::new(
            Format::Sequential,
            Timing::Metrical(u15::new(96)),
        ));
        smf.tracks.push(vec![ev(0, EOT)]);
        assert!(matches!(
            smf_to_messages(&write(&smf)),
            Err(MidiError::Unsupported(_))
        ));
        assert!(matches!(
            smf_to_notes(b"not a midi file"),
            Err(MidiError::Parse(_))
        ));
    }

    #[test]
    fn program_change_when_requested() {
        let notes = [Note::new(60, 0, 100 * MSECOND, 100)];
        let with = smf_to_messages(&notes_to_smf(&notes, Some(5)).unwrap()).unwrap();
        assert_eq!(with[0], msg(0, &[0xC0, 5]));
        assert_eq!(with[1], msg(0, &[0x90, 60, 100]));
        let without = smf_to_messages(&notes_to_smf(&notes, None).unwrap()).unwrap();
        assert_eq!(without.len(), 2);
        assert!(without.iter().all(|m| m.bytes[0] & 0xf0 != 0xC0));
    }

    #[test]
    fn stray_bytes_realtime_and_sysex() {
        let sysex = [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7];
        let msgs = [
            msg(20, &[0x80, 60, 0, 0x00]), // stray trailing byte, given out of order
            msg(0, &[0x90, 60, 100, 0x3C]),
            msg(5, &[0xF9]),
            msg(5, &[0xC1, 3, 0x45]),
            msg(7, &sysex),
            msg(8, &[0xF0, 0x43, 0x10]), // unterminated: F7 added
            msg(9, &[0xE0, 0x00, 0x40]),
            msg(30, &[0xF8]), // skipped, but sets the end of the file
        ];
        let smf = messages_to_smf(&msgs).unwrap();
        assert_eq!(
            smf_to_messages(&smf).unwrap(),
            [
                msg(0, &[0x90, 60, 100]),
                msg(5, &[0xC1, 3]),
                msg(7, &sysex),
                msg(8, &[0xF0, 0x43, 0x10, 0xF7]),
                msg(9, &[0xE0, 0x00, 0x40]),
                msg(20, &[0x80, 60, 0]),
            ]
        );
        // The open-note end is the End-of-Track at 30 ms.
        let open = messages_to_smf(&[msg(0, &[0x90, 40, 50]), msg(30, &[0xF8])]).unwrap();
        assert_eq!(
            smf_to_notes(&open).unwrap(),
            [Note::new(40, 0, 30 * MSECOND, 50)]
        );
    }

    #[test]
    fn invalid_messages_rejected() {
        for bad in [
            &[][..],
            &[0x3C, 0x40],
            &[0x90, 60],
            &[0x90, 0x80, 10],
            &[0xF0, 0x01, 0x90, 0xF7],
        ] {
            assert_eq!(
                messages_to_smf(&[msg(0, bad)]),
                Err(MidiError::InvalidMessage(bad.to_vec()))
            );
        }
    }

    #[test]
    fn truncated_file_says_truncated() {
        let notes: Vec<Note> = (0..20)
            .map(|i| Note::new(60 + i, u64::from(i) * 100 * MSECOND, 2000 * MSECOND, 90))
            .collect();
        let smf = notes_to_smf(&notes, Some(0)).unwrap();
        assert_eq!(smf_to_notes(&smf).unwrap().len(), 20);
        // Cut inside the track, inside the track's chunk header, inside the file header.
        for cut in [smf.len() - 1, smf.len() / 2, 14 + 8 + 3, 14 + 2, 10] {
            let err = smf_to_notes(&smf[..cut]).unwrap_err();
            assert!(
                matches!(err, MidiError::Truncated(_)),
                "cut at {cut}: {err}"
            );
            assert!(err.to_string().contains("truncated"), "{err}");
        }
        let err = smf_to_messages(&smf[..smf.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("track 1 of 1 declares"), "{err}");
        // Ends right after the header: no track at all.
        let err = smf_to_notes(&smf[..14]).unwrap_err().to_string();
        assert!(err.contains("0 of the 1 tracks"), "{err}");
        // Padding after the last track is not truncation.
        let padded = [smf.as_slice(), &[0, 0, 0]].concat();
        assert_eq!(smf_to_notes(&padded).unwrap().len(), 20);
    }

    #[test]
    fn check_message_matches_the_writer() {
        assert_eq!(check_message(0, &[0x90, 60, 100]), Ok(()));
        assert_eq!(check_message(MAX_WRITE_TIME, &[0xF9]), Ok(()));
        assert!(matches!(
            check_message(0, &[0x90, 60]),
            Err(MidiError::InvalidMessage(_))
        ));
        assert!(matches!(
            check_message(MAX_WRITE_TIME + 1, &[0x90, 60, 100]),
            Err(MidiError::Write(_))
        ));
        // The latest time a file holds is written, one later is not.
        let at = |t| messages_to_smf(&[TimedMessage::new(t, [0x90, 60, 100])]);
        assert!(at(MAX_WRITE_TIME).is_ok());
        assert!(at(MAX_WRITE_TIME + 1).is_err());
    }

    #[test]
    fn split_sysex_joined() {
        let mut smf = Smf::new(Header::new(
            Format::SingleTrack,
            Timing::Metrical(u15::new(1000)),
        ));
        smf.tracks.push(vec![
            ev(0, TrackEventKind::SysEx(&[0x43, 0x12])),
            ev(2, midi(0, &[0x90, 60, 100])),
            ev(2, TrackEventKind::Escape(&[0x00, 0xF7])),
            ev(0, EOT),
        ]);
        assert_eq!(
            smf_to_messages(&write(&smf)).unwrap(),
            [
                msg(0, &[0xF0, 0x43, 0x12, 0x00, 0xF7]),
                msg(1, &[0x90, 60, 100]),
            ]
        );
    }

    #[test]
    fn real_file_has_notes() {
        // The shared data (not part of the project): $PIANOLA_SHARED, else ../shared.
        let path = std::env::var_os("PIANOLA_SHARED")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
            .join("data/midi/pianobooster/BoosterMusic_04-FrereJacques.mid");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set PIANOLA_SHARED)", path.display()));
        let notes = smf_to_notes(&bytes).unwrap();
        assert!(!notes.is_empty());
        assert!(notes.is_sorted());
        assert!(notes.iter().all(|n| n.start <= n.end && n.velocity > 0));
        // Writing the notes and reading them back changes nothing but sub-tick times.
        let back = smf_to_notes(&notes_to_smf(&notes, Some(0)).unwrap()).unwrap();
        assert_eq!(back.len(), notes.len());
    }
}
