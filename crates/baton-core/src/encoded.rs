//! JSON kept as its encoded text. A run's request and plan are written to the
//! journal, sent in events and answered to clients as they are, so each is encoded
//! once and shared instead of being held as a tree of `serde_json::Value`s: a
//! 10,000-task workflow is about 1 MB as text and several times that as a tree,
//! built and dropped on the way to the journal (W4, see BENCHMARKS.md).

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A JSON value as its encoded text, cheap to clone (the text is shared).
///
/// It serializes as the JSON it holds, written out as it is (with `serde_json`). Two
/// are equal when they hold the same JSON value, whatever their spacing or the order
/// of their keys.
#[derive(Clone)]
pub struct EncodedJson(Arc<RawValue>);

impl EncodedJson {
    /// `value` encoded as JSON.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| EncodedJson(Arc::from(raw)))
    }

    /// JSON text, checked to be one JSON value.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(|raw| EncodedJson(Arc::from(raw)))
    }

    /// The encoded text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The JSON read as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The JSON as a tree (`Null` if it cannot be read as one: it is deeper than
    /// `serde_json` reads).
    pub fn to_value(&self) -> serde_json::Value {
        self.decode().unwrap_or_default()
    }
}

impl From<&serde_json::Value> for EncodedJson {
    fn from(value: &serde_json::Value) -> Self {
        // Encoding a `Value` cannot fail: its map keys are strings.
        EncodedJson::encode(value)
            .unwrap_or_else(|_| EncodedJson(Arc::from(RawValue::NULL.to_owned())))
    }
}

impl From<serde_json::Value> for EncodedJson {
    fn from(value: serde_json::Value) -> Self {
        EncodedJson::from(&value)
    }
}

impl PartialEq for EncodedJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl fmt::Debug for EncodedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EncodedJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawValue::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for EncodedJson {
    /// Read through a `Value`, which every deserializer can give (a raw value cannot
    /// be read inside a flattened or tagged enum, as events are).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        EncodedJson::encode(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
