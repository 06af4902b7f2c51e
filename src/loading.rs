// SPDX-License-Identifier: MPL-2.0
//! Loading a model file in an element's start(), with bus errors that say what to set.

use std::path::{Path, PathBuf};

use crate::model::{DeviceChoice, ModelError};

/// Parse the `device` property, find the file (the property's path, else the first of
/// `defaults` that exists) and load it. `not_found` words the error when there is no file
/// (it gets the places looked in); `what` names the file in a load error.
pub fn load<M>(
    device: &str,
    setting: Option<&str>,
    defaults: Vec<PathBuf>,
    not_found: impl FnOnce(&[PathBuf]) -> String,
    what: &str,
    load: impl FnOnce(&Path, DeviceChoice) -> Result<M, ModelError>,
) -> Result<(PathBuf, M), gst::ErrorMessage> {
    let device: DeviceChoice = device
        .parse()
        .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("Bad device property: {e}")))?;
    let path = crate::model::locate(setting, defaults)
        .map_err(|all| gst::error_msg!(gst::ResourceError::NotFound, ("{}", not_found(&all))))?;
    let m = load(&path, device).map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::OpenRead,
            ("Cannot load the {what}: {e}")
        )
    })?;
    Ok((path, m))
}

/// The bus error for a loaded `what` at `path` that failed its warm-up pass on a blank window
/// (a shape or device fault the file's loading did not show): one line, and the `property`
/// to set.
pub fn warm_up_failed(
    what: &str,
    path: &Path,
    property: &str,
    e: &ModelError,
) -> gst::ErrorMessage {
    gst::error_msg!(
        gst::LibraryError::Init,
        [
            "The {what} {} failed on a blank window: {}. Set the {property} property to a working .safetensors file",
            path.display(),
            crate::model::one_line(e)
        ]
    )
}
