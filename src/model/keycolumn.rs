// SPDX-License-Identifier: MPL-2.0
//! KeyColumn: a pressed-key net for the canonical strip that looks along the whole key.
//!
//! KeyNet sees about 15 pixels around each point and averages the key's length into two
//! bands, so a fingertip on a key and a hand hovering above it look alike. KeyColumn:
//! - normalises each window (zero mean, unit variance: rooms and cameras differ in light),
//! - adds the four frame-to-frame differences to the five strips (motion is what a press is,
//!   and it does not depend on the piano's look),
//! - strides down the key's length only (100 -> 7 rows, a vertical receptive field of 63 of
//!   the 100 pixels), then keeps the 7 rows as channels, so where along the key something
//!   happens is not averaged away,
//! - pools the feature columns per key over each key's fixed span (as KeyNet), and mixes
//!   neighbouring keys with 1-D convolutions and a learned key embedding,
//! - gives two logits per key: key down and key struck.
//!
//! With `rest` (arch `keycolumn-rest`), a window's last image is the keyboard at rest
//! (`core::rest`), normalised with the frames, and the middle frame's difference to it is one
//! more input channel: a key held under a still hand shows there and in no frame difference.
//!
//! With [`Input::Relative`] (arch `keycolumn-relative`), the five strips themselves are
//! replaced by the five strips minus the keyboard at rest: the net sees what moved over the
//! keys and never what the keyboard itself looks like (its colour, gloss, glare and print),
//! which is what differs between pianos.
//!
//! [`Size::Half`] (arch `keycolumn-rest-half`) is the same net on the input averaged over
//! 2x2 pixels (50x450), with one convolution fewer and 24-32 channels instead of 32-48: a
//! third of the multiply-adds (60 M a frame against 187 M), the same 7 rows, the same 225
//! columns before the per-key pooling and the same vertical receptive field (62 of the
//! strip's 100 pixels).

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::keynet::{FRAMES, HEIGHT, WIDTH, key_pool};

/// Feature rows kept down the key's length.
const ROWS: i64 = 7;
/// Features per key that the head reads.
pub const FEATURES: i64 = 96;

/// What a KeyColumn net reads of a window (each image normalised with the window's mean and
/// standard deviation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The five strips and their four differences (arch `keycolumn`).
    Frames,
    /// Those and the middle strip minus the keyboard at rest (`keycolumn-rest`).
    Rest,
    /// The five strips minus the keyboard at rest, and their four differences
    /// (`keycolumn-relative`): nothing of the keyboard's own look.
    Relative,
}

impl Input {
    /// Channels of the first convolution's input.
    fn channels(self) -> i64 {
        match self {
            Input::Frames | Input::Relative => 2 * FRAMES - 1,
            Input::Rest => 2 * FRAMES,
        }
    }

    /// Whether each window ends with the keyboard at rest after its frames.
    pub fn uses_rest(self) -> bool {
        self != Input::Frames
    }
}

/// How large a KeyColumn net is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The strip at full resolution (100x900), five convolutions up to 48 channels.
    Full,
    /// The strip averaged over 2x2 pixels (50x450), four convolutions up to 32 channels.
    Half,
}

impl Size {
    /// The 3x3 convolutions, as (output channels, strides (rows, columns)): down the key's
    /// length only after the first columns' stride(s), ending at 7 rows and 225 columns.
    /// The inference form ([`Folded`]) runs the same.
    fn convs(self) -> &'static [(i64, [i64; 2])] {
        match self {
            Size::Full => &[
                (16, [2, 2]),
                (32, [2, 2]),
                (48, [2, 1]),
                (48, [2, 1]),
                (48, [1, 1]),
            ],
            Size::Half => &[(16, [2, 2]), (24, [2, 1]), (32, [2, 1]), (32, [1, 1])],
        }
    }

    /// Channels of the last convolution.
    fn channels(self) -> i64 {
        self.convs().last().map_or(0, |c| c.0)
    }

    /// The input's height and width after the first step (averaging for `Half`).
    fn input(self) -> (i64, i64) {
        match self {
            Size::Full => (HEIGHT, WIDTH),
            Size::Half => (HEIGHT / 2, WIDTH / 2),
        }
    }
}
/// Padding of the key-mixing convolutions (kernels 5 and 3): each key keeps its place.
const CTX1_PAD: i64 = 2;
const CTX2_PAD: i64 = 1;

#[derive(Debug)]
pub struct KeyColumn {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    pool: Tensor,
    ctx1: nn::Conv1D,
    ctx2: nn::Conv1D,
    embed: Tensor,
    head: nn::Conv1D,
    input: Input,
    size: Size,
}

impl KeyColumn {
    pub fn new(vs: &nn::Path, keys: i64, lowest_note: u8, input: Input, size: Size) -> KeyColumn {
        let mut cin = input.channels();
        let spec: Vec<(i64, i64, [i64; 2])> = size
            .convs()
            .iter()
            .map(|&(cout, stride)| {
                let layer = (cin, cout, stride);
                cin = cout;
                layer
            })
            .collect();
        let convs = super::keynet::conv_bn_stack(vs, &spec);
        let ch = size.channels() * ROWS;
        let c1 = nn::ConvConfig {
            padding: CTX1_PAD,
            ..Default::default()
        };
        let c2 = nn::ConvConfig {
            padding: CTX2_PAD,
            ..Default::default()
        };
        KeyColumn {
            convs,
            // 900 -> 450 -> 225 columns.
            pool: key_pool(WIDTH / 4, keys, lowest_note),
            ctx1: nn::conv1d(vs / "ctx1", ch, FEATURES, 5, c1),
            ctx2: nn::conv1d(vs / "ctx2", FEATURES, FEATURES, 3, c2),
            embed: vs.var("embed", &[FEATURES, keys], nn::Init::Const(0.0)),
            head: nn::conv1d(vs / "head", FEATURES, 2, 1, Default::default()),
            input,
            size,
        }
    }
}

impl KeyColumn {
    /// The per-key features the head reads: [N, 96, keys] (after the key mixing and the key
    /// embedding). `xs` as in `forward_t`.
    pub fn features_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let dims = [1i64, 2, 3];
        let mean = xs.mean_dim(dims.as_slice(), true, Kind::Float);
        let std = xs.std_dim(dims.as_slice(), false, true);
        let x = (xs - mean) / (std + 0.02);
        let frames = x.narrow(1, 0, FRAMES);
        let diffs = frames.narrow(1, 1, FRAMES - 1) - frames.narrow(1, 0, FRAMES - 1);
        let first = match self.input {
            Input::Relative => (&frames - x.narrow(1, FRAMES, 1)) * 2.0,
            Input::Frames | Input::Rest => frames.shallow_clone(),
        };
        let mut parts = vec![first, diffs * 2.0];
        if self.input == Input::Rest {
            let middle = frames.narrow(1, FRAMES / 2, 1);
            parts.push((middle - x.narrow(1, FRAMES, 1)) * 2.0);
        }
        let mut x = Tensor::cat(&parts, 1);
        if self.size == Size::Half {
            x = x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None);
        }
        for (conv, bn) in &self.convs {
            x = x.apply(conv).apply_t(bn, train).relu();
        }
        // [N, 48, 7, 225] -> rows as channels -> [N, 336, 225] -> per key [N, 336, keys]
        // (32 and 224 for `Half`).
        let (n, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        debug_assert_eq!(h, ROWS, "input height {HEIGHT}");
        let x = x.reshape([n, c * h, w]);
        let x = x.matmul(&self.pool.to_device(x.device()));
        let x = x.apply(&self.ctx1).relu();
        (x.apply(&self.ctx2) + &self.embed).relu()
    }
}

/// KeyColumn for inference only, with the same output as `forward_t(.., false)`: each
/// BatchNorm folded into its convolution's weights and bias, the window's normalisation,
/// frame differences and rest difference made in one pass over the bytes (instead of a
/// dozen tensor passes over 1.8 MB), and ReLUs in place. Made from trained weights by
/// [`KeyColumn::folded`]; it copies them, so later training does not reach it.
#[derive(Debug)]
pub struct Folded {
    convs: Vec<(Tensor, Tensor, [i64; 2])>,
    pool: Tensor,
    ctx1: (Tensor, Tensor),
    ctx2: (Tensor, Tensor),
    embed: Tensor,
    head: (Tensor, Tensor),
    input: Input,
    size: Size,
    /// The prepared input, kept between calls (no fresh 3.6 MB a frame to clear).
    scratch: std::sync::Mutex<Vec<f32>>,
}

/// A 1-D convolution of stride 1 with `padding`, from its (weight, bias).
fn conv1d(x: &Tensor, (w, b): &(Tensor, Tensor), padding: i64) -> Result<Tensor, tch::TchError> {
    x.f_conv1d(
        w,
        Some(b),
        [1i64].as_slice(),
        [padding].as_slice(),
        [1i64].as_slice(),
        1,
    )
}

/// Weight and bias of a 1-D convolution (bias zero when it has none).
fn conv1d_params(c: &nn::Conv1D) -> (Tensor, Tensor) {
    let w = c.ws.detach().copy();
    let out = w.size()[0];
    let b = c.bs.as_ref().map_or_else(
        || Tensor::zeros([out], (Kind::Float, w.device())),
        |b| b.detach().copy(),
    );
    (w, b)
}

/// Sum and sum of squares of an image's bytes, exact (u32 lanes over blocks that cannot
/// overflow, vectorised).
fn sums(image: &[u8]) -> (u64, u64) {
    let (mut sum, mut sq) = (0u64, 0u64);
    // 255^2 * 16384 < 2^32.
    for block in image.chunks(16384) {
        let (mut s, mut q) = (0u32, 0u32);
        for &v in block {
            let v = u32::from(v);
            s += v;
            q += v * v;
        }
        sum += u64::from(s);
        sq += u64::from(q);
    }
    (sum, sq)
}

impl KeyColumn {
    /// The inference form of this net's current weights (BatchNorm folded: `eps` is
    /// BatchNorm's default, which `conv_bn_stack` uses).
    pub fn folded(&self) -> Folded {
        let _guard = tch::no_grad_guard();
        let eps = nn::BatchNormConfig::default().eps;
        let convs = self
            .convs
            .iter()
            .zip(self.size.convs())
            .map(|((conv, bn), &(_, stride))| {
                let scale = (&bn.running_var + eps).rsqrt();
                let scale = match &bn.ws {
                    Some(g) => scale * g,
                    None => scale,
                };
                let shift = match &bn.bs {
                    Some(b) => b - &bn.running_mean * &scale,
                    None => -(&bn.running_mean * &scale),
                };
                let w = &conv.ws * scale.reshape([-1, 1, 1, 1]);
                let b = match &conv.bs {
                    Some(cb) => cb * &scale + shift,
                    None => shift,
                };
                (w.detach().contiguous(), b.detach(), stride)
            })
            .collect();
        Folded {
            convs,
            pool: self.pool.to_device(self.embed.device()),
            ctx1: conv1d_params(&self.ctx1),
            ctx2: conv1d_params(&self.ctx2),
            embed: self.embed.detach().copy(),
            head: conv1d_params(&self.head),
            input: self.input,
            size: self.size,
            scratch: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Folded {
    /// A copy for another thread: the same weights (their storage shared, not copied) and
    /// its own buffer. A forward pass only reads the weights.
    pub fn replicate(&self) -> Folded {
        Folded {
            convs: self
                .convs
                .iter()
                .map(|(w, b, s)| (w.shallow_clone(), b.shallow_clone(), *s))
                .collect(),
            pool: self.pool.shallow_clone(),
            ctx1: (self.ctx1.0.shallow_clone(), self.ctx1.1.shallow_clone()),
            ctx2: (self.ctx2.0.shallow_clone(), self.ctx2.1.shallow_clone()),
            embed: self.embed.shallow_clone(),
            head: (self.head.0.shallow_clone(), self.head.1.shallow_clone()),
            input: self.input,
            size: self.size,
            scratch: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Input channels the first convolution takes: frames (or frames against the rest
    /// image), their differences, and the middle frame against the rest image for
    /// [`Input::Rest`].
    fn channels(&self) -> usize {
        self.input.channels() as usize
    }

    /// The first layer's input for windows of GRAY8 images (each window its `FRAMES`
    /// images, then the rest image when the net uses it; each `HEIGHT x WIDTH`, rows
    /// packed), as `features_t` makes it from [0, 1] floats: the window normalised by its
    /// mean and standard deviation (all its images), then frames (frames-minus-rest x2 for
    /// [`Input::Relative`]), differences x2 and middle-minus-rest x2 for [`Input::Rest`],
    /// averaged over 2x2 pixels for [`Size::Half`] (the same thing: every step is linear).
    /// The window's statistics are exact sums in integers; each pixel is then one
    /// multiply-add (of the 2x2 block's integer sum for `Half`). `out` is resized to fit;
    /// every value is written. The images are read where they are: a window need not be
    /// one buffer.
    pub fn prepare(&self, windows: &[&[&[u8]]], out: &mut Vec<f32>) {
        let (oh, ow) = self.size.input();
        let opx = (oh * ow) as usize;
        let frames = FRAMES as usize;
        let ch = self.channels();
        out.resize(windows.len() * ch * opx, 0.0);
        let mut rest_plane = vec![
            0f32;
            if self.input == Input::Relative {
                opx
            } else {
                0
            }
        ];
        for (w, dst) in windows.iter().zip(out.chunks_mut(ch * opx)) {
            let (mut sum, mut sq, mut n) = (0u64, 0u64, 0usize);
            for image in w.iter() {
                let (s, q) = sums(image);
                sum += s;
                sq += q;
                n += image.len();
            }
            let n = n.max(1) as f64;
            let mean = sum as f64 / n / 255.0;
            let var = (sq as f64 / n / (255.0 * 255.0) - mean * mean).max(0.0);
            let inv = 1.0 / (var.sqrt() + 0.02);
            // A byte v becomes (v / 255 - mean) * inv.
            let (scale, offset) = ((inv / 255.0) as f32, (-mean * inv) as f32);
            let (norm, rest) = dst.split_at_mut(frames * opx);
            for (i, plane) in norm.chunks_mut(opx).enumerate() {
                self.sample(plane, w[i], scale, offset);
            }
            let (diffs, last) = rest.split_at_mut((frames - 1) * opx);
            for (i, plane) in diffs.chunks_mut(opx).enumerate() {
                let (a, b) = (
                    &norm[i * opx..(i + 1) * opx],
                    &norm[(i + 1) * opx..(i + 2) * opx],
                );
                for ((d, &x0), &x1) in plane.iter_mut().zip(a).zip(b) {
                    *d = (x1 - x0) * 2.0;
                }
            }
            if self.input == Input::Relative {
                self.sample(&mut rest_plane, w[frames], scale, offset);
                for plane in norm.chunks_mut(opx) {
                    for (d, &r) in plane.iter_mut().zip(&rest_plane) {
                        *d = (*d - r) * 2.0;
                    }
                }
            }
            if self.input == Input::Rest {
                let middle = &norm[(frames / 2) * opx..(frames / 2 + 1) * opx];
                self.sample(last, w[frames], scale, offset);
                for (d, &m) in last.iter_mut().zip(middle) {
                    *d = (m - *d) * 2.0;
                }
            }
        }
    }

    /// One image's normalised values (`v * scale + offset`) at the net's input size: as
    /// they are, or the mean of each 2x2 block for [`Size::Half`].
    fn sample(&self, plane: &mut [f32], image: &[u8], scale: f32, offset: f32) {
        match self.size {
            Size::Full => {
                for (d, &v) in plane.iter_mut().zip(image) {
                    *d = f32::from(v) * scale + offset;
                }
            }
            Size::Half => {
                let w = WIDTH as usize;
                let quarter = scale * 0.25;
                // Columns summed down the two rows first (vectorised), then in pairs.
                let mut col = [0u16; WIDTH as usize];
                let mut pairs = [0u16; WIDTH as usize / 2];
                for (row, two) in plane.chunks_mut(w / 2).zip(image.chunks_exact(2 * w)) {
                    let (a, b) = two.split_at(w);
                    for ((c, &x), &y) in col.iter_mut().zip(a).zip(b) {
                        *c = u16::from(x) + u16::from(y);
                    }
                    for (p, c) in pairs.iter_mut().zip(col.chunks_exact(2)) {
                        *p = c[0] + c[1];
                    }
                    for (d, &p) in row.iter_mut().zip(&pairs) {
                        *d = f32::from(p) * quarter + offset;
                    }
                }
            }
        }
    }

    /// Logits [N, 2, keys] of windows of GRAY8 images as [`Folded::prepare`] takes them
    /// (sizes checked by the caller).
    pub fn predict(
        &self,
        windows: &[&[&[u8]]],
        device: tch::Device,
    ) -> Result<Tensor, tch::TchError> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        self.prepare(windows, &mut scratch);
        self.forward(&scratch, windows.len(), device)
    }

    /// Logits [N, 2, keys] of windows already `prepare`d ([N * channels * height * width],
    /// the input size of the net's [`Size`]).
    pub fn forward(
        &self,
        prepared: &[f32],
        n: usize,
        device: tch::Device,
    ) -> Result<Tensor, tch::TchError> {
        let _guard = tch::no_grad_guard();
        let (h, w) = self.size.input();
        let size = [n as i64, self.channels() as i64, h, w];
        let count: i64 = size.iter().product();
        if prepared.len() as i64 != count {
            return Err(tch::TchError::Shape(format!(
                "{} prepared values, expected {count}",
                prepared.len()
            )));
        }
        let strides = [size[1] * size[2] * size[3], size[2] * size[3], size[3], 1];
        // SAFETY: `prepared` holds exactly `count` f32 values (checked above) laid out as
        // `strides` says, and outlives `blob`: the first convolution below makes a new
        // tensor, and `blob` (and `x`, its copy or view on `device`) are dropped before this
        // function returns, while `prepared` is borrowed for all of it. No copy of 3.6 MB.
        let blob = unsafe {
            Tensor::f_from_blob(
                prepared.as_ptr().cast::<u8>(),
                &size,
                &strides,
                Kind::Float,
                tch::Device::Cpu,
            )?
        };
        let mut x = blob.f_to_device(device)?;
        for (w, b, stride) in &self.convs {
            x = x.f_conv2d(
                w,
                Some(b),
                stride.as_slice(),
                [1i64, 1].as_slice(),
                [1i64, 1].as_slice(),
                1,
            )?;
            x = x.f_relu_()?;
        }
        let (n, c, h, w) = x.size4()?;
        let x = x.f_reshape([n, c * h, w])?.f_matmul(&self.pool)?;
        let x = conv1d(&x, &self.ctx1, CTX1_PAD)?.f_relu_()?;
        let x = conv1d(&x, &self.ctx2, CTX2_PAD)?
            .f_add_(&self.embed)?
            .f_relu_()?;
        conv1d(&x, &self.head, 0)
    }
}

impl ModuleT for KeyColumn {
    /// xs: [N, 5, 100, 900] in [0, 1] (with `rest`, [N, 6, 100, 900], the keyboard at rest
    /// last); returns logits [N, 2, keys] (frame, onset).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.features_t(xs, train).apply(&self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_shape() {
        for size in [Size::Full, Size::Half] {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = KeyColumn::new(&vs.root(), 88, 21, Input::Frames, size);
            let x = Tensor::rand([2, FRAMES, HEIGHT, WIDTH], (Kind::Float, tch::Device::Cpu));
            assert_eq!(net.forward_t(&x, false).size(), vec![2, 2, 88]);
            assert_eq!(net.forward_t(&x, true).size(), vec![2, 2, 88]);
            for input in [Input::Rest, Input::Relative] {
                let vs = nn::VarStore::new(tch::Device::Cpu);
                let net = KeyColumn::new(&vs.root(), 88, 21, input, size);
                let x = Tensor::rand(
                    [2, FRAMES + 1, HEIGHT, WIDTH],
                    (Kind::Float, tch::Device::Cpu),
                );
                assert_eq!(net.forward_t(&x, false).size(), vec![2, 2, 88]);
            }
        }
    }

    /// The folded inference form gives the trained net's output: BatchNorm statistics and
    /// affine set away from their defaults so that folding them matters.
    #[test]
    fn folded_matches_the_net() {
        for (input, size) in [
            (Input::Frames, Size::Full),
            (Input::Rest, Size::Full),
            (Input::Rest, Size::Half),
            (Input::Relative, Size::Full),
        ] {
            tch::manual_seed(7);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let mut net = KeyColumn::new(&vs.root(), 88, 21, input, size);
            // Uniform values in [lo, lo + 1).
            let rand =
                |size: &[i64], lo: f64| Tensor::rand(size, (Kind::Float, tch::Device::Cpu)) + lo;
            tch::no_grad(|| {
                for (_, bn) in &mut net.convs {
                    let c = bn.running_mean.size()[0];
                    bn.running_mean.copy_(&rand(&[c], -0.5));
                    bn.running_var.copy_(&rand(&[c], 0.5));
                    if let Some(g) = &mut bn.ws {
                        g.copy_(&rand(&[c], 0.5));
                    }
                    if let Some(b) = &mut bn.bs {
                        b.copy_(&rand(&[c], -0.5));
                    }
                }
                net.embed.copy_(&rand(&[FEATURES, 88], -0.5));
            });
            let images = (FRAMES + i64::from(input.uses_rest())) as usize;
            let px = (HEIGHT * WIDTH) as usize;
            // Two windows of bytes: a gradient with noise, and one nearly flat.
            let mut windows: Vec<Vec<u8>> = Vec::new();
            let mut seed = 12345u32;
            for k in 0..2 {
                let w: Vec<u8> = (0..images * px)
                    .map(|i| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        let noise = (seed >> 24) as usize;
                        if k == 0 {
                            ((i % 900) / 4 + noise / 4) as u8
                        } else {
                            100 + (noise % 3) as u8
                        }
                    })
                    .collect();
                windows.push(w);
            }
            let flat: Vec<u8> = windows.concat();
            let x = Tensor::from_slice(&flat)
                .reshape([2, images as i64, HEIGHT, WIDTH])
                .to_kind(Kind::Float)
                / 255.0;
            let want = tch::no_grad(|| net.forward_t(&x, false));
            let folded = net.folded();
            // Each window as its images, read in place.
            let parts: Vec<Vec<&[u8]>> = windows.iter().map(|w| w.chunks(px).collect()).collect();
            let slices: Vec<&[&[u8]]> = parts.iter().map(Vec::as_slice).collect();
            let got = folded.predict(&slices, tch::Device::Cpu).unwrap();
            assert_eq!(got.size(), want.size());
            let diff = (got - &want).abs().max().double_value(&[]);
            let scale = want.abs().max().double_value(&[]);
            assert!(
                diff < 1e-3 * scale.max(1.0),
                "{input:?}, {size:?}: max diff {diff} (scale {scale})"
            );
        }
    }
}
