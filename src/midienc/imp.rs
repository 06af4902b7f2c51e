// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::caps::{self, NoteStream};
use crate::core::midi::{MAX_WRITE_TIME, TimedMessage, check_message, messages_to_smf};
use crate::core::notes::{NoteEvent, frame_transitions};
use crate::core::roll::{AnyFrame, ValueFormat, VelocityFrame};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "midienc",
        gst::DebugColorFlags::empty(),
        Some("Standard MIDI File writer"),
    )
});

const DEFAULT_PROGRAM: i32 = -1;

#[derive(Debug, Clone, Copy)]
struct Settings {
    program: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            program: DEFAULT_PROGRAM,
        }
    }
}

#[derive(Default)]
struct State {
    input: Option<NoteStream>,
    segment: gst::FormattedSegment<gst::ClockTime>,
    messages: Vec<TimedMessage>,
    prev_roll: Option<VelocityFrame>,
    end: u64,
    /// Input left out of the file (malformed events, bad roll buffers, times too late).
    skipped: u64,
    /// The bytes segment went downstream (after the last flush).
    segment_sent: bool,
}

pub struct MidiEnc {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

impl MidiEnc {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.state();
        let Some(input) = state.input else {
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
        // Time in the file: running time, or the last time for buffers without one.
        let time = buffer
            .pts()
            .and_then(|t| state.segment.to_running_time(t))
            .map(|t| t.nseconds())
            .unwrap_or(state.end);
        // One bad event or frame costs that event, not the whole file.
        let ret = self.take(&mut state, input, &buffer, map.as_slice(), time);
        drop(map);
        drop(state);
        self.nothing_yet();
        ret
    }

    fn take(
        &self,
        state: &mut State,
        input: NoteStream,
        buffer: &gst::BufferRef,
        map: &[u8],
        time: u64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        match input {
            NoteStream::MidiEvents => match check_message(time, map) {
                Ok(()) => {
                    state.messages.push(TimedMessage::new(time, map.to_vec()));
                    state.end = state.end.max(time);
                }
                Err(e) => self.skip(state, &format!("MIDI event at {time} ns: {e}")),
            },
            NoteStream::Roll { layout, framerate } => {
                let frame = match AnyFrame::from_bytes(&layout, map) {
                    Ok(f) => f.into_played(),
                    Err(e) => {
                        self.skip(state, &format!("roll buffer at {time} ns: {e}"));
                        return Ok(gst::FlowSuccess::Ok);
                    }
                };
                if time > MAX_WRITE_TIME {
                    self.skip(
                        state,
                        &format!("roll frame at {time} ns, later than a MIDI file can hold"),
                    );
                    return Ok(gst::FlowSuccess::Ok);
                }
                let events = frame_transitions(&layout, state.prev_roll.as_ref(), &frame, time);
                state.messages.extend(
                    events
                        .iter()
                        .map(|e| TimedMessage::new(e.time(), e.to_midi(0).to_vec())),
                );
                state.prev_roll = Some(frame);
                let dur = buffer.duration().unwrap_or(caps::frame_duration(framerate));
                state.end = state
                    .end
                    .max(time.saturating_add(dur.nseconds()).min(MAX_WRITE_TIME));
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Leave one piece of input out of the file: a warning on the bus for the first, a log
    /// line for the others (counted in a warning at the end).
    fn skip(&self, state: &mut State, what: &str) {
        state.skipped += 1;
        if state.skipped == 1 {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("Skipped a malformed {what}; the rest of the file is written"),
                ["Check the element before midienc: it sent input that cannot go in a MIDI file"]
            );
        } else {
            gst::warning!(CAT, imp = self, "skipped a malformed {what}");
        }
    }

    /// "Nothing yet" downstream, for every input buffer or gap: a bytes segment first, then a
    /// gap, so that a sink after us prerolls (again, after a pause) while the file waits for
    /// the end of stream. Without it a tee feeding us and another branch waits for our
    /// preroll forever. Sent from the data flow, not from the segment event: a sink blocks in
    /// preroll on the gap, and an upstream element may hold a lock while it sends events.
    fn nothing_yet(&self) -> bool {
        if !std::mem::replace(&mut self.state().segment_sent, true) {
            let segment = gst::FormattedSegment::<gst::format::Bytes>::new();
            self.srcpad.push_event(gst::event::Segment::new(&segment));
        }
        self.srcpad
            .push_event(gst::event::Gap::builder(gst::ClockTime::ZERO).build())
    }

    /// Write the file and push it.
    fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let bytes = {
            let mut state = self.state();
            let end = state.end;
            // Keys still down end with the stream.
            if let (Some(NoteStream::Roll { layout, .. }), Some(prev)) =
                (state.input, state.prev_roll.take())
            {
                for k in (0..layout.keys).filter(|&k| prev.is_down(k)) {
                    let off = NoteEvent::Off {
                        time: end,
                        pitch: layout.note(k),
                    };
                    state
                        .messages
                        .push(TimedMessage::new(end, off.to_midi(0).to_vec()));
                }
            }
            if state.skipped > 1 {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    (
                        "Skipped {} malformed events or frames in all",
                        state.skipped
                    )
                );
            }
            let mut messages = std::mem::take(&mut state.messages);
            if let Ok(p) = u8::try_from(
                self.settings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .program,
            ) {
                messages.insert(0, TimedMessage::new(0, vec![0xC0, p]));
            }
            gst::debug!(CAT, imp = self, "writing {} messages", messages.len());
            messages_to_smf(&messages).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Encode, ("Cannot write MIDI: {e}"));
                gst::FlowError::Error
            })?
        };
        if !self.state().segment_sent {
            let segment = gst::FormattedSegment::<gst::format::Bytes>::new();
            self.srcpad.push_event(gst::event::Segment::new(&segment));
        }
        let mut buf = gst::Buffer::from_mut_slice(bytes);
        buf.get_mut().expect("new buffer is writable").set_offset(0);
        self.srcpad.push(buf)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(c) => {
                match caps::parse_note_stream(c.caps()) {
                    Ok(input) => {
                        let mut state = self.state();
                        if state.input.is_some_and(|old| old != input) {
                            state.prev_roll = None;
                        }
                        state.input = Some(input);
                    }
                    Err(e) => {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            ("Unusable caps: {e}")
                        );
                        return false;
                    }
                }
                self.srcpad
                    .push_event(gst::event::Caps::new(&caps::smf_caps()))
            }
            EventView::Segment(s) => {
                if let Ok(seg) = s.segment().clone().downcast::<gst::ClockTime>() {
                    self.state().segment = seg;
                }
                // The output's bytes segment goes with the first buffer or gap.
                true
            }
            EventView::Eos(_) => {
                let _ = self.finish();
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::FlushStop(_) => {
                let mut state = self.state();
                state.messages.clear();
                state.prev_roll = None;
                state.end = 0;
                state.skipped = 0;
                state.segment_sent = false;
                drop(state);
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Gap(_) => self.nothing_yet(),
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for MidiEnc {
    const NAME: &'static str = "GstPianolaMidiEnc";
    type Type = super::MidiEnc;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad =
            gst::Pad::builder_from_template(&klass.pad_template("sink").expect("template"))
                .chain_function(|pad, parent, buffer| {
                    MidiEnc::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |imp| imp.sink_chain(pad, buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    MidiEnc::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_event(pad, event),
                    )
                })
                .build();
        let srcpad =
            gst::Pad::builder_from_template(&klass.pad_template("src").expect("template")).build();
        MidiEnc {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for MidiEnc {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecInt::builder("program")
                    .nick("Program")
                    .blurb("General MIDI program change written at time 0 on channel 1 (-1: none)")
                    .minimum(-1)
                    .maximum(127)
                    .default_value(DEFAULT_PROGRAM)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "program" => s.program = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "program" => s.program.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for MidiEnc {}

impl ElementImpl for MidiEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "MIDI file encoder",
                "Codec/Encoder/Audio",
                "Writes notes (piano roll or MIDI events) as a Standard MIDI File at end of stream",
                "Pianola developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut sink_caps = caps::roll_template_caps(&[ValueFormat::F32, ValueFormat::U8]);
            sink_caps.merge(caps::midi_event_caps());
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps::smf_caps(),
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink_caps,
                )
                .expect("sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *self.state() = State::default();
        }
        Ok(ret)
    }
}
