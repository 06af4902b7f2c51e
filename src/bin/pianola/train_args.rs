// SPDX-License-Identifier: MPL-2.0
//! `pianola train`'s arguments and what follows from them alone, shared by the training
//! loop (`train`), its data (`train_data`) and its checks (`train_check`).

use std::path::PathBuf;

use gstpianola::model::Arch;

use crate::augment::Augment;

#[derive(clap::Args, Clone)]
pub struct TrainArgs {
    /// Weights to write (.safetensors; a .json sidecar and a .log.tsv go beside it).
    #[arg(long, default_value = "models/video2roll.safetensors")]
    pub out: PathBuf,
    /// Net: keycolumn (looks along the key; default), keycolumn-rest (also sees the
    /// keyboard at rest, estimated from the video), keycolumn-rest-half (the same on the
    /// strip at half resolution, a third of the work), keycolumn-relative (the strips minus
    /// the keyboard at rest in place of the strips: nothing of the keyboard's own look),
    /// keynet (compact) or audeo (Audeo's Video2Roll Net).
    #[arg(long, default_value = "keycolumn")]
    pub arch: String,
    /// Time budget in minutes.
    #[arg(long, default_value_t = 60.0)]
    pub minutes: f64,
    #[arg(long, default_value_t = 1_000_000)]
    pub max_steps: usize,
    /// With --resume: stop when the model has this many steps in all (so a stopped run
    /// started again finishes the same schedule). 0: no such limit.
    #[arg(long, default_value_t = 0)]
    pub total_steps: u64,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// MIDI folders for rendered pieces (besides procedural music).
    #[arg(long)]
    pub midi_dir: Vec<PathBuf>,
    #[arg(long, default_value_t = 0.2)]
    pub held_out: f64,
    /// Continue from the weights at --out.
    #[arg(long)]
    pub resume: bool,
    /// Start from these weights (fine-tuning, e.g. on clips of one's own piano) instead of
    /// from scratch; the net is the file's, --arch is not used. Its training record is kept
    /// in the new sidecar under "init". With --resume, a fine-tune stopped part-way goes on
    /// from --out.
    #[arg(long, conflicts_with = "arch")]
    pub init: Option<PathBuf>,
    /// Validate every this many steps.
    #[arg(long, default_value_t = 250)]
    pub val_every: usize,
    /// Rendered held-out examples per validation.
    #[arg(long, default_value_t = 400)]
    pub val_examples: usize,
    /// libtorch CPU threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: i32,
    /// Train on the data as it is (no geometric, light, blur or noise changes).
    #[arg(long)]
    pub no_augment: bool,
    /// Also change the keys' look as other pianos and rooms do: specular glare of the
    /// room's lights (blocked by a hand over the keys), black keys a little longer or
    /// shorter, a corner a little off (see models/README.md for what it did).
    #[arg(long, conflicts_with = "no_augment")]
    pub key_augment: bool,
    /// The largest crop shift of the augmentation, in strip pixels across the keys (a white
    /// key is 17.3 wide).
    #[arg(long, default_value_t = crate::augment::DEFAULT_MAX_SHIFT, conflicts_with = "no_augment")]
    pub max_shift: f32,
    /// The largest scale change of the augmentation across the keys (0.01: 1%, which moves
    /// the keys at the ends by up to 4.5 pixels).
    #[arg(long, default_value_t = crate::augment::DEFAULT_MAX_SCALE, conflicts_with = "no_augment")]
    pub max_scale: f32,
    /// With --key-augment: the glare also fades on the keys beside a hand (a hand between
    /// the room's light and the keys takes the reflection off its neighbours).
    #[arg(long, requires = "key_augment")]
    pub glare_shadow: bool,
    /// Also make pictures sharper than the source (an unsharp mask), as footage of a higher
    /// resolution than the training webcam shows.
    #[arg(long, conflicts_with = "no_augment")]
    pub sharpen: bool,
    /// Also a camera's own marks: a lens bending the keyboard a few pixels away from where
    /// its four corners put the keys (across them, and the front edge bowed), and lossy
    /// compression (JPEG of quality 15 to 70) of the frames.
    #[arg(long, conflicts_with = "no_augment")]
    pub camera: bool,
    /// Also mirror half the windows left to right about D4, labels with them (the layout is
    /// symmetric about D): a camera to the other side of the keys, light from the other side
    #[arg(long, conflicts_with = "no_augment")]
    pub mirror: bool,
    /// Render whole scenes and rectify them as pianocrop does (slower, closer to real use)
    /// instead of rendering the canonical strip.
    #[arg(long)]
    pub scenes: bool,
    /// Real clips listed in a manifest (the MTA layout: MANIFEST.tsv with the clips'
    /// pianists, corners, masked keys and ignored ranges). Repeatable.
    #[arg(long)]
    pub manifest: Vec<PathBuf>,
    /// Groups (pianists, e.g. "pianist 9") of the manifests held apart for validation:
    /// never trained on. Comma separated; numbers alone mean "pianist N".
    #[arg(long, value_delimiter = ',')]
    pub val_groups: Vec<String>,
    /// Folders of `pianola dataset` clips (their train/ part), decoded and cropped by the
    /// real pianocrop. Repeatable.
    #[arg(long)]
    pub clips: Vec<PathBuf>,
    /// A real video with its MIDI, only between two video times:
    /// "video=V,midi=M,scale=A,offset=B,from=S,to=S[,weight=W][,rotate=R][,corners=..]"
    /// (video_t = A * midi_t + B; W: how much more often its frames are drawn). Repeatable.
    #[arg(long)]
    pub real: Vec<String>,
    /// Score this real clip part (same form as --real) at every validation; it must not
    /// overlap what --real trains on.
    #[arg(long)]
    pub val_real: Option<String>,
    /// Share of each batch drawn from recorded clips (the rest is rendered on the fly).
    #[arg(long, default_value_t = 0.5)]
    pub clip_share: f64,
    /// Validate on every this many usable strips of the held-apart real clips.
    #[arg(long, default_value_t = 6)]
    pub val_stride: usize,
    /// Ship this key-down threshold instead of the one chosen on the validation windows
    /// (e.g. one chosen afterwards on the whole held-out clips through the element chain).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Also keep the weights every this many steps (0: never), beside --out as
    /// NAME.stepT.safetensors, to average them afterwards (`pianola average`).
    #[arg(long, default_value_t = 0)]
    pub snapshot_every: usize,
    /// The first total step whose weights --snapshot-every keeps.
    #[arg(long, default_value_t = 0)]
    pub snapshot_from: u64,
    /// Where decoded strips are cached, so that a second run does not decode again.
    #[arg(long, default_value = "target/strip-cache")]
    pub cache: PathBuf,
}

/// Whether the net trained takes the keyboard at rest after its frames.
pub fn wants_rest(a: &TrainArgs) -> bool {
    Arch::from_name(&a.arch).is_some_and(Arch::uses_rest)
}

/// The random change of training windows the arguments ask for.
pub fn augmentation(a: &TrainArgs) -> Option<Augment> {
    (!a.no_augment).then_some(Augment {
        keys: a.key_augment,
        max_shift: a.max_shift,
        max_scale: a.max_scale,
        glare_shadow: a.glare_shadow,
        sharpen: a.sharpen,
        camera: a.camera,
        mirror: a.mirror,
    })
}
