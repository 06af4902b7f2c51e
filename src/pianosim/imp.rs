// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::caps;
use crate::core::midi::smf_to_notes;
use crate::core::roll::{RollLayout, ValueFormat};
use crate::core::sim::{SimConfig, SimError, Simulator, View};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pianosim",
        gst::DebugColorFlags::empty(),
        Some("Synthetic piano video renderer"),
    )
});

const DEFAULT_SEED: u64 = 0;
const DEFAULT_KEYS: u32 = 0;
const DEFAULT_TAIL_MS: u32 = 1000;
pub const KEYBOARD_MESSAGE: &str = "pianosim-keyboard";

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    seed: u64,
    width: u32,
    height: u32,
    framerate: gst::Fraction,
    canonical: bool,
    falling_notes: bool,
    lit_keys: bool,
    keys: u32,
    tail_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            seed: DEFAULT_SEED,
            width: 0,
            height: 0,
            framerate: gst::Fraction::new(0, 1),
            canonical: false,
            falling_notes: false,
            lit_keys: false,
            keys: DEFAULT_KEYS,
            tail_ms: DEFAULT_TAIL_MS,
        }
    }
}

/// Each pad has its own streaming thread, so branches need no queues to preroll.
struct State {
    sim: Simulator,
    /// Next frame of the video and roll pads.
    next: [usize; 2],
    started: [bool; 2],
    combiner: gst_base::UniqueFlowCombiner,
}

pub struct PianoSim {
    group: gst::GroupId,
    video: gst::Pad,
    roll: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

impl PianoSim {
    fn state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Read the MIDI file and set up the renderer.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings();
        let Some(location) = s.location.clone().filter(|l| !l.is_empty()) else {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                ("No MIDI file: set the location property")
            ));
        };
        let bytes = std::fs::read(&location).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::OpenRead,
                ("Cannot read MIDI file {location}: {e}. Set location to a readable .mid file")
            )
        })?;
        let notes = smf_to_notes(&bytes).map_err(|e| {
            gst::error_msg!(
                gst::StreamError::Decode,
                ("{location} is not a usable MIDI file: {e}")
            )
        })?;
        let config = SimConfig {
            seed: s.seed,
            width: s.width,
            height: s.height,
            fps_num: s.framerate.numer().max(0) as u32,
            fps_den: s.framerate.denom().max(1) as u32,
            view: if s.falling_notes {
                View::Falling
            } else if s.canonical {
                View::Canonical
            } else {
                View::Scene
            },
            lit_keys: s.lit_keys,
            keys: (s.keys != 0).then_some(s.keys as usize),
            tail: s.tail_ms as u64 * 1_000_000,
        };
        let sim = Simulator::new(&notes, &config).map_err(|e| match e {
            SimError::Empty => gst::error_msg!(
                gst::StreamError::Decode,
                ("{location} has no notes to render: give a MIDI file with notes in it")
            ),
            SimError::Size(..) => gst::error_msg!(
                gst::LibraryError::Settings,
                ("Cannot render {location}: {e}. Set the width and height properties")
            ),
            SimError::Rate(..) => gst::error_msg!(
                gst::LibraryError::Settings,
                ("Cannot render {location}: {e}. Set the framerate property")
            ),
            SimError::Keyboard(_) => gst::error_msg!(
                gst::LibraryError::Settings,
                ("Cannot render {location}: {e}. Set the keys property (88, 76, 61, 49)")
            ),
        })?;
        gst::info!(
            CAT,
            imp = self,
            "{}x{} at {}/{} fps, {} frames, {} notes, keyboard {:?}",
            sim.width(),
            sim.height(),
            sim.fps().0,
            sim.fps().1,
            sim.n_frames(),
            sim.notes().len(),
            sim.keyboard()
        );
        let mut combiner = gst_base::UniqueFlowCombiner::new();
        combiner.add_pad(&self.video);
        combiner.add_pad(&self.roll);
        *self.state() = Some(State {
            sim,
            next: [0, 0],
            started: [false, false],
            combiner,
        });
        Ok(())
    }

    /// Stream-start, caps and segment for one pad, and for the video pad the keyboard
    /// message: made under the state lock, pushed and posted after it is released.
    fn stream_start(
        &self,
        pad: &gst::Pad,
        sim: &Simulator,
    ) -> (Vec<gst::Event>, Option<gst::Message>) {
        let (num, den) = sim.fps();
        let rate = gst::Fraction::new(num as i32, den as i32);
        let is_video = pad == &self.video;
        let (c, name) = if is_video {
            (
                gst_video::VideoCapsBuilder::new()
                    .format(gst_video::VideoFormat::Rgba)
                    .width(sim.width() as i32)
                    .height(sim.height() as i32)
                    .framerate(rate)
                    .build(),
                "video",
            )
        } else {
            (
                caps::roll_caps(&RollLayout::piano88(ValueFormat::U8, true), rate),
                "roll",
            )
        };
        let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
        seg.set_duration(self.duration(sim));
        let events = vec![
            gst::event::StreamStart::builder(&format!("pianosim-{}/{name}", sim.config().seed))
                .group_id(self.group)
                .build(),
            gst::event::Caps::new(&c),
            gst::event::Segment::new(&seg),
        ];
        if !is_video {
            return (events, None);
        }
        let c = sim.corners();
        let kb = sim.keyboard();
        let s = gst::Structure::builder(KEYBOARD_MESSAGE)
            .field(
                "corners",
                gst::Array::new(c.iter().flat_map(|p| [p[0] as f64, p[1] as f64])),
            )
            .field("keys", kb.keys as i32)
            .field("lowest-note", kb.lowest_note as i32)
            .field("width", sim.width() as i32)
            .field("height", sim.height() as i32)
            .build();
        let msg = gst::message::Element::builder(s).src(&*self.obj()).build();
        (events, Some(msg))
    }

    /// Push the events and post the message of [`Self::stream_start`] (no lock held).
    fn send_start(&self, pad: &gst::Pad, start: Option<(Vec<gst::Event>, Option<gst::Message>)>) {
        let Some((events, msg)) = start else {
            return;
        };
        for e in events {
            pad.push_event(e);
        }
        if let Some(m) = msg {
            let _ = self.obj().post_message(m);
        }
    }

    fn duration(&self, sim: &Simulator) -> gst::ClockTime {
        let (num, den) = sim.fps();
        gst::ClockTime::SECOND
            .mul_div_floor(sim.n_frames() as u64 * den as u64, num as u64)
            .unwrap_or(gst::ClockTime::ZERO)
    }

    /// One iteration of a pad's streaming task: its next frame.
    fn loop_fn(&self, pad: &gst::Pad) {
        let p = usize::from(pad != &self.video);
        let mut guard = self.state();
        let Some(state) = guard.as_mut() else {
            let _ = pad.pause_task();
            return;
        };
        let start = (!state.started[p]).then(|| {
            state.started[p] = true;
            self.stream_start(pad, &state.sim)
        });
        let i = state.next[p];
        if i >= state.sim.n_frames() {
            drop(guard);
            self.send_start(pad, start);
            pad.push_event(gst::event::Eos::new());
            let _ = pad.pause_task();
            return;
        }
        state.next[p] += 1;
        let pts = gst::ClockTime::from_nseconds(state.sim.frame_time(i));
        let (num, den) = state.sim.fps();
        let end = gst::ClockTime::SECOND
            .mul_div_round((i as u64 + 1) * den as u64, num as u64)
            .unwrap_or(pts);
        let data = if p == 0 {
            state.sim.render(i).to_vec()
        } else {
            state
                .sim
                .truth(i, 1)
                .pop()
                .map(|f| f.to_bytes())
                .unwrap_or_default()
        };
        drop(guard);
        self.send_start(pad, start);
        let mut buf = gst::Buffer::from_mut_slice(data);
        if let Some(m) = buf.get_mut() {
            m.set_pts(pts);
            m.set_duration(end.saturating_sub(pts));
            m.set_offset(i as u64);
            m.set_offset_end(i as u64 + 1);
        }
        let r = pad.push(buf);
        if let Err(e) = self.combine(pad, r) {
            gst::debug!(CAT, obj = pad, "pausing: {e:?}");
            let _ = pad.pause_task();
            if e != gst::FlowError::Flushing {
                if e != gst::FlowError::Eos {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        ("Streaming stopped: {e:?}")
                    );
                }
                self.video.push_event(gst::event::Eos::new());
                self.roll.push_event(gst::event::Eos::new());
            }
        }
    }

    fn combine(
        &self,
        pad: &gst::Pad,
        r: Result<gst::FlowSuccess, gst::FlowError>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.state().as_mut() {
            Some(s) => s.combiner.update_pad_flow(pad, r),
            None => r,
        }
    }

    fn activate(&self, pad: &gst::Pad, active: bool) -> Result<(), gst::LoggableError> {
        if active {
            let imp = self.ref_counted();
            let p = pad.clone();
            pad.start_task(move || imp.loop_fn(&p))
                .map_err(|e| gst::loggable_error!(CAT, "cannot start task: {e}"))?;
        } else {
            pad.stop_task()
                .map_err(|e| gst::loggable_error!(CAT, "cannot stop task: {e}"))?;
        }
        Ok(())
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Duration(q) if q.format() == gst::Format::Time => {
                match self.state().as_ref() {
                    Some(s) => {
                        q.set(self.duration(&s.sim));
                        true
                    }
                    None => false,
                }
            }
            QueryViewMut::Scheduling(q) => {
                q.set(gst::SchedulingFlags::SEQUENTIAL, 1, -1, 0);
                q.add_scheduling_modes([gst::PadMode::Push]);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PianoSim {
    const NAME: &'static str = "GstPianolaPianoSim";
    type Type = super::PianoSim;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let mk = |name: &str| {
            gst::Pad::builder_from_template(&klass.pad_template(name).expect("template"))
                .activatemode_function(|pad, parent, mode, active| {
                    PianoSim::catch_panic_pad_function(
                        parent,
                        || Err(gst::loggable_error!(CAT, "panic in activation")),
                        |imp| {
                            if mode != gst::PadMode::Push {
                                return Err(gst::loggable_error!(CAT, "push mode only"));
                            }
                            imp.activate(pad, active)
                        },
                    )
                })
                .query_function(|pad, parent, query| {
                    PianoSim::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.src_query(pad, query),
                    )
                })
                .event_function(|pad, parent, event| {
                    PianoSim::catch_panic_pad_function(
                        parent,
                        || false,
                        |_| match event.view() {
                            // Not seekable: the render runs start to end.
                            gst::EventView::Seek(_) => false,
                            _ => gst::Pad::event_default(pad, parent, event),
                        },
                    )
                })
                .build()
        };
        PianoSim {
            group: gst::GroupId::next(),
            video: mk("video"),
            roll: mk("roll"),
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
        }
    }
}

impl ObjectImpl for PianoSim {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.video).expect("add video pad");
        obj.add_pad(&self.roll).expect("add roll pad");
        obj.set_element_flags(gst::ElementFlags::SOURCE);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Standard MIDI File to perform")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Every random choice of the clip (look, camera, hands; size and rate when not set) comes from it")
                    .default_value(DEFAULT_SEED)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Frame width in pixels (0: from the seed, 640..1920, or 900 when canonical)")
                    .maximum(4096)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Frame height in pixels (0: from the seed, 360..1080, or 100 when canonical)")
                    .maximum(4096)
                    .mutable_ready()
                    .build(),
                gst::ParamSpecFraction::builder("framerate")
                    .nick("Frame rate")
                    .blurb("Frames per second (0/1: from the seed, one of 24, 25, 30, 29.97, 60)")
                    .minimum(gst::Fraction::new(0, 1))
                    .maximum(gst::Fraction::new(240, 1))
                    .default_value(gst::Fraction::new(0, 1))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("canonical")
                    .nick("Canonical")
                    .blurb("Render only the rectified 88-key strip (as pianocrop outputs it) instead of the whole scene")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("falling-notes")
                    .nick("Falling notes")
                    .blurb("Render a Synthesia-style view instead of a performance: the keyboard along the bottom, lit where pressed, the notes falling onto it (1280x720 unless width/height are set)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("lit-keys")
                    .nick("Lit keys")
                    .blurb("Colour pressed keys (Synthesia style) instead of the subtle look of a real piano")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("keys")
                    .nick("Keys")
                    .blurb("Instrument size: 88, 76 or 61 keys (0: from the seed, mostly 88); notes outside its range move by octaves")
                    .maximum(88)
                    .default_value(DEFAULT_KEYS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("tail")
                    .nick("Tail")
                    .blurb("Milliseconds rendered after the last note ends")
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
            "location" => s.location = value.get().expect("type checked upstream"),
            "seed" => s.seed = value.get().expect("type checked upstream"),
            "width" => s.width = value.get().expect("type checked upstream"),
            "height" => s.height = value.get().expect("type checked upstream"),
            "framerate" => s.framerate = value.get().expect("type checked upstream"),
            "canonical" => s.canonical = value.get().expect("type checked upstream"),
            "falling-notes" => s.falling_notes = value.get().expect("type checked upstream"),
            "lit-keys" => s.lit_keys = value.get().expect("type checked upstream"),
            "keys" => s.keys = value.get().expect("type checked upstream"),
            "tail" => s.tail_ms = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "location" => s.location.to_value(),
            "seed" => s.seed.to_value(),
            "width" => s.width.to_value(),
            "height" => s.height.to_value(),
            "framerate" => s.framerate.to_value(),
            "canonical" => s.canonical.to_value(),
            "falling-notes" => s.falling_notes.to_value(),
            "lit-keys" => s.lit_keys.to_value(),
            "keys" => s.keys.to_value(),
            "tail" => s.tail_ms.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for PianoSim {}

impl ElementImpl for PianoSim {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Piano performance simulator",
                "Source/Video",
                "Renders a top-view video of a piano performance of a MIDI file, with the true \
                 piano roll and keyboard corners",
                "Pianola developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgba)
                .build();
            vec![
                gst::PadTemplate::new(
                    "video",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &video,
                )
                .expect("video template"),
                gst::PadTemplate::new(
                    "roll",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps::roll_template_caps(&[ValueFormat::U8]),
                )
                .expect("roll template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused
            && let Err(err) = self.start()
        {
            self.post_error_message(err);
            return Err(gst::StateChangeError);
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *self.state() = None;
        }
        Ok(ret)
    }
}
