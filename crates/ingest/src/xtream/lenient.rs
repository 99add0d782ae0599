//! Deserialisers for the loose typing of real Xtream panels (PHP `json_encode` output):
//! numbers as strings, strings as numbers, `null`, `""` for nothing, `[]` for an empty object,
//! a list where a map is expected, and a string where a list is expected.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A text: any scalar is accepted; `null`, `""` and anything else become `None`.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct TextVisitor;
    impl<'de> Visitor<'de> for TextVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            Ok((!v.is_empty()).then(|| v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            if v.trim().len() == v.len() && !v.is_empty() {
                Ok(Some(v))
            } else {
                self.visit_str(&v)
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(TextVisitor)
}

/// A number: an integer, a float (truncated), a numeric string, or nothing.
pub(crate) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(text(d)?.and_then(|s| {
        s.parse::<i64>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| f as i64)
        })
    }))
}

/// A decimal number: an integer, a float, a numeric string, or nothing.
pub(crate) fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(text(d)?.and_then(|s| s.parse::<f64>().ok().filter(|f| f.is_finite())))
}

/// A flag: `1`, `"1"`, `true`, `"true"` are true; everything else false.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(text(d)?.as_deref(), Some("1" | "true" | "yes")))
}

/// A list of texts: an array, a single string, `""` or `null`.
pub(crate) fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings, a string or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            Ok(if v.is_empty() {
                vec![]
            } else {
                vec![v.to_owned()]
            })
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(vec![])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(vec![])
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(vec![])
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(vec![])
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(vec![])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element_seed(TextSeed)? {
                if let Some(item) = item {
                    out.push(item);
                }
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((_, value)) = map.next_entry_seed(IgnoredSeed, TextSeed)? {
                if let Some(value) = value {
                    out.push(value);
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(ListVisitor)
}

struct TextSeed;
impl<'de> de::DeserializeSeed<'de> for TextSeed {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        text(d)
    }
}

struct IgnoredSeed;
impl<'de> de::DeserializeSeed<'de> for IgnoredSeed {
    type Value = IgnoredAny;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d)
    }
}

/// An object that panels write as `[]` (or `null`) when it is empty.
pub(crate) fn object_or_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(d)?;
    match value {
        serde_json::Value::Object(_) => T::deserialize(value).map_err(de::Error::custom),
        _ => Ok(T::default()),
    }
}

/// Episodes keyed by season (`{"1": [...]}`), or a flat list (grouped by each episode's
/// `season`), or a list of lists.
pub(crate) fn episodes_by_season<'de, D, T>(d: D) -> Result<BTreeMap<String, Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + SeasonOf,
{
    let value = serde_json::Value::deserialize(d)?;
    let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
    let mut add = |key: Option<String>, item: serde_json::Value| -> Result<(), D::Error> {
        let episode = T::deserialize(item).map_err(de::Error::custom)?;
        let key = key
            .or_else(|| episode.season().map(|s| s.to_string()))
            .unwrap_or_else(|| "0".to_owned());
        out.entry(key).or_default().push(episode);
        Ok(())
    };
    match value {
        serde_json::Value::Object(map) => {
            for (season, list) in map {
                match list {
                    serde_json::Value::Array(items) => {
                        for item in items {
                            add(Some(season.clone()), item)?;
                        }
                    }
                    other @ serde_json::Value::Object(_) => add(Some(season), other)?,
                    _ => {}
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                match item {
                    serde_json::Value::Array(inner) => {
                        for item in inner {
                            add(None, item)?;
                        }
                    }
                    other @ serde_json::Value::Object(_) => add(None, other)?,
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// What can say which season it belongs to.
pub(crate) trait SeasonOf {
    fn season(&self) -> Option<i64>;
}

/// Decodes standard base64 (with its padding) into UTF-8 text, or `None` when `value` is not
/// base64 of text (UTF-8 without control characters but line ends and tabs). Real panels send
/// short-EPG titles and descriptions in base64, and some send them plain.
pub(crate) fn base64_text(value: &str) -> Option<String> {
    use base64::Engine as _;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let plausible = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    plausible.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Loose {
        #[serde(default, deserialize_with = "number")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "text")]
        s: Option<String>,
        #[serde(default, deserialize_with = "text_list")]
        l: Vec<String>,
        #[serde(default, deserialize_with = "decimal")]
        d: Option<f64>,
    }

    #[test]
    fn accepts_the_shapes_panels_send() {
        let l: Loose = serde_json::from_str(r#"{"n":"3","s":5,"l":"x","d":"4.5"}"#).unwrap();
        assert_eq!(
            (l.n, l.s.as_deref(), l.l, l.d),
            (Some(3), Some("5"), vec!["x".into()], Some(4.5))
        );
        let l: Loose = serde_json::from_str(r#"{"n":null,"s":"","l":null,"d":3}"#).unwrap();
        assert_eq!((l.n, l.s, l.l.len(), l.d), (None, None, 0, Some(3.0)));
        let l: Loose = serde_json::from_str(r#"{"n":2.0,"l":["a","",null]}"#).unwrap();
        assert_eq!((l.n, l.l), (Some(2), vec!["a".to_owned()]));
    }

    #[test]
    fn base64_titles() {
        assert_eq!(
            base64_text("TW9ybmluZyBOZXdz").as_deref(),
            Some("Morning News")
        );
        assert_eq!(base64_text("w4lkaXRpb24=").as_deref(), Some("Édition"));
        assert_eq!(base64_text("Morning News"), None);
        assert_eq!(base64_text("abc=d"), None);
        assert_eq!(base64_text("News"), None);
        // Without its padding, or with a control character inside, it is taken as plain text.
        assert_eq!(base64_text("w4lkaXRpb24"), None);
        assert_eq!(base64_text("AAE="), None);
    }
}
