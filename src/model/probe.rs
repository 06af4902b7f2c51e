// SPDX-License-Identifier: MPL-2.0
//! Linear probes of what a KeyColumn net's features know, for the workbench
//! (`pianola velocity-probe`): does the picture of a struck key carry how hard it was struck?
//! The features are the ones the net's head reads ([`KeyColumn::features_t`]); a ridge
//! regression from them is fitted on some clips and scored on others.

use tch::{Kind, Tensor, nn};

use super::keycolumn::{FEATURES, KeyColumn};
use super::{DeviceChoice, ModelError, ModelMeta, input_tensor, one_line, read_sidecar, resolve};

/// A KeyColumn net loaded for its features.
pub struct FeatureNet {
    _vs: nn::VarStore,
    net: KeyColumn,
    meta: ModelMeta,
    device: tch::Device,
}

impl FeatureNet {
    /// Load a KeyColumn model (`keycolumn`, `keycolumn-rest`, `keycolumn-rest-half`,
    /// `keycolumn-relative`: weights and sidecar).
    pub fn load(path: &std::path::Path, device: DeviceChoice) -> Result<FeatureNet, ModelError> {
        let p = path.display().to_string();
        let meta = read_sidecar(path, ModelMeta::from_json)?;
        let super::Family::KeyColumn(input, size) = meta.arch.family() else {
            return Err(ModelError::Invalid {
                path: p,
                why: format!(
                    "a {} net; features are read from keycolumn nets only",
                    meta.arch.name()
                ),
            });
        };
        let device = resolve(device)?;
        let mut vs = nn::VarStore::new(device);
        let net = KeyColumn::new(&vs.root(), meta.keys as i64, meta.lowest_note, input, size);
        vs.load(path).map_err(|e| ModelError::Invalid {
            path: p,
            why: format!("weights do not match: {}", one_line(&e)),
        })?;
        Ok(FeatureNet {
            _vs: vs,
            net,
            meta,
            device,
        })
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// The features of one key in each window (a window as in `Model::predict`, then the
    /// key's index): [`FEATURES`] values for each.
    pub fn features(&self, windows: &[(Vec<u8>, usize)]) -> Result<Vec<Vec<f32>>, ModelError> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let m = &self.meta;
        let size = m.images() * m.height * m.width;
        if let Some((w, k)) = windows
            .iter()
            .find(|(w, k)| w.len() != size || *k >= m.keys)
        {
            return Err(ModelError::Input(format!(
                "a window of {} bytes for key {k}, expected {size} bytes and a key below {}",
                w.len(),
                m.keys
            )));
        }
        let _guard = tch::no_grad_guard();
        let images: Vec<&[u8]> = windows.iter().map(|(w, _)| w.as_slice()).collect();
        let x = input_tensor(m, &images.concat(), self.device)?;
        // [N, FEATURES, keys] -> [N, keys, FEATURES], rows read per window and key.
        let f = self
            .net
            .features_t(&x, false)
            .f_transpose(1, 2)?
            .f_contiguous()?
            .f_to_device(tch::Device::Cpu)?;
        let v: Vec<f32> = Vec::try_from(f.f_flatten(0, -1)?)?;
        let per = FEATURES as usize;
        Ok(windows
            .iter()
            .enumerate()
            .map(|(n, (_, k))| {
                let at = (n * m.keys + k) * per;
                v[at..at + per].to_vec()
            })
            .collect())
    }
}

/// Ridge regression: the weights (one per feature, then the intercept) minimising
/// `sum (w.x + b - y)^2 + lambda * n * |w|^2` on standardised features (the intercept is not
/// penalised). All rows must have the same length.
pub fn ridge(x: &[Vec<f32>], y: &[f32], lambda: f64) -> Result<Linear, ModelError> {
    let n = x.len();
    let d = x.first().map_or(0, Vec::len);
    if n == 0 || n != y.len() || x.iter().any(|r| r.len() != d) {
        return Err(ModelError::Input(format!(
            "ridge: {n} rows of features against {} targets (rows of equal length needed)",
            y.len()
        )));
    }
    let flat: Vec<f64> = x.iter().flat_map(|r| r.iter().map(|&v| v as f64)).collect();
    let xs = Tensor::f_from_slice(&flat)?.f_reshape([n as i64, d as i64])?;
    let mean = xs.f_mean_dim(0, true, Kind::Double)?;
    let std = xs.f_std_dim(0, false, true)?.f_clamp_min(1e-6)?;
    let z = ((&xs - &mean) / &std).f_contiguous()?;
    let ys: Vec<f64> = y.iter().map(|&v| v as f64).collect();
    let yt = Tensor::f_from_slice(&ys)?.f_reshape([n as i64, 1])?;
    let y_mean = yt.f_mean(Kind::Double)?;
    let a = z.f_transpose(0, 1)?.f_matmul(&z)?
        + Tensor::f_eye(d as i64, (Kind::Double, tch::Device::Cpu))? * (lambda * n as f64);
    let b = z.f_transpose(0, 1)?.f_matmul(&(&yt - &y_mean))?;
    let w = Tensor::f_linalg_solve(&a, &b, true)?;
    Ok(Linear {
        mean: Vec::try_from(mean.f_flatten(0, -1)?.f_to_kind(Kind::Float)?)?,
        std: Vec::try_from(std.f_flatten(0, -1)?.f_to_kind(Kind::Float)?)?,
        weights: Vec::try_from(w.f_flatten(0, -1)?.f_to_kind(Kind::Float)?)?,
        intercept: y_mean.f_double_value(&[])? as f32,
    })
}

/// A fitted linear map from standardised features.
#[derive(Clone, Debug)]
pub struct Linear {
    mean: Vec<f32>,
    std: Vec<f32>,
    weights: Vec<f32>,
    intercept: f32,
}

impl Linear {
    pub fn predict(&self, x: &[f32]) -> f32 {
        self.intercept
            + x.iter()
                .zip(&self.mean)
                .zip(&self.std)
                .zip(&self.weights)
                .map(|(((v, m), s), w)| (v - m) / s * w)
                .sum::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_recovers_a_linear_relation() {
        // y = 2 x0 - x1 + 3 (x2 is noise the fit must ignore).
        let mut s = 1u32;
        let mut r = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (s >> 8) as f32 / (1u32 << 24) as f32
        };
        let x: Vec<Vec<f32>> = (0..400).map(|_| vec![r(), r() * 5.0, r()]).collect();
        let y: Vec<f32> = x.iter().map(|v| 2.0 * v[0] - v[1] + 3.0).collect();
        let fit = ridge(&x, &y, 1e-9).unwrap();
        for (v, t) in x.iter().zip(&y).take(20) {
            assert!(
                (fit.predict(v) - t).abs() < 1e-3,
                "{} vs {t}",
                fit.predict(v)
            );
        }
        // A strong penalty shrinks towards the mean.
        let flat = ridge(&x, &y, 1e6).unwrap();
        let mean = y.iter().sum::<f32>() / y.len() as f32;
        assert!((flat.predict(&x[0]) - mean).abs() < 0.01);
        assert!(ridge(&x, &y[..3], 1.0).is_err());
    }

    #[test]
    fn features_are_one_vector_per_window_and_key() {
        let dir = std::env::temp_dir().join(format!("pianola-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let model = super::super::Model::new(
            ModelMeta::new(super::super::Arch::KeyColumnRest),
            tch::Device::Cpu,
        );
        model.save(&path).unwrap();
        let net = FeatureNet::load(&path, DeviceChoice::Cpu).unwrap();
        let size = net.meta().images() * net.meta().height * net.meta().width;
        let w = vec![100u8; size];
        let f = net
            .features(&[(w.clone(), 3), (w.clone(), 40), (w, 3)])
            .unwrap();
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|v| v.len() == FEATURES as usize));
        assert_eq!(f[0], f[2]);
        assert!(net.features(&[(vec![0u8; 5], 0)]).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
