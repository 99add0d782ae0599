//! Filters and data-mapping rules, as stored. Their expressions are compiled by `tvarr-expr`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{FilterId, MappingRuleId};

/// What records an expression applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Domain {
    /// Channels.
    Stream,
    /// Programmes.
    Epg,
}

impl Domain {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Stream => "stream",
            Domain::Epg => "epg",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stream" => Some(Domain::Stream),
            "epg" => Some(Domain::Epg),
            _ => None,
        }
    }
}

/// Whether a filter keeps or drops what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FilterAction {
    /// Keep matching records.
    Include,
    /// Drop matching records.
    Exclude,
}

impl FilterAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterAction::Include => "include",
            FilterAction::Exclude => "exclude",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "include" => Some(FilterAction::Include),
            "exclude" => Some(FilterAction::Exclude),
            _ => None,
        }
    }
}

/// A named boolean expression with an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Id.
    pub id: FilterId,
    /// Name.
    pub name: String,
    /// Channels or programmes.
    pub domain: Domain,
    /// Include or exclude.
    pub action: FilterAction,
    /// The expression text.
    pub expression: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields a person sets on a filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterInput {
    /// Name.
    pub name: String,
    /// Channels or programmes.
    pub domain: Domain,
    /// Include or exclude.
    pub action: FilterAction,
    /// The expression text.
    pub expression: String,
}

/// A named, ordered data-mapping rule: an optional condition and actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRule {
    /// Id.
    pub id: MappingRuleId,
    /// Name.
    pub name: String,
    /// Channels or programmes.
    pub domain: Domain,
    /// The rule text.
    pub expression: String,
    /// Lower runs first.
    pub priority: i32,
    /// Disabled rules are kept but not applied.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields a person sets on a mapping rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRuleInput {
    /// Name.
    pub name: String,
    /// Channels or programmes.
    pub domain: Domain,
    /// The rule text.
    pub expression: String,
    /// Lower runs first.
    pub priority: i32,
    /// Whether the rule is applied.
    pub enabled: bool,
}
