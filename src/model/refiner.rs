// SPDX-License-Identifier: MPL-2.0
//! Audeo's Roll2Midi Net: a generator that refines a window of key probabilities over time
//! (keys x frames, as an image) into a cleaner roll, trained against a PatchGAN discriminator.
//! Plus a compact generator of the same kind that is fast enough for a CPU.
//!
//! # Where each part comes from
//!
//! - **Paper** (seed `000_6e7d172948133ae2.txt`, section 3): a U-Net generator G and a 5-layer
//!   CNN discriminator D, both trained with MSE (least-squares GAN); the input is video2roll's
//!   sigmoid probabilities (not thresholded) over a 4 s window (100 frames); at inference the
//!   refined roll is `G(roll)`.
//! - **Reference code** (`Roll2MidiNet.py`, `Roll2Midi_train.py` of `shlizee/Audeo`), ported
//!   one to one in [`AudeoGenerator`] and [`Discriminator`]:
//!   - `UNetDown(in, out)`: 3x3 conv, stride 1, padding 1, no bias; `BatchNorm2d(out, 0.8)`
//!     (the 0.8 is the *eps*, positional); LeakyReLU 0.2; dropout. down1 has no norm; down3..6
//!     have dropout 0.5. Channels 1-64-128-256-512-1024-1024. No down-sampling anywhere.
//!   - `UNetUp(in, out)`: 3x3 transposed conv, stride 1, padding 1, no bias; BN eps 0.8; ReLU;
//!     dropout; then concatenation with the skip. up1..up3 have dropout 0.5. Channels
//!     1024->512 (+1024), 1536->256 (+512), 768->128 (+256), 384->64 (+128), 192->16 (+64).
//!   - `conv1d`: a 1x1 Conv2d 80->1 with bias, then sigmoid.
//!   - Discriminator (PatchGAN): conv 3x3 with bias, strides 2, 2, 2, 1 to 64, 128, 256, 512
//!     channels, InstanceNorm (no affine) on all but the first, LeakyReLU 0.2, then a 3x3 conv
//!     to 1 channel. Output one score per patch.
//!   - Init `weights_init_normal`: conv weights N(0, 0.02), BN weight N(1, 0.02), BN bias 0.
//!   - Loss: generator `0.001 * MSE(D(G(x)), 1) + 0.999 * MSE(G(x), truth)`; discriminator
//!     `0.5 * (MSE(D(truth), 1) + MSE(D(G(x)), 0))`; Adam lr 5e-4, betas (0.9, 0.999),
//!     batch 16 (the paper says 64).
//! - **Parameter names** are the reference's `state_dict` names (`down2.model.1.running_var`,
//!   `up3.model.0.weight`, `conv1d.bias`, discriminator `model.8.weight`), so a converted release
//!   checkpoint should load for `keys = 51`. Not tried: no checkpoint here.
//!
//! # Differences
//!
//! - 88 keys instead of the release's 51 (the nets are fully convolutional, any key count works).
//! - The input may carry video2roll's onset channel as a second channel and the output may have
//!   one (`inputs`/`outputs` = 2), so re-strikes of a held key survive the refinement. The
//!   faithful port is built with 1 and 1 like the reference.
//!
//! # Compact generator
//!
//! The faithful generator runs 1024-channel 3x3 convolutions at full resolution: about
//! 0.3 TFLOP for one 100-frame window of 88 keys, a few frames per second on two CPU cores and
//! far too slow to train here. [`CompactGenerator`] keeps the idea (a stride-1 U-Net with skips,
//! BN, LeakyReLU/ReLU, sigmoid output, the same GAN losses and discriminator) at 16-32 channels,
//! with convolutions dilated along time (1, 2, 4, 8) so it sees 35 frames, and a residual in
//! logit space (`sigmoid(logit(input) + correction)`, correction initialised to zero) so it starts
//! as the identity and learns only what to change.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::ModelError;

/// Audeo's BatchNorm eps (`nn.BatchNorm2d(out_size, 0.8)`).
pub const AUDEO_BN_EPS: f64 = 0.8;

/// LeakyReLU with slope 0.2, as the reference (`nn.LeakyReLU(0.2)`).
fn lrelu(x: &Tensor) -> Tensor {
    x.maximum(&(x * 0.2))
}

fn normal(mean: f64, stdev: f64) -> nn::Init {
    nn::Init::Randn { mean, stdev }
}

fn audeo_bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(
        p,
        c,
        nn::BatchNormConfig {
            eps: AUDEO_BN_EPS,
            ws_init: normal(1.0, 0.02),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        },
    )
}

/// `UNetDown` of the reference.
#[derive(Debug)]
struct UNetDown {
    conv: nn::Conv2D,
    bn: Option<nn::BatchNorm>,
    dropout: f64,
}

impl UNetDown {
    fn new(p: &nn::Path, i: i64, o: i64, normalize: bool, dropout: f64) -> UNetDown {
        let m = p / "model";
        let conv = nn::conv2d(
            &m / "0",
            i,
            o,
            3,
            nn::ConvConfig {
                padding: 1,
                bias: false,
                ws_init: normal(0.0, 0.02),
                ..Default::default()
            },
        );
        let bn = normalize.then(|| audeo_bn(&m / "1", o));
        UNetDown { conv, bn, dropout }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = x.apply(&self.conv);
        if let Some(bn) = &self.bn {
            y = y.apply_t(bn, train);
        }
        y = lrelu(&y);
        if self.dropout > 0.0 {
            y = y.dropout(self.dropout, train);
        }
        y
    }
}

/// `UNetUp` of the reference.
#[derive(Debug)]
struct UNetUp {
    conv: nn::ConvTranspose2D,
    bn: nn::BatchNorm,
    dropout: f64,
}

impl UNetUp {
    fn new(p: &nn::Path, i: i64, o: i64, dropout: f64) -> UNetUp {
        let m = p / "model";
        let conv = nn::conv_transpose2d(
            &m / "0",
            i,
            o,
            3,
            nn::ConvTransposeConfig {
                padding: 1,
                bias: false,
                ws_init: normal(0.0, 0.02),
                ..Default::default()
            },
        );
        UNetUp {
            conv,
            bn: audeo_bn(&m / "1", o),
            dropout,
        }
    }

    fn forward(&self, x: &Tensor, skip: &Tensor, train: bool) -> Tensor {
        let mut y = x.apply(&self.conv).apply_t(&self.bn, train).relu();
        if self.dropout > 0.0 {
            y = y.dropout(self.dropout, train);
        }
        Tensor::cat(&[y, skip.shallow_clone()], 1)
    }
}

/// The reference generator. Input `[N, inputs, keys, frames]` probabilities; output
/// `[N, outputs, keys, frames]` logits (the sigmoid is applied by the caller).
#[derive(Debug)]
pub struct AudeoGenerator {
    down: Vec<UNetDown>,
    up: Vec<UNetUp>,
    conv1d: nn::Conv2D,
}

impl AudeoGenerator {
    pub fn new(p: &nn::Path, inputs: i64, outputs: i64) -> AudeoGenerator {
        let downs = [
            (inputs, 64, false, 0.0),
            (64, 128, true, 0.0),
            (128, 256, true, 0.5),
            (256, 512, true, 0.5),
            (512, 1024, true, 0.5),
            (1024, 1024, true, 0.5),
        ];
        let down = downs
            .iter()
            .enumerate()
            .map(|(i, &(a, b, n, d))| UNetDown::new(&(p / format!("down{}", i + 1)), a, b, n, d))
            .collect();
        let ups = [
            (1024, 512, 0.5),
            (1024 + 512, 256, 0.5),
            (512 + 256, 128, 0.5),
            (256 + 128, 64, 0.0),
            (128 + 64, 16, 0.0),
        ];
        let up = ups
            .iter()
            .enumerate()
            .map(|(i, &(a, b, d))| UNetUp::new(&(p / format!("up{}", i + 1)), a, b, d))
            .collect();
        let conv1d = nn::conv2d(
            p / "conv1d",
            80,
            outputs,
            1,
            nn::ConvConfig {
                ws_init: normal(0.0, 0.02),
                ..Default::default()
            },
        );
        AudeoGenerator { down, up, conv1d }
    }
}

impl ModuleT for AudeoGenerator {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut d = Vec::with_capacity(6);
        let mut y = x.shallow_clone();
        for layer in &self.down {
            y = layer.forward(&y, train);
            d.push(y.shallow_clone());
        }
        // u1 = up1(d6, d5), u2 = up2(u1, d4), ... u5 = up5(u4, d1).
        let mut u = d[5].shallow_clone();
        for (i, layer) in self.up.iter().enumerate() {
            u = layer.forward(&u, &d[4 - i], train);
        }
        u.apply(&self.conv1d)
    }
}

/// The compact generator (see the module docs). Same input and output as [`AudeoGenerator`].
#[derive(Debug)]
pub struct CompactGenerator {
    d1: nn::Conv2D,
    down: Vec<(nn::Conv2D, nn::BatchNorm)>,
    up1: (nn::Conv2D, nn::BatchNorm),
    up2: (nn::Conv2D, nn::BatchNorm),
    head: nn::Conv2D,
    outputs: i64,
}

fn time_conv(p: nn::Path, i: i64, o: i64, dilation: i64, bias: bool) -> nn::Conv2D {
    nn::conv(
        p,
        i,
        o,
        [3, 3],
        nn::ConvConfigND::<[i64; 2]> {
            padding: [1, dilation],
            dilation: [1, dilation],
            bias,
            ..Default::default()
        },
    )
}

impl CompactGenerator {
    pub fn new(p: &nn::Path, inputs: i64, outputs: i64) -> CompactGenerator {
        let bn = |q: nn::Path, c| nn::batch_norm2d(q, c, Default::default());
        let d1 = time_conv(p / "d1", inputs, 16, 1, true);
        let down = [(16, 32, 2), (32, 32, 4), (32, 32, 8)]
            .iter()
            .enumerate()
            .map(|(i, &(a, b, dil))| {
                let q = p / format!("d{}", i + 2);
                (time_conv(&q / "conv", a, b, dil, false), bn(&q / "bn", b))
            })
            .collect();
        let up1 = (
            time_conv(p / "u1" / "conv", 32, 32, 2, false),
            bn(p / "u1" / "bn", 32),
        );
        let up2 = (
            time_conv(p / "u2" / "conv", 64, 16, 1, false),
            bn(p / "u2" / "bn", 16),
        );
        // Zero correction at the start: the net begins as the identity.
        let head = nn::conv2d(
            p / "head",
            32,
            outputs,
            1,
            nn::ConvConfig {
                ws_init: nn::Init::Const(0.0),
                ..Default::default()
            },
        );
        CompactGenerator {
            d1,
            down,
            up1,
            up2,
            head,
            outputs,
        }
    }
}

impl ModuleT for CompactGenerator {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let d1 = lrelu(&x.apply(&self.d1));
        let mut y = d1.shallow_clone();
        let mut skips = Vec::new();
        for (conv, bn) in &self.down {
            y = lrelu(&y.apply(conv).apply_t(bn, train));
            skips.push(y.shallow_clone());
        }
        let u1 = y.apply(&self.up1.0).apply_t(&self.up1.1, train).relu();
        let u1 = Tensor::cat(&[u1, skips[1].shallow_clone()], 1);
        let u2 = u1.apply(&self.up2.0).apply_t(&self.up2.1, train).relu();
        let u2 = Tensor::cat(&[u2, d1], 1);
        let prior = x
            .narrow(1, 0, self.outputs)
            .clamp(1e-4, 1.0 - 1e-4)
            .logit(None::<f64>);
        prior + u2.apply(&self.head)
    }
}

/// The reference PatchGAN discriminator. Input `[N, outputs, keys, frames]`; one score per
/// patch.
#[derive(Debug)]
pub struct Discriminator {
    convs: Vec<(nn::Conv2D, bool)>,
    last: nn::Conv2D,
}

impl Discriminator {
    pub fn new(p: &nn::Path, channels: i64) -> Discriminator {
        let m = p / "model";
        let cfg = |stride| nn::ConvConfig {
            stride,
            padding: 1,
            ws_init: normal(0.0, 0.02),
            ..Default::default()
        };
        // Sequential indices: conv, [InstanceNorm], LeakyReLU per block, then the last conv.
        let mut idx = 0;
        let mut convs = Vec::new();
        let mut in_c = channels;
        for (out_c, stride, norm) in [
            (64, 2, false),
            (128, 2, true),
            (256, 2, true),
            (512, 1, true),
        ] {
            convs.push((
                nn::conv2d(&m / idx.to_string(), in_c, out_c, 3, cfg(stride)),
                norm,
            ));
            idx += if norm { 3 } else { 2 };
            in_c = out_c;
        }
        let last = nn::conv2d(&m / idx.to_string(), in_c, 1, 3, cfg(1));
        Discriminator { convs, last }
    }
}

impl ModuleT for Discriminator {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let mut y = x.shallow_clone();
        for (conv, norm) in &self.convs {
            y = y.apply(conv);
            if *norm {
                y = y.instance_norm(
                    None::<Tensor>,
                    None::<Tensor>,
                    None::<Tensor>,
                    None::<Tensor>,
                    true,
                    0.1,
                    1e-5,
                    false,
                );
            }
            y = lrelu(&y);
        }
        y.apply(&self.last)
    }
}

/// `[1, C, keys, frames]` from frames of `C * keys` values.
pub fn frames_to_tensor(
    frames: &[&[f32]],
    channels: i64,
    keys: i64,
) -> Result<Tensor, tch::TchError> {
    let flat: Vec<f32> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    windows_to_tensor(&flat, 1, channels, keys)
}

/// `[n, C, keys, frames]` from `n` windows of equal length, each frames of `C * keys` values,
/// flattened one after the other.
pub fn windows_to_tensor(
    flat: &[f32],
    n: i64,
    channels: i64,
    keys: i64,
) -> Result<Tensor, tch::TchError> {
    let frames = flat.len() as i64 / (n * channels * keys).max(1);
    Tensor::f_from_slice(flat)?
        .f_reshape([n, frames, channels, keys])?
        .f_permute([0, 2, 3, 1])?
        .f_contiguous()
}

/// Frames of `C * keys` values from `[1, C, keys, frames]`.
pub fn tensor_to_frames(t: &Tensor) -> Result<Vec<Vec<f32>>, tch::TchError> {
    let s = t.size();
    let &[_, c, k, n] = s.as_slice() else {
        return Err(tch::TchError::Shape(format!(
            "refiner output of shape {s:?}, not [1, C, keys, frames]"
        )));
    };
    let flat = t
        .f_permute([0, 3, 1, 2])?
        .f_contiguous()?
        .f_to_kind(Kind::Float)?
        .f_flatten(0, -1)?;
    let v: Vec<f32> = Vec::try_from(flat)?;
    let per = (c * k) as usize;
    if per == 0 {
        return Ok(vec![Vec::new(); n as usize]);
    }
    Ok(v.chunks(per).map(<[f32]>::to_vec).collect())
}

/// The generators a refiner file can hold, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefinerArch {
    /// The reference U-Net (about 25 M parameters, 0.3 TFLOP per 100-frame window).
    AudeoUnet,
    /// The compact CPU variant.
    Compact,
}

impl RefinerArch {
    pub fn name(self) -> &'static str {
        match self {
            RefinerArch::AudeoUnet => "audeo-unet",
            RefinerArch::Compact => "compact",
        }
    }

    pub fn from_name(s: &str) -> Option<RefinerArch> {
        match s {
            "audeo-unet" => Some(RefinerArch::AudeoUnet),
            "compact" => Some(RefinerArch::Compact),
            _ => None,
        }
    }
}

/// What a refiner weights file is, from its sidecar `<weights>.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefinerMeta {
    pub arch: RefinerArch,
    pub keys: usize,
    pub lowest_note: u8,
    /// Channels in (1: key down; 2: key down then onset) and out.
    pub inputs: usize,
    pub outputs: usize,
    /// Frame rate of the training rolls (the net counts in frames).
    pub fps: f64,
    /// Window length it was trained with, in frames.
    pub window: usize,
    pub training: serde_json::Value,
}

const REFINER_FORMAT: &str = "pianola-roll2midi";

impl RefinerMeta {
    pub fn new(arch: RefinerArch) -> RefinerMeta {
        let (inputs, outputs) = match arch {
            RefinerArch::AudeoUnet => (1, 1),
            RefinerArch::Compact => (2, 2),
        };
        RefinerMeta {
            arch,
            keys: 88,
            lowest_note: 21,
            inputs,
            outputs,
            fps: 25.0,
            window: 100,
            training: serde_json::Value::Null,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "format": REFINER_FORMAT,
            "arch": self.arch.name(),
            "keys": self.keys,
            "lowest_note": self.lowest_note,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "fps": self.fps,
            "window": self.window,
            "training": self.training,
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Result<RefinerMeta, String> {
        let u = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .ok_or(format!("field {k} missing"))
        };
        if v.get("format").and_then(|x| x.as_str()) != Some(REFINER_FORMAT) {
            return Err("not a pianola roll2midi refiner (format field)".into());
        }
        let arch = v
            .get("arch")
            .and_then(|x| x.as_str())
            .and_then(RefinerArch::from_name)
            .ok_or("unknown arch (audeo-unet, compact)")?;
        let meta = RefinerMeta {
            arch,
            keys: u("keys")? as usize,
            lowest_note: u("lowest_note")? as u8,
            inputs: u("inputs")? as usize,
            outputs: u("outputs")? as usize,
            fps: v.get("fps").and_then(|x| x.as_f64()).unwrap_or(25.0),
            window: u("window")? as usize,
            training: v.get("training").cloned().unwrap_or_default(),
        };
        if !(1..=2).contains(&meta.inputs) || !(1..=meta.inputs).contains(&meta.outputs) {
            return Err(format!(
                "inputs {} / outputs {}: each must be 1 or 2, outputs at most inputs",
                meta.inputs, meta.outputs
            ));
        }
        Ok(meta)
    }
}

/// A loaded roll refiner. Plain Rust in and out.
pub struct Refiner {
    vs: nn::VarStore,
    net: Box<dyn ModuleT + Send>,
    meta: RefinerMeta,
    device: tch::Device,
}

impl std::fmt::Debug for Refiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refiner")
            .field("meta", &self.meta)
            .field("device", &self.device)
            .finish()
    }
}

impl Refiner {
    /// A freshly initialised generator (for training).
    pub fn new(meta: RefinerMeta, device: tch::Device) -> Refiner {
        let vs = nn::VarStore::new(device);
        let (i, o) = (meta.inputs as i64, meta.outputs as i64);
        let net: Box<dyn ModuleT + Send> = match meta.arch {
            RefinerArch::AudeoUnet => Box::new(AudeoGenerator::new(&vs.root(), i, o)),
            RefinerArch::Compact => Box::new(CompactGenerator::new(&vs.root(), i, o)),
        };
        Refiner {
            vs,
            net,
            meta,
            device,
        }
    }

    /// Load weights (`.safetensors`) and their sidecar; `device` as in
    /// [`super::DeviceChoice`].
    pub fn load(
        path: &std::path::Path,
        device: super::DeviceChoice,
    ) -> Result<Refiner, ModelError> {
        let p = path.display().to_string();
        if !path.is_file() {
            return Err(ModelError::Missing {
                path: p,
                hint: ": train one with `pianola train-refiner` or set the refiner property".into(),
            });
        }
        let meta = super::read_sidecar(path, RefinerMeta::from_json)?;
        let mut r = Refiner::new(meta, super::resolve(device)?);
        r.vs.load(path).map_err(|e| ModelError::Invalid {
            path: p.clone(),
            why: format!(
                "weights do not match a {} refiner: {}",
                r.meta.arch.name(),
                super::one_line(&e)
            ),
        })?;
        Ok(r)
    }

    /// Save weights (`.safetensors`) and the sidecar with `meta`.
    pub fn save(&self, path: &std::path::Path) -> Result<(), super::ModelError> {
        self.vs.save(path)?;
        super::write_sidecar(path, &self.meta.to_json())
    }

    pub fn meta(&self) -> &RefinerMeta {
        &self.meta
    }

    pub fn meta_mut(&mut self) -> &mut RefinerMeta {
        &mut self.meta
    }

    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// Values per input frame: `inputs * keys` (key down, then onsets).
    pub fn input_values(&self) -> usize {
        self.meta.inputs * self.meta.keys
    }

    /// Values per output frame: `outputs * keys`.
    pub fn output_values(&self) -> usize {
        self.meta.outputs * self.meta.keys
    }

    /// Refine one window: frames of `input_values()` probabilities in, as many frames of
    /// `output_values()` probabilities out.
    pub fn refine(&self, frames: &[&[f32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(f) = frames.iter().find(|f| f.len() != self.input_values()) {
            return Err(ModelError::Input(format!(
                "frame has {} values, the refiner takes {}",
                f.len(),
                self.input_values()
            )));
        }
        let _guard = tch::no_grad_guard();
        let x = frames_to_tensor(frames, self.meta.inputs as i64, self.meta.keys as i64)?
            .f_to_device(self.device)?;
        let y = self
            .net
            .forward_t(&x, false)
            .f_sigmoid()?
            .f_to_device(tch::Device::Cpu)?;
        let out = tensor_to_frames(&y)?;
        if out.len() != frames.len() || out.iter().any(|f| f.len() != self.output_values()) {
            return Err(ModelError::Input(format!(
                "the {} refiner gave {} frames for {}: check the refiner file",
                self.meta.arch.name(),
                out.len(),
                frames.len()
            )));
        }
        Ok(out)
    }

    /// Run `passes` refinements of a blank window of each length in `windows`, so that
    /// libtorch's one-time work is done before the first real window (see `Model::warm_up`).
    pub fn warm_up(&self, windows: &[usize], passes: usize) -> Result<(), ModelError> {
        let blank = vec![0f32; self.input_values()];
        for &n in windows {
            let frames: Vec<&[f32]> = vec![&blank[..]; n.max(1)];
            for _ in 0..passes {
                self.refine(&frames)?;
            }
        }
        Ok(())
    }

    /// Training access.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Logits of a batch `[N, inputs, keys, frames]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.net.forward_t(x, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audeo_generator_and_discriminator_have_the_reference_shapes_and_names() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let g = AudeoGenerator::new(&(vs.root() / "g"), 1, 1);
        let dvs = nn::VarStore::new(tch::Device::Cpu);
        let d = Discriminator::new(&dvs.root(), 1);
        // Small input: the shapes do not depend on the size (no down-sampling).
        let x = Tensor::rand([2, 1, 51, 12], (Kind::Float, tch::Device::Cpu));
        let y = tch::no_grad(|| g.forward_t(&x, false));
        assert_eq!(y.size(), vec![2, 1, 51, 12]);
        // PatchGAN: three stride-2 layers, (51, 100) -> (7, 13) as the reference's output_shape.
        let x = Tensor::rand([1, 1, 51, 100], (Kind::Float, tch::Device::Cpu));
        assert_eq!(d.forward_t(&x, false).size(), vec![1, 1, 7, 13]);
        let names = vs.variables();
        for n in [
            "g.down1.model.0.weight",
            "g.down2.model.1.running_var",
            "g.down6.model.0.weight",
            "g.up3.model.0.weight",
            "g.up5.model.1.bias",
            "g.conv1d.bias",
        ] {
            assert!(names.contains_key(n), "{n} missing");
        }
        assert!(
            !names.contains_key("g.down1.model.1.weight"),
            "down1 has no BN"
        );
        assert_eq!(
            names["g.up2.model.0.weight"].size(),
            vec![1024 + 512, 256, 3, 3]
        );
        let dn = dvs.variables();
        for n in [
            "model.0.weight",
            "model.2.bias",
            "model.5.weight",
            "model.8.weight",
            "model.11.weight",
        ] {
            assert!(dn.contains_key(n), "{n} missing");
        }
        // Parameter count of the reference generator with 1 in / 1 out (BN weights and biases
        // included, running stats excluded).
        let params: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(params, 25_103_665);
    }

    #[test]
    fn compact_generator_starts_as_the_identity_at_any_length() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let g = CompactGenerator::new(&vs.root(), 2, 2);
        for n in [1, 7, 100] {
            let x = Tensor::rand([1, 2, 88, n], (Kind::Float, tch::Device::Cpu)) * 0.9 + 0.05;
            let y = tch::no_grad(|| g.forward_t(&x, false).sigmoid());
            assert_eq!(y.size(), vec![1, 2, 88, n]);
            let err = (y - &x).abs().max().double_value(&[]);
            assert!(err < 1e-4, "length {n}: {err}");
        }
    }

    #[test]
    fn frames_round_trip_through_tensors() {
        let frames: Vec<Vec<f32>> = (0..5)
            .map(|t| (0..6).map(|v| (t * 10 + v) as f32).collect())
            .collect();
        let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
        let t = frames_to_tensor(&refs, 2, 3).unwrap();
        assert_eq!(t.size(), vec![1, 2, 3, 5]);
        // Channel 1, key 0, frame 4 = value index 3 of frame 4.
        assert_eq!(t.double_value(&[0, 1, 0, 4]), 43.0);
        assert_eq!(tensor_to_frames(&t).unwrap(), frames);
    }
}
