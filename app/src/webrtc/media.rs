//! The camera and microphone: `getUserMedia` with constraints people can change, the list of
//! cameras, and a readable reason for every way it can fail.

use serde_json::{json, Value};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaDeviceInfo, MediaDeviceKind, MediaStream, MediaStreamConstraints};

use super::js::{error_name, error_text, to_js};

/// Which way a phone's camera looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facing {
    /// The selfie camera.
    User,
    /// The back camera.
    Environment,
}

/// What to ask the browser for.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRequest {
    pub width: u32,
    pub height: u32,
    pub facing: Facing,
    /// A specific camera (from [`cameras`]); wins over `facing`.
    pub device_id: Option<String>,
    pub audio: bool,
}

impl Default for CameraRequest {
    fn default() -> Self {
        CameraRequest {
            width: 640,
            height: 480,
            facing: Facing::User,
            device_id: None,
            audio: false,
        }
    }
}

impl CameraRequest {
    /// The `getUserMedia` constraints (sizes are ideals, so a camera that cannot do them
    /// still opens at its nearest size).
    pub fn constraints(&self) -> Value {
        let mut video =
            json!({ "width": { "ideal": self.width }, "height": { "ideal": self.height } });
        match &self.device_id {
            Some(id) => video["deviceId"] = json!({ "exact": id }),
            None => {
                video["facingMode"] = json!(match self.facing {
                    Facing::User => "user",
                    Facing::Environment => "environment",
                })
            }
        }
        json!({ "audio": self.audio, "video": video })
    }
}

/// Why the camera could not be opened, in words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// Not HTTPS (and not localhost): browsers hide the camera entirely.
    InsecureOrigin,
    Denied,
    NoCamera,
    Busy,
    /// The chosen camera or size does not exist.
    Unsatisfiable,
    Other(String),
}

impl MediaError {
    /// Classifies a `getUserMedia` rejection by its `DOMException` name.
    pub fn from_name(name: &str, detail: String) -> MediaError {
        match name {
            "NotAllowedError" | "PermissionDeniedError" | "SecurityError" => MediaError::Denied,
            "NotFoundError" | "DevicesNotFoundError" => MediaError::NoCamera,
            "NotReadableError" | "TrackStartError" | "AbortError" => MediaError::Busy,
            "OverconstrainedError" | "ConstraintNotSatisfiedError" => MediaError::Unsatisfiable,
            _ => MediaError::Other(detail),
        }
    }

    pub fn message(&self) -> String {
        match self {
            MediaError::InsecureOrigin => "The camera is only available on secure pages. On this computer open \
                http://localhost; from a phone, start the server with HTTPS (make run ARGS='--bind 0.0.0.0 --tls self-signed'), \
                open the https:// address and accept the certificate warning once."
                .into(),
            MediaError::Denied => "Camera access was denied. Allow it in the address bar (or the site settings) and try again.".into(),
            MediaError::NoCamera => "No camera was found. Connect one, or check that the browser may use it.".into(),
            MediaError::Busy => "The camera is busy: another application or tab is using it. Close that, then try again.".into(),
            MediaError::Unsatisfiable => "That camera or resolution is not available. Pick another one.".into(),
            MediaError::Other(detail) => format!("The camera could not be opened: {detail}"),
        }
    }
}

fn media_devices() -> Result<web_sys::MediaDevices, MediaError> {
    let window = web_sys::window().ok_or_else(|| MediaError::Other("no window".into()))?;
    if !window.is_secure_context() {
        return Err(MediaError::InsecureOrigin);
    }
    window
        .navigator()
        .media_devices()
        .map_err(|_| MediaError::InsecureOrigin)
}

/// Opens the camera (and microphone, if asked) as requested.
pub async fn open_camera(request: &CameraRequest) -> Result<MediaStream, MediaError> {
    user_media(&request.constraints()).await
}

/// Opens the microphone alone (for a meeting without a camera).
pub async fn open_microphone() -> Result<MediaStream, MediaError> {
    user_media(&json!({ "audio": true, "video": false })).await
}

/// What a call or meeting opened to take part with.
pub struct Opened {
    /// Camera and microphone, or the microphone alone, or nothing (to watch and chat).
    pub stream: Option<MediaStream>,
    /// True when there is no camera in `stream`.
    pub camera_off: bool,
    /// What the person should know when less than both opened.
    pub notice: Option<String>,
}

/// Opens the camera with the microphone; without a camera the microphone alone; without
/// either, nothing.
pub async fn open_for_call() -> Opened {
    let request = CameraRequest {
        audio: true,
        ..CameraRequest::default()
    };
    let no_camera = match open_camera(&request).await {
        Ok(stream) => {
            return Opened {
                stream: Some(stream),
                camera_off: false,
                notice: None,
            }
        }
        Err(no_camera) => no_camera,
    };
    match open_microphone().await {
        Ok(stream) => Opened {
            stream: Some(stream),
            camera_off: true,
            notice: Some(format!(
                "{} Joining with the microphone only.",
                no_camera.message()
            )),
        },
        Err(_) => Opened {
            stream: None,
            camera_off: true,
            notice: Some(format!(
                "{} Joining to watch and chat.",
                no_camera.message()
            )),
        },
    }
}

async fn user_media(constraints: &Value) -> Result<MediaStream, MediaError> {
    let devices = media_devices()?;
    let constraints: MediaStreamConstraints = to_js(constraints).unchecked_into();
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| MediaError::Other(error_text(&e)))?;
    match JsFuture::from(promise).await {
        Ok(stream) => Ok(stream.unchecked_into()),
        Err(error) => Err(MediaError::from_name(
            &error_name(&error).unwrap_or_default(),
            error_text(&error),
        )),
    }
}

/// The cameras, as (device id, label). Labels are empty until the user has allowed access.
pub async fn cameras() -> Vec<(String, String)> {
    let Ok(devices) = media_devices() else {
        return Vec::new();
    };
    let Ok(promise) = devices.enumerate_devices() else {
        return Vec::new();
    };
    let Ok(list) = JsFuture::from(promise).await else {
        return Vec::new();
    };
    js_sys::Array::from(&list)
        .iter()
        .filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok())
        .filter(|d| d.kind() == MediaDeviceKind::Videoinput)
        .enumerate()
        .map(|(i, d)| {
            let label = d.label();
            (
                d.device_id(),
                if label.is_empty() {
                    format!("Camera {}", i + 1)
                } else {
                    label
                },
            )
        })
        .collect()
}

/// Stops every track (the camera light goes off).
pub fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// Turns the stream's tracks of `kind` ("audio" or "video") on or off without renegotiating.
pub fn set_enabled(stream: &MediaStream, kind: &str, enabled: bool) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            if track.kind() == kind {
                track.set_enabled(enabled);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_ask_for_ideal_sizes_and_a_camera() {
        let request = CameraRequest {
            width: 1280,
            height: 720,
            facing: Facing::Environment,
            device_id: None,
            audio: true,
        };
        assert_eq!(
            request.constraints(),
            json!({"audio": true, "video": {"width": {"ideal": 1280}, "height": {"ideal": 720}, "facingMode": "environment"}})
        );
        let chosen = CameraRequest {
            device_id: Some("abc".into()),
            ..CameraRequest::default()
        };
        assert_eq!(
            chosen.constraints()["video"]["deviceId"],
            json!({"exact": "abc"})
        );
        assert!(chosen.constraints()["video"].get("facingMode").is_none());
    }

    #[test]
    fn every_failure_has_its_own_message() {
        let cases = [
            ("NotAllowedError", MediaError::Denied),
            ("NotFoundError", MediaError::NoCamera),
            ("NotReadableError", MediaError::Busy),
            ("OverconstrainedError", MediaError::Unsatisfiable),
        ];
        for (name, expected) in cases {
            assert_eq!(MediaError::from_name(name, String::new()), expected);
        }
        assert!(MediaError::InsecureOrigin
            .message()
            .contains("--tls self-signed"));
        assert!(MediaError::from_name("Weird", "details".into())
            .message()
            .contains("details"));
    }
}
