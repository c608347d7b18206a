//! JSON to CEL values, borrowing strings from the JSON so an entity is not copied.

use std::collections::HashMap;

use cel::common::{
    types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt},
    value::Val,
};
use serde_json::{Map, Value};

pub(crate) fn to_val(v: &Value) -> Box<dyn Val + '_> {
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => Box::new(CelList::from(
            items.iter().map(to_val).collect::<Vec<Box<dyn Val + '_>>>(),
        )),
        Value::Object(map) => map_to_val(map),
    }
}

pub(crate) fn map_to_val(map: &Map<String, Value>) -> Box<dyn Val + '_> {
    let entries: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = map
        .iter()
        .map(|(k, v)| (CelMapKey::String(CelString::from(k.as_str())), to_val(v)))
        .collect();
    Box::new(CelMap::from(entries))
}

/// A CEL map from string keys to already converted values.
pub(crate) fn map_of<'a>(
    entries: impl IntoIterator<Item = (&'a str, Box<dyn Val + 'a>)>,
) -> Box<dyn Val + 'a> {
    let entries: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::String(CelString::from(k)), v))
        .collect();
    Box::new(CelMap::from(entries))
}
