// SPDX-License-Identifier: MPL-2.0

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rustysynth::SoundFont;

use crate::caps::{self, MIDI_TICK_INTERVAL, NoteStream};
use crate::core::notes::frame_transitions;
use crate::core::roll::{AnyFrame, ValueFormat, VelocityFrame};
use crate::core::soundfont::{self, SOUNDFONT_PACKAGE};
use crate::core::synth::{self, Synth, SynthConfig, SynthError};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "midisynth",
        gst::DebugColorFlags::empty(),
        Some("SoundFont synthesiser"),
    )
});

const DEFAULT_RATE: i32 = 44_100;
const DEFAULT_PROGRAM: i32 = -1;
const DEFAULT_GAIN: f32 = 0.5;
const DEFAULT_POLYPHONY: u32 = 64;
const DEFAULT_REVERB_CHORUS: bool = true;
const DEFAULT_MAX_TAIL_MS: u32 = 3000;
/// The tail ends after this much audio below -80 dBFS.
const SILENCE_PEAK: f32 = 1e-4;
const TAIL_BLOCK_MS: u64 = 10;

#[derive(Debug, Clone)]
struct Settings {
    soundfont: Option<String>,
    program: i32,
    gain: f32,
    polyphony: u32,
    reverb_chorus: bool,
    max_tail_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            soundfont: None,
            program: DEFAULT_PROGRAM,
            gain: DEFAULT_GAIN,
            polyphony: DEFAULT_POLYPHONY,
            reverb_chorus: DEFAULT_REVERB_CHORUS,
            max_tail_ms: DEFAULT_MAX_TAIL_MS,
        }
    }
}

/// Negotiated stream state.
struct Stream {
    input: NoteStream,
    synth: Synth,
    rate: u32,
    /// Next output sample; sample n plays at n / rate seconds.
    position: Option<u64>,
    /// End of the input seen so far (PTS + duration).
    end: Option<gst::ClockTime>,
    prev_roll: Option<VelocityFrame>,
    discont: bool,
}

#[derive(Default)]
struct State {
    soundfont: Option<(PathBuf, Arc<SoundFont>)>,
    stream: Option<Stream>,
}

pub struct MidiSynth {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

fn sample_of(t: gst::ClockTime, rate: u32) -> u64 {
    t.nseconds()
        .mul_div_round(rate as u64, gst::ClockTime::SECOND.nseconds())
        .unwrap_or(u64::MAX)
}

fn time_of(sample: u64, rate: u32) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(
        sample
            .mul_div_round(gst::ClockTime::SECOND.nseconds(), rate as u64)
            .unwrap_or(u64::MAX),
    )
}

impl MidiSynth {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Load the SoundFont (on NULL -> READY).
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings();
        let path = match &settings.soundfont {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => soundfont::find_default().ok_or_else(|| {
                gst::error_msg!(
                    gst::ResourceError::NotFound,
                    (
                        "No SoundFont found in {:?}: set the soundfont property to an .sf2 file, or install one (apt install {SOUNDFONT_PACKAGE})",
                        soundfont::search_dirs()
                    )
                )
            })?,
        };
        let sf = synth::load_soundfont(&path).map_err(|e| match e {
            SynthError::Open { .. } => gst::error_msg!(
                gst::ResourceError::OpenRead,
                (
                    "{e}. Set the soundfont property to a readable .sf2 file (apt install {SOUNDFONT_PACKAGE} gives /usr/share/sounds/sf2/FluidR3_GM.sf2)"
                )
            ),
            _ => gst::error_msg!(
                gst::ResourceError::Read,
                (
                    "{e}. Set the soundfont property to an intact .sf2 file (apt install {SOUNDFONT_PACKAGE} gives /usr/share/sounds/sf2/FluidR3_GM.sf2)"
                )
            ),
        })?;
        gst::info!(CAT, imp = self, "loaded SoundFont {}", path.display());
        self.state().soundfont = Some((path, sf));
        Ok(())
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let input = caps::parse_note_stream(caps).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("Unusable caps: {e}"));
            gst::loggable_error!(CAT, "bad caps")
        })?;
        let template = self.srcpad.pad_template_caps();
        let mut out = self.srcpad.peer_query_caps(Some(&template));
        if out.is_empty() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Downstream accepts no stereo F32 audio at 16000..192000 Hz"),
                ["Put audioconvert ! audioresample after midisynth"]
            );
            return Err(gst::loggable_error!(CAT, "not negotiated"));
        }
        out.truncate();
        {
            let out = out.make_mut();
            if let Some(s) = out.structure_mut(0) {
                s.fixate_field_nearest_int("rate", DEFAULT_RATE);
            }
        }
        out.fixate();
        let info = gst_audio::AudioInfo::from_caps(&out)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse {out}"))?;
        let settings = self.settings();
        let mut state = self.state();
        let Some((_, sf)) = state.soundfont.clone() else {
            return Err(gst::loggable_error!(CAT, "no SoundFont loaded"));
        };
        let config = SynthConfig {
            sample_rate: info.rate(),
            program: u8::try_from(settings.program).ok(),
            gain: settings.gain,
            polyphony: settings.polyphony,
            effects: settings.reverb_chorus,
        };
        let synth = Synth::new(&sf, config).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ("{e}"));
            gst::loggable_error!(CAT, "synth")
        })?;
        // A caps change mid-stream keeps the position.
        let position = state.stream.as_ref().and_then(|s| {
            s.position
                .map(|p| sample_of(time_of(p, s.rate), info.rate()))
        });
        state.stream = Some(Stream {
            input,
            synth,
            rate: info.rate(),
            position,
            end: None,
            prev_roll: None,
            discont: true,
        });
        drop(state);
        gst::info!(CAT, imp = self, "input {input:?}, output {out}");
        if !self.srcpad.push_event(gst::event::Caps::new(&out)) {
            return Err(gst::loggable_error!(CAT, "downstream refused {out}"));
        }
        Ok(())
    }

    /// Render from the current position up to sample `target`, as buffers of at most 100 ms.
    fn render_to(stream: &mut Stream, target: u64, out: &mut Vec<gst::Buffer>) {
        let Some(mut pos) = stream.position else {
            stream.position = Some(target);
            return;
        };
        let max = (stream.rate / 10).max(1) as u64;
        while pos < target {
            let n = (target - pos).min(max);
            let mut samples = Vec::with_capacity(n as usize * 2);
            stream.synth.render(n as usize, &mut samples);
            out.push(Self::audio_buffer(stream, pos, n, samples));
            pos += n;
        }
        stream.position = Some(pos);
    }

    fn audio_buffer(stream: &mut Stream, pos: u64, n: u64, samples: Vec<f32>) -> gst::Buffer {
        let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut buf = gst::Buffer::from_mut_slice(bytes);
        {
            let b = buf.get_mut().expect("new buffer is writable");
            let pts = time_of(pos, stream.rate);
            b.set_pts(pts);
            b.set_duration(time_of(pos + n, stream.rate) - pts);
            b.set_offset(pos);
            b.set_offset_end(pos + n);
            if std::mem::take(&mut stream.discont) {
                b.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        buf
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut out = Vec::new();
        {
            let mut state = self.state();
            let Some(stream) = state.stream.as_mut() else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("No caps before the first buffer")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            let map = buffer.map_readable().map_err(|_| {
                gst::element_imp_error!(self, gst::ResourceError::Read, ("Cannot map buffer"));
                gst::FlowError::Error
            })?;
            let pts = buffer.pts();
            let at = pts.map(|t| sample_of(t, stream.rate));
            if let Some(s) = at
                && stream.position.is_some_and(|p| s >= p)
            {
                Self::render_to(stream, s, &mut out);
            } else if stream.position.is_none() {
                stream.position = at;
            }
            match stream.input {
                NoteStream::MidiEvents => {
                    stream.synth.midi(map.as_slice());
                    if let Some(t) = pts {
                        stream.end = Some(stream.end.map_or(t, |e| e.max(t)));
                    }
                }
                NoteStream::Roll { layout, framerate } => {
                    let frame = AnyFrame::from_bytes(&layout, map.as_slice())
                        .map_err(|e| {
                            gst::element_imp_error!(
                                self,
                                gst::StreamError::Format,
                                ("Bad roll buffer: {e}")
                            );
                            gst::FlowError::Error
                        })?
                        .into_played();
                    for e in frame_transitions(&layout, stream.prev_roll.as_ref(), &frame, 0) {
                        stream.synth.event(&e);
                    }
                    stream.prev_roll = Some(frame);
                    // The frame's state holds for its duration: render it now (no latency).
                    let dur = buffer.duration().unwrap_or(caps::frame_duration(framerate));
                    if let Some(t) = pts {
                        let end = t + dur;
                        Self::render_to(stream, sample_of(end, stream.rate), &mut out);
                        stream.end = Some(stream.end.map_or(end, |e| e.max(end)));
                    }
                }
            }
        }
        self.push_all(out)
    }

    fn push_all(&self, bufs: Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> {
        for b in bufs {
            self.srcpad.push(b)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// End of stream: render to the end of the input, release every note and render the tail
    /// until it is silent or `max-tail` is reached.
    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let max_tail = gst::ClockTime::from_mseconds(self.settings().max_tail_ms as u64);
        let mut out = Vec::new();
        {
            let mut state = self.state();
            let Some(stream) = state.stream.as_mut() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            let Some(mut pos) = stream.position else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if let Some(end) = stream.end {
                Self::render_to(stream, sample_of(end, stream.rate), &mut out);
                pos = stream.position.unwrap_or(pos);
            }
            stream.synth.release_all();
            let block = sample_of(gst::ClockTime::from_mseconds(TAIL_BLOCK_MS), stream.rate).max(1);
            let limit = pos + sample_of(max_tail, stream.rate);
            while pos < limit {
                let n = block.min(limit - pos);
                let mut samples = Vec::with_capacity(n as usize * 2);
                let peak = stream.synth.render(n as usize, &mut samples);
                out.push(Self::audio_buffer(stream, pos, n, samples));
                pos += n;
                if peak < SILENCE_PEAK {
                    break;
                }
            }
            stream.position = Some(pos);
            stream.prev_roll = None;
        }
        self.push_all(out)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                self.set_caps(&caps).is_ok()
            }
            EventView::Segment(s) => {
                // The release tail plays after the input's end, so after the stop of the
                // input's segment: move the stop on by max-tail, or clipping elements
                // downstream (audioresample, encoders, sinks) cut the tail off.
                let mut segment = s.segment().clone();
                if let Some(seg) = segment.downcast_mut::<gst::ClockTime>()
                    && seg.rate() > 0.0
                    && let Some(stop) = seg.stop()
                {
                    let tail = gst::ClockTime::from_mseconds(self.settings().max_tail_ms as u64);
                    seg.set_stop(stop.saturating_add(tail));
                }
                let out = gst::event::Segment::builder(&segment)
                    .seqnum(event.seqnum())
                    .running_time_offset(event.running_time_offset())
                    .build();
                self.srcpad.push_event(out)
            }
            EventView::Eos(_) => {
                let _ = self.drain();
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::FlushStop(_) => {
                if let Some(s) = self.state().stream.as_mut() {
                    s.synth.reset();
                    s.position = None;
                    s.end = None;
                    s.prev_roll = None;
                    s.discont = true;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Gap(g) => {
                // Time passes with no input: keep rendering what sounds.
                let (ts, dur) = g.get();
                let end = ts + dur.unwrap_or(gst::ClockTime::ZERO);
                let mut out = Vec::new();
                if let Some(s) = self.state().stream.as_mut() {
                    let target = sample_of(end, s.rate);
                    if s.position.is_none() {
                        s.position = Some(sample_of(ts, s.rate));
                    }
                    Self::render_to(s, target, &mut out);
                    s.end = Some(s.end.map_or(end, |e| e.max(end)));
                }
                self.push_all(out).is_ok()
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                // Audio up to a MIDI event is rendered when the event arrives: one tick
                // interval late. A roll frame is rendered for its whole duration at once.
                let ours = match self.state().stream.as_ref().map(|s| s.input) {
                    Some(NoteStream::MidiEvents) => MIDI_TICK_INTERVAL,
                    _ => gst::ClockTime::ZERO,
                };
                crate::latency::answer(&self.sinkpad, q, ours)
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for MidiSynth {
    const NAME: &'static str = "GstPianolaMidiSynth";
    type Type = super::MidiSynth;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad =
            gst::Pad::builder_from_template(&klass.pad_template("sink").expect("template"))
                .chain_function(|pad, parent, buffer| {
                    MidiSynth::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |imp| imp.sink_chain(pad, buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    MidiSynth::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_event(pad, event),
                    )
                })
                .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").expect("template"))
            .query_function(|pad, parent, query| {
                MidiSynth::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .build();
        MidiSynth {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for MidiSynth {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("soundfont")
                    .nick("SoundFont")
                    .blurb("Path of an SF2 SoundFont; unset: the first of FluidR3_GM.sf2, default-GM.sf2, TimGM6mb.sf2 or any .sf2 in sounds/sf2 and soundfonts under the XDG data dirs")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("program")
                    .nick("Program")
                    .blurb("General MIDI program (0 = Acoustic Grand Piano .. 127) forced on every melodic channel; -1 keeps the stream's program changes (piano for rolls)")
                    .minimum(-1)
                    .maximum(127)
                    .default_value(DEFAULT_PROGRAM)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("gain")
                    .nick("Gain")
                    .blurb("Master volume (linear)")
                    .minimum(0.0)
                    .maximum(10.0)
                    .default_value(DEFAULT_GAIN)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("polyphony")
                    .nick("Polyphony")
                    .blurb("Maximum number of voices sounding at once")
                    .minimum(synth::MIN_POLYPHONY)
                    .maximum(synth::MAX_POLYPHONY)
                    .default_value(DEFAULT_POLYPHONY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("reverb-chorus")
                    .nick("Reverb and chorus")
                    .blurb("Render the SoundFont's reverb and chorus effects (together)")
                    .default_value(DEFAULT_REVERB_CHORUS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-tail")
                    .nick("Maximum tail")
                    .blurb("At end of stream, render the release and reverb tail until silent (-80 dBFS) or for at most this many milliseconds")
                    .maximum(60_000)
                    .default_value(DEFAULT_MAX_TAIL_MS)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "soundfont" => s.soundfont = value.get().expect("type checked upstream"),
            "program" => s.program = value.get().expect("type checked upstream"),
            "gain" => s.gain = value.get().expect("type checked upstream"),
            "polyphony" => s.polyphony = value.get().expect("type checked upstream"),
            "reverb-chorus" => s.reverb_chorus = value.get().expect("type checked upstream"),
            "max-tail" => s.max_tail_ms = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "soundfont" => s.soundfont.to_value(),
            "program" => s.program.to_value(),
            "gain" => s.gain.to_value(),
            "polyphony" => s.polyphony.to_value(),
            "reverb-chorus" => s.reverb_chorus.to_value(),
            "max-tail" => s.max_tail_ms.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for MidiSynth {}

impl ElementImpl for MidiSynth {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SoundFont synthesiser",
                "Codec/Decoder/Audio",
                "Renders notes (piano roll or MIDI events) to audio with an SF2 SoundFont, \
                 including the release tail",
                "Pianola developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut sink_caps = caps::roll_template_caps(&[ValueFormat::F32, ValueFormat::U8]);
            sink_caps.merge(caps::midi_event_caps());
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &sink_caps,
            )
            .expect("sink template");
            let src_caps = gst_audio::AudioCapsBuilder::new_interleaved()
                .format(gst_audio::AUDIO_FORMAT_F32)
                .channels(2)
                .rate_range(synth::MIN_RATE as i32..=synth::MAX_RATE as i32)
                .build();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &src_caps,
            )
            .expect("src template");
            vec![src, sink]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady
            && let Err(err) = self.start()
        {
            self.post_error_message(err);
            return Err(gst::StateChangeError);
        }
        let ret = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::PausedToReady => self.state().stream = None,
            gst::StateChange::ReadyToNull => *self.state() = State::default(),
            _ => {}
        }
        Ok(ret)
    }
}
