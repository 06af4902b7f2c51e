// SPDX-License-Identifier: MPL-2.0
//! A SoundFont synthesiser (rustysynth) driven by MIDI messages and note events, rendering
//! interleaved stereo f32.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};
use thiserror::Error;

use super::midi::channel_message_len;
use super::notes::NoteEvent;

/// Events take effect at the next block boundary: 8 samples is 0.18 ms at 44.1 kHz.
pub const BLOCK_SIZE: usize = 8;
pub const MIN_RATE: u32 = 16_000;
pub const MAX_RATE: u32 = 192_000;
pub const MIN_POLYPHONY: u32 = 8;
pub const MAX_POLYPHONY: u32 = 256;
const PERCUSSION_CHANNEL: u8 = 9;

#[derive(Debug, Error)]
pub enum SynthError {
    #[error("cannot open SoundFont {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable SF2 SoundFont ({reason}); SF3 is not supported")]
    Parse { path: PathBuf, reason: String },
    #[error("synthesiser settings rejected: {0}")]
    Settings(String),
}

/// Load an SF2 file.
pub fn load_soundfont(path: &Path) -> Result<Arc<SoundFont>, SynthError> {
    let file = std::fs::File::open(path).map_err(|source| SynthError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = std::io::BufReader::new(file);
    // rustysynth indexes the file's tables without checking them all: a corrupt file can
    // panic inside it. That is a bad file, not a bug here.
    let parsed =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SoundFont::new(&mut reader)));
    let reason = match parsed {
        Ok(Ok(sf)) => return Ok(Arc::new(sf)),
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!(
            "corrupt: its tables are inconsistent, the SF2 reader failed with \"{}\"",
            panic_message(&*panic)
        ),
    };
    Err(SynthError::Parse {
        path: path.to_path_buf(),
        reason,
    })
}

/// The text of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthConfig {
    pub sample_rate: u32,
    /// General MIDI program forced on every melodic channel; `None` keeps the stream's own
    /// program changes (piano until one comes).
    pub program: Option<u8>,
    /// Master volume (linear).
    pub gain: f32,
    pub polyphony: u32,
    /// Reverb and chorus (rendered together).
    pub effects: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            sample_rate: 44_100,
            program: None,
            gain: 0.5,
            polyphony: 64,
            effects: true,
        }
    }
}

pub struct Synth {
    synth: Synthesizer,
    config: SynthConfig,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl std::fmt::Debug for Synth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synth")
            .field("config", &self.config)
            .finish()
    }
}

impl Synth {
    pub fn new(soundfont: &Arc<SoundFont>, config: SynthConfig) -> Result<Self, SynthError> {
        let mut settings = SynthesizerSettings::new(config.sample_rate as i32);
        settings.block_size = BLOCK_SIZE;
        settings.maximum_polyphony = config.polyphony as usize;
        settings.enable_reverb_and_chorus = config.effects;
        let synth = Synthesizer::new(soundfont, &settings)
            .map_err(|e| SynthError::Settings(e.to_string()))?;
        let mut s = Synth {
            synth,
            config,
            left: Vec::new(),
            right: Vec::new(),
        };
        s.reset();
        Ok(s)
    }

    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// Silence everything at once and return to the initial programs and controllers.
    pub fn reset(&mut self) {
        self.synth.reset();
        self.synth.set_master_volume(self.config.gain);
        if let Some(p) = self.config.program {
            for ch in (0..16).filter(|&c| c != PERCUSSION_CHANNEL) {
                self.synth
                    .process_midi_message(ch as i32, 0xC0, p as i32, 0);
            }
        }
    }

    /// Apply the MIDI messages in `bytes` (several may follow each other; running status is
    /// understood; bytes after a complete message that do not start a new one are ignored, as
    /// midiparse may append one). 0xFF resets, as fluiddec does; sysex and real-time bytes such
    /// as the 0xF9 tick are ignored.
    pub fn midi(&mut self, bytes: &[u8]) {
        let mut i = 0;
        let mut running: Option<u8> = None;
        while i < bytes.len() {
            let b = bytes[i];
            if b == 0xFF {
                self.reset();
                i += 1;
                continue;
            }
            if b == 0xF0 || b == 0xF7 {
                // Sysex runs to the end of the buffer.
                return;
            }
            let (status, data_at) = if b & 0x80 != 0 {
                (b, i + 1)
            } else if let Some(s) = running {
                (s, i)
            } else {
                return;
            };
            let Some(len) = channel_message_len(status) else {
                // System common / real-time byte: skip it.
                i += 1;
                continue;
            };
            let data = len - 1;
            if data_at + data > bytes.len() {
                return;
            }
            let d1 = bytes[data_at] & 0x7f;
            let d2 = if data == 2 {
                bytes[data_at + 1] & 0x7f
            } else {
                0
            };
            self.channel_message(status, d1, d2);
            running = Some(status);
            i = data_at + data;
        }
    }

    fn channel_message(&mut self, status: u8, d1: u8, d2: u8) {
        let command = status & 0xF0;
        let channel = status & 0x0F;
        if command == 0xC0 && self.config.program.is_some() && channel != PERCUSSION_CHANNEL {
            return;
        }
        self.synth
            .process_midi_message(channel as i32, command as i32, d1 as i32, d2 as i32);
    }

    /// A note event on channel 0.
    pub fn event(&mut self, e: &NoteEvent) {
        let [s, d1, d2] = e.to_midi(0);
        self.channel_message(s, d1, d2);
    }

    /// Release every note (with its release envelope).
    pub fn release_all(&mut self) {
        self.synth.note_off_all(false);
    }

    /// Render `frames` stereo frames, appended interleaved to `out`. Returns the peak amplitude.
    pub fn render(&mut self, frames: usize, out: &mut Vec<f32>) -> f32 {
        self.left.resize(frames, 0.0);
        self.right.resize(frames, 0.0);
        self.synth.render(&mut self.left, &mut self.right);
        out.reserve(frames * 2);
        let mut peak = 0f32;
        for (l, r) in self.left.iter().zip(&self.right) {
            peak = peak.max(l.abs()).max(r.abs());
            out.push(*l);
            out.push(*r);
        }
        peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::soundfont::find_default;

    fn synth(program: Option<u8>) -> Synth {
        let path = find_default().expect("a SoundFont (apt install fluid-soundfont-gm)");
        let sf = load_soundfont(&path).unwrap();
        Synth::new(
            &sf,
            SynthConfig {
                program,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    #[test]
    fn note_sounds_and_releases_to_silence() {
        let mut s = synth(None);
        let mut out = Vec::new();
        assert_eq!(s.render(4410, &mut out), 0.0);
        s.midi(&[0x90, 60, 100]);
        out.clear();
        s.render(4410, &mut out);
        assert!(rms(&out) > 0.01, "rms {}", rms(&out));
        // Running status: a second note-on without a status byte, then a stray byte.
        s.midi(&[0x90, 64, 100, 67, 100, 0x00]);
        s.midi(&[0x80, 60, 0]);
        s.release_all();
        out.clear();
        s.render(44100 * 4, &mut out);
        let last = &out[out.len() - 8820..];
        assert!(rms(last) < 1e-4, "tail rms {}", rms(last));
    }

    #[test]
    fn missing_and_bad_files_are_errors() {
        assert!(matches!(
            load_soundfont(Path::new("/nonexistent.sf2")),
            Err(SynthError::Open { .. })
        ));
        let tmp = std::env::temp_dir().join(format!("pianola-bad-{}.sf2", std::process::id()));
        std::fs::write(&tmp, b"RIFF0000junk").unwrap();
        assert!(matches!(
            load_soundfont(&tmp),
            Err(SynthError::Parse { .. })
        ));
        std::fs::remove_file(tmp).unwrap();
    }

    /// A copy of a real SF2 whose preset table points past its zone table (the last preset
    /// header's bag index set to 0xFFFF): rustysynth panics slicing the zones.
    pub(crate) fn corrupt_soundfont(to: &Path) {
        use crate::core::soundfont::{find_default, search_dirs};
        // The small TimGM6mb when it is there, rather than the 148 MB FluidR3.
        let sf = search_dirs()
            .iter()
            .map(|d| d.join("TimGM6mb.sf2"))
            .find(|p| p.is_file())
            .or_else(find_default)
            .expect("a SoundFont installed");
        let mut bytes = std::fs::read(&sf).unwrap();
        let at = bytes
            .windows(4)
            .rposition(|w| w == b"phdr")
            .expect("a phdr chunk");
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        // 38-byte records; the bag index is at offset 24 of each.
        let last = at + 8 + len - 38;
        bytes[last + 24..last + 26].copy_from_slice(&0xFFFFu16.to_le_bytes());
        std::fs::write(to, bytes).unwrap();
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_panic() {
        let tmp = std::env::temp_dir().join(format!("pianola-corrupt-{}.sf2", std::process::id()));
        corrupt_soundfont(&tmp);
        let err = load_soundfont(&tmp).unwrap_err();
        std::fs::remove_file(&tmp).unwrap();
        assert!(matches!(err, SynthError::Parse { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("not a usable SF2") && text.contains("corrupt"),
            "{text}"
        );
    }

    #[test]
    fn forced_program_changes_timbre() {
        let mut piano = synth(None);
        let mut organ = synth(Some(19));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for s in [&mut piano, &mut organ] {
            s.midi(&[0xC0, 0]); // ignored by the forced-program synth
            s.midi(&[0x90, 60, 100]);
        }
        piano.render(8820, &mut a);
        organ.render(8820, &mut b);
        let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        assert!(rms(&diff) > 0.01);
    }
}
