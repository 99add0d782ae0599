//! Reading an import document into candidates. Both formats are read leniently, as people
//! edit them by hand: a member of the wrong JSON type reads as absent, and an item's bad
//! domain or action is kept as a problem of that item for the preview; only a document that
//! is not one of the two kinds, or whose item lists are not lists, is refused.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;
use tvarr_core::{Domain, FieldError, FilterAction};

use super::{ImportKind, RULES_FORMAT, RULES_VERSION};

/// One item read from an import document, before it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportCandidate {
    /// Filter or rule.
    pub kind: ImportKind,
    /// The name, trimmed (empty when missing).
    pub name: String,
    /// The domain, when readable.
    pub domain: Option<Domain>,
    /// A filter's action, when readable; `None` for rules.
    pub action: Option<FilterAction>,
    /// The expression, trimmed.
    pub expression: String,
    /// The rule's priority in the document (0 when missing or not a 32-bit integer).
    pub priority: i32,
    /// Whether the rule is enabled (default true).
    pub enabled: bool,
    /// Problems found while reading the item (bad domain, bad action).
    pub problems: Vec<FieldError>,
}

/// A document read for import: its items and anything the reader could not carry over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportDocument {
    /// `tvarr-rules` or `tvarr-go`.
    pub format: &'static str,
    /// Every item, filters before rules in a `tvarr-rules` document.
    pub items: Vec<ImportCandidate>,
    /// Things the document asks for that are not carried over.
    pub warnings: Vec<String>,
}

/// Why a document cannot be imported at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// A member that decides how the document is read has a value this server cannot read.
    #[error("{}: {}", .0.field, .0.message)]
    Field(FieldError),
    /// Neither a `tvarr-rules` document nor a tvarr (Go) export.
    #[error(
        "not a rules document: expected `{{\"format\": \"{RULES_FORMAT}\", \"version\": 1, \"filters\": [...], \"mapping_rules\": [...]}}` \
         or a tvarr (Go) export `{{\"metadata\": {{\"export_type\": \"filters\"}}, \"items\": [...]}}`"
    )]
    NotRules,
}

impl DocumentError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Field(FieldError::new(field, message))
    }
}

/// The members that tell the two kinds of document apart.
#[derive(Deserialize)]
struct Probe {
    #[serde(default, deserialize_with = "loose_str")]
    format: Option<String>,
    /// Present, whatever its value (even `null`).
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    items: Option<Value>,
}

/// A `tvarr-rules` document, as read for import.
#[derive(Deserialize)]
struct TvarrDocument {
    #[serde(default, deserialize_with = "loose_u64")]
    version: Option<u64>,
    #[serde(default)]
    filters: List<TvarrFilter>,
    #[serde(default)]
    mapping_rules: List<TvarrRule>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct TvarrFilter {
    #[serde(deserialize_with = "loose_str")]
    name: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    domain: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    action: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    expression: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct TvarrRule {
    #[serde(deserialize_with = "loose_str")]
    name: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    domain: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    expression: Option<String>,
    #[serde(deserialize_with = "loose_i32")]
    priority: Option<i32>,
    #[serde(deserialize_with = "loose_bool")]
    enabled: Option<bool>,
}

/// A tvarr (Go) export: one kind per document.
#[derive(Deserialize)]
struct GoExport {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    items: List<GoItem>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct GoMetadata {
    #[serde(deserialize_with = "loose_str")]
    export_type: Option<String>,
}

/// A tvarr (Go) filter or rule: `source_type` for the domain, `is_enabled`, and members
/// this server has no use for.
#[derive(Default, Deserialize)]
#[serde(default)]
struct GoItem {
    #[serde(deserialize_with = "loose_str")]
    name: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    source_type: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    domain: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    action: Option<String>,
    #[serde(deserialize_with = "loose_str")]
    expression: Option<String>,
    #[serde(deserialize_with = "loose_i32")]
    priority: Option<i32>,
    #[serde(deserialize_with = "loose_bool")]
    is_enabled: Option<bool>,
    #[serde(deserialize_with = "loose_bool")]
    stop_on_match: Option<bool>,
    /// Whatever it is, when not `null`.
    source_id: Option<Value>,
}

/// A list of items: absent and `null` are empty; anything but an array is kept as such, for
/// the reader to refuse naming the member; an element that is not an object reads as an item
/// with every member absent.
#[derive(Default)]
enum List<T> {
    #[default]
    Empty,
    Items(Vec<T>),
    NotArray,
}

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => List::Empty,
            Value::Array(values) => List::Items(
                values
                    .into_iter()
                    .map(|v| match v {
                        Value::Object(_) => T::deserialize(v).map_err(serde::de::Error::custom),
                        _ => Ok(T::default()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => List::NotArray,
        })
    }
}

impl<T> List<T> {
    fn read(self, member: &str) -> Result<Vec<T>, DocumentError> {
        match self {
            List::Empty => Ok(Vec::new()),
            List::Items(items) => Ok(items),
            List::NotArray => Err(DocumentError::field(member, "must be an array")),
        }
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn loose_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

fn loose_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Value::deserialize(d)?.as_u64())
}

fn loose_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    Ok(Value::deserialize(d)?
        .as_i64()
        .and_then(|p| i32::try_from(p).ok()))
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

/// Deserialises an object with every member loose: only a non-object fails, which the
/// callers rule out first.
fn members<T: DeserializeOwned>(doc: &Value) -> Result<T, DocumentError> {
    T::deserialize(doc).map_err(|_| DocumentError::NotRules)
}

fn trimmed(text: Option<String>) -> String {
    text.as_deref().unwrap_or_default().trim().to_string()
}

/// The domain named by `raw`; otherwise a problem of `field`.
fn read_domain(raw: Option<&str>, field: &str, problems: &mut Vec<FieldError>) -> Option<Domain> {
    let raw = raw.unwrap_or_default();
    let domain = Domain::parse(&raw.to_ascii_lowercase());
    if domain.is_none() {
        problems.push(FieldError::new(
            field,
            format!("`{raw}` is not a domain; expected `stream` or `epg`"),
        ));
    }
    domain
}

fn read_action(raw: Option<&str>, problems: &mut Vec<FieldError>) -> Option<FilterAction> {
    let raw = raw.unwrap_or_default();
    let action = FilterAction::parse(&raw.to_ascii_lowercase());
    if action.is_none() {
        problems.push(FieldError::new(
            "action",
            format!("`{raw}` is not an action; expected `include` or `exclude`"),
        ));
    }
    action
}

/// Reads a `tvarr-rules` document or a tvarr (Go) export. Items keep their problems for the
/// preview; only an unrecognisable document is an error.
pub fn read_document(doc: &Value) -> Result<ImportDocument, DocumentError> {
    if !doc.is_object() {
        return Err(DocumentError::NotRules);
    }
    let probe: Probe = members(doc)?;
    if let Some(format) = probe.format {
        if format != RULES_FORMAT {
            return Err(DocumentError::field(
                "format",
                format!("`{format}` is not a known format; expected `{RULES_FORMAT}`"),
            ));
        }
        return read_tvarr_document(members(doc)?);
    }
    if probe.metadata.is_some() && probe.items.is_some() {
        return read_go_export(members(doc)?);
    }
    Err(DocumentError::NotRules)
}

fn read_tvarr_document(doc: TvarrDocument) -> Result<ImportDocument, DocumentError> {
    let version = doc.version.unwrap_or(0);
    if version != u64::from(RULES_VERSION) {
        return Err(DocumentError::field(
            "version",
            format!(
                "version {version} is not supported; this server reads version {RULES_VERSION}"
            ),
        ));
    }
    let filters = doc.filters.read("filters")?;
    let rules = doc.mapping_rules.read("mapping_rules")?;
    let mut items = Vec::with_capacity(filters.len() + rules.len());
    for f in filters {
        let mut problems = Vec::new();
        items.push(ImportCandidate {
            kind: ImportKind::Filter,
            name: trimmed(f.name),
            domain: read_domain(f.domain.as_deref(), "domain", &mut problems),
            action: read_action(f.action.as_deref(), &mut problems),
            expression: trimmed(f.expression),
            priority: 0,
            enabled: true,
            problems,
        });
    }
    for r in rules {
        let mut problems = Vec::new();
        items.push(ImportCandidate {
            kind: ImportKind::MappingRule,
            name: trimmed(r.name),
            domain: read_domain(r.domain.as_deref(), "domain", &mut problems),
            action: None,
            expression: trimmed(r.expression),
            priority: r.priority.unwrap_or(0),
            enabled: r.enabled.unwrap_or(true),
            problems,
        });
    }
    Ok(ImportDocument {
        format: RULES_FORMAT,
        items,
        warnings: Vec::new(),
    })
}

/// tvarr (Go) exports: one kind per document, `source_type` for the domain, `is_enabled`.
fn read_go_export(doc: GoExport) -> Result<ImportDocument, DocumentError> {
    let items = doc.items.read("items")?;
    let meta: GoMetadata = match &doc.metadata {
        Some(meta @ Value::Object(_)) => members(meta)?,
        _ => GoMetadata::default(),
    };
    let kind = match meta.export_type.as_deref().unwrap_or_default() {
        "filters" => ImportKind::Filter,
        "data_mapping_rules" => ImportKind::MappingRule,
        other => {
            return Err(DocumentError::field(
                "metadata.export_type",
                format!(
                    "`{other}` exports cannot be imported here; expected `filters` or `data_mapping_rules`"
                ),
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut candidates = Vec::with_capacity(items.len());
    for item in items {
        let mut problems = Vec::new();
        let name = trimmed(item.name);
        if item.source_id.is_some() {
            warnings.push(format!(
                "`{name}`: restricted to one source in tvarr (Go); imported for every source"
            ));
        }
        if item.stop_on_match == Some(true) {
            warnings.push(format!(
                "`{name}`: `stop_on_match` is not supported; later rules still run"
            ));
        }
        let enabled = item.is_enabled.unwrap_or(true);
        if kind == ImportKind::Filter && !enabled {
            warnings.push(format!(
                "`{name}`: filters have no enabled flag here; leave it out of a proxy to disable it"
            ));
        }
        let raw_domain = item.source_type.as_deref().or(item.domain.as_deref());
        candidates.push(ImportCandidate {
            kind,
            domain: read_domain(raw_domain, "source_type", &mut problems),
            action: if kind == ImportKind::Filter {
                read_action(item.action.as_deref(), &mut problems)
            } else {
                None
            },
            expression: trimmed(item.expression),
            priority: item.priority.unwrap_or(0),
            enabled,
            name,
            problems,
        });
    }
    Ok(ImportDocument {
        format: "tvarr-go",
        items: candidates,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_tvarr_go_exports_with_warnings() {
        let doc = read_document(&json!({
            "metadata": {"version": "1.0.0", "tvarr_version": "1.2.3", "export_type": "filters",
                         "exported_at": "2025-12-14T10:30:00Z", "item_count": 2},
            "items": [
                {"name": "Sports Channels", "description": "Include all sports channels",
                 "expression": "group CONTAINS 'Sports'", "source_type": "stream", "action": "include", "is_enabled": true},
                {"name": "Adult Filter", "expression": "name MATCHES '(?i)adult|xxx'", "source_type": "stream",
                 "action": "exclude", "is_enabled": false, "source_id": "01HX"}
            ]
        }))
        .unwrap();
        assert_eq!(doc.format, "tvarr-go");
        assert_eq!(doc.items.len(), 2);
        assert_eq!(doc.warnings.len(), 2);
        let plan = super::super::plan_import(doc, &[], &[], false);
        assert_eq!(plan.created, 2, "{:?}", plan.items);

        let rules = read_document(&json!({
            "metadata": {"export_type": "data_mapping_rules"},
            "items": [{"name": "Strip HD", "expression": "name -= ' HD'", "source_type": "stream",
                       "priority": 3, "stop_on_match": true, "is_enabled": true}]
        }))
        .unwrap();
        assert_eq!(rules.items[0].kind, ImportKind::MappingRule);
        assert!(rules.warnings[0].contains("stop_on_match"));
    }

    #[test]
    fn refuses_unknown_documents() {
        assert_eq!(
            read_document(&json!({"filters": []})),
            Err(DocumentError::NotRules)
        );
        assert_eq!(read_document(&json!([1, 2])), Err(DocumentError::NotRules));
        assert_eq!(
            read_document(&json!({"format": "tvarr-rules", "version": 2})),
            Err(DocumentError::field(
                "version",
                "version 2 is not supported; this server reads version 1"
            ))
        );
        assert_eq!(
            read_document(&json!({"format": "tvarr-rulez", "version": 1})),
            Err(DocumentError::field(
                "format",
                "`tvarr-rulez` is not a known format; expected `tvarr-rules`"
            ))
        );
        assert_eq!(
            read_document(&json!({"metadata": {"export_type": "encoding_profiles"}, "items": []})),
            Err(DocumentError::field(
                "metadata.export_type",
                "`encoding_profiles` exports cannot be imported here; expected `filters` or `data_mapping_rules`"
            ))
        );
    }

    #[test]
    fn item_lists_must_be_arrays_but_null_is_empty() {
        let not_array = |doc: Value, member: &str| {
            assert_eq!(
                read_document(&doc),
                Err(DocumentError::field(member, "must be an array")),
                "{doc}"
            );
        };
        not_array(
            json!({"format": "tvarr-rules", "version": 1, "filters": {}}),
            "filters",
        );
        not_array(
            json!({"format": "tvarr-rules", "version": 1, "filters": [], "mapping_rules": 3}),
            "mapping_rules",
        );
        // The item list is read before the export type.
        not_array(json!({"metadata": null, "items": "x"}), "items");
        let empty = read_document(&json!({"format": "tvarr-rules", "version": 1, "filters": null}))
            .unwrap();
        assert!(empty.items.is_empty());
        // A Go export whose items are null, with members of other kinds ignored.
        let go = read_document(
            &json!({"metadata": {"export_type": "filters"}, "items": null, "filters": 5}),
        )
        .unwrap();
        assert_eq!(go.format, "tvarr-go");
    }

    #[test]
    fn members_of_the_wrong_type_read_as_absent() {
        let doc = read_document(&json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [7, {"name": "  spaced  ", "domain": "EPG", "action": 1, "expression": " true "}],
            "mapping_rules": [{"name": "r", "domain": "stream", "expression": "DELETE tvg_logo",
                               "priority": 3000000000_i64, "enabled": "no"},
                              {"name": "s", "domain": "stream", "priority": -2}]
        }))
        .unwrap();
        let first = &doc.items[0];
        assert_eq!(
            (first.name.as_str(), first.domain, first.action),
            ("", None, None)
        );
        assert_eq!(first.problems.len(), 2);
        assert_eq!(first.problems[0].field, "domain");
        assert_eq!(
            first.problems[0].message,
            "`` is not a domain; expected `stream` or `epg`"
        );
        let spaced = &doc.items[1];
        assert_eq!(spaced.name, "spaced");
        assert_eq!(spaced.expression, "true");
        assert_eq!(spaced.domain, Some(Domain::Epg));
        assert_eq!(
            spaced.problems,
            [FieldError::new(
                "action",
                "`` is not an action; expected `include` or `exclude`"
            )]
        );
        assert_eq!((doc.items[2].priority, doc.items[2].enabled), (0, true));
        assert_eq!(doc.items[3].priority, -2);
    }

    #[test]
    fn go_items_take_the_domain_from_source_type_then_domain() {
        let doc = read_document(&json!({
            "metadata": {"export_type": "data_mapping_rules"},
            "items": [{"name": "a", "source_type": 1, "domain": "epg", "expression": "x"},
                      {"name": "b", "source_type": "radio", "domain": "epg"},
                      {"name": "c", "source_id": null, "is_enabled": false}]
        }))
        .unwrap();
        assert_eq!(doc.items[0].domain, Some(Domain::Epg));
        assert_eq!(doc.items[1].domain, None);
        assert_eq!(doc.items[1].problems[0].field, "source_type");
        assert!(doc.items[1].problems[0].message.contains("`radio`"));
        assert_eq!(doc.items[0].action, None);
        // A null `source_id` is no restriction, and rules do keep their enabled flag.
        assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
        assert!(!doc.items[2].enabled);
    }
}
