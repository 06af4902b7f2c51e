// SPDX-License-Identifier: MPL-2.0
//! The only module that touches tensors. Plain Rust in and out.
//!
//! Device selection (`auto`, `cpu`, `cuda`, `cuda:N`) and the pressed-key nets.

pub mod audeo;
pub mod keycolumn;
pub mod keynet;
#[cfg(feature = "train")]
pub mod probe;
pub mod refiner;
#[cfg(feature = "train")]
pub mod refiner_train;
#[cfg(feature = "train")]
pub mod train;

use thiserror::Error;

use crate::core::strip;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device {0:?}: use auto, cpu, cuda or cuda:N")]
    Unknown(String),
    #[error("device {requested} asked for, but {available} CUDA device(s) are available")]
    Unavailable { requested: String, available: usize },
}

/// Where inference runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_string())),
        }
    }
}

/// Number of CUDA devices libtorch sees (0 on a CPU-only build or machine).
pub fn cuda_device_count() -> usize {
    tch::Cuda::device_count().max(0) as usize
}

/// Resolve a choice to a tch device: `auto` is the first CUDA device when there is one.
pub fn resolve(choice: DeviceChoice) -> Result<tch::Device, DeviceError> {
    let n = cuda_device_count();
    match choice {
        DeviceChoice::Cpu => Ok(tch::Device::Cpu),
        DeviceChoice::Auto if n > 0 => Ok(tch::Device::Cuda(0)),
        DeviceChoice::Auto => Ok(tch::Device::Cpu),
        DeviceChoice::Cuda(i) if i < n => Ok(tch::Device::Cuda(i)),
        DeviceChoice::Cuda(i) => Err(DeviceError::Unavailable {
            requested: format!("cuda:{i}"),
            available: n,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every arch is named, read back from its name and built as its own family: a KeyColumn
    /// arch never falls through to another net.
    #[test]
    fn each_arch_is_built_as_its_family() {
        use keycolumn::{Input, Size};
        let all = [
            (Arch::KeyNet, Family::KeyNet),
            (
                Arch::KeyColumn,
                Family::KeyColumn(Input::Frames, Size::Full),
            ),
            (
                Arch::KeyColumnRest,
                Family::KeyColumn(Input::Rest, Size::Full),
            ),
            (
                Arch::KeyColumnRestHalf,
                Family::KeyColumn(Input::Rest, Size::Half),
            ),
            (
                Arch::KeyColumnRelative,
                Family::KeyColumn(Input::Relative, Size::Full),
            ),
            (Arch::Audeo, Family::Audeo),
        ];
        for (arch, family) in all {
            assert_eq!(Arch::from_name(arch.name()), Some(arch));
            assert_eq!(arch.family(), family);
            assert_eq!(
                arch.uses_rest(),
                matches!(family, Family::KeyColumn(Input::Rest | Input::Relative, _))
            );
            if family == Family::Audeo {
                continue; // ResNet18: large, and has no KeyColumn form to check
            }
            let m = Model::new(ModelMeta::new(arch), tch::Device::Cpu);
            assert_eq!(
                matches!(m.net, Net::KeyColumn(_)),
                matches!(family, Family::KeyColumn(..)),
                "{}",
                arch.name()
            );
        }
        assert_eq!(Arch::from_name("keycolumn-rest-quarter"), None);
    }

    /// Passes run side by side give what one pass gives, in the windows' order, and a
    /// window of the wrong size is an error there too.
    #[test]
    fn parallel_passes_give_the_one_pass_output() {
        tch::manual_seed(3);
        let mut m = Model::new(ModelMeta::new(Arch::KeyColumnRest), tch::Device::Cpu);
        m.freeze();
        let size = m.meta().images() * m.meta().height * m.meta().width;
        let mut seed = 99u32;
        let windows: Vec<Vec<u8>> = (0..5)
            .map(|k| {
                (0..size)
                    .map(|i| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        ((i % 900) / (k + 2) + (seed >> 26) as usize) as u8
                    })
                    .collect()
            })
            .collect();
        let one = m.predict(&windows).unwrap();
        for workers in [2, 3, 8] {
            let many = m.predict_parallel(&windows, workers).unwrap();
            assert_eq!(many.len(), one.len());
            for (a, b) in one.iter().zip(&many) {
                let d = a
                    .frame
                    .iter()
                    .zip(&b.frame)
                    .chain(a.onset.iter().flatten().zip(b.onset.iter().flatten()))
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(d < 1e-5, "{workers} workers: differs by {d}");
            }
        }
        // The windows differ, so the order is checked too.
        assert!(one[0].frame != one[4].frame);
        let mut bad = windows.clone();
        bad[3].pop();
        assert!(matches!(
            m.predict_parallel(&bad, 2),
            Err(ModelError::Input(_))
        ));
    }

    /// The average of nets is the mean of each variable (BatchNorm's running statistics
    /// too); nets of another architecture are refused and leave the weights as they were.
    #[test]
    fn average_is_the_mean_of_every_variable() {
        let _guard = tch::no_grad_guard();
        let make = |seed| {
            tch::manual_seed(seed);
            let m = Model::new(ModelMeta::new(Arch::KeyColumnRestHalf), tch::Device::Cpu);
            // Running statistics start at 0 and 1 in every net; make them differ.
            let mut vars: Vec<_> = m.var_store().variables().into_iter().collect();
            vars.sort_by(|x, y| x.0.cmp(&y.0));
            for (name, mut v) in vars {
                if name.contains("running") {
                    v.f_copy_(&v.rand_like()).unwrap();
                }
            }
            m
        };
        let (a, b, c) = (make(1), make(2), make(3));
        let mut avg = make(4);
        avg.average_of(&[a, b, c]).unwrap();
        let (a, b, c) = (make(1), make(2), make(3));
        let vars = avg.var_store().variables();
        assert!(vars.keys().any(|n| n.contains("running_mean")));
        for (name, v) in &vars {
            let want = (a.var_store().variables()[name].shallow_clone()
                + &b.var_store().variables()[name]
                + &c.var_store().variables()[name])
                / 3.0;
            let d = (v - want).abs().max().double_value(&[]);
            assert!(d < 1e-6, "{name} differs by {d}");
        }
        let before = vars["ctx1.weight"].copy();
        let other = Model::new(ModelMeta::new(Arch::KeyColumnRest), tch::Device::Cpu);
        assert!(matches!(
            avg.average_of(&[other]),
            Err(ModelError::Input(_))
        ));
        assert!(avg.average_of(&[]).is_err());
        let after = &avg.var_store().variables()["ctx1.weight"];
        assert_eq!((after - before).abs().max().double_value(&[]), 0.0);
    }

    #[test]
    fn parse_and_resolve() {
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceChoice::Cuda(3)));
        assert!(matches!(
            "gpu".parse::<DeviceChoice>(),
            Err(DeviceError::Unknown(_))
        ));
        assert_eq!(resolve(DeviceChoice::Cpu), Ok(tch::Device::Cpu));
        // Without a GPU (as here and in CI) auto falls back to the CPU, and cuda:N is an error.
        if cuda_device_count() == 0 {
            assert_eq!(resolve(DeviceChoice::Auto), Ok(tch::Device::Cpu));
            assert!(resolve(DeviceChoice::Cuda(0)).is_err());
        }
    }

    #[test]
    fn a_plugin_in_its_build_tree_finds_the_trees_models_and_an_installed_one_does_not() {
        let d = std::env::temp_dir().join(format!("pianola-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let tree = d.join("clone");
        for sub in [
            "target/release/deps",
            "target/plugin/release",
            "models",
            "share/gstreamer-1.0/plugins",
        ] {
            std::fs::create_dir_all(tree.join(sub)).expect("dir");
        }
        std::fs::write(tree.join("Cargo.toml"), "").expect("write");
        let so = |sub: &str| {
            let f = tree.join(sub).join("libgstpianola.so");
            std::fs::write(&f, "").expect("write");
            f
        };
        let models = std::fs::canonicalize(tree.join("models")).expect("canonical");
        for sub in [
            "target/release",
            "target/release/deps",
            "target/plugin/release",
        ] {
            assert_eq!(source_tree_models(&so(sub)), Some(models.clone()), "{sub}");
        }
        // Through a symlink to the built file, as a plugin folder may hold it.
        let link = d.join("libgstpianola.so");
        std::os::unix::fs::symlink(so("target/release"), &link).expect("symlink");
        assert_eq!(source_tree_models(&link), Some(models));
        // Installed (copied out of target/), or a target/ folder that is no source tree.
        assert_eq!(source_tree_models(&so("share/gstreamer-1.0/plugins")), None);
        std::fs::remove_file(tree.join("Cargo.toml")).expect("remove");
        assert_eq!(source_tree_models(&so("target/release")), None);
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// The nets this crate can load, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Compact position-aware net with an onset head (the earlier default).
    KeyNet,
    /// KeyNet that looks along the whole key, on normalised strips and their differences.
    KeyColumn,
    /// KeyColumn that also sees the keyboard at rest (`core::rest`), estimated from the
    /// video itself: a key held under a still hand differs from rest, not from the frame
    /// before.
    KeyColumnRest,
    /// KeyColumnRest on the strip averaged over 2x2 pixels, with fewer channels: a third
    /// of the work ([`keycolumn::Size::Half`]).
    KeyColumnRestHalf,
    /// KeyColumn on the strips minus the keyboard at rest, and their differences: nothing of
    /// the keyboard's own look ([`keycolumn::Input::Relative`]).
    KeyColumnRelative,
    /// Audeo's Video2Roll Net (ResNet18 with FTB, FRB and self-attention), frame head only.
    Audeo,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::KeyNet => "keynet",
            Arch::KeyColumn => "keycolumn",
            Arch::KeyColumnRest => "keycolumn-rest",
            Arch::KeyColumnRestHalf => "keycolumn-rest-half",
            Arch::KeyColumnRelative => "keycolumn-relative",
            Arch::Audeo => "audeo",
        }
    }

    pub fn from_name(s: &str) -> Option<Arch> {
        match s {
            "keynet" => Some(Arch::KeyNet),
            "keycolumn" => Some(Arch::KeyColumn),
            "keycolumn-rest" => Some(Arch::KeyColumnRest),
            "keycolumn-rest-half" => Some(Arch::KeyColumnRestHalf),
            "keycolumn-relative" => Some(Arch::KeyColumnRelative),
            "audeo" => Some(Arch::Audeo),
            _ => None,
        }
    }

    pub fn has_onset(self) -> bool {
        !matches!(self, Arch::Audeo)
    }

    /// Whether each window ends with the keyboard at rest after its frames.
    pub fn uses_rest(self) -> bool {
        match self.family() {
            Family::KeyColumn(input, _) => input.uses_rest(),
            Family::KeyNet | Family::Audeo => false,
        }
    }

    /// Which net this is built as, with a KeyColumn's input and size.
    pub fn family(self) -> Family {
        use keycolumn::{Input, Size};
        match self {
            Arch::KeyNet => Family::KeyNet,
            Arch::KeyColumn => Family::KeyColumn(Input::Frames, Size::Full),
            Arch::KeyColumnRest => Family::KeyColumn(Input::Rest, Size::Full),
            Arch::KeyColumnRestHalf => Family::KeyColumn(Input::Rest, Size::Half),
            Arch::KeyColumnRelative => Family::KeyColumn(Input::Relative, Size::Full),
            Arch::Audeo => Family::Audeo,
        }
    }
}

/// The three nets an [`Arch`] is built as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    KeyNet,
    /// KeyColumn, reading this input, at this size.
    KeyColumn(keycolumn::Input, keycolumn::Size),
    Audeo,
}

/// What a weights file is, from its sidecar `<weights>.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    pub arch: Arch,
    pub keys: usize,
    pub lowest_note: u8,
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    /// Thresholds at which training validation and `pianola eval` score the raw key-down
    /// and onset outputs (roll2midi's own properties decide the notes).
    pub threshold: f32,
    pub onset_threshold: f32,
    /// Free-form training record (data, command, seed, steps, metrics).
    pub training: serde_json::Value,
}

impl ModelMeta {
    pub fn new(arch: Arch) -> ModelMeta {
        ModelMeta {
            arch,
            keys: strip::KEYS,
            lowest_note: strip::LOWEST_NOTE,
            frames: strip::FRAMES,
            height: strip::HEIGHT,
            width: strip::WIDTH,
            threshold: 0.4,
            onset_threshold: 0.5,
            training: serde_json::Value::Null,
        }
    }

    /// Images in a window: the frames, then the keyboard at rest for nets that use it.
    pub fn images(&self) -> usize {
        self.frames + usize::from(self.arch.uses_rest())
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "format": "pianola-video2roll",
            "arch": self.arch.name(),
            "keys": self.keys,
            "lowest_note": self.lowest_note,
            "frames": self.frames,
            "height": self.height,
            "width": self.width,
            "threshold": self.threshold,
            "onset_threshold": self.onset_threshold,
            "training": self.training,
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Result<ModelMeta, String> {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .ok_or(format!("field {k} missing"))
        };
        let u = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .ok_or(format!("field {k} missing"))
        };
        let f = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_f64())
                .ok_or(format!("field {k} missing"))
        };
        if s("format")? != "pianola-video2roll" {
            return Err("not a pianola video2roll model (format field)".into());
        }
        let arch = Arch::from_name(s("arch")?).ok_or(
            "unknown arch (keycolumn, keycolumn-rest, keycolumn-rest-half, keycolumn-relative, keynet, audeo)",
        )?;
        Ok(ModelMeta {
            arch,
            keys: u("keys")? as usize,
            lowest_note: u("lowest_note")? as u8,
            frames: u("frames")? as usize,
            height: u("height")? as usize,
            width: u("width")? as usize,
            threshold: f("threshold")? as f32,
            onset_threshold: f("onset_threshold")? as f32,
            training: v.get("training").cloned().unwrap_or_default(),
        })
    }
}

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("model file {path} not found{hint}")]
    Missing { path: String, hint: String },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
    #[error("{0}")]
    Device(#[from] DeviceError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("model input: {0}")]
    Input(String),
}

/// The first line of a libtorch error (its C++ stack trace left out), at most 300 characters.
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = first.chars().take(300).collect();
    if out.len() < first.len() {
        out.push_str("...");
    }
    out
}

/// The sidecar of a weights file: `x.safetensors` -> `x.json`.
pub fn sidecar(path: &std::path::Path) -> std::path::PathBuf {
    path.with_extension("json")
}

/// Read and parse the sidecar of the weights at `path`.
pub fn read_sidecar<M>(
    path: &std::path::Path,
    parse: impl FnOnce(&serde_json::Value) -> Result<M, String>,
) -> Result<M, ModelError> {
    let side = sidecar(path);
    let invalid = |why: String| ModelError::Invalid {
        path: side.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(&side).map_err(|e| {
        invalid(format!(
            "cannot read the sidecar ({e}); it must sit next to the weights"
        ))
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    parse(&json).map_err(invalid)
}

/// Write `json` as the sidecar of the weights at `path`.
pub fn write_sidecar(path: &std::path::Path, json: &serde_json::Value) -> Result<(), ModelError> {
    let side = sidecar(path);
    let text = serde_json::to_string_pretty(json).unwrap_or_default();
    std::fs::write(&side, text + "\n").map_err(|e| ModelError::Invalid {
        path: side.display().to_string(),
        why: e.to_string(),
    })
}

/// Probabilities for one window: key down, and key struck (None for nets without onsets).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyProbs {
    pub frame: Vec<f32>,
    pub onset: Option<Vec<f32>>,
}

/// A loaded pressed-key net. Plain Rust in and out.
pub struct Model {
    vs: tch::nn::VarStore,
    net: Net,
    meta: ModelMeta,
    device: tch::Device,
    /// The inference form of the weights, once [`Model::freeze`] made it.
    fast: Option<keycolumn::Folded>,
    /// Copies of `fast` sharing its weights, one for each extra pass run side by side
    /// ([`Model::predict_parallel`]); made when first needed.
    replicas: Vec<keycolumn::Folded>,
}

/// The nets: KeyColumn by name, so that [`Model::freeze`] can fold it.
enum Net {
    KeyColumn(Box<keycolumn::KeyColumn>),
    Other(Box<dyn tch::nn::ModuleT + Send>),
}

impl Net {
    fn forward_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        use tch::nn::ModuleT;
        match self {
            Net::KeyColumn(n) => n.forward_t(x, train),
            Net::Other(n) => n.forward_t(x, train),
        }
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("meta", &self.meta)
            .field("device", &self.device)
            .finish()
    }
}

impl Model {
    /// A freshly initialised net (for training).
    pub fn new(meta: ModelMeta, device: tch::Device) -> Model {
        keep_freed_memory();
        let vs = tch::nn::VarStore::new(device);
        let net = match meta.arch.family() {
            Family::KeyColumn(input, size) => Net::KeyColumn(Box::new(keycolumn::KeyColumn::new(
                &vs.root(),
                meta.keys as i64,
                meta.lowest_note,
                input,
                size,
            ))),
            Family::KeyNet => Net::Other(Box::new(keynet::KeyNet::new(
                &vs.root(),
                meta.keys as i64,
                meta.lowest_note,
            ))),
            Family::Audeo => Net::Other(Box::new(audeo_net(&vs.root(), meta.keys as i64))),
        };
        Model {
            vs,
            net,
            meta,
            device,
            fast: None,
            replicas: Vec::new(),
        }
    }

    /// Make the inference form of the current weights (KeyColumn nets: BatchNorm folded,
    /// the input made in one pass), which [`Model::predict`] then uses: the same output
    /// at about twice the speed. For a model that is done training: later changes to the
    /// weights (an optimiser step) do not reach it. Other nets: no change.
    pub fn freeze(&mut self) {
        if let Net::KeyColumn(n) = &self.net {
            self.fast = Some(n.folded());
            self.replicas.clear();
        }
    }

    /// Load weights (`.safetensors`) and their sidecar; `device` as in [`DeviceChoice`].
    pub fn load(path: &std::path::Path, device: DeviceChoice) -> Result<Model, ModelError> {
        let p = path.display().to_string();
        if !path.is_file() {
            return Err(ModelError::Missing {
                path: p,
                hint: ": train one with `pianola train` or set the model property".into(),
            });
        }
        let meta = read_sidecar(path, ModelMeta::from_json)?;
        if (meta.frames, meta.height, meta.width) != (strip::FRAMES, strip::HEIGHT, strip::WIDTH) {
            return Err(ModelError::Invalid {
                path: p,
                why: format!(
                    "input {}x{}x{} is not the supported 5x100x900",
                    meta.frames, meta.height, meta.width
                ),
            });
        }
        let mut m = Model::new(meta, resolve(device)?);
        m.vs.load(path).map_err(|e| ModelError::Invalid {
            path: p.clone(),
            why: format!(
                "weights do not match a {} net: {}",
                m.meta.arch.name(),
                one_line(&e)
            ),
        })?;
        Ok(m)
    }

    /// Make these weights the uniform average of `others`' (stochastic weight averaging
    /// over a run's snapshots): every variable, BatchNorm's running statistics included.
    /// The nets must be of this one's architecture (same names and shapes); the metadata
    /// stays this model's. Drops any inference form made before.
    pub fn average_of(&mut self, others: &[Model]) -> Result<(), ModelError> {
        if others.is_empty() {
            return Err(ModelError::Input("no weights to average".into()));
        }
        let _guard = tch::no_grad_guard();
        let mut mine = self.vs.variables();
        let theirs: Vec<_> = others.iter().map(|m| m.vs.variables()).collect();
        if let Some((k, vars)) = theirs
            .iter()
            .enumerate()
            .find(|(_, v)| v.len() != mine.len())
        {
            return Err(ModelError::Input(format!(
                "weights {} have {} variables, expected {}",
                k + 1,
                vars.len(),
                mine.len()
            )));
        }
        // Every net checked before any weight changes.
        for (k, vars) in theirs.iter().enumerate() {
            for (name, var) in &mine {
                let v = vars.get(name).ok_or_else(|| {
                    ModelError::Input(format!("weights {} have no variable {name}", k + 1))
                })?;
                if v.size() != var.size() {
                    return Err(ModelError::Input(format!(
                        "weights {}: {name} is {:?}, expected {:?}",
                        k + 1,
                        v.size(),
                        var.size()
                    )));
                }
            }
        }
        for (name, var) in mine.iter_mut() {
            let mut sum = var.f_zeros_like()?;
            for vars in &theirs {
                if let Some(v) = vars.get(name) {
                    sum = sum.f_add(&v.f_to_device(self.device)?.f_to_kind(var.kind())?)?;
                }
            }
            var.f_copy_(&sum.f_div_scalar(others.len() as f64)?)?;
        }
        self.fast = None;
        self.replicas.clear();
        Ok(())
    }

    /// Save weights (`.safetensors`) and the sidecar with `meta`.
    pub fn save(&self, path: &std::path::Path) -> Result<(), ModelError> {
        self.vs.save(path)?;
        write_sidecar(path, &self.meta.to_json())
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn meta_mut(&mut self) -> &mut ModelMeta {
        &mut self.meta
    }

    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// Key probabilities of each window; a window is `frames` GRAY8 images of
    /// `height x width`, rows packed, frame t-2 first (then the keyboard at rest, for nets
    /// that use it). One output per window, or an error (a window of the wrong size, a
    /// libtorch fault), never a panic.
    pub fn predict(&self, windows: &[Vec<u8>]) -> Result<Vec<KeyProbs>, ModelError> {
        let parts = self.split(windows)?;
        let views: Vec<&[&[u8]]> = parts.iter().map(Vec::as_slice).collect();
        self.predict_images(&views)
    }

    /// [`Model::predict`] of windows given as their images, each read where it is (no copy
    /// of a window into one buffer): `frames` images, then the rest image for nets that
    /// use it, each `height x width` GRAY8, rows packed.
    pub fn predict_images(&self, windows: &[&[&[u8]]]) -> Result<Vec<KeyProbs>, ModelError> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        self.check_windows(windows)?;
        let m = &self.meta;
        if let Some(fast) = &self.fast {
            return fast_probabilities(m, fast, windows, self.device);
        }
        let _guard = tch::no_grad_guard();
        let x = input_tensor(m, &windows.concat().concat(), self.device)?;
        let logits = self.net.forward_t(&x, false);
        probabilities(m, &logits, windows.len())
    }

    /// Each window of one buffer as its images; an error naming the first window whose
    /// size is not the net's input.
    fn split<'a>(&self, windows: &'a [Vec<u8>]) -> Result<Vec<Vec<&'a [u8]>>, ModelError> {
        let m = &self.meta;
        let px = m.height * m.width;
        let size = m.images() * px;
        match windows.iter().find(|w| w.len() != size) {
            Some(w) => Err(ModelError::Input(format!(
                "a window of {} bytes, expected {}x{}x{} = {size}",
                w.len(),
                m.images(),
                m.height,
                m.width
            ))),
            None => Ok(windows.iter().map(|w| w.chunks(px).collect()).collect()),
        }
    }

    /// An error naming the first window that is not the net's input: its count of images,
    /// or an image's size.
    fn check_windows(&self, windows: &[&[&[u8]]]) -> Result<(), ModelError> {
        let m = &self.meta;
        let px = m.height * m.width;
        for w in windows {
            if w.len() != m.images() {
                return Err(ModelError::Input(format!(
                    "a window of {} images, expected {}",
                    w.len(),
                    m.images()
                )));
            }
            if let Some(i) = w.iter().find(|i| i.len() != px) {
                return Err(ModelError::Input(format!(
                    "an image of {} bytes in a window, expected {}x{} = {px}",
                    i.len(),
                    m.height,
                    m.width
                )));
            }
        }
        Ok(())
    }

    /// [`Model::predict`] with the windows shared out among `workers` forward passes run
    /// side by side, each in its own thread (with one libtorch thread each, one core
    /// each): on a CPU the net's own threads scale poorly on small frames, while whole
    /// frames in parallel scale with the cores. The same output as one pass; the first
    /// error of any part is returned. Nets without an inference form ([`Model::freeze`])
    /// run in one pass.
    pub fn predict_parallel(
        &mut self,
        windows: &[Vec<u8>],
        workers: usize,
    ) -> Result<Vec<KeyProbs>, ModelError> {
        let parts = self.split(windows)?;
        let views: Vec<&[&[u8]]> = parts.iter().map(Vec::as_slice).collect();
        self.predict_images_parallel(&views, workers)
    }

    /// [`Model::predict_parallel`] of windows given as their images
    /// ([`Model::predict_images`]).
    pub fn predict_images_parallel(
        &mut self,
        windows: &[&[&[u8]]],
        workers: usize,
    ) -> Result<Vec<KeyProbs>, ModelError> {
        let workers = workers.clamp(1, windows.len().max(1));
        let Some(fast) = self.fast.as_ref().filter(|_| workers > 1) else {
            return self.predict_images(windows);
        };
        self.check_windows(windows)?;
        // Each thread owns its copy; the copies share the weights' storage, which libtorch
        // only reads during a forward pass.
        while self.replicas.len() < workers - 1 {
            self.replicas.push(fast.replicate());
        }
        let (meta, device) = (&self.meta, self.device);
        let per = windows.len().div_ceil(workers);
        let run = move |net: &keycolumn::Folded, part: &[&[&[u8]]]| {
            fast_probabilities(meta, net, part, device)
        };
        let mut chunks = windows.chunks(per);
        let first = chunks.next().unwrap_or(&[]);
        let parts: Vec<Result<Vec<KeyProbs>, ModelError>> = std::thread::scope(|scope| {
            let others: Vec<_> = chunks
                .zip(self.replicas.iter_mut())
                .map(|(part, net)| scope.spawn(move || run(net, part)))
                .collect();
            let mut parts = vec![run(fast, first)];
            parts.extend(others.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ModelError::Input("a forward pass panicked".into())))
            }));
            parts
        });
        let mut out = Vec::with_capacity(windows.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }

    /// Run `passes` forward passes on `batch` blank windows (shared out among `workers`,
    /// as [`Model::predict_parallel`]), so that libtorch's one-time work (allocator
    /// pools, kernel selection) is done before the first real frame: the first passes of a
    /// fresh model are several times slower than the rest, and live audio made then would
    /// be late.
    pub fn warm_up(
        &mut self,
        batch: usize,
        workers: usize,
        passes: usize,
    ) -> Result<(), ModelError> {
        let m = &self.meta;
        let blank = vec![vec![0u8; m.images() * m.height * m.width]; batch.max(1)];
        for _ in 0..passes {
            self.predict_parallel(&blank, workers)?;
        }
        Ok(())
    }

    /// Training access: the variables and a forward pass on a batch tensor.
    pub fn var_store(&self) -> &tch::nn::VarStore {
        &self.vs
    }

    pub fn forward_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        self.net.forward_t(x, train)
    }
}

/// Key probabilities of windows (sizes checked by the caller) through an inference form.
fn fast_probabilities(
    m: &ModelMeta,
    net: &keycolumn::Folded,
    windows: &[&[&[u8]]],
    device: tch::Device,
) -> Result<Vec<KeyProbs>, ModelError> {
    let _guard = tch::no_grad_guard();
    let logits = net.predict(windows, device)?;
    probabilities(m, &logits, windows.len())
}

/// Key probabilities from a net's logits [N, 1 or 2, keys] for `n` windows.
fn probabilities(
    m: &ModelMeta,
    logits: &tch::Tensor,
    n: usize,
) -> Result<Vec<KeyProbs>, ModelError> {
    let y = logits.f_sigmoid()?.f_to_device(tch::Device::Cpu)?;
    let keys = m.keys;
    let per = if m.arch.has_onset() { 2 * keys } else { keys };
    let v: Vec<f32> = Vec::try_from(y.f_flatten(0, -1)?)?;
    if v.len() != per * n {
        return Err(ModelError::Input(format!(
            "the {} net gave {} values for {n} windows, expected {per} each",
            m.arch.name(),
            v.len(),
        )));
    }
    Ok(v.chunks(per)
        .map(|c| KeyProbs {
            frame: c[..keys].to_vec(),
            onset: m.arch.has_onset().then(|| c[keys..].to_vec()),
        })
        .collect())
}

/// Inference threads that leave one core to the rest of a pipeline (decoding, pianocrop):
/// all cores but one, at least one. video2roll's default, and a one-job batch's.
pub fn all_cores_but_one() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

/// Let glibc's malloc keep freed memory for the next frame instead of handing it back to
/// the kernel. libtorch allocates and frees the same few MB-sized buffers for every frame;
/// by default glibc serves each from a fresh mmap (the threshold adapts only up to a
/// point) and trims the heap after each free, so every frame paid its buffers' page faults
/// again: 11 of 45 CPU seconds on the Bach clip were the kernel's, and 0.4 after this. Set
/// once per process, on the first model made or loaded (plugin, workbench, training); other allocators
/// (musl, a preloaded jemalloc) are left alone.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets allocator parameters; 32 MB is glibc's largest
            // mmap threshold on 64-bit, 256 MB of free heap is kept before trimming.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            }
        });
    }
}

/// A batch of windows, one after the other in `flat` (each `meta.images()` GRAY8 images,
/// sizes already checked), as the nets take it: [N, images, height, width] floats in [0, 1]
/// on `device`.
fn input_tensor(
    meta: &ModelMeta,
    flat: &[u8],
    device: tch::Device,
) -> Result<tch::Tensor, ModelError> {
    Ok(tch::Tensor::f_from_slice(flat)?
        .f_reshape([
            -1,
            meta.images() as i64,
            meta.height as i64,
            meta.width as i64,
        ])?
        .f_to_device(device)?
        .f_to_kind(tch::Kind::Float)?
        .f_div_scalar(255.0)?)
}

fn audeo_net(p: &tch::nn::Path, keys: i64) -> audeo::AudeoNet {
    audeo::AudeoNet::new(p, keys)
}

/// The plugin's own file (or, registered statically, the executable it is linked into),
/// recorded at plugin_init for [`search_paths`].
static MODULE_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Record where the plugin was loaded from (the first call wins).
pub(crate) fn set_module_file(file: std::path::PathBuf) {
    let _ = MODULE_FILE.set(file);
}

/// `<root>/models` when `module` (symlinks resolved) was built in the source tree `<root>`:
/// it sits in `<root>/target/<profile>/` (`make release`), `<root>/target/<profile>/deps/`
/// (`cargo test`) or `<root>/target/<dir>/<profile>/` (`make plugin`), and `<root>` holds a
/// Cargo.toml. An installed plugin (`make install` copies it out of the tree) has none.
pub fn source_tree_models(module: &std::path::Path) -> Option<std::path::PathBuf> {
    source_tree(module).map(|root| root.join("models"))
}

/// The source tree `<root>` that `module` (a library or program, symlinks resolved) was
/// built in, by the layouts [`source_tree_models`] names.
pub fn source_tree(module: &std::path::Path) -> Option<std::path::PathBuf> {
    let real = std::fs::canonicalize(module).ok()?;
    real.ancestors()
        .skip(1)
        .take(3)
        .filter(|d| d.file_name().is_some_and(|n| n == "target"))
        .filter_map(std::path::Path::parent)
        .find(|root| root.join("Cargo.toml").is_file())
        .map(std::path::Path::to_path_buf)
}

/// Where a shipped model file is looked for, in order: the file named by the environment
/// variable `env`, the folder `$PIANOLA_MODEL_DIR`, the `models/` folder of the source tree
/// the plugin was built in when it is loaded from that tree's `target/` (so the README's
/// `GST_PLUGIN_PATH=$PWD/target/release gst-launch-1.0 ...` works after `make release`), the
/// user's data dir (where `make install` puts models), then the system's data dirs. An
/// installed plugin never looks in the tree it was built from; a plugin in its build tree
/// prefers that tree's models, made for the code beside them, to installed ones.
pub fn search_paths(env: &str, file: &str) -> Vec<std::path::PathBuf> {
    use std::path::PathBuf;
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("PIANOLA_MODEL_DIR").filter(|d| !d.is_empty()) {
        v.push(PathBuf::from(d).join(file));
    }
    if let Some(d) = MODULE_FILE.get().and_then(|m| source_tree_models(m)) {
        v.push(d.join(file));
    }
    let home = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(h) = home {
        v.push(h.join("pianola/models").join(file));
    }
    let dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    for d in dirs.split(':').filter(|d| !d.is_empty()) {
        v.push(PathBuf::from(d).join("pianola/models").join(file));
    }
    v
}

/// The file a model property names, else the first of `defaults` that exists; the places looked
/// in when there is none.
pub fn locate(
    setting: Option<&str>,
    defaults: Vec<std::path::PathBuf>,
) -> Result<std::path::PathBuf, Vec<std::path::PathBuf>> {
    match setting {
        Some(p) if !p.is_empty() => Ok(std::path::PathBuf::from(p)),
        _ => defaults
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or(defaults),
    }
}
