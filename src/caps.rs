// SPDX-License-Identifier: MPL-2.0
//! Every caps name and field the plugin uses, in one place.
//!
//! `application/x-piano-roll`: one buffer per video frame (PTS and duration of that frame), with
//! - `format` (string): `F32LE` (probabilities in [0, 1]) or `U8` (velocities, 0 = key up);
//! - `keys` (int): number of keys; `lowest-note` (int): MIDI note of the first key (88 and 21
//!   for a full piano);
//! - `channels` (string): `frame` (key down) or `frame+onset` (key down, then key struck);
//! - `framerate` (fraction): the video's frame rate.
//!
//! The buffer holds `keys` values of the frame channel, then `keys` of the onset channel if any.
//!
//! `audio/x-midi-event`: one MIDI message per buffer, PTS = event time, with 0xF9 ticks as
//! GStreamer's `midiparse` sends them. `audio/midi`: a Standard MIDI File.

use gst::prelude::*;

use crate::core::roll::{RollLayout, ValueFormat};

pub const ROLL_NAME: &str = "application/x-piano-roll";
pub const FIELD_FORMAT: &str = "format";
pub const FIELD_KEYS: &str = "keys";
pub const FIELD_LOWEST_NOTE: &str = "lowest-note";
pub const FIELD_CHANNELS: &str = "channels";
pub const FIELD_FRAMERATE: &str = "framerate";
/// Optional on probability rolls: the key-down and onset thresholds the model that made
/// them was chosen at (from its sidecar). roll2midi uses them unless its own are set.
pub const FIELD_THRESHOLD: &str = "threshold";
pub const FIELD_ONSET_THRESHOLD: &str = "onset-threshold";
/// Optional on probability rolls (int, 1 when absent): frames between the images of the net's
/// window, when video2roll samples a video faster than the net was trained on (`window-rate`).
/// A key going down then shows as an onset on that many frames in a row; roll2midi aligns
/// note starts to the first of them.
pub const FIELD_WINDOW_STEP: &str = "window-step";

pub const FORMAT_F32: &str = "F32LE";
pub const FORMAT_U8: &str = "U8";
pub const CHANNELS_FRAME: &str = "frame";
pub const CHANNELS_FRAME_ONSET: &str = "frame+onset";

pub const MIDI_EVENT_NAME: &str = "audio/x-midi-event";
pub const SMF_NAME: &str = "audio/midi";

/// The 0xF9 "tick" message midiparse sends every 10 ms between events.
pub const MIDI_TICK: u8 = crate::core::midi::TICK;
pub const MIDI_TICK_INTERVAL: gst::ClockTime =
    gst::ClockTime::from_nseconds(crate::core::midi::TICK_INTERVAL);

/// Custom downstream (serialized) event that pianocrop sends before the first frame
/// rectified from a keyboard lock that moved (a re-lock): the strip jumped there. video2roll
/// finishes the frames before it without mixing them with the frames after it and passes it
/// on; roll2midi keeps held keys down across the jump instead of striking them again.
pub const KEYBOARD_MOVED_EVENT: &str = "pianola-keyboard-moved";

/// The event that says the strip jumped before the next frame.
pub fn keyboard_moved_event() -> gst::Event {
    gst::event::CustomDownstream::new(gst::Structure::new_empty(KEYBOARD_MOVED_EVENT))
}

/// Whether `event` is the strip-jump event of [`keyboard_moved_event`].
pub fn is_keyboard_moved(event: &gst::EventRef) -> bool {
    event.type_() == gst::EventType::CustomDownstream
        && event
            .structure()
            .is_some_and(|s| s.name() == KEYBOARD_MOVED_EVENT)
}

fn format_str(f: ValueFormat) -> &'static str {
    match f {
        ValueFormat::F32 => FORMAT_F32,
        ValueFormat::U8 => FORMAT_U8,
    }
}

fn channels_str(onset: bool) -> &'static str {
    if onset {
        CHANNELS_FRAME_ONSET
    } else {
        CHANNELS_FRAME
    }
}

/// Fixed caps for a roll with this layout and frame rate.
pub fn roll_caps(layout: &RollLayout, framerate: gst::Fraction) -> gst::Caps {
    gst::Caps::builder(ROLL_NAME)
        .field(FIELD_FORMAT, format_str(layout.format))
        .field(FIELD_KEYS, layout.keys as i32)
        .field(FIELD_LOWEST_NOTE, layout.lowest_note as i32)
        .field(FIELD_CHANNELS, channels_str(layout.onset))
        .field(FIELD_FRAMERATE, framerate)
        .build()
}

/// `caps` with the model's thresholds (see [`FIELD_THRESHOLD`]).
pub fn with_thresholds(mut caps: gst::Caps, frame: f32, onset: f32) -> gst::Caps {
    if let Some(s) = caps.make_mut().structure_mut(0) {
        s.set(FIELD_THRESHOLD, frame as f64);
        s.set(FIELD_ONSET_THRESHOLD, onset as f64);
    }
    caps
}

/// The model's thresholds carried by roll caps, when they are (key down, onset); values
/// outside 0..1 are ignored.
pub fn roll_thresholds(caps: &gst::CapsRef) -> (Option<f32>, Option<f32>) {
    let get = |f: &str| {
        caps.structure(0)
            .and_then(|s| s.get::<f64>(f).ok())
            .filter(|v| *v > 0.0 && *v < 1.0)
            .map(|v| v as f32)
    };
    (get(FIELD_THRESHOLD), get(FIELD_ONSET_THRESHOLD))
}

/// `caps` with the net's window step (see [`FIELD_WINDOW_STEP`]); left out when it is 1.
pub fn with_window_step(mut caps: gst::Caps, step: usize) -> gst::Caps {
    if step > 1
        && let Some(s) = caps.make_mut().structure_mut(0)
    {
        s.set(FIELD_WINDOW_STEP, step.min(i32::MAX as usize) as i32);
    }
    caps
}

/// The window step carried by roll caps: 1 when absent or not positive.
pub fn roll_window_step(caps: &gst::CapsRef) -> usize {
    caps.structure(0)
        .and_then(|s| s.get::<i32>(FIELD_WINDOW_STEP).ok())
        .filter(|v| *v > 0)
        .map_or(1, |v| v as usize)
}

/// Template caps for rolls of the given formats, any layout and rate.
pub fn roll_template_caps(formats: &[ValueFormat]) -> gst::Caps {
    gst::Caps::builder(ROLL_NAME)
        .field(
            FIELD_FORMAT,
            gst::List::new(formats.iter().map(|f| format_str(*f))),
        )
        .field(FIELD_KEYS, gst::IntRange::new(1, 128))
        .field(FIELD_LOWEST_NOTE, gst::IntRange::new(0, 127))
        .field(
            FIELD_CHANNELS,
            gst::List::new([CHANNELS_FRAME, CHANNELS_FRAME_ONSET]),
        )
        .field(
            FIELD_FRAMERATE,
            gst::FractionRange::new(gst::Fraction::new(1, 1), gst::Fraction::new(1000, 1)),
        )
        .build()
}

pub fn midi_event_caps() -> gst::Caps {
    gst::Caps::new_empty_simple(MIDI_EVENT_NAME)
}

pub fn smf_caps() -> gst::Caps {
    gst::Caps::new_empty_simple(SMF_NAME)
}

/// What a sink pad that takes rolls or MIDI events was given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoteStream {
    Roll {
        layout: RollLayout,
        framerate: gst::Fraction,
    },
    MidiEvents,
}

/// Parse fixed roll caps. The error says which field is wrong.
pub fn parse_roll_caps(caps: &gst::CapsRef) -> Result<(RollLayout, gst::Fraction), String> {
    let s = caps.structure(0).ok_or_else(|| "empty caps".to_string())?;
    if s.name() != ROLL_NAME {
        return Err(format!("caps {} are not {ROLL_NAME}", s.name()));
    }
    let format = match s.get::<&str>(FIELD_FORMAT) {
        Ok(FORMAT_F32) => ValueFormat::F32,
        Ok(FORMAT_U8) => ValueFormat::U8,
        other => {
            return Err(format!(
                "field {FIELD_FORMAT} must be {FORMAT_F32} or {FORMAT_U8}, got {other:?}"
            ));
        }
    };
    let keys = s
        .get::<i32>(FIELD_KEYS)
        .map_err(|e| format!("field {FIELD_KEYS}: {e}"))?;
    let lowest = s
        .get::<i32>(FIELD_LOWEST_NOTE)
        .map_err(|e| format!("field {FIELD_LOWEST_NOTE}: {e}"))?;
    let onset = match s.get::<&str>(FIELD_CHANNELS) {
        Ok(CHANNELS_FRAME) => false,
        Ok(CHANNELS_FRAME_ONSET) => true,
        other => {
            return Err(format!(
                "field {FIELD_CHANNELS} must be {CHANNELS_FRAME} or {CHANNELS_FRAME_ONSET}, got {other:?}"
            ));
        }
    };
    let framerate = s
        .get::<gst::Fraction>(FIELD_FRAMERATE)
        .map_err(|e| format!("field {FIELD_FRAMERATE}: {e}"))?;
    if framerate.numer() <= 0 || framerate.denom() <= 0 {
        return Err(format!(
            "field {FIELD_FRAMERATE} must be positive, got {framerate}"
        ));
    }
    if !(0..=127).contains(&lowest) || !(1..=128).contains(&keys) {
        return Err(format!(
            "{keys} keys from note {lowest} do not fit MIDI notes 0..=127"
        ));
    }
    let layout = RollLayout {
        format,
        keys: keys as usize,
        lowest_note: lowest as u8,
        onset,
    };
    layout.validate().map_err(|e| e.to_string())?;
    Ok((layout, framerate))
}

/// Parse caps on a pad that takes rolls or MIDI events.
pub fn parse_note_stream(caps: &gst::CapsRef) -> Result<NoteStream, String> {
    match caps.structure(0).map(|s| s.name().as_str()) {
        Some(MIDI_EVENT_NAME) => Ok(NoteStream::MidiEvents),
        _ => {
            parse_roll_caps(caps).map(|(layout, framerate)| NoteStream::Roll { layout, framerate })
        }
    }
}

/// Duration of one frame at `framerate`.
pub fn frame_duration(framerate: gst::Fraction) -> gst::ClockTime {
    gst::ClockTime::SECOND
        .mul_div_round(framerate.denom() as u64, framerate.numer().max(1) as u64)
        .unwrap_or(gst::ClockTime::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_caps_round_trip() {
        gst::init().unwrap();
        let layout = RollLayout::piano88(ValueFormat::F32, true);
        let caps = roll_caps(&layout, gst::Fraction::new(25, 1));
        assert!(caps.is_fixed());
        assert!(caps.can_intersect(&roll_template_caps(&[ValueFormat::F32])));
        assert!(!caps.can_intersect(&roll_template_caps(&[ValueFormat::U8])));
        assert_eq!(
            parse_roll_caps(&caps).unwrap(),
            (layout, gst::Fraction::new(25, 1))
        );
        assert_eq!(
            frame_duration(gst::Fraction::new(30000, 1001)).nseconds(),
            33_366_667
        );
        let bad = gst::Caps::builder(ROLL_NAME)
            .field(FIELD_FORMAT, "S16")
            .build();
        assert!(parse_roll_caps(&bad).unwrap_err().contains(FIELD_FORMAT));
    }
}
