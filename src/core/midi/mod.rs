// SPDX-License-Identifier: MPL-2.0
//! Standard MIDI Files (SMF): writing and reading timed MIDI messages and notes.
//!
//! Written files are format 0 with 1000 ticks per quarter note at 500000 µs per quarter note, so
//! one tick is 0.5 ms and any time on a 1 ms grid is stored exactly. Reading supports formats 0
//! and 1 with metrical (ticks per quarter note, with the tempo map) or SMPTE timecode division.

use midly::live::LiveEvent;
use midly::num::{u4, u15, u24, u28};
use midly::{
    Arena, Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind,
};
use thiserror::Error;

use super::notes::{Nanos, Note, SECOND, notes_to_events};

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

mod read;
#[cfg(test)]
mod tests;
mod tick;

pub use read::{messages_to_notes, smf_to_messages, smf_to_notes};
pub use tick::{TICK, TICK_INTERVAL, TickSchedule};
