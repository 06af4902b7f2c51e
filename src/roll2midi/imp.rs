// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::caps;
use crate::core::midi::TickSchedule;
use crate::core::refine::Windowed;
use crate::core::roll::ProbFrame;
use crate::core::roll::{AnyFrame, RollLayout, ValueFormat};
use crate::core::transcribe::{FrameTime, NoteTracker, TrackedFrame, TrackerParams};
use crate::latency::ProcessingMargin;
use crate::model::refiner::Refiner;

mod learned;
mod output;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "roll2midi",
        gst::DebugColorFlags::empty(),
        Some("Piano roll to notes"),
    )
});

const DEFAULT_THRESHOLD: f32 = 0.4;
const DEFAULT_HYSTERESIS: f32 = 0.1;
const DEFAULT_MIN_NOTE_DURATION_MS: u32 = 60;
const DEFAULT_MAX_DROPOUT_MS: u32 = 40;
const DEFAULT_ONSET_THRESHOLD: f32 = 0.5;
/// A note must start with a strike: an onset probability of at least this around its start
/// (0: off). See core::transcribe.
const DEFAULT_ONSET_GATE: f32 = 0.3;
/// A note may start up to this long after its key goes down, at its strike (the onset
/// channel's peak; 0: off). See core::transcribe.
const DEFAULT_ONSET_ALIGN_MS: u32 = 40;
/// How long after a key's last note it may go down again without a strike (a held note the
/// model lost for a moment).
const GATE_HOLD_MS: u32 = 500;
const DEFAULT_SMOOTHING: f32 = 0.0;
const DEFAULT_VELOCITY: u32 = 100;
const DEFAULT_TAIL_MS: u32 = 1000;
const DEFAULT_MODE: Mode = Mode::RuleBased;
/// Audeo's window: 100 frames (4 s at 25 fps).
const DEFAULT_WINDOW: u32 = 100;
/// Live sources: 16 frames (0.64 s at 25 fps) of look-ahead instead.
const DEFAULT_LIVE_WINDOW: u32 = 16;
/// -1: measure the processing margin (learned mode) that the latency answer adds.
const DEFAULT_PROCESSING_MARGIN: i64 = -1;
const DEFAULT_DEVICE: &str = "cpu";
/// Frames after a strip jump (keyboard re-lock) in which held keys stay down: the
/// net's window reaches `strip::HALF` frames each side.
const JUMP_HOLD_FRAMES: usize = crate::core::strip::HALF + 1;
/// Blank refinements run in `start()` so the first real window is not slow.
const WARM_UP_PASSES: usize = 2;

/// How probabilities become notes.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstPianolaRoll2MidiMode")]
pub enum Mode {
    #[enum_value(
        name = "Rule-based: threshold, hysteresis, onsets, minimum length",
        nick = "rule-based"
    )]
    RuleBased = 0,
    #[enum_value(
        name = "Learned: Audeo's Roll2Midi refinement over windows, then the rules",
        nick = "learned"
    )]
    Learned = 1,
}

#[derive(Debug, Clone)]
struct Settings {
    threshold: f32,
    /// Whether threshold / onset-threshold were set (else the model's, from the caps).
    threshold_set: bool,
    onset_threshold_set: bool,
    hysteresis: f32,
    min_note_duration_ms: u32,
    max_dropout_ms: u32,
    onset_align_ms: u32,
    onset_threshold: f32,
    onset_gate: f32,
    /// Whether onset-gate was set (else it is on in rule-based mode only).
    onset_gate_set: bool,
    smoothing: f32,
    velocity: u32,
    tail_ms: u32,
    mode: Mode,
    refiner: Option<String>,
    window: u32,
    live_window: u32,
    processing_margin: i64,
    device: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: DEFAULT_THRESHOLD,
            threshold_set: false,
            onset_threshold_set: false,
            hysteresis: DEFAULT_HYSTERESIS,
            min_note_duration_ms: DEFAULT_MIN_NOTE_DURATION_MS,
            max_dropout_ms: DEFAULT_MAX_DROPOUT_MS,
            onset_align_ms: DEFAULT_ONSET_ALIGN_MS,
            onset_threshold: DEFAULT_ONSET_THRESHOLD,
            onset_gate: DEFAULT_ONSET_GATE,
            onset_gate_set: false,
            smoothing: DEFAULT_SMOOTHING,
            velocity: DEFAULT_VELOCITY,
            tail_ms: DEFAULT_TAIL_MS,
            mode: DEFAULT_MODE,
            refiner: None,
            window: DEFAULT_WINDOW,
            live_window: DEFAULT_LIVE_WINDOW,
            processing_margin: DEFAULT_PROCESSING_MARGIN,
            device: DEFAULT_DEVICE.into(),
        }
    }
}

impl Settings {
    /// The tracker's parameters for frames of this duration, from a net whose window sees one
    /// strike on `window_step` frames in a row (see [`caps::FIELD_WINDOW_STEP`]).
    fn params(&self, frame: gst::ClockTime, window_step: usize) -> TrackerParams {
        let frame_ms = frame.nseconds() as f64 / 1e6;
        let frames = |ms: u32| {
            if frame_ms > 0.0 {
                ms as f64 / frame_ms
            } else {
                0.0
            }
        };
        let min_frames = (frames(self.min_note_duration_ms) - 1e-6).ceil().max(1.0) as usize;
        let max_dropout = (frames(self.max_dropout_ms) + 1e-6).floor().min(100.0) as usize;
        TrackerParams {
            threshold: self.threshold,
            hysteresis: self.hysteresis.min(self.threshold * 0.999),
            min_frames,
            max_dropout,
            onset_threshold: self.onset_threshold,
            smoothing_sigma: self.smoothing,
            velocity: self.velocity.clamp(1, 127) as u8,
            // The refiner, trained on renders, softens onsets: learned mode gates only when
            // asked to.
            onset_gate: if self.mode == Mode::Learned && !self.onset_gate_set {
                0.0
            } else {
                self.onset_gate
            },
            gate_hold: (frames(GATE_HOLD_MS) + 1e-6).floor().min(1000.0) as usize,
            onset_align: (frames(self.onset_align_ms) + 1e-6).floor().min(10.0) as usize,
            window_step: window_step.clamp(1, 10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Output {
    Roll,
    Midi,
}

struct State {
    in_layout: RollLayout,
    frame_duration: gst::ClockTime,
    output: Output,
    tracker: NoteTracker,
    /// Next expected PTS, for buffers without one.
    next_pts: Option<gst::ClockTime>,
    /// MIDI output: time up to which ticks and events were sent.
    ticks: TickSchedule,
    /// Learned mode: the windows in flight, each frame tagged with its time.
    windows: Option<Windowed<FrameTime>>,
    /// Learned mode: time for a refiner pass, added to the latency answer (measured).
    margin: ProcessingMargin,
    /// The margin grew: post a latency message once the state lock is released.
    margin_grew: bool,
    /// Frames received since the stream (re)started: where a strip jump falls.
    frames_in: u64,
}

impl State {
    /// Start a new stream: nothing pending, no MIDI position.
    fn reset_stream(&mut self) {
        self.frames_in = 0;
        self.tracker.reset();
        self.ticks.reset();
        if let Some(w) = self.windows.as_mut() {
            w.reset();
        }
    }
}

pub struct Roll2Midi {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Learned mode: the refiner, loaded when going to PAUSED.
    refiner: Mutex<Option<Refiner>>,
}

impl Roll2Midi {
    fn state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn refiner(&self) -> MutexGuard<'_, Option<Refiner>> {
        self.refiner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push_tracker(
        &self,
        state: &mut State,
        frames: Vec<(FrameTime, ProbFrame)>,
    ) -> Result<Vec<TrackedFrame>, gst::FlowError> {
        let mut out = Vec::new();
        for (time, frame) in frames {
            out.extend(state.tracker.push(frame, time).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{e}"));
                gst::FlowError::Error
            })?);
        }
        Ok(out)
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state();
        let Some(state) = guard.as_mut() else {
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
        let frame = AnyFrame::from_bytes(&state.in_layout, map.as_slice()).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("Bad roll buffer: {e}"),
                ["Upstream must send one frame per buffer as its caps describe"]
            );
            gst::FlowError::Error
        })?;
        drop(map);
        let pts = buffer
            .pts()
            .or(state.next_pts)
            .unwrap_or(gst::ClockTime::ZERO);
        let duration = buffer.duration().unwrap_or(state.frame_duration);
        state.next_pts = pts.checked_add(duration);
        let time = FrameTime {
            pts: pts.nseconds(),
            duration: duration.nseconds(),
        };
        let frames = self.track(state, frame.into_prob(), time)?;
        let out = self.render(state, frames, Vec::new(), None);
        let grew = std::mem::take(&mut state.margin_grew);
        drop(guard);
        if grew {
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        self.push_all(out)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let out = {
            let mut guard = self.state();
            let Some(state) = guard.as_mut() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            // Learned mode: the last window, aligned to the last frame; nothing is dropped.
            let mut frames = Vec::new();
            if let Some(w) = state.windows.as_mut() {
                let refined = self
                    .with_refiner(|r| w.finish(&mut |x| r.refine(x).map_err(|e| e.to_string())))?;
                frames = self.push_refined(state, refined)?;
            }
            let (last, tail) = state.tracker.finish();
            frames.extend(last);
            let end = state.next_pts;
            let out = self.render(state, frames, tail, end);
            state.reset_stream();
            out
        };
        self.push_all(out)
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let (layout, framerate) = caps::parse_roll_caps(caps).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Unusable roll caps: {e}")
            );
            gst::loggable_error!(CAT, "bad caps")
        })?;
        let out_layout = RollLayout {
            format: ValueFormat::U8,
            onset: true,
            ..layout
        };
        let mut candidates = caps::roll_caps(&out_layout, framerate);
        candidates.merge(caps::midi_event_caps());
        let allowed = self.srcpad.peer_query_caps(Some(&candidates));
        if allowed.is_empty() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "Downstream accepts neither a {} roll nor {}",
                    caps::ROLL_NAME,
                    caps::MIDI_EVENT_NAME
                ),
                [
                    "Link roll2midi to midisynth, midienc, fluiddec or another element taking these caps"
                ]
            );
            return Err(gst::loggable_error!(CAT, "not negotiated"));
        }
        let mut out_caps = allowed;
        out_caps.fixate();
        let output = match out_caps.structure(0).map(|s| s.name().as_str()) {
            Some(caps::MIDI_EVENT_NAME) => Output::Midi,
            _ => Output::Roll,
        };
        let frame_duration = caps::frame_duration(framerate);
        let mut settings = self.settings();
        // The model's own thresholds, unless the user set these.
        let (model_thr, model_onset) = caps::roll_thresholds(caps);
        if let (false, Some(t)) = (settings.threshold_set, model_thr) {
            settings.threshold = t;
        }
        if let (false, Some(t)) = (settings.onset_threshold_set, model_onset) {
            settings.onset_threshold = t;
        }
        let params = settings.params(frame_duration, caps::roll_window_step(caps));
        let tracker = NoteTracker::new(params, layout).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ("{e}"));
            gst::loggable_error!(CAT, "bad settings")
        })?;
        let windows = match settings.mode {
            Mode::RuleBased => None,
            Mode::Learned => Some(self.windows_for(&settings, &layout, framerate)?),
        };
        gst::info!(
            CAT,
            imp = self,
            "input {layout:?} at {framerate}, output {output:?}, {params:?}, {:?}, latency {} + {} frames",
            settings.mode,
            windows
                .as_ref()
                .map(|w| w.plan().latency_frames())
                .unwrap_or(0),
            tracker.latency_frames()
        );
        *self.state() = Some(State {
            in_layout: layout,
            frame_duration,
            output,
            tracker,
            next_pts: None,
            ticks: TickSchedule::default(),
            margin: if windows.is_some() {
                ProcessingMargin::from_property(settings.processing_margin, frame_duration)
            } else {
                ProcessingMargin::none()
            },
            margin_grew: false,
            frames_in: 0,
            windows,
        });
        if !self.srcpad.push_event(gst::event::Caps::new(&out_caps)) {
            return Err(gst::loggable_error!(CAT, "downstream refused {out_caps}"));
        }
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        Ok(())
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                // Finish what the old caps started.
                if self.state().is_some() && self.drain().is_err() {
                    return false;
                }
                self.set_caps(&caps).is_ok()
            }
            EventView::Eos(_) => {
                let _ = self.drain();
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Segment(_) => {
                // A new segment without a flush (a segment seek looping, the next part of a
                // playlist): the notes of the old one end in it, and the new one starts
                // from nothing, so every pass over the same frames gives the same notes.
                if self.state().is_some() && self.drain().is_err() {
                    return false;
                }
                if let Some(s) = self.state().as_mut() {
                    s.next_pts = None;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::CustomDownstream(_) if caps::is_keyboard_moved(&event) => {
                // The strip jumps before the next frame (pianocrop re-locked): keys held
                // across it are not struck again.
                if let Some(s) = self.state().as_mut() {
                    let at = s.frames_in;
                    s.tracker.hold_across_jump(at, JUMP_HOLD_FRAMES);
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::FlushStop(_) => {
                if let Some(s) = self.state().as_mut() {
                    s.reset_stream();
                    s.next_pts = None;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Gap(g) => {
                // No frames for a while: keys are up then.
                let (ts, dur) = g.get();
                let silent = {
                    let guard = self.state();
                    guard.as_ref().map(|s| (s.in_layout, s.frame_duration))
                };
                match silent {
                    Some((layout, fd)) => {
                        // All-zero bytes are key-up in both value formats.
                        let mut buf = gst::Buffer::from_mut_slice(vec![0u8; layout.frame_bytes()]);
                        {
                            let b = buf.get_mut().expect("new buffer is writable");
                            b.set_pts(ts);
                            b.set_duration(dur.unwrap_or(fd));
                        }
                        self.sink_chain(pad, buf).is_ok()
                    }
                    None => gst::Pad::event_default(pad, Some(&*self.obj()), event),
                }
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                let ours = self.latency();
                gst::debug!(CAT, imp = self, "our latency {ours}");
                crate::latency::answer(&self.sinkpad, q, ours)
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Look-ahead in time: the frames the refiner's windows and the tracker hold back.
    fn latency(&self) -> gst::ClockTime {
        self.state()
            .as_ref()
            .map(|s| {
                let window = s
                    .windows
                    .as_ref()
                    .map(|w| w.plan().latency_frames())
                    .unwrap_or(0);
                s.frame_duration * (window + s.tracker.latency_frames()) as u64 + s.margin.get()
            })
            .unwrap_or(gst::ClockTime::ZERO)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Roll2Midi {
    const NAME: &'static str = "GstPianolaRoll2Midi";
    type Type = super::Roll2Midi;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad =
            gst::Pad::builder_from_template(&klass.pad_template("sink").expect("template"))
                .chain_function(|pad, parent, buffer| {
                    Roll2Midi::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |imp| imp.sink_chain(pad, buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    Roll2Midi::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_event(pad, event),
                    )
                })
                .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").expect("template"))
            .query_function(|pad, parent, query| {
                Roll2Midi::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .build();
        Roll2Midi {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            refiner: Mutex::new(None),
        }
    }
}

impl ObjectImpl for Roll2Midi {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecFloat::builder("threshold")
                    .nick("Threshold")
                    .blurb("Probability at which a key goes down; unset: the model's own (video2roll sends its sidecar's threshold in the caps), else 0.4 (Audeo)")
                    .minimum(0.01)
                    .maximum(1.0)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("hysteresis")
                    .nick("Hysteresis")
                    .blurb("A down key goes up when its probability falls below threshold - hysteresis")
                    .minimum(0.0)
                    .maximum(0.99)
                    .default_value(DEFAULT_HYSTERESIS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-note-duration")
                    .nick("Minimum note duration")
                    .blurb("Notes shorter than this (milliseconds, rounded up to whole frames) are dropped; adds that many frames of latency")
                    .maximum(2000)
                    .default_value(DEFAULT_MIN_NOTE_DURATION_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-dropout")
                    .nick("Maximum dropout")
                    .blurb("A key that dips for at most this long (milliseconds, rounded down to whole frames) and comes back without an onset is held through the dip; adds that many frames of latency")
                    .maximum(4000)
                    .default_value(DEFAULT_MAX_DROPOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("onset-align")
                    .nick("Onset alignment")
                    .blurb("A note starts at its strike, the onset channel's peak, when that comes at most this long (milliseconds, rounded down to whole frames, at most 10) after the key-down probability rises (when the roll's caps carry a window-step, the first of the frames that window shows the strike on); 0: where the key goes down. Latency is at least that many frames")
                    .maximum(4000)
                    .default_value(DEFAULT_ONSET_ALIGN_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("onset-threshold")
                    .nick("Onset threshold")
                    .blurb("Onset probability that re-strikes a held key (when the roll has an onset channel); unset: the model's own, else 0.5")
                    .minimum(0.01)
                    .maximum(1.0)
                    .default_value(DEFAULT_ONSET_THRESHOLD)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("onset-gate")
                    .nick("Onset gate")
                    .blurb("A key that goes down makes a note only with an onset probability of at least this within three frames before and one after (or when it comes back within 0.5 s of its last note); 0 = off; unset in mode=learned: off. Cuts false notes of keys lit up by glare or a passing hand on pianos the model has not seen; needs a roll with an onset channel")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_ONSET_GATE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("Gaussian smoothing over time, sigma in frames (0 = off); adds ceil(3 sigma) frames of latency")
                    .minimum(0.0)
                    .maximum(50.0)
                    .default_value(DEFAULT_SMOOTHING)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("velocity")
                    .nick("Velocity")
                    .blurb("MIDI velocity of every note")
                    .minimum(1)
                    .maximum(127)
                    .default_value(DEFAULT_VELOCITY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", DEFAULT_MODE)
                    .nick("Mode")
                    .blurb("rule-based: the rules on video2roll's probabilities; learned: Audeo's Roll2Midi refinement (a trained net over windows of frames) first, then the same rules")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("refiner")
                    .nick("Refiner")
                    .blurb("mode=learned: refiner weights (.safetensors with its .json sidecar); default: roll2midi.safetensors found as video2roll finds its model ($PIANOLA_REFINER instead of $PIANOLA_MODEL)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("window")
                    .nick("Window")
                    .blurb("mode=learned: frames the refiner sees at once (windows overlap by half and cross-fade); adds window - 1 frames of latency")
                    .minimum(2)
                    .maximum(1000)
                    .default_value(DEFAULT_WINDOW)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt64::builder("processing-margin")
                    .nick("Processing margin")
                    .blurb("mode=learned: nanoseconds of processing time the latency answer adds for live pipelines; -1: measured (1.5 times the slowest refiner pass after the first two)")
                    .minimum(-1)
                    .maximum(10_000_000_000)
                    .default_value(DEFAULT_PROCESSING_MARGIN)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("live-window")
                    .nick("Live window")
                    .blurb("mode=learned: the window used instead when upstream is live (bounded latency); live, a window starts at every frame, so frames come out one for one")
                    .minimum(2)
                    .maximum(1000)
                    .default_value(DEFAULT_LIVE_WINDOW)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("mode=learned: where the refiner runs: cpu, auto, cuda or cuda:N")
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("tail")
                    .nick("Tail")
                    .blurb("MIDI output: milliseconds of 0xF9 ticks after the last note-off, so a synthesiser renders the release")
                    .maximum(60_000)
                    .default_value(DEFAULT_TAIL_MS)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "threshold" => {
                s.threshold = value.get().expect("type checked upstream");
                s.threshold_set = true;
            }
            "hysteresis" => s.hysteresis = value.get().expect("type checked upstream"),
            "min-note-duration" => {
                s.min_note_duration_ms = value.get().expect("type checked upstream")
            }
            "max-dropout" => s.max_dropout_ms = value.get().expect("type checked upstream"),
            "onset-align" => s.onset_align_ms = value.get().expect("type checked upstream"),
            "onset-threshold" => {
                s.onset_threshold = value.get().expect("type checked upstream");
                s.onset_threshold_set = true;
            }
            "onset-gate" => {
                s.onset_gate = value.get().expect("type checked upstream");
                s.onset_gate_set = true;
            }
            "smoothing" => s.smoothing = value.get().expect("type checked upstream"),
            "velocity" => s.velocity = value.get().expect("type checked upstream"),
            "tail" => s.tail_ms = value.get().expect("type checked upstream"),
            "mode" => s.mode = value.get().expect("type checked upstream"),
            "refiner" => s.refiner = value.get().expect("type checked upstream"),
            "window" => s.window = value.get().expect("type checked upstream"),
            "live-window" => s.live_window = value.get().expect("type checked upstream"),
            "processing-margin" => {
                s.processing_margin = value.get().expect("type checked upstream")
            }
            "device" => {
                s.device = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_DEVICE.into())
            }
            _ => unimplemented!(),
        }
        gst::debug!(CAT, imp = self, "{} set", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "threshold" => s.threshold.to_value(),
            "hysteresis" => s.hysteresis.to_value(),
            "min-note-duration" => s.min_note_duration_ms.to_value(),
            "max-dropout" => s.max_dropout_ms.to_value(),
            "onset-align" => s.onset_align_ms.to_value(),
            "onset-threshold" => s.onset_threshold.to_value(),
            "onset-gate" => s.onset_gate.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "velocity" => s.velocity.to_value(),
            "tail" => s.tail_ms.to_value(),
            "mode" => s.mode.to_value(),
            "refiner" => s.refiner.to_value(),
            "window" => s.window.to_value(),
            "live-window" => s.live_window.to_value(),
            "processing-margin" => s.processing_margin.to_value(),
            "device" => s.device.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for Roll2Midi {}

impl ElementImpl for Roll2Midi {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Piano roll to MIDI",
                "Filter/Converter/Audio",
                "Turns per-frame key probabilities into notes (threshold with hysteresis, \
                 onsets, minimum length, smoothing) as a velocity roll or MIDI events",
                "Pianola developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps::roll_template_caps(&[ValueFormat::F32, ValueFormat::U8]),
            )
            .expect("sink template");
            let mut src_caps = caps::roll_template_caps(&[ValueFormat::U8]);
            src_caps.merge(caps::midi_event_caps());
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
        if transition == gst::StateChange::ReadyToPaused
            && let Err(e) = self.start()
        {
            self.post_error_message(e);
            return Err(gst::StateChangeError);
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *self.state() = None;
            *self.refiner() = None;
        }
        Ok(ret)
    }
}
