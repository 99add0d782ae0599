//! The contract between expressions and the records they read and change.

use std::collections::HashMap;

use crate::fields::{Domain, FieldRef, FieldRegistry};
use crate::time_value::parse_time;

/// A record expressions can read: a channel or a programme.
///
/// Implement [`field`](Record::field) by matching on [`FieldRef::Builtin`] (an enum resolved at
/// compile time) and looking up [`FieldRef::Extra`] in the record's extra attributes. A missing
/// field is treated as the empty string. Override [`number`](Record::number) and
/// [`time`](Record::time) if the record stores those values typed.
pub trait Record {
    /// The text of a field, or `None` if the record has no value for it.
    fn field(&self, field: &FieldRef) -> Option<&str>;

    /// The field as a number, for ordering operators; by default parsed from the text.
    fn number(&self, field: &FieldRef) -> Option<f64> {
        self.field(field).and_then(|t| t.trim().parse().ok())
    }

    /// The field as Unix seconds, for ordering operators on time fields; by default parsed from
    /// the text (RFC 3339, XMLTV or Unix seconds).
    fn time(&self, field: &FieldRef) -> Option<i64> {
        self.field(field).and_then(parse_time)
    }
}

/// A record data-mapping rules can change.
pub trait RecordMut: Record {
    /// Replaces the value of a field.
    fn set_field(&mut self, field: &FieldRef, value: String);
    /// Removes the value of a field (afterwards it reads as missing or empty).
    fn clear_field(&mut self, field: &FieldRef);
}

/// A record held as a map from field to text: for tests, documentation and trying an
/// expression against sample values.
///
/// ```
/// use tvarr_expr::{CompiledFilter, Domain, MapRecord};
/// let record = MapRecord::from_pairs(Domain::Stream, [("name", "BBC One HD"), ("group-title", "UK")]);
/// let filter = CompiledFilter::compile(Domain::Stream, r#"channel_name ends_with "hd""#).unwrap();
/// assert!(filter.matches(&record));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapRecord {
    values: HashMap<FieldRef, String>,
}

impl MapRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A record from `(name, value)` pairs; names are resolved like in expressions (aliases,
    /// `extra.NAME`, hyphenated attribute names), and unknown names become extra attributes.
    pub fn from_pairs<N: AsRef<str>, V: Into<String>>(
        domain: Domain,
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut record = Self::new();
        for (name, value) in pairs {
            record.set(domain, name.as_ref(), value);
        }
        record
    }

    /// Sets a field by name (resolved like in [`from_pairs`](Self::from_pairs)).
    pub fn set(&mut self, domain: Domain, name: &str, value: impl Into<String>) {
        let field = FieldRegistry::for_domain(domain)
            .resolve(name)
            .map(|r| r.field_ref)
            .unwrap_or_else(|_| FieldRef::Extra(name.to_ascii_lowercase().into()));
        self.values.insert(field, value.into());
    }

    /// The value of a field by name, resolved like in [`from_pairs`](Self::from_pairs).
    pub fn get(&self, domain: Domain, name: &str) -> Option<&str> {
        let field = FieldRegistry::for_domain(domain)
            .resolve(name)
            .map(|r| r.field_ref)
            .unwrap_or_else(|_| FieldRef::Extra(name.to_ascii_lowercase().into()));
        self.field(&field)
    }

    /// Every field with a value.
    pub fn iter(&self) -> impl Iterator<Item = (&FieldRef, &str)> {
        self.values.iter().map(|(k, v)| (k, v.as_str()))
    }
}

impl Record for MapRecord {
    fn field(&self, field: &FieldRef) -> Option<&str> {
        self.values.get(field).map(String::as_str)
    }
}

impl RecordMut for MapRecord {
    fn set_field(&mut self, field: &FieldRef, value: String) {
        self.values.insert(field.clone(), value);
    }

    fn clear_field(&mut self, field: &FieldRef) {
        self.values.remove(field);
    }
}
