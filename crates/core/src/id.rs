//! Typed identifiers. Every id is a UUID: v7 (time-ordered) for records we create, and a
//! deterministic UUID derived with blake3 for channels, so a channel keeps its id across re-ingests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

typed_id!(
    /// Identifies a stream source (an M3U playlist or an Xtream server).
    StreamSourceId
);
typed_id!(
    /// Identifies an EPG source (an XMLTV guide or an Xtream server's guide).
    EpgSourceId
);
typed_id!(
    /// Identifies a channel. Derived from its source and its provider key, so it is stable.
    ChannelId
);
typed_id!(
    /// Identifies a filter.
    FilterId
);
typed_id!(
    /// Identifies a data-mapping rule.
    MappingRuleId
);
typed_id!(
    /// Identifies a proxy (a published output).
    ProxyId
);
typed_id!(
    /// Identifies a relay (transcoding) profile.
    RelayProfileId
);
typed_id!(
    /// Identifies a background job.
    JobId
);
typed_id!(
    /// Identifies a cached logo. Derived from the logo's normalised URL, so it is stable.
    LogoId
);

/// A deterministic UUID (version 8, RFC 9562 "custom") from a blake3 hash of `parts`.
pub(crate) fn derived_uuid(parts: &[&[u8]]) -> Uuid {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

impl ChannelId {
    /// The stable id of the channel with provider key `key` in `source`.
    ///
    /// ```
    /// use tvarr_core::{ChannelId, StreamSourceId};
    /// let source = StreamSourceId::new();
    /// assert_eq!(ChannelId::stable(source, "xtream:42"), ChannelId::stable(source, "xtream:42"));
    /// assert_ne!(ChannelId::stable(source, "xtream:42"), ChannelId::stable(source, "xtream:43"));
    /// ```
    pub fn stable(source: StreamSourceId, key: &str) -> Self {
        Self(derived_uuid(&[
            b"channel",
            source.0.as_bytes(),
            key.as_bytes(),
        ]))
    }
}

impl LogoId {
    /// The stable id of the logo found at `normalised_url`.
    pub fn for_url(normalised_url: &str) -> Self {
        Self(derived_uuid(&[b"logo", normalised_url.as_bytes()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_differ_between_sources() {
        let a = StreamSourceId::new();
        let b = StreamSourceId::new();
        assert_ne!(ChannelId::stable(a, "k"), ChannelId::stable(b, "k"));
    }

    #[test]
    fn derived_ids_do_not_collide_on_concatenation() {
        assert_ne!(derived_uuid(&[b"ab", b"c"]), derived_uuid(&[b"a", b"bc"]));
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = JobId::new();
        let parsed: JobId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
        assert!("not-a-uuid".parse::<JobId>().is_err());
    }
}
