//! Moving values between Rust and JavaScript through JSON: WebRTC's dictionaries
//! (configurations, descriptions, candidates, constraints) are plain JSON objects, so serde
//! types on our side convert both ways without hand-written setters.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

/// A serde value as the equivalent JavaScript object.
pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .unwrap_or(JsValue::NULL)
}

/// A JavaScript object read as a serde value (`None` when it does not fit `T`).
pub fn from_js<T: DeserializeOwned>(value: &JsValue) -> Option<T> {
    let json = js_sys::JSON::stringify(value).ok()?.as_string()?;
    serde_json::from_str(&json).ok()
}

/// The name of a `DOMException` (`NotAllowedError`, ...), if that is what `error` is.
pub fn error_name(error: &JsValue) -> Option<String> {
    error.dyn_ref::<web_sys::DomException>().map(|e| e.name())
}

/// Any JavaScript error as text for people.
pub fn error_text(error: &JsValue) -> String {
    if let Some(exception) = error.dyn_ref::<web_sys::DomException>() {
        return format!("{}: {}", exception.name(), exception.message());
    }
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}
