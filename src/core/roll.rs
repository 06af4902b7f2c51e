// SPDX-License-Identifier: MPL-2.0
//! Piano-roll frames: one video frame's worth of key states, and their byte layout.
//!
//! A frame holds one value per key for the `frame` channel (key down) and optionally a second
//! channel `onset` (key struck in this frame). Values are either `f32` probabilities in [0, 1]
//! or `u8` velocities (0 = off, 1..=127 = on with that velocity). In bytes a frame is the frame
//! channel's values for every key from the lowest note up, then the onset channel's, each value
//! little-endian.

use thiserror::Error;

/// Keys of a full piano.
pub const KEYS_88: usize = 88;
/// MIDI note of the lowest key of a full piano (A0).
pub const LOWEST_NOTE_88: u8 = 21;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RollError {
    #[error(
        "roll buffer has {got} bytes, expected {expected} ({keys} keys x {channels} channel(s) x {value_size} byte(s))"
    )]
    Size {
        got: usize,
        expected: usize,
        keys: usize,
        channels: usize,
        value_size: usize,
    },
    #[error("invalid roll layout: {0}")]
    Layout(String),
}

/// How one value is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueFormat {
    /// Probability in [0, 1], 32-bit float little-endian.
    F32,
    /// Velocity, 0 = off.
    U8,
}

impl ValueFormat {
    pub fn size(self) -> usize {
        match self {
            ValueFormat::F32 => 4,
            ValueFormat::U8 => 1,
        }
    }
}

/// Everything needed to read a roll buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RollLayout {
    pub format: ValueFormat,
    pub keys: usize,
    pub lowest_note: u8,
    /// Whether an onset channel follows the frame channel.
    pub onset: bool,
}

impl RollLayout {
    /// The canonical 88-key layout.
    pub fn piano88(format: ValueFormat, onset: bool) -> Self {
        RollLayout {
            format,
            keys: KEYS_88,
            lowest_note: LOWEST_NOTE_88,
            onset,
        }
    }

    pub fn validate(&self) -> Result<(), RollError> {
        if self.keys == 0 || self.keys > 128 {
            return Err(RollError::Layout(format!(
                "{} keys (must be 1..=128)",
                self.keys
            )));
        }
        if self.lowest_note as usize + self.keys > 128 {
            return Err(RollError::Layout(format!(
                "lowest note {} + {} keys goes past MIDI note 127",
                self.lowest_note, self.keys
            )));
        }
        Ok(())
    }

    pub fn channels(&self) -> usize {
        if self.onset { 2 } else { 1 }
    }

    pub fn frame_bytes(&self) -> usize {
        self.keys * self.channels() * self.format.size()
    }

    /// MIDI note of key index `key`.
    pub fn note(&self, key: usize) -> u8 {
        self.lowest_note + key as u8
    }

    /// Key index of MIDI note `note`, if the layout has it.
    pub fn key(&self, note: u8) -> Option<usize> {
        let k = note.checked_sub(self.lowest_note)? as usize;
        (k < self.keys).then_some(k)
    }
}

/// A value type a roll can hold.
pub trait RollValue: Copy + Default + PartialEq + std::fmt::Debug + Send + 'static {
    const FORMAT: ValueFormat;
    fn write_le(self, out: &mut Vec<u8>);
    fn read_le(bytes: &[u8]) -> Self;
}

impl RollValue for f32 {
    const FORMAT: ValueFormat = ValueFormat::F32;
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Self {
        f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
}

impl RollValue for u8 {
    const FORMAT: ValueFormat = ValueFormat::U8;
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0]
    }
}

/// One frame of a roll.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RollFrame<T> {
    pub frame: Vec<T>,
    pub onset: Option<Vec<T>>,
}

/// Probabilities (output of a vision model).
pub type ProbFrame = RollFrame<f32>;
/// Velocities (binarised notes).
pub type VelocityFrame = RollFrame<u8>;

impl<T: RollValue> RollFrame<T> {
    /// All keys off.
    pub fn silent(keys: usize, onset: bool) -> Self {
        RollFrame {
            frame: vec![T::default(); keys],
            onset: onset.then(|| vec![T::default(); keys]),
        }
    }

    pub fn keys(&self) -> usize {
        self.frame.len()
    }

    /// The layout this frame has, given its lowest note.
    pub fn layout(&self, lowest_note: u8) -> RollLayout {
        RollLayout {
            format: T::FORMAT,
            keys: self.frame.len(),
            lowest_note,
            onset: self.onset.is_some(),
        }
    }

    /// Serialise: frame channel, then onset channel, little-endian values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.frame.len() * T::FORMAT.size() * 2);
        self.write_bytes(&mut out);
        out
    }

    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        for v in &self.frame {
            v.write_le(out);
        }
        if let Some(onset) = &self.onset {
            for v in onset {
                v.write_le(out);
            }
        }
    }

    /// Parse bytes laid out as `layout`. The layout's format must be this frame type's.
    pub fn from_bytes(layout: &RollLayout, bytes: &[u8]) -> Result<Self, RollError> {
        if layout.format != T::FORMAT {
            return Err(RollError::Layout(format!(
                "format {:?} read as {:?}",
                layout.format,
                T::FORMAT
            )));
        }
        check_size(layout, bytes)?;
        let sz = T::FORMAT.size();
        let read = |ch: usize| -> Vec<T> {
            (0..layout.keys)
                .map(|k| T::read_le(&bytes[(ch * layout.keys + k) * sz..]))
                .collect()
        };
        Ok(RollFrame {
            frame: read(0),
            onset: layout.onset.then(|| read(1)),
        })
    }
}

fn check_size(layout: &RollLayout, bytes: &[u8]) -> Result<(), RollError> {
    layout.validate()?;
    if bytes.len() != layout.frame_bytes() {
        return Err(RollError::Size {
            got: bytes.len(),
            expected: layout.frame_bytes(),
            keys: layout.keys,
            channels: layout.channels(),
            value_size: layout.format.size(),
        });
    }
    Ok(())
}

impl ProbFrame {
    /// Binarise with `threshold`: keys at or above it get `velocity`.
    pub fn to_velocity(&self, threshold: f32, velocity: u8) -> VelocityFrame {
        let bin = |v: &Vec<f32>| {
            v.iter()
                .map(|&p| if p >= threshold { velocity } else { 0 })
                .collect()
        };
        RollFrame {
            frame: bin(&self.frame),
            onset: self.onset.as_ref().map(bin),
        }
    }
}

impl VelocityFrame {
    /// 1.0 where a key is down, else 0.0.
    pub fn to_prob(&self) -> ProbFrame {
        let f = |v: &Vec<u8>| v.iter().map(|&x| if x > 0 { 1.0 } else { 0.0 }).collect();
        RollFrame {
            frame: f(&self.frame),
            onset: self.onset.as_ref().map(f),
        }
    }

    pub fn is_down(&self, key: usize) -> bool {
        self.frame[key] > 0
    }

    pub fn is_struck(&self, key: usize) -> bool {
        self.onset.as_ref().is_some_and(|o| o[key] > 0)
    }
}

/// Elements that play or write a probability roll directly (no roll2midi before them) take a
/// key as down at this probability, with this velocity (Audeo's 100).
pub const PLAY_THRESHOLD: f32 = 0.5;
pub const PLAY_VELOCITY: u8 = 100;

/// A frame of either value format, as read from a buffer whose format is only known at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyFrame {
    F32(ProbFrame),
    U8(VelocityFrame),
}

impl AnyFrame {
    pub fn from_bytes(layout: &RollLayout, bytes: &[u8]) -> Result<Self, RollError> {
        Ok(match layout.format {
            ValueFormat::F32 => AnyFrame::F32(RollFrame::from_bytes(layout, bytes)?),
            ValueFormat::U8 => AnyFrame::U8(RollFrame::from_bytes(layout, bytes)?),
        })
    }

    /// As probabilities (velocity rolls become 0/1).
    pub fn into_prob(self) -> ProbFrame {
        match self {
            AnyFrame::F32(f) => f,
            AnyFrame::U8(f) => f.to_prob(),
        }
    }

    /// As velocities, for playing or writing: probabilities binarised with
    /// [`PLAY_THRESHOLD`] and [`PLAY_VELOCITY`].
    pub fn into_played(self) -> VelocityFrame {
        self.into_velocity(PLAY_THRESHOLD, PLAY_VELOCITY)
    }

    /// As velocities (probabilities at or above `threshold` get `velocity`).
    pub fn into_velocity(self, threshold: f32, velocity: u8) -> VelocityFrame {
        match self {
            AnyFrame::F32(f) => f.to_velocity(threshold, velocity),
            AnyFrame::U8(f) => f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_round_trip_with_onset() {
        let mut f = ProbFrame::silent(88, true);
        f.frame[0] = 0.25;
        f.frame[87] = 1.0;
        f.onset.as_mut().unwrap()[40] = 0.75;
        let layout = f.layout(21);
        assert_eq!(layout, RollLayout::piano88(ValueFormat::F32, true));
        let bytes = f.to_bytes();
        assert_eq!(bytes.len(), 88 * 2 * 4);
        assert_eq!(&bytes[0..4], &0.25f32.to_le_bytes());
        assert_eq!(&bytes[(88 + 40) * 4..(88 + 41) * 4], &0.75f32.to_le_bytes());
        assert_eq!(ProbFrame::from_bytes(&layout, &bytes).unwrap(), f);
    }

    #[test]
    fn u8_round_trip_without_onset() {
        let mut f = VelocityFrame::silent(61, false);
        f.frame[3] = 100;
        let layout = f.layout(36);
        let bytes = f.to_bytes();
        assert_eq!(bytes.len(), 61);
        assert_eq!(bytes[3], 100);
        assert_eq!(VelocityFrame::from_bytes(&layout, &bytes).unwrap(), f);
        assert_eq!(layout.note(3), 39);
        assert_eq!(layout.key(39), Some(3));
        assert_eq!(layout.key(35), None);
        assert_eq!(layout.key(97), None);
    }

    #[test]
    fn wrong_size_and_format_are_errors() {
        let layout = RollLayout::piano88(ValueFormat::F32, false);
        let err = ProbFrame::from_bytes(&layout, &[0u8; 10]).unwrap_err();
        assert!(matches!(
            err,
            RollError::Size {
                got: 10,
                expected: 352,
                ..
            }
        ));
        assert!(VelocityFrame::from_bytes(&layout, &[0u8; 352]).is_err());
        let bad = RollLayout {
            keys: 100,
            lowest_note: 40,
            ..layout
        };
        assert!(matches!(bad.validate(), Err(RollError::Layout(_))));
    }

    #[test]
    fn binarise() {
        let f = ProbFrame {
            frame: vec![0.1, 0.5, 0.9],
            onset: Some(vec![0.0, 0.6, 0.2]),
        };
        let v = f.to_velocity(0.5, 100);
        assert_eq!(v.frame, vec![0, 100, 100]);
        assert_eq!(v.onset, Some(vec![0, 100, 0]));
        assert!(v.is_struck(1) && !v.is_struck(2) && v.is_down(2));
        assert_eq!(v.to_prob().frame, vec![0.0, 1.0, 1.0]);
        let any = AnyFrame::from_bytes(&v.layout(21), &v.to_bytes()).unwrap();
        assert_eq!(any.into_prob().frame, vec![0.0, 1.0, 1.0]);
    }
}
